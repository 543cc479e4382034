"""Queries: named and positional parameters of each type, arrays, errors for bad SQL."""

import datetime

from parity.scenarios._bq import dataset, query

SERVICE = "bigquery"


def run(ctx):
    from google.cloud.bigquery import ArrayQueryParameter as A
    from google.cloud.bigquery import ScalarQueryParameter as P

    ds = dataset(ctx)
    params = [
        P("i", "INT64", 7),
        P("f", "FLOAT64", 1.5),
        P("s", "STRING", "hé"),
        P("b", "BOOL", True),
        P("d", "DATE", datetime.date(2024, 2, 29)),
        P("t", "TIMESTAMP", datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)),
        P("n", "INT64", None),
    ]
    ctx.call(
        "scalar parameters",
        query,
        ctx,
        "SELECT @i + 1 AS i, @f * 2 AS f, CONCAT(@s, '!') AS s, NOT @b AS b, "
        "DATE_ADD(@d, INTERVAL 1 DAY) AS d, @t AS t, @n IS NULL AS n_is_null",
        params,
    )
    ctx.call(
        "array parameter",
        query,
        ctx,
        "SELECT x FROM UNNEST(@xs) AS x WHERE x > 1 ORDER BY x",
        [A("xs", "INT64", [1, 2, 3])],
    )
    ctx.call(
        "positional parameters",
        query,
        ctx,
        "SELECT ? + ? AS s",
        [P(None, "INT64", 2), P(None, "INT64", 3)],
    )
    ctx.call(
        "aggregates over a literal table",
        query,
        ctx,
        "SELECT k, COUNT(*) AS c, SUM(v) AS s FROM UNNEST([STRUCT('a' AS k, 1 AS v), "
        "('a', 2), ('b', 5)]) GROUP BY k ORDER BY k",
    )
    ctx.call("syntax error", query, ctx, "SELEC 1")
    ctx.call("unknown table", query, ctx, f"SELECT * FROM `{ds}.nope`")
    ctx.call("unknown column", query, ctx, "SELECT nope FROM UNNEST([1]) AS x")
    ctx.call("missing parameter", query, ctx, "SELECT @absent AS a")
    ctx.call("division by zero", query, ctx, "SELECT 1 / 0 AS x")
