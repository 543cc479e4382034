"""tabledata.list: paging with page tokens, start_index, max_results, selected fields."""

from parity.scenarios._bq import dataset

SERVICE = "bigquery"


def run(ctx):
    from google.cloud import bigquery
    from google.cloud.bigquery import SchemaField as F

    bq = ctx.bigquery
    ref = f"{dataset(ctx)}.{ctx.name('t')}"
    table = bq.create_table(bigquery.Table(ref, schema=[F("i", "INT64"), F("s", "STRING")]))
    bq.insert_rows_json(ref, [{"i": i, "s": f"s{i}"} for i in range(25)], row_ids=[None] * 25)
    pages = bq.list_rows(table, page_size=10).pages
    sizes, ids = [], []
    for page in pages:
        values = [r["i"] for r in page]
        sizes.append(len(values))
        ids += values
    ctx.record("page sizes", sizes)
    ctx.record("all rows once", sorted(ids) == list(range(25)))
    it = bq.list_rows(table, max_results=7)
    ctx.record("max_results", len(list(it)))
    ctx.record("total_rows", it.total_rows)
    ctx.record("start_index past the end", len(list(bq.list_rows(table, start_index=30))))
    ctx.record("start_index 20", len(list(bq.list_rows(table, start_index=20))))
    got = list(bq.list_rows(table, selected_fields=[F("s", "STRING")], max_results=1))
    ctx.record("selected fields", [sorted(r.keys()) for r in got])
    ctx.call(
        "list a missing table",
        lambda: list(bq.list_rows(f"{ref}_missing", selected_fields=[F("i", "INT64")])),
    )
