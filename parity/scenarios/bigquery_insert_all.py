"""insertAll: good rows, per-row errors, skip_invalid_rows, unknown values, insertId dedup."""

from parity.scenarios._bq import dataset, rows

SERVICE = "bigquery"


def _errors(result):
    return [
        {"index": e["index"], "reasons": sorted({x.get("reason") for x in e["errors"]})}
        for e in result
    ]


def run(ctx):
    from google.cloud import bigquery
    from google.cloud.bigquery import SchemaField as F

    bq = ctx.bigquery
    ref = f"{dataset(ctx)}.{ctx.name('t')}"
    bq.create_table(
        bigquery.Table(
            ref,
            schema=[
                F("id", "STRING", mode="REQUIRED"),
                F("n", "INT64"),
                F("tags", "STRING", mode="REPEATED"),
            ],
        )
    )
    ctx.call(
        "insert good rows",
        bq.insert_rows_json,
        ref,
        [{"id": "a", "n": 1, "tags": ["x"]}, {"id": "b", "n": "2"}],
        row_ids=["a", "b"],
        shape=_errors,
    )
    bad = [{"id": "c", "n": 3}, {"n": 4}, {"id": "e", "n": "four"}, {"id": "f", "zzz": 1}]
    ctx.call(
        "insert with bad rows", bq.insert_rows_json, ref, bad, row_ids=[None] * 4, shape=_errors
    )
    ctx.call(
        "skip_invalid_rows",
        bq.insert_rows_json,
        ref,
        bad,
        row_ids=[None] * 4,
        skip_invalid_rows=True,
        shape=_errors,
    )
    ctx.call(
        "ignore_unknown_values",
        bq.insert_rows_json,
        ref,
        [{"id": "g", "zzz": 1}],
        row_ids=[None],
        ignore_unknown_values=True,
        shape=_errors,
    )
    ctx.call(
        "same insertIds again",
        bq.insert_rows_json,
        ref,
        [{"id": "a", "n": 1, "tags": ["x"]}, {"id": "b", "n": "2"}],
        row_ids=["a", "b"],
        shape=_errors,
    )
    ctx.call("rows", lambda: rows(bq.list_rows(ref), order_by="id"))
    ctx.call(
        "insert into a missing table",
        bq.insert_rows_json,
        f"{ref}_missing",
        [{"id": "z"}],
        shape=_errors,
    )
