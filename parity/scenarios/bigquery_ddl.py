"""DDL: CREATE TABLE (IF NOT EXISTS, OR REPLACE, AS SELECT), ALTER ADD COLUMN, views, DROP."""

from parity.scenarios._bq import dataset, query, table_view

SERVICE = "bigquery"


def run(ctx):
    bq = ctx.bigquery
    ds = dataset(ctx)
    name = ctx.name("t")
    t = f"`{ds}.{name}`"
    ctx.call("create table", query, ctx, f"CREATE TABLE {t} (id INT64 NOT NULL, s STRING)")
    ctx.call("create it again", query, ctx, f"CREATE TABLE {t} (id INT64)")
    ctx.call("create if not exists", query, ctx, f"CREATE TABLE IF NOT EXISTS {t} (id INT64)")
    ctx.call("table after create", bq.get_table, f"{ds}.{name}", shape=table_view)
    ctx.call("alter add column", query, ctx, f"ALTER TABLE {t} ADD COLUMN n FLOAT64")
    ctx.call("table after alter", bq.get_table, f"{ds}.{name}", shape=table_view)
    ctx.call(
        "create or replace as select",
        query,
        ctx,
        f"CREATE OR REPLACE TABLE {t} AS SELECT 1 AS id, 'x' AS s",
    )
    ctx.call("table after replace", bq.get_table, f"{ds}.{name}", shape=table_view)
    view = f"`{ds}.{ctx.name('v')}`"
    ctx.call("create view", query, ctx, f"CREATE VIEW {view} AS SELECT id FROM {t}")
    ctx.call("query the view", query, ctx, f"SELECT * FROM {view}")
    ctx.call("drop table", query, ctx, f"DROP TABLE {t}")
    ctx.call("drop it again", query, ctx, f"DROP TABLE {t}")
    ctx.call("drop if exists", query, ctx, f"DROP TABLE IF EXISTS {t}")
