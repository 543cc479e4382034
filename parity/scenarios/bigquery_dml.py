"""DML: INSERT, UPDATE, DELETE, MERGE and their affected-row counts; rows afterwards."""

from parity.scenarios._bq import dataset, query

SERVICE = "bigquery"


def run(ctx):
    ds = dataset(ctx)
    t = f"`{ds}.{ctx.name('t')}`"
    query(ctx, f"CREATE TABLE {t} (id INT64, name STRING)")
    ctx.call(
        "insert", query, ctx, f"INSERT INTO {t} (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')"
    )
    ctx.call("update", query, ctx, f"UPDATE {t} SET name = 'z' WHERE id >= 2")
    ctx.call("update nothing", query, ctx, f"UPDATE {t} SET name = 'y' WHERE id > 100")
    ctx.call("delete", query, ctx, f"DELETE FROM {t} WHERE id = 1")
    ctx.call(
        "merge",
        query,
        ctx,
        f"MERGE {t} T USING (SELECT 2 AS id, 'm' AS name UNION ALL SELECT 9, 'n') S "
        "ON T.id = S.id WHEN MATCHED THEN UPDATE SET name = S.name "
        "WHEN NOT MATCHED THEN INSERT (id, name) VALUES (S.id, S.name)",
    )
    ctx.call("rows", query, ctx, f"SELECT id, name FROM {t} ORDER BY id")
    ctx.call("update without WHERE", query, ctx, f"UPDATE {t} SET name = 'q'")
    ctx.call("insert a wrong type", query, ctx, f"INSERT INTO {t} (id) VALUES ('x')")
    # Rows streamed with insertAll sit in the streaming buffer for a while; BigQuery refuses
    # UPDATE/DELETE that would touch them.
    streamed = f"{ds}.{ctx.name('streamed')}"
    query(ctx, f"CREATE TABLE `{streamed}` (id INT64)")
    ctx.bigquery.insert_rows_json(streamed, [{"id": 1}], row_ids=["1"])
    ctx.call(
        "delete rows still in the streaming buffer",
        query,
        ctx,
        f"DELETE FROM `{streamed}` WHERE id = 1",
    )
