"""Shared helpers of the BigQuery scenarios: datasets that clean up, plain rows and job views."""

from __future__ import annotations


def dataset(ctx, prefix: str = "ds") -> str:
    """A fresh dataset ``project.id``, deleted with its contents after the scenario."""
    ref = f"{ctx.project}.{ctx.name(prefix)}"
    ctx.bigquery.create_dataset(ref)
    ctx.cleanup(lambda: ctx.bigquery.delete_dataset(ref, delete_contents=True, not_found_ok=True))
    return ref


def rows(iterable, order_by: str | None = None) -> list[dict]:
    out = [dict(r.items()) for r in iterable]
    return sorted(out, key=lambda r: repr(r.get(order_by))) if order_by else out


def query(ctx, sql: str, params=(), order_by: str | None = None):
    """Run a query job; its rows (plain dicts) and the job facts that should match."""
    from google.cloud import bigquery

    job = ctx.bigquery.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=list(params)))
    result = job.result()
    view = {"rows": rows(result, order_by), "schema": [f.to_api_repr() for f in result.schema]}
    if job.num_dml_affected_rows is not None:
        view["num_dml_affected_rows"] = job.num_dml_affected_rows
    if job.statement_type:
        view["statement_type"] = job.statement_type
    return view


def table_view(table) -> dict:
    return {
        "schema": [f.to_api_repr() for f in table.schema],
        "description": table.description,
        "labels": table.labels,
        "num_rows": table.num_rows,
        "type": table.table_type,
    }
