"""Copy jobs: into a new table, WRITE_EMPTY / WRITE_APPEND / WRITE_TRUNCATE, a missing source."""

from parity.scenarios._bq import dataset, rows

SERVICE = "bigquery"


def _copy(ctx, src, dst, disposition=None):
    from google.cloud import bigquery

    config = bigquery.CopyJobConfig(write_disposition=disposition) if disposition else None
    job = ctx.bigquery.copy_table(src, dst, job_config=config)
    job.result()
    return {"state": job.state}


def run(ctx):
    from google.cloud import bigquery
    from google.cloud.bigquery import SchemaField as F

    bq = ctx.bigquery
    ds = dataset(ctx)
    src, dst = f"{ds}.{ctx.name('src')}", f"{ds}.{ctx.name('dst')}"
    bq.create_table(bigquery.Table(src, schema=[F("id", "INT64"), F("s", "STRING")]))
    bq.insert_rows_json(src, [{"id": 1, "s": "a"}, {"id": 2, "s": "b"}], row_ids=[None, None])
    ctx.call("copy to a new table", _copy, ctx, src, dst)
    ctx.call("copied rows", lambda: rows(bq.list_rows(dst), order_by="id"))
    ctx.call("copied schema", lambda: [f.to_api_repr() for f in bq.get_table(dst).schema])
    ctx.call("copy again, WRITE_EMPTY", _copy, ctx, src, dst, "WRITE_EMPTY")
    ctx.call("copy again, WRITE_APPEND", _copy, ctx, src, dst, "WRITE_APPEND")
    ctx.call("rows after append", lambda: len(list(bq.list_rows(dst))))
    ctx.call("copy again, WRITE_TRUNCATE", _copy, ctx, src, dst, "WRITE_TRUNCATE")
    ctx.call("rows after truncate", lambda: len(list(bq.list_rows(dst))))
    ctx.call("copy a missing table", _copy, ctx, f"{ds}.missing", f"{ds}.{ctx.name('x')}")
