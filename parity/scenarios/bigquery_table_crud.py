"""Tables: create with nested/repeated/required fields, duplicate, get, list, patch, delete."""

from parity.scenarios._bq import dataset, table_view

SERVICE = "bigquery"


def run(ctx):
    from google.cloud import bigquery
    from google.cloud.bigquery import SchemaField as F

    bq = ctx.bigquery
    ds = dataset(ctx)
    schema = [
        F("id", "STRING", mode="REQUIRED"),
        F("n", "INT64"),
        F("tags", "STRING", mode="REPEATED"),
        F("at", "TIMESTAMP"),
        F("attrs", "RECORD", fields=[F("k", "STRING"), F("v", "FLOAT64")]),
    ]
    ref = f"{ds}.{ctx.name('t')}"
    table = bigquery.Table(ref, schema=schema)
    table.description = "d1"
    ctx.call("create", bq.create_table, table, shape=table_view)
    ctx.call("create again", bq.create_table, bigquery.Table(ref, schema=schema))
    got = ctx.call("get", bq.get_table, ref, shape=table_view)
    ctx.call("list (this dataset)", lambda: sorted(t.table_id for t in bq.list_tables(ds)))
    if got is not None:
        got.description = "d2"
        got.schema = list(got.schema) + [F("extra", "BOOL")]
        ctx.call(
            "patch description, add a column",
            bq.update_table,
            got,
            ["description", "schema"],
            shape=table_view,
        )
        got = bq.get_table(ref)
        got.schema = [f for f in got.schema if f.name != "n"]
        ctx.call("patch: drop a column", bq.update_table, got, ["schema"], shape=table_view)
    ctx.call("get missing", bq.get_table, f"{ds}.{ctx.name('missing')}")
    ctx.call(
        "create in a missing dataset",
        bq.create_table,
        bigquery.Table(f"{ctx.project}.{ctx.name('nods')}.t", schema=schema),
    )
    ctx.call(
        "create with an unknown type",
        bq.create_table,
        bigquery.Table(f"{ds}.{ctx.name('bad')}", schema=[F("x", "NOPE")]),
    )
    ctx.call(
        "create with a duplicate column",
        bq.create_table,
        bigquery.Table(f"{ds}.{ctx.name('dup')}", schema=[F("x", "INT64"), F("x", "STRING")]),
    )
    ctx.call("delete", bq.delete_table, ref)
    ctx.call("delete again", bq.delete_table, ref)
