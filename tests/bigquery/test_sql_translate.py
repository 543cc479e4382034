"""Translator unit tests: BigQuery SQL -> DuckDB, run on an in-memory DuckDB.

Expected values are BigQuery's results, worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from emulators.bigquery.sql import SqlError, Statement, translate
from emulators.bigquery.sql.udfs import register

UTC = dt.timezone.utc
PROJECT = "test-proj"


class TableNotFound(Exception):
    pass


TABLES = {"events", "target", "src", "INFORMATION_SCHEMA.TABLES"}


def resolve(project: str, dataset: str, table: str) -> str:
    if project != PROJECT or dataset != "ds" or table not in TABLES:
        raise TableNotFound(f"Not found: Table {project}:{dataset}.{table}")
    if table.startswith("INFORMATION_SCHEMA."):
        return '"ds"."info_tables"'
    return f'"ds"."{table}"'


@pytest.fixture()
def con():
    c = duckdb.connect()
    register(c)
    c.execute("SET TimeZone='UTC'")
    c.execute("CREATE SCHEMA ds")
    c.execute(
        """CREATE TABLE ds.events (id BIGINT, name VARCHAR, score DOUBLE, ts TIMESTAMPTZ,
        d DATE, tags VARCHAR[], items STRUCT(sku VARCHAR, qty BIGINT)[], payload JSON,
        amount DECIMAL(38, 9))"""
    )
    c.execute(
        """INSERT INTO ds.events VALUES
        (1, 'alpha', 1.5, '2024-01-01 10:00:00+00', '2024-01-01', ['a', 'b'],
         [{'sku': 'x', 'qty': 2}, {'sku': 'y', 'qty': 3}],
         '{"user": {"id": 7, "name": "ann"}, "n": [1, 2]}', 10.5),
        (2, 'beta', 2.5, '2024-01-02 11:30:00+00', '2024-01-02', ['c'],
         [{'sku': 'x', 'qty': 1}], '{"user": {"id": 8}}', 20),
        (3, 'gamma', NULL, '2024-01-03 12:00:00+00', '2024-01-03', [], NULL, NULL, NULL),
        (4, 'alpha', 4.0, '2024-02-01 00:00:00+00', '2024-02-01', ['a'], [],
         '{"user": {"id": 7}}', 5)"""
    )
    c.execute("CREATE TABLE ds.target (id BIGINT, v VARCHAR)")
    c.execute("INSERT INTO ds.target VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    c.execute("CREATE TABLE ds.src (id BIGINT, v VARCHAR, del BOOLEAN)")
    c.execute("INSERT INTO ds.src VALUES (1, 'ONE', false), (2, 'TWO', true), (4, 'FOUR', false)")
    c.execute("CREATE TABLE ds.info_tables AS SELECT 'events' AS table_name")
    yield c
    c.close()


def tr(sql: str, params=None, dataset: str | None = "ds") -> Statement:
    return translate(
        sql, default_project=PROJECT, default_dataset=dataset, resolve_table=resolve, params=params
    )


def run(con, sql: str, params=None) -> list[tuple]:
    stmt = tr(sql, params)
    return con.execute(stmt.duckdb_sql, stmt.duckdb_params).fetchall()


def one(con, sql: str, params=None):
    rows = run(con, sql, params)
    assert len(rows) == 1, rows
    return rows[0][0] if len(rows[0]) == 1 else rows[0]


# --- table references ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [
        "`test-proj.ds.events`",
        "`test-proj`.`ds`.`events`",
        "test-proj.ds.events",
        "ds.events",
        "`ds.events`",
        "events",
    ],
)
def test_table_reference_forms(con, ref):
    assert one(con, f"SELECT COUNT(*) FROM {ref}") == 4


def test_implicit_alias_of_qualified_table(con):
    assert one(con, "SELECT events.id FROM ds.events WHERE events.id = 2") == 2


def test_unqualified_table_without_default_dataset():
    with pytest.raises(SqlError, match="must be qualified with a dataset"):
        tr("SELECT * FROM events", dataset=None)


def test_unknown_table_error_comes_from_resolver():
    with pytest.raises(TableNotFound):
        tr("SELECT * FROM ds.nope")


def test_cte_names_are_not_resolved(con):
    rows = run(con, "WITH events AS (SELECT 1 AS id) SELECT id FROM events")
    assert rows == [(1,)]


def test_information_schema(con):
    calls = []

    def spy(p, d, t):
        calls.append((p, d, t))
        return resolve(p, d, t)

    for ref in ["ds.INFORMATION_SCHEMA.TABLES", "`test-proj.ds.INFORMATION_SCHEMA.TABLES`"]:
        stmt = translate(
            f"SELECT TABLES.table_name FROM {ref}",
            default_project=PROJECT,
            default_dataset=None,
            resolve_table=spy,
        )
        assert con.execute(stmt.duckdb_sql).fetchall() == [("events",)]
    assert calls == [(PROJECT, "ds", "INFORMATION_SCHEMA.TABLES")] * 2


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("ds.INFORMATION_SCHEMA.COLUMNS", (PROJECT, "ds", "INFORMATION_SCHEMA.COLUMNS")),
        ("`p2.ds2.INFORMATION_SCHEMA.TABLES`", ("p2", "ds2", "INFORMATION_SCHEMA.TABLES")),
        ("`p2`.`ds2`.INFORMATION_SCHEMA.tables", ("p2", "ds2", "INFORMATION_SCHEMA.TABLES")),
        ("INFORMATION_SCHEMA.SCHEMATA", (PROJECT, "INFORMATION_SCHEMA", "SCHEMATA")),
        ("`p2`.INFORMATION_SCHEMA.SCHEMATA", ("p2", "INFORMATION_SCHEMA", "SCHEMATA")),
        ("`region-us`.INFORMATION_SCHEMA.TABLES", (PROJECT, "INFORMATION_SCHEMA", "TABLES")),
        ("`p2.region-eu.INFORMATION_SCHEMA.COLUMNS`", ("p2", "INFORMATION_SCHEMA", "COLUMNS")),
    ],
)
def test_information_schema_references(ref, expected):
    calls = []

    def spy(*ids):
        calls.append(ids)
        return '"x"'

    translate(
        f"SELECT * FROM {ref}", default_project=PROJECT, default_dataset=None, resolve_table=spy
    )
    assert calls == [expected]


# --- basic query shape --------------------------------------------------------------------


def test_result_column_names_follow_bigquery(con):
    stmt = tr(
        """SELECT id, 1, e.name, UPPER(name), items[SAFE_OFFSET(0)].sku, @s.k, COUNT(*) AS n
           FROM ds.events e WHERE id = 1 GROUP BY id, name, items""",
        {"s": {"k": 1}},
    )
    cursor = con.execute(stmt.duckdb_sql, stmt.duckdb_params)
    names = [d[0] for d in cursor.description]
    assert names == ["id", "f0_", "name", "f1_", "sku", "k", "n"]
    stmt = tr("(SELECT 1, 2) UNION ALL SELECT 3, 4")
    assert [d[0] for d in con.execute(stmt.duckdb_sql).description] == ["f0_", "f1_"]
    stmt = tr("SELECT AS STRUCT 1 AS a, 'x' AS b")
    cursor = con.execute(stmt.duckdb_sql)
    assert [d[0] for d in cursor.description] == ["f0_"]
    assert cursor.fetchall() == [({"a": 1, "b": "x"},)]


def test_duplicate_result_column_names_rejected():
    for sql in [
        "SELECT 1 AS a, 2 AS A",
        "SELECT e.id, t.id FROM ds.events e JOIN ds.target t USING (id)",
    ]:
        with pytest.raises(SqlError, match="Duplicate column names in the result"):
            tr(sql)
    tr("SELECT e.*, t.* EXCEPT (id) FROM ds.events e JOIN ds.target t USING (id)")


def test_group_by_having_order_limit_offset(con):
    rows = run(
        con,
        """SELECT name, COUNT(*) AS n, SUM(id) AS s FROM ds.events GROUP BY name
           HAVING COUNT(*) >= 1 ORDER BY s DESC LIMIT 2 OFFSET 1""",
    )
    assert rows == [("gamma", 1, 3), ("beta", 1, 2)]


def test_division_is_float64(con):
    assert one(con, "SELECT 7 / 2") == 3.5
    assert one(con, "SELECT 6 / 3") == 2.0 and isinstance(one(con, "SELECT 6 / 3"), float)


def test_division_by_zero_raises_like_bigquery(con):
    stmt = tr("SELECT id / (id - id) FROM ds.events")
    with pytest.raises(duckdb.Error, match="division by zero"):
        con.execute(stmt.duckdb_sql).fetchall()
    assert one(con, "SELECT IEEE_DIVIDE(1, 0), IEEE_DIVIDE(-1, 0)") == (
        float("inf"),
        float("-inf"),
    )
    assert one(con, "SELECT 1 / NULL") is None


def test_div_mod_truncate_toward_zero(con):
    assert one(con, "SELECT DIV(-7, 2), MOD(-7, 2), DIV(7, 2)") == (-3, -1, 3)


def test_int64_literal_arithmetic_does_not_overflow(con):
    assert one(con, "SELECT 2147483647 + 1") == 2147483648


def test_float_literal_is_float64(con):
    value = one(con, "SELECT 2.5")
    assert isinstance(value, float) and value == 2.5


def test_window_functions(con):
    rows = run(
        con,
        """SELECT id,
             ROW_NUMBER() OVER (PARTITION BY name ORDER BY id) AS rn,
             RANK() OVER (ORDER BY name) AS rk,
             LAG(id) OVER (ORDER BY id) AS prev,
             LEAD(id, 1, -1) OVER (ORDER BY id) AS nxt,
             SUM(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS running
           FROM ds.events ORDER BY id""",
    )
    assert rows == [
        (1, 1, 1, None, 2, 1),
        (2, 1, 3, 1, 3, 3),
        (3, 1, 4, 2, 4, 5),
        (4, 2, 1, 3, -1, 7),
    ]


def test_qualify(con):
    rows = run(
        con,
        """SELECT name, id FROM ds.events
           QUALIFY ROW_NUMBER() OVER (PARTITION BY name ORDER BY id DESC) = 1 ORDER BY name""",
    )
    assert rows == [("alpha", 4), ("beta", 2), ("gamma", 3)]


def test_select_star_except_replace(con):
    assert run(con, "SELECT * EXCEPT (b) FROM (SELECT 1 AS a, 2 AS b, 3 AS c)") == [(1, 3)]
    assert run(con, "SELECT * REPLACE (a * 10 AS a) FROM (SELECT 1 AS a, 2 AS b)") == [(10, 2)]


def test_set_operations(con):
    assert run(con, "SELECT 1 UNION ALL SELECT 1 UNION ALL SELECT 2 ORDER BY 1") == [
        (1,),
        (1,),
        (2,),
    ]
    assert run(con, "SELECT x FROM UNNEST([1, 1, 2]) AS x UNION DISTINCT SELECT 2 ORDER BY 1") == [
        (1,),
        (2,),
    ]
    assert run(con, "SELECT x FROM UNNEST([1, 2, 3]) AS x INTERSECT DISTINCT SELECT 2") == [(2,)]
    rows = run(con, "SELECT x FROM UNNEST([1, 2, 3]) AS x EXCEPT DISTINCT SELECT 2 ORDER BY 1")
    assert rows == [(1,), (3,)]


def test_subqueries_exists_in(con):
    assert one(con, "SELECT COUNT(*) FROM ds.events WHERE id IN (SELECT id FROM ds.target)") == 3
    assert (
        one(
            con,
            """SELECT COUNT(*) FROM ds.events e
           WHERE EXISTS (SELECT 1 FROM ds.src s WHERE s.id = e.id AND NOT s.del)""",
        )
        == 2
    )
    assert one(con, "SELECT (SELECT MAX(id) FROM ds.events)") == 4


def test_predicates(con):
    assert one(
        con,
        """SELECT 2 BETWEEN 1 AND 3, 'abc' LIKE 'a%', NULL IS DISTINCT FROM 1,
                  NULL IS NOT DISTINCT FROM NULL, 1 IS NOT DISTINCT FROM 2""",
    ) == (True, True, True, True, False)


def test_like_backslash_escapes(con):
    assert one(
        con,
        r"""SELECT 'a_b' LIKE 'a\\_b', 'axb' LIKE 'a\\_b', '50%' LIKE '%\\%', 'ab' LIKE @p""",
        {"p": "a\\%"},
    ) == (True, False, True, False)


def test_conditionals(con):
    assert one(
        con,
        """SELECT IFNULL(NULL, 1), COALESCE(NULL, NULL, 3), NULLIF(2, 2), IF(1 > 0, 'y', 'n'),
                  CASE WHEN 1 = 2 THEN 'a' ELSE 'b' END, CASE 3 WHEN 3 THEN 'c' END""",
    ) == (1, 3, None, "y", "b", "c")


# --- arrays, structs, UNNEST --------------------------------------------------------------


def test_unnest_scalar_array_with_comma_join(con):
    rows = run(con, "SELECT e.id, tag FROM ds.events AS e, UNNEST(e.tags) AS tag ORDER BY 1, 2")
    assert rows == [(1, "a"), (1, "b"), (2, "c"), (4, "a")]


def test_unnest_struct_array_cross_join(con):
    rows = run(
        con,
        """SELECT id, it.sku, it.qty FROM ds.events CROSS JOIN UNNEST(items) AS it
           ORDER BY id, it.sku""",
    )
    assert rows == [(1, "x", 2), (1, "y", 3), (2, "x", 1)]


def test_unnest_with_offset_is_zero_based(con):
    rows = run(
        con,
        """SELECT id, tag, pos FROM ds.events, UNNEST(tags) AS tag WITH OFFSET AS pos
           WHERE id = 1 ORDER BY pos""",
    )
    assert rows == [(1, "a", 0), (1, "b", 1)]
    assert run(con, "SELECT x, offset FROM UNNEST(['p', 'q']) AS x WITH OFFSET ORDER BY 2") == [
        ("p", 0),
        ("q", 1),
    ]


def test_unnest_of_struct_literal_array(con):
    rows = run(
        con,
        "SELECT a, b FROM UNNEST([STRUCT(1 AS a, 'x' AS b), STRUCT(2 AS a, 'y' AS b)]) ORDER BY a",
    )
    assert rows == [(1, "x"), (2, "y")]


def test_unnest_of_structs_exposes_fields_as_columns(con):
    structs = "[STRUCT('a' AS k, 1 AS v), STRUCT('b', 2)]"
    assert run(con, f"SELECT k, v FROM UNNEST({structs}) ORDER BY k") == [("a", 1), ("b", 2)]
    assert run(con, f"SELECT t.k FROM UNNEST({structs}) AS t ORDER BY 1") == [("a",), ("b",)]
    stmt = tr(f"SELECT * FROM UNNEST({structs})")
    result = con.execute(stmt.duckdb_sql, stmt.duckdb_params)
    assert [c[0] for c in result.description] == ["k", "v"]
    assert sorted(result.fetchall()) == [("a", 1), ("b", 2)]
    # tuples after a named STRUCT take its field names, as in BigQuery
    assert run(
        con,
        "SELECT k, SUM(v) FROM UNNEST([STRUCT('a' AS k, 1 AS v), ('a', 2), ('b', 5)]) "
        "GROUP BY k ORDER BY k",
    ) == [("a", 3), ("b", 5)]


def test_unnest_of_struct_column_fields_and_element(con):
    assert run(
        con, "SELECT id, s.sku, qty FROM ds.events, UNNEST(events.items) AS s ORDER BY 1, 2"
    ) == [(1, "x", 2), (1, "y", 3), (2, "x", 1)]
    stmt = tr("SELECT * FROM ds.events AS e, UNNEST(e.items) WHERE e.id = 2")
    result = con.execute(stmt.duckdb_sql, stmt.duckdb_params)
    assert [c[0] for c in result.description][-2:] == ["sku", "qty"]
    assert [row[-2:] for row in result.fetchall()] == [("x", 1)]
    # the alias still names the whole element
    assert run(con, "SELECT s FROM ds.events, UNNEST(items) AS s WHERE id = 2") == [
        ({"sku": "x", "qty": 1},)
    ]
    assert run(
        con,
        "SELECT e.id, s.sku FROM ds.events e LEFT JOIN UNNEST(e.items) AS s ON TRUE "
        "WHERE e.id >= 2 ORDER BY 1",
    ) == [(2, "x"), (3, None), (4, None)]


def test_unnest_of_struct_parameter(con):
    params = {"rows": [{"k": "a", "v": 1}, {"k": "b", "v": 2}]}
    assert run(con, "SELECT k, v FROM UNNEST(@rows) ORDER BY k", params) == [("a", 1), ("b", 2)]


def test_unnest_of_scalars_keeps_its_alias_as_the_column(con):
    stmt = tr("SELECT * FROM UNNEST([3, 1]) AS x")
    result = con.execute(stmt.duckdb_sql, stmt.duckdb_params)
    assert [c[0] for c in result.description] == ["x"]
    assert sorted(result.fetchall()) == [(1,), (3,)]


def test_array_element_access(con):
    assert one(
        con,
        """SELECT [10, 20, 30][OFFSET(0)], [10, 20, 30][ORDINAL(3)],
                  [10, 20, 30][SAFE_OFFSET(9)], [10, 20, 30][SAFE_ORDINAL(1)]""",
    ) == (10, 30, None, 10)
    assert one(con, "SELECT tags[OFFSET(1)] FROM ds.events WHERE id = 1") == "b"


def test_array_index_expressions_and_bounds(con):
    assert one(
        con,
        """SELECT arr[OFFSET(i)], arr[ORDINAL(i)], arr[SAFE_OFFSET(i + 5)],
                  arr[SAFE_OFFSET(-1)], arr[i], arr[OFFSET(@j)]
           FROM (SELECT [10, 20, 30] AS arr, 1 AS i)""",
        {"j": 2},
    ) == (20, 10, None, None, 20, 30)
    assert one(con, "SELECT CAST(NULL AS ARRAY<INT64>)[OFFSET(1)]") is None
    for bad in ("SELECT [1, 2][OFFSET(2)]", "SELECT [1, 2][ORDINAL(0)]", "SELECT [1][OFFSET(-1)]"):
        stmt = tr(bad)
        with pytest.raises(duckdb.Error, match="out of bounds"):
            con.execute(stmt.duckdb_sql).fetchall()


def test_struct_literal_and_field_access(con):
    assert one(con, "SELECT STRUCT(1 AS a, 'x' AS b).b") == "x"
    assert one(con, "SELECT s.a FROM (SELECT STRUCT(5 AS a) AS s)") == 5
    assert one(con, "SELECT STRUCT<a INT64, b STRING>(1, 'x')") == {"a": 1, "b": "x"}
    assert one(con, "SELECT items[OFFSET(1)].qty FROM ds.events WHERE id = 1") == 3


def test_array_functions(con):
    assert one(
        con,
        """SELECT ARRAY_LENGTH([1, 2, 3]), ARRAY_TO_STRING(['a', 'b'], '-'),
                  GENERATE_ARRAY(1, 7, 3), ARRAY<INT64>[1, 2]""",
    ) == (3, "a-b", [1, 4, 7], [1, 2])
    assert one(con, "SELECT GENERATE_DATE_ARRAY(DATE '2024-01-30', DATE '2024-02-01')") == [
        dt.date(2024, 1, 30),
        dt.date(2024, 1, 31),
        dt.date(2024, 2, 1),
    ]


def test_array_subquery(con):
    assert one(con, "SELECT ARRAY(SELECT x * 2 FROM UNNEST([3, 1, 2]) AS x ORDER BY x)") == [
        2,
        4,
        6,
    ]


def test_in_unnest(con):
    assert one(con, "SELECT 2 IN UNNEST([1, 2]), 5 IN UNNEST([1, 2])") == (True, False)


# --- casts --------------------------------------------------------------------------------


def test_casts_to_every_type(con):
    row = one(
        con,
        """SELECT CAST('12' AS INT64), CAST('1.5' AS FLOAT64), CAST('1.5' AS NUMERIC),
                  CAST('1.5' AS BIGNUMERIC), CAST(TRUE AS STRING), CAST('true' AS BOOL),
                  CAST('abc' AS BYTES), CAST('2024-01-02' AS DATE),
                  CAST('2024-01-02 03:04:05' AS DATETIME), CAST('03:04:05' AS TIME),
                  CAST('2024-01-02 03:04:05+00' AS TIMESTAMP), CAST('{"a":1}' AS JSON),
                  CAST('POINT(1 2)' AS GEOGRAPHY), CAST(3 AS INT)""",
    )
    assert row == (
        12,
        1.5,
        Decimal("1.5"),
        Decimal("1.5"),
        "true",
        True,
        b"abc",
        dt.date(2024, 1, 2),
        dt.datetime(2024, 1, 2, 3, 4, 5),
        dt.time(3, 4, 5),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        '{"a":1}',
        "POINT(1 2)",
        3,
    )


def test_float_to_int64_rounds_half_away_from_zero(con):
    assert one(
        con,
        """SELECT CAST(2.5 AS INT64), CAST(-2.5 AS INT64), CAST(5 / 2 AS INT64),
                  SAFE_CAST(0.5 AS INT64), CAST(AVG(x) AS INT64), CAST('12' AS INT64)
           FROM UNNEST([1, 2]) AS x""",
    ) == (3, -3, 3, 1, 2, 12)


def test_float_to_string_like_bigquery(con):
    assert one(
        con,
        """SELECT CAST(100.0 AS STRING), CAST(1.5 AS STRING), CAST(7 / 2 AS STRING),
                  CAST(6 / 2 AS STRING), CAST(1e20 AS STRING), CAST(10 AS STRING)""",
    ) == ("100", "1.5", "3.5", "3", "1e+20", "10")


def test_json_query_of_a_string_is_a_string(con):
    cursor = con.execute(
        tr(
            """SELECT JSON_QUERY('{"a": {"b": 1}}', '$.a'), JSON_QUERY(JSON '{"a": 1}', '$.a')"""
        ).duckdb_sql
    )
    assert [str(d[1]) for d in cursor.description] == ["VARCHAR", "JSON"]
    assert cursor.fetchone() == ('{"b":1}', "1")


def test_numeric_cast_keeps_nine_decimals(con):
    assert one(con, "SELECT CAST('1.123456789' AS NUMERIC)") == Decimal("1.123456789")


def test_safe_cast_and_safe_divide(con):
    assert one(con, "SELECT SAFE_CAST('x' AS INT64), SAFE_DIVIDE(1, 0), SAFE_DIVIDE(6, 4)") == (
        None,
        None,
        1.5,
    )


def test_safe_prefix_and_safe_arithmetic(con):
    assert one(
        con,
        """SELECT SAFE_ADD(9223372036854775807, 1), SAFE_MULTIPLY(2, 3),
                  SAFE_SUBTRACT(5, 7), SAFE.SUBSTR('abc', 2)""",
    ) == (None, 6, -2, "bc")


# --- dates and times ----------------------------------------------------------------------


def test_date_diff_and_add(con):
    assert one(
        con,
        """SELECT DATE_DIFF(DATE '2024-03-01', DATE '2024-02-01', DAY),
                  DATE_DIFF(DATE '2024-01-01', DATE '2023-12-31', YEAR),
                  DATE_DIFF(DATE '2024-01-07', DATE '2024-01-06', WEEK),
                  DATE_DIFF(DATE '2024-01-08', DATE '2024-01-07', WEEK),
                  DATE_ADD(DATE '2024-01-31', INTERVAL 1 MONTH),
                  DATE_SUB(DATE '2024-03-01', INTERVAL 1 DAY)""",
    ) == (29, 1, 1, 0, dt.date(2024, 2, 29), dt.date(2024, 2, 29))


def test_date_trunc_keeps_date_type(con):
    assert one(
        con,
        """SELECT DATE_TRUNC(DATE '2024-03-15', MONTH), DATE_TRUNC(DATE '2024-03-15', YEAR),
                  DATE_TRUNC(DATE '2024-05-15', QUARTER), DATE_TRUNC(DATE '2024-01-10', WEEK),
                  DATE_TRUNC(DATE '2024-01-10', WEEK(MONDAY)),
                  DATE_TRUNC(DATE '2024-01-10', ISOWEEK)""",
    ) == (
        dt.date(2024, 3, 1),
        dt.date(2024, 1, 1),
        dt.date(2024, 4, 1),
        dt.date(2024, 1, 7),
        dt.date(2024, 1, 8),
        dt.date(2024, 1, 8),
    )


def test_timestamp_functions(con):
    ts = "TIMESTAMP '2024-01-02 03:04:05+00'"
    assert one(
        con,
        f"""SELECT TIMESTAMP_TRUNC({ts}, HOUR), TIMESTAMP_TRUNC({ts}, DAY),
                   TIMESTAMP_ADD({ts}, INTERVAL 3 HOUR), TIMESTAMP_SUB({ts}, INTERVAL 1 DAY),
                   FORMAT_TIMESTAMP('%Y-%m-%d %H:%M', {ts})""",
    ) == (
        dt.datetime(2024, 1, 2, 3, tzinfo=UTC),
        dt.datetime(2024, 1, 2, tzinfo=UTC),
        dt.datetime(2024, 1, 2, 6, 4, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 1, 3, 4, 5, tzinfo=UTC),
        "2024-01-02 03:04",
    )


def test_timestamp_diff_counts_whole_units(con):
    assert one(
        con,
        """SELECT TIMESTAMP_DIFF(TIMESTAMP '2010-07-07 10:20:00+00',
                                 TIMESTAMP '2008-12-25 15:30:00+00', HOUR),
                  TIMESTAMP_DIFF(TIMESTAMP '2024-01-02 00:00:00+00',
                                 TIMESTAMP '2024-01-01 00:00:01+00', DAY),
                  TIMESTAMP_DIFF(TIMESTAMP '2024-01-01 00:00:00+00',
                                 TIMESTAMP '2024-01-01 00:01:30+00', MINUTE)""",
    ) == (13410, 0, -1)


def test_format_and_parse(con):
    assert one(
        con,
        """SELECT FORMAT_DATE('%Y/%m/%d', DATE '2024-01-02'),
                  FORMAT_TIMESTAMP('%F %T', TIMESTAMP '2024-01-02 03:04:05+00'),
                  FORMAT_TIMESTAMP('%H:%M', TIMESTAMP '2024-07-02 03:04:05+00',
                                   'America/New_York'),
                  FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E3SZ',
                                   TIMESTAMP '2024-01-02 03:04:05.678+00'),
                  PARSE_DATE('%Y-%m-%d', '2024-01-02'),
                  PARSE_TIMESTAMP('%Y-%m-%d %H:%M:%S', '2024-01-02 03:04:05'),
                  PARSE_DATETIME('%Y-%m-%d %H:%M', '2024-01-02 03:04')""",
    ) == (
        "2024/01/02",
        "2024-01-02 03:04:05",
        "23:04",
        "2024-01-02T03:04:05.678Z",
        dt.date(2024, 1, 2),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 2, 3, 4),
    )


def test_extract(con):
    assert one(
        con,
        """SELECT EXTRACT(YEAR FROM DATE '2024-01-07'), EXTRACT(DAYOFWEEK FROM DATE '2024-01-07'),
                  EXTRACT(DAYOFWEEK FROM DATE '2024-01-06'), EXTRACT(WEEK FROM DATE '2024-01-07'),
                  EXTRACT(ISOWEEK FROM DATE '2024-01-07'), EXTRACT(DAYOFYEAR FROM DATE '2024-02-01'),
                  EXTRACT(HOUR FROM TIMESTAMP '2024-01-02 03:04:05+00'),
                  EXTRACT(DATE FROM TIMESTAMP '2024-01-02 03:04:05+00'),
                  EXTRACT(QUARTER FROM DATE '2024-05-01')""",
    ) == (2024, 1, 7, 1, 1, 32, 3, dt.date(2024, 1, 2), 2)


def test_unix_conversions(con):
    assert one(
        con,
        """SELECT UNIX_SECONDS(TIMESTAMP '2024-01-02 03:04:05+00'),
                  UNIX_MILLIS(TIMESTAMP '2024-01-02 03:04:05.5+00'),
                  TIMESTAMP_SECONDS(1700000000), TIMESTAMP_MILLIS(1700000000123),
                  TIMESTAMP_MICROS(1), UNIX_DATE(DATE '1970-01-11'), DATE_FROM_UNIX_DATE(10)""",
    ) == (
        1704164645,
        1704164645500,
        dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
        dt.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        10,
        dt.date(1970, 1, 11),
    )


def test_date_and_timestamp_constructors(con):
    assert one(
        con,
        """SELECT DATE(TIMESTAMP '2024-01-02 23:59:59+00'), TIMESTAMP('2024-01-02 03:04:05'),
                  DATE(2024, 2, 29), DATETIME(2024, 1, 2, 3, 4, 5),
                  DATETIME(TIMESTAMP '2024-01-02 03:04:05+00'), TIMESTAMP(DATE '2024-01-01')""",
    ) == (
        dt.date(2024, 1, 2),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        dt.date(2024, 2, 29),
        dt.datetime(2024, 1, 2, 3, 4, 5),
        dt.datetime(2024, 1, 2, 3, 4, 5),
        dt.datetime(2024, 1, 1, tzinfo=UTC),
    )


def test_nested_rewrites_apply_inside_each_other(con):
    assert one(
        con,
        """SELECT DATE_ADD(DATE_TRUNC(DATE '2024-03-15', MONTH), INTERVAL 1 DAY),
                  EXTRACT(DAYOFWEEK FROM DATE_SUB(DATE '2024-01-08', INTERVAL 1 DAY)),
                  ARRAY_AGG(DATE_TRUNC(d, MONTH) ORDER BY d DESC LIMIT 1)
           FROM ds.events""",
    ) == (dt.date(2024, 3, 2), 1, [dt.date(2024, 2, 1)])


def test_time_of_day_functions(con):
    assert one(
        con,
        """SELECT TIME_TRUNC(TIME '10:34:56', HOUR), FORMAT_TIME('%H:%M', TIME '03:04:05'),
                  TIME_ADD(TIME '23:30:00', INTERVAL 45 MINUTE),
                  TIME_DIFF(TIME '10:00:00', TIME '08:30:00', MINUTE)""",
    ) == (dt.time(10), "03:04", dt.time(0, 15), 90)
    now = one(con, "SELECT CURRENT_DATETIME()")
    assert isinstance(now, dt.datetime) and now.tzinfo is None


def test_current_time_functions(con):
    before = dt.datetime.now(UTC)
    now, today = one(con, "SELECT CURRENT_TIMESTAMP(), CURRENT_DATE()")
    assert isinstance(now, dt.datetime) and now.tzinfo is not None
    assert now >= before - dt.timedelta(seconds=5)
    assert today in (before.date(), (before + dt.timedelta(days=1)).date())


def test_timestamp_column_filter_and_group_by_date(con):
    rows = run(
        con,
        """SELECT DATE(ts) AS day, COUNT(*) FROM ds.events
           WHERE ts >= TIMESTAMP '2024-01-02' GROUP BY day ORDER BY day""",
    )
    assert rows == [(dt.date(2024, 1, 2), 1), (dt.date(2024, 1, 3), 1), (dt.date(2024, 2, 1), 1)]


# --- strings and regular expressions ------------------------------------------------------


def test_string_functions(con):
    assert one(
        con,
        """SELECT CONCAT('a', 'b', 'c'), LENGTH('héllo'), LOWER('AbC'), UPPER('abc'),
                  SUBSTR('abcdef', 2, 3), SUBSTR('abcdef', -2), TRIM('  x  '), LTRIM('xxa', 'x'),
                  SPLIT('a,b,,c', ','), STARTS_WITH('abc', 'ab'), ENDS_WITH('abc', 'bc'),
                  REPLACE('aXbX', 'X', '-'), STRPOS('abcabc', 'c'), LPAD('7', 3, '0'),
                  RPAD('ab', 4, '.'), REVERSE('abc')""",
    ) == (
        "abc",
        5,
        "abc",
        "ABC",
        "bcd",
        "ef",
        "x",
        "a",
        ["a", "b", "", "c"],
        True,
        True,
        "a-b-",
        3,
        "007",
        "ab..",
        "cba",
    )


def test_byte_length_of_strings_and_bytes(con):
    assert one(
        con, "SELECT BYTE_LENGTH('é'), BYTE_LENGTH(b'ab'), BYTE_LENGTH(@s)", {"s": "héllo"}
    ) == (
        2,
        2,
        6,
    )


def test_concat_with_null_is_null(con):
    assert one(con, "SELECT CONCAT('a', NULL)") is None


def test_format_function(con):
    assert one(con, "SELECT FORMAT('%d-%s-%.2f', 3, 'x', 1.5)") == "3-x-1.50"
    assert one(con, "SELECT FORMAT('%05d', 42)") == "00042"


def test_regexp_functions(con):
    assert one(
        con,
        r"""SELECT REGEXP_CONTAINS('abc123', r'\d+'), REGEXP_CONTAINS('abc', r'^b'),
                   REGEXP_EXTRACT('abc123def', r'[0-9]+'),
                   REGEXP_EXTRACT('user=ann;', r'user=(\w+)'),
                   REGEXP_EXTRACT_ALL('a1b22c333', r'\d+'),
                   REGEXP_REPLACE('a-b-c', r'-', '+'), REGEXP_EXTRACT('abc', r'\d')""",
    ) == (True, False, "123", "ann", ["1", "22", "333"], "a+b+c", None)


# --- JSON -------------------------------------------------------------------------------


def test_json_functions_on_strings(con):
    doc = """'{"a": {"b": 1, "c": "x"}, "arr": [10, 20]}'"""
    assert one(
        con,
        f"""SELECT JSON_VALUE({doc}, '$.a.c'), JSON_VALUE({doc}, '$.a.b'),
                   JSON_EXTRACT_SCALAR({doc}, '$.arr[1]'), JSON_VALUE({doc}, '$.a'),
                   JSON_VALUE({doc}, '$.missing')""",
    ) == ("x", "1", "20", None, None)
    query, extract = one(con, f"SELECT JSON_QUERY({doc}, '$.a'), JSON_EXTRACT({doc}, '$.arr')")
    assert json.loads(query) == {"b": 1, "c": "x"}
    assert json.loads(extract) == [10, 20]


def test_json_functions_on_json_column(con):
    rows = run(
        con,
        """SELECT id, JSON_VALUE(payload, '$.user.name'), JSON_VALUE(payload, '$.user.id')
           FROM ds.events WHERE payload IS NOT NULL ORDER BY id""",
    )
    assert rows == [(1, "ann", "7"), (2, None, "8"), (4, None, "7")]
    assert json.loads(
        one(con, "SELECT JSON_QUERY(payload, '$.n') FROM ds.events WHERE id = 1")
    ) == [
        1,
        2,
    ]


def test_to_json_string_and_parse_json(con):
    assert json.loads(one(con, "SELECT TO_JSON_STRING(STRUCT(1 AS a, 'x' AS b))")) == {
        "a": 1,
        "b": "x",
    }
    assert json.loads(one(con, """SELECT PARSE_JSON('{"k": [1, 2]}')""")) == {"k": [1, 2]}


# --- aggregates ---------------------------------------------------------------------------


def test_aggregates(con):
    assert one(
        con,
        """SELECT COUNT(*), COUNT(score), COUNTIF(score > 2), MIN(id), MAX(name), AVG(id),
                  SUM(id), LOGICAL_AND(id > 0), LOGICAL_OR(id > 3),
                  APPROX_COUNT_DISTINCT(name), STRING_AGG(name, ',' ORDER BY id)
           FROM ds.events""",
    ) == (4, 3, 2, 1, "gamma", 2.5, 10, True, True, 3, "alpha,beta,gamma,alpha")


def test_any_value(con):
    assert one(con, "SELECT ANY_VALUE(name) FROM ds.events WHERE id = 2") == "beta"


def test_array_agg_variants(con):
    assert one(
        con,
        """SELECT ARRAY_AGG(x IGNORE NULLS ORDER BY x DESC LIMIT 2),
                  ARRAY_AGG(x ORDER BY x LIMIT 1), ARRAY_AGG(DISTINCT x IGNORE NULLS ORDER BY x)
           FROM UNNEST([1, NULL, 3, 2, 3]) AS x""",
    ) == ([3, 3], [None], [1, 2, 3])
    assert one(con, "SELECT STRING_AGG(name, '|' ORDER BY name LIMIT 2) FROM ds.events") == (
        "alpha|alpha"
    )


def test_math_functions(con):
    assert one(
        con,
        """SELECT ROUND(2.5), ROUND(-2.5), ROUND(3.14159, 2), TRUNC(2.7), TRUNC(-2.7),
                  GREATEST(1, 5, 3), LEAST(4, 2), GREATEST(1, NULL), ABS(-3), MOD(10, 3)""",
    ) == (3.0, -3.0, 3.14, 2.0, -2.0, 5, 2, None, 3, 1)


def test_int64_counts_where_duckdb_wants_int32(con):
    assert one(
        con,
        """SELECT ROUND(3.14159, @n), TRUNC(2.789, @n), LPAD('7', @w, '0'), RPAD('7', @w, '.'),
                  CHR(@c), ROUND(score, id) FROM ds.events WHERE id = 1""",
        {"n": 2, "w": 3, "c": 65},
    ) == (3.14, 2.78, "007", "7..", "A", 1.5)


def test_farm_fingerprint_is_stable_int64(con):
    a1, a2, b = one(
        con, "SELECT FARM_FINGERPRINT('abc'), FARM_FINGERPRINT('abc'), FARM_FINGERPRINT('abd')"
    )
    assert a1 == a2 != b
    assert -(2**63) <= a1 < 2**63


def test_generate_uuid_and_session_user(con):
    u1, u2, user = one(con, "SELECT GENERATE_UUID(), GENERATE_UUID(), SESSION_USER()")
    assert len(u1) == 36 and u1 != u2
    assert user == "bigquery-emulator@localhost"


# --- query parameters ---------------------------------------------------------------------


def test_named_parameters(con):
    rows = run(
        con,
        "SELECT id FROM ds.events WHERE name = @name AND id >= @min_id ORDER BY id",
        {"name": "alpha", "min_id": 2},
    )
    assert rows == [(4,)]


def test_named_parameter_reused_and_case_insensitive(con):
    assert one(con, "SELECT @x + @X", {"x": 2147483647}) == 4294967294


def test_positional_parameters(con):
    assert one(con, "SELECT ? || ?, ?", ["a", "b", 3]) == ("ab", 3)


def test_array_parameter_in_unnest(con):
    rows = run(
        con, "SELECT id FROM ds.events WHERE id IN UNNEST(@ids) ORDER BY id", {"ids": [1, 3]}
    )
    assert rows == [(1,), (3,)]
    assert one(con, "SELECT ARRAY_LENGTH(@a)", {"a": ["x", "y"]}) == 2


def test_struct_and_typed_parameters(con):
    row = one(
        con,
        "SELECT @s.name, @ts, @d, @n * 2, @b",
        {
            "s": {"name": "ann", "age": 3},
            "ts": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "d": dt.date(2024, 1, 2),
            "n": Decimal("1.25"),
            "b": True,
        },
    )
    assert row == (
        "ann",
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        dt.date(2024, 1, 2),
        Decimal("2.5"),
        True,
    )


def test_declared_parameter_types_keep_nulls_and_empty_arrays_typed(con):
    stmt = translate(
        "SELECT @s, @n, @a, @j, @st",
        default_project=PROJECT,
        default_dataset="ds",
        resolve_table=resolve,
        params={"s": None, "n": None, "a": [], "j": {"k": [1, 2]}, "st": {"x": 1, "y": None}},
        param_types={
            "s": {"type": "STRING"},
            "n": {"type": "NUMERIC"},
            "a": {"type": "ARRAY", "arrayType": {"type": "INT64"}},
            "j": {"type": "JSON"},
            "st": {
                "type": "STRUCT",
                "structTypes": [
                    {"name": "x", "type": {"type": "INT64"}},
                    {"name": "y", "type": {"type": "DATE"}},
                ],
            },
        },
    )
    cursor = con.execute(stmt.duckdb_sql, stmt.duckdb_params)
    assert [str(d[1]) for d in cursor.description] == [
        "VARCHAR",
        "DECIMAL(38,9)",
        "BIGINT[]",
        "JSON",
        "STRUCT(x BIGINT, y DATE)",
    ]
    assert cursor.fetchone() == (None, None, [], '{"k":[1,2]}', {"x": 1, "y": None})
    stmt = translate(
        "SELECT ?",
        default_project=PROJECT,
        default_dataset="ds",
        resolve_table=resolve,
        params=[None],
        param_types=[{"type": "DATETIME"}],
    )
    assert str(con.execute(stmt.duckdb_sql, stmt.duckdb_params).description[0][1]) == "TIMESTAMP"


def test_timestamp_add_with_parameter_interval(con):
    assert one(
        con, "SELECT TIMESTAMP_ADD(TIMESTAMP '2024-01-01 00:00:00+00', INTERVAL @h HOUR)", {"h": 5}
    ) == dt.datetime(2024, 1, 1, 5, tzinfo=UTC)


def test_missing_parameter():
    with pytest.raises(SqlError, match="Query parameter 'nope' not found"):
        tr("SELECT @nope", {"x": 1})
    with pytest.raises(SqlError, match="positional parameter"):
        tr("SELECT ?, ?", [1])


def test_parameters_are_not_sql_injected(con):
    rows = run(con, "SELECT COUNT(*) FROM ds.events WHERE name = @n", {"n": "x' OR '1'='1"})
    assert rows == [(0,)]


# --- DML --------------------------------------------------------------------------------


def test_insert_values_and_select(con):
    stmt = tr("INSERT ds.target (id, v) VALUES (10, 'ten'), (11, @v)", {"v": "eleven"})
    assert stmt.kind == "INSERT" and stmt.target == (PROJECT, "ds", "target")
    assert con.execute(stmt.duckdb_sql, stmt.duckdb_params).fetchall() == [(2,)]
    stmt = tr("INSERT INTO target (id, v) SELECT id, name FROM ds.events WHERE id > 2")
    assert con.execute(stmt.duckdb_sql, stmt.duckdb_params).fetchall() == [(2,)]
    assert con.execute("SELECT COUNT(*) FROM ds.target").fetchone() == (7,)


def test_insert_structs_arrays_json_and_coerced_literals(con):
    stmt = tr(
        """INSERT ds.events (id, ts, d, amount, items, tags, payload) VALUES
           (10, '2024-05-01 00:00:00', '2024-05-01', 1.25, [STRUCT('z', 5), ('w', 6)],
            ARRAY<STRING>[], JSON '{"k": 1}')"""
    )
    assert con.execute(stmt.duckdb_sql).fetchall() == [(1,)]
    row = con.execute("SELECT ts, d, amount, items, tags, payload FROM ds.events WHERE id = 10")
    assert row.fetchone() == (
        dt.datetime(2024, 5, 1, tzinfo=UTC),
        dt.date(2024, 5, 1),
        Decimal("1.25"),
        [{"sku": "z", "qty": 5}, {"sku": "w", "qty": 6}],
        [],
        '{"k":1}',
    )


def test_update_arrays_of_structs(con):
    stmt = tr(
        """UPDATE ds.events
           SET items = ARRAY(SELECT AS STRUCT i.sku, i.qty * 10 AS qty FROM UNNEST(items) AS i),
               tags = ARRAY_CONCAT(tags, ['new'])
           WHERE id = 1"""
    )
    assert con.execute(stmt.duckdb_sql).fetchall() == [(1,)]
    assert con.execute("SELECT items, tags FROM ds.events WHERE id = 1").fetchone() == (
        [{"sku": "x", "qty": 20}, {"sku": "y", "qty": 30}],
        ["a", "b", "new"],
    )


def test_update_and_delete(con):
    stmt = tr("UPDATE ds.target SET v = UPPER(v) WHERE id >= 2")
    assert stmt.kind == "UPDATE"
    assert con.execute(stmt.duckdb_sql).fetchall() == [(2,)]
    stmt = tr("DELETE ds.target WHERE id = 1")
    assert stmt.kind == "DELETE" and stmt.target == (PROJECT, "ds", "target")
    assert con.execute(stmt.duckdb_sql).fetchall() == [(1,)]
    stmt = tr("DELETE FROM `test-proj.ds.target` t WHERE t.id = 2")
    assert con.execute(stmt.duckdb_sql).fetchall() == [(1,)]
    assert con.execute("SELECT * FROM ds.target").fetchall() == [(3, "THREE")]


def test_update_set_default(con):
    stmt = tr("UPDATE ds.target SET v = DEFAULT WHERE id = 1")
    assert con.execute(stmt.duckdb_sql).fetchall() == [(1,)]
    assert con.execute("SELECT v FROM ds.target WHERE id = 1").fetchone() == (None,)


def test_update_with_implicit_alias(con):
    stmt = tr("UPDATE ds.target SET v = 'x' WHERE target.id = 1")
    assert con.execute(stmt.duckdb_sql).fetchall() == [(1,)]


def test_truncate_table_is_a_delete(con):
    stmt = tr("TRUNCATE TABLE ds.target")
    assert (stmt.kind, stmt.target) == ("DELETE", (PROJECT, "ds", "target"))
    assert con.execute(stmt.duckdb_sql).fetchall() == [(3,)]


def test_update_and_delete_need_where():
    with pytest.raises(SqlError, match="UPDATE must have a WHERE clause"):
        tr("UPDATE ds.target SET v = 'x'")
    with pytest.raises(SqlError, match="DELETE must have a WHERE clause"):
        tr("DELETE FROM ds.target")


def test_merge(con):
    stmt = tr(
        """MERGE ds.target T USING ds.src S ON T.id = S.id
           WHEN MATCHED AND S.del THEN DELETE
           WHEN MATCHED THEN UPDATE SET v = S.v
           WHEN NOT MATCHED THEN INSERT (id, v) VALUES (S.id, S.v)"""
    )
    assert stmt.kind == "MERGE" and stmt.target == (PROJECT, "ds", "target")
    assert con.execute(stmt.duckdb_sql).fetchall() == [(3,)]
    assert con.execute("SELECT * FROM ds.target ORDER BY id").fetchall() == [
        (1, "ONE"),
        (3, "three"),
        (4, "FOUR"),
    ]


def test_merge_variants(con):
    for sql, affected in [
        (
            """MERGE ds.target T USING ds.src S ON T.id = S.id
               WHEN MATCHED AND NOT S.del THEN UPDATE SET v = S.v, id = S.id
               WHEN NOT MATCHED BY SOURCE AND T.id > 2 THEN UPDATE SET v = 'gone'
               WHEN NOT MATCHED THEN INSERT VALUES (S.id, S.v)""",
            3,
        ),
        (
            """MERGE ds.target T USING (SELECT 100 AS id, 'x' AS v) S ON FALSE
               WHEN NOT MATCHED THEN INSERT ROW""",
            1,
        ),
        ("MERGE ds.target USING ds.src ON target.id = src.id WHEN MATCHED THEN DELETE", 3),
    ]:
        stmt = tr(sql)
        assert con.execute(stmt.duckdb_sql).fetchall() == [(affected,)]
    assert con.execute("SELECT * FROM ds.target ORDER BY id").fetchall() == [
        (3, "gone"),
        (100, "x"),
    ]


def test_merge_not_matched_by_source(con):
    stmt = tr(
        """MERGE INTO ds.target AS T USING (SELECT id, v FROM ds.src WHERE NOT del) AS S
           ON T.id = S.id
           WHEN NOT MATCHED BY SOURCE THEN DELETE
           WHEN NOT MATCHED BY TARGET THEN INSERT ROW"""
    )
    con.execute(stmt.duckdb_sql)
    assert con.execute("SELECT id FROM ds.target ORDER BY id").fetchall() == [(1,), (4,)]


# --- DDL --------------------------------------------------------------------------------


def test_create_table_schema():
    stmt = tr(
        """CREATE OR REPLACE TABLE `test-proj.ds.new_t` (
             id INT64 NOT NULL OPTIONS(description = 'the id'),
             name STRING(20),
             price NUMERIC(10, 2),
             ts TIMESTAMP, dt DATETIME, d DATE, t TIME, ok BOOL, f FLOAT64, raw BYTES,
             j JSON, g GEOGRAPHY, big BIGNUMERIC,
             tags ARRAY<STRING>,
             addr STRUCT<street STRING, zips ARRAY<INT64>, geo STRUCT<lat FLOAT64>>,
             lines ARRAY<STRUCT<sku STRING, qty INT64>>
           )
           PARTITION BY DATE(ts) CLUSTER BY id, name
           OPTIONS(description = 'a table', labels = [('team', 'data')])"""
    )
    assert stmt.kind == "CREATE_TABLE"
    assert stmt.target == (PROJECT, "ds", "new_t")
    assert stmt.or_replace and not stmt.if_not_exists
    assert stmt.schema == [
        {"name": "id", "type": "INTEGER", "mode": "REQUIRED", "description": "the id"},
        {"name": "name", "type": "STRING", "mode": "NULLABLE", "maxLength": "20"},
        {"name": "price", "type": "NUMERIC", "mode": "NULLABLE", "precision": "10", "scale": "2"},
        {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"},
        {"name": "dt", "type": "DATETIME", "mode": "NULLABLE"},
        {"name": "d", "type": "DATE", "mode": "NULLABLE"},
        {"name": "t", "type": "TIME", "mode": "NULLABLE"},
        {"name": "ok", "type": "BOOLEAN", "mode": "NULLABLE"},
        {"name": "f", "type": "FLOAT", "mode": "NULLABLE"},
        {"name": "raw", "type": "BYTES", "mode": "NULLABLE"},
        {"name": "j", "type": "JSON", "mode": "NULLABLE"},
        {"name": "g", "type": "GEOGRAPHY", "mode": "NULLABLE"},
        {"name": "big", "type": "BIGNUMERIC", "mode": "NULLABLE"},
        {"name": "tags", "type": "STRING", "mode": "REPEATED"},
        {
            "name": "addr",
            "type": "RECORD",
            "mode": "NULLABLE",
            "fields": [
                {"name": "street", "type": "STRING", "mode": "NULLABLE"},
                {"name": "zips", "type": "INTEGER", "mode": "REPEATED"},
                {
                    "name": "geo",
                    "type": "RECORD",
                    "mode": "NULLABLE",
                    "fields": [{"name": "lat", "type": "FLOAT", "mode": "NULLABLE"}],
                },
            ],
        },
        {
            "name": "lines",
            "type": "RECORD",
            "mode": "REPEATED",
            "fields": [
                {"name": "sku", "type": "STRING", "mode": "NULLABLE"},
                {"name": "qty", "type": "INTEGER", "mode": "NULLABLE"},
            ],
        },
    ]
    assert stmt.partition_by == "DATE(ts)"
    assert stmt.time_partitioning == {"type": "DAY", "field": "ts"}
    assert stmt.cluster_by == ["id", "name"]
    assert stmt.description == "a table"
    assert stmt.options["labels"] == [["team", "data"]]


def test_create_table_accepts_unenforced_keys():
    stmt = tr(
        """CREATE TABLE ds.k (a INT64 PRIMARY KEY NOT ENFORCED, b STRING,
             PRIMARY KEY (a, b) NOT ENFORCED,
             FOREIGN KEY (b) REFERENCES ds.o(x) NOT ENFORCED)"""
    )
    assert [f["name"] for f in stmt.schema] == ["a", "b"]


def test_create_table_if_not_exists_default_dataset():
    stmt = tr("CREATE TABLE IF NOT EXISTS t2 (a INT64)")
    assert stmt.kind == "CREATE_TABLE" and stmt.if_not_exists and not stmt.or_replace
    assert stmt.target == (PROJECT, "ds", "t2")


def test_create_table_does_not_resolve_its_target():
    # resolve() would raise TableNotFound for new_t
    assert tr("CREATE TABLE ds.new_t (a INT64)").target == (PROJECT, "ds", "new_t")
    assert tr("DROP TABLE ds.new_t").target == (PROJECT, "ds", "new_t")


def test_ctas(con):
    stmt = tr(
        """CREATE TABLE ds.summary PARTITION BY day AS
           SELECT DATE(ts) AS day, COUNT(*) AS n FROM ds.events WHERE id > @min GROUP BY day""",
        {"min": 1},
    )
    assert stmt.kind == "CREATE_TABLE_AS_SELECT" and stmt.target == (PROJECT, "ds", "summary")
    assert stmt.time_partitioning == {"type": "DAY", "field": "day"}
    rows = con.execute(stmt.query_sql + " ORDER BY day", stmt.duckdb_params).fetchall()
    assert rows == [(dt.date(2024, 1, 2), 1), (dt.date(2024, 1, 3), 1), (dt.date(2024, 2, 1), 1)]


def test_create_view(con):
    stmt = tr("CREATE OR REPLACE VIEW ds.v AS SELECT name FROM ds.events WHERE id = 1")
    assert stmt.kind == "CREATE_VIEW" and stmt.or_replace
    assert stmt.target == (PROJECT, "ds", "v")
    assert con.execute(stmt.query_sql).fetchall() == [("alpha",)]


def test_create_view_with_column_list(con):
    stmt = tr("CREATE VIEW ds.v (a, b) AS SELECT 1, 'x'")
    assert stmt.view_columns == ["a", "b"]
    assert tr("CREATE VIEW ds.v AS SELECT 1 AS a").view_columns is None
    cursor = con.execute(stmt.query_sql)
    assert [d[0] for d in cursor.description] == ["a", "b"]
    assert cursor.fetchall() == [(1, "x")]


def test_create_table_duplicate_columns_rejected():
    with pytest.raises(SqlError, match="Duplicate column names in CREATE TABLE: a"):
        tr("CREATE TABLE ds.t9 (a INT64, A STRING)")


def test_view_with_parameters_rejected():
    with pytest.raises(SqlError, match="Unsupported construct: query parameters in CREATE VIEW"):
        tr("CREATE VIEW ds.v AS SELECT @x AS a", {"x": 1})


def test_drop_table_and_view():
    stmt = tr("DROP TABLE IF EXISTS ds.t")
    assert (stmt.kind, stmt.if_exists, stmt.target) == ("DROP_TABLE", True, (PROJECT, "ds", "t"))
    stmt = tr("DROP VIEW `test-proj.ds.v`")
    assert (stmt.kind, stmt.if_exists, stmt.target) == ("DROP_VIEW", False, (PROJECT, "ds", "v"))


def test_or_replace_with_if_not_exists_rejected():
    with pytest.raises(SqlError, match="cannot both be present"):
        tr("CREATE OR REPLACE TABLE IF NOT EXISTS ds.x (a INT64)")


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql, message, location",
    [
        ("SELECT * FORM ds.events", 'Syntax error: Unexpected identifier "ds" at [1:15]', (1, 15)),
        ("SELECT 1 2", 'Syntax error: Unexpected integer literal "2" at [1:10]', (1, 10)),
        (
            "SELECT * FROM ds.events WHERE",
            "Syntax error: Unexpected end of script at [1:30]",
            (1, 30),
        ),
        (
            "SELECT a\nFROM ds.events\nWHERE a = (",
            "Syntax error: Unexpected end of script at [3:12]",
            (3, 12),
        ),
        (
            "SELECT * FROM ds.events AS select",
            "Syntax error: Unexpected keyword SELECT at [1:28]",
            (1, 28),
        ),
        ("SELECT * FROM ds.events GROUP", "Syntax error: Unexpected keyword GROUP", None),
    ],
)
def test_syntax_error_messages(sql, message, location):
    with pytest.raises(SqlError) as info:
        tr(sql)
    assert info.value.message == message
    assert info.value.location == location


def test_syntax_error_message():
    with pytest.raises(SqlError) as info:
        tr("SELECT * FORM ds.events")
    assert info.value.message.startswith("Syntax error: Unexpected")
    assert info.value.location is not None


@pytest.mark.parametrize(
    "sql, construct",
    [
        ("SELECT 1; SELECT 2", "multi-statement script"),
        ("CREATE TEMP VIEW x AS SELECT 1", "CREATE TEMP VIEW"),
        ("CREATE MATERIALIZED VIEW ds.mv AS SELECT 1", "CREATE MATERIALIZED VIEW"),
        ("CREATE SCHEMA ds2", "CREATE SCHEMA"),
        ("CREATE AGGREGATE FUNCTION ds.f(x INT64) AS (SUM(x))", "CREATE AGGREGATE FUNCTION"),
        ("CREATE FUNCTION ds.f(x STRING) RETURNS STRING LANGUAGE python AS 'x'", "LANGUAGE"),
        ("ALTER TABLE ds.events ADD COLUMN z INT64", "ALTER"),
        ("SELECT * FROM ds.events FOR SYSTEM_TIME AS OF CURRENT_TIMESTAMP()", "FOR SYSTEM_TIME"),
        ("SELECT * FROM `ds.events_*`", "wildcard table"),
        ("SELECT @@dataset_id", "system variable"),
        ("BEGIN TRANSACTION", "statement"),
        ("SELECT * FROM ds.events AS a UNION ALL BY NAME SELECT * FROM ds.events", "BY NAME"),
        ("SELECT CAST(CAST(1 AS STRING) AS BYTES FORMAT 'BASE2')", "CAST ... FORMAT 'BASE2'"),
        ("SELECT ST_GEOGPOINT(1, 2)", "function ST_GEOGPOINT"),
        ("CREATE TABLE ds.c COPY ds.events", "COPY"),
        ("DECLARE x INT64 DEFAULT 1", "DECLARE"),
        ("EXECUTE IMMEDIATE 'SELECT 1'", "EXECUTE"),
    ],
)
def test_unsupported_constructs(sql, construct):
    with pytest.raises(SqlError) as info:
        tr(sql)
    assert info.value.message.startswith("Unsupported construct: ")
    assert construct in info.value.message


@pytest.mark.parametrize(
    "sql, message, location",
    [
        ("SELECT NOT_A_FUNCTION(1)", "Function not found: NOT_A_FUNCTION", (1, 8)),
        ("SELECT 1,\n  version()", "Function not found: version", (2, 3)),
        ("SELECT list_transform([1], x -> x)", "Function not found: list_transform", (1, 8)),
        ("SELECT a.b.c(1)", "Function not found: a.b.c", (1, 12)),
        ("SELECT SAFE.sleep_ms(1)", "Function not found: sleep_ms", (1, 13)),
        ("SELECT position('a' IN 'b')", "Function not found: position", (1, 8)),
        ("SELECT * FROM read_csv('x')", "Table-valued function not found: read_csv", (1, 15)),
    ],
)
def test_functions_outside_bigquery_reference_are_not_found(sql, message, location):
    with pytest.raises(SqlError) as info:
        tr(sql)
    assert (info.value.message, info.value.location) == (message, location)


def test_cte_names_are_scoped(con):
    # a CTE is visible in its own WITH's body and later entries, not elsewhere in the query
    with pytest.raises(TableNotFound):
        tr("SELECT * FROM nope WHERE EXISTS (WITH nope AS (SELECT 1) SELECT 1)")
    with pytest.raises(TableNotFound):
        tr("WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a")
    rows = run(con, "WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT y FROM b")
    assert rows == [(2,)]
    inner = "SELECT (SELECT COUNT(*) FROM (WITH events AS (SELECT 1) SELECT * FROM events)) AS n"
    assert run(con, inner + ", (SELECT COUNT(*) FROM events) AS m") == [(1, 4)]


def test_correlated_array_of_an_outer_query(con):
    rows = run(con, "SELECT id, (SELECT COUNT(*) FROM e.tags) FROM ds.events AS e ORDER BY id")
    assert rows == [(1, 2), (2, 1), (3, 0), (4, 1)]


@pytest.mark.parametrize("sql", ["", "   ", ";", "SELECT", "SELECT (", "foo", "'unterminated"])
def test_garbage_gives_sql_error(sql):
    with pytest.raises(SqlError):
        tr(sql)


_SQL_WORDS = hs.sampled_from(
    "SELECT FROM WHERE GROUP BY ORDER LIMIT UNNEST STRUCT ARRAY WITH OFFSET AS , ( ) [ ] * @p ? "
    "` ' \" . ds.events events 1 2.5 'x' CAST SAFE_CAST INT64 JOIN ON = < > AND OR NOT NULL IS "
    "CREATE TABLE VIEW DROP INSERT INTO VALUES UPDATE SET DELETE MERGE USING WHEN MATCHED THEN "
    "OVER PARTITION QUALIFY EXCEPT REPLACE DATE_TRUNC DAY INTERVAL ; -- /* */ \\".split(" ")
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.one_of(hs.text(max_size=60), hs.lists(_SQL_WORDS, max_size=14).map(" ".join)))
def test_arbitrary_text_gives_statement_or_sql_error(text):
    try:
        stmt = translate(
            text,
            default_project=PROJECT,
            default_dataset="ds",
            resolve_table=lambda p, d, t: '"ds"."events"',
            params={"p": 1},
        )
    except SqlError as error:
        assert isinstance(error.message, str) and error.message
    else:
        assert isinstance(stmt, Statement)


# --- a wider sweep: one row per construct -------------------------------------------------

_SWEEP = [
    ("SELECT COUNT(DISTINCT name) FROM ds.events", [(3,)]),
    (
        "SELECT name, COUNT(*) FROM ds.events GROUP BY ALL ORDER BY 1",
        [("alpha", 2), ("beta", 1), ("gamma", 1)],
    ),
    ("FROM ds.events |> WHERE id > 2 |> SELECT id |> ORDER BY id", [(3,), (4,)]),
    ("SELECT ARRAY_CONCAT([1], [2, 3]), ARRAY_REVERSE([1, 2])", [([1, 2, 3], [2, 1])]),
    (
        "SELECT ARRAY(SELECT AS STRUCT x AS a, x * 2 AS b FROM UNNEST([1, 2]) AS x)",
        [([{"a": 1, "b": 2}, {"a": 2, "b": 4}],)],
    ),
    ("SELECT AS VALUE STRUCT(1 AS a)", [({"a": 1},)]),
    (
        """WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3)
           SELECT ARRAY_AGG(n ORDER BY n) FROM r""",
        [([1, 2, 3],)],
    ),
    (
        """SELECT * FROM (SELECT name, id FROM ds.events)
           PIVOT (SUM(id) FOR name IN ('alpha', 'beta'))""",
        [(5, 2)],
    ),
    (
        "SELECT e.id, x FROM ds.events e LEFT JOIN UNNEST(e.tags) AS x ON TRUE ORDER BY 1, 2",
        [(1, "a"), (1, "b"), (2, "c"), (3, None), (4, "a")],
    ),
    (
        "SELECT id, tag FROM ds.events e, e.tags AS tag ORDER BY 1, 2",
        [(1, "a"), (1, "b"), (2, "c"), (4, "a")],
    ),
    (
        "SELECT e.id, t FROM ds.events e LEFT JOIN e.tags AS t ON TRUE WHERE e.id > 2 ORDER BY 1",
        [(3, None), (4, "a")],
    ),
    ("SELECT id FROM ds.events ORDER BY score DESC NULLS LAST", [(4,), (2,), (1,), (3,)]),
    (
        "SELECT name, SUM(id) FROM ds.events GROUP BY ROLLUP(name) ORDER BY 1 NULLS FIRST",
        [(None, 10), ("alpha", 5), ("beta", 2), ("gamma", 3)],
    ),
    ('SELECT JSON_VALUE_ARRAY(\'["a", "b"]\')', [(["a", "b"],)]),
    ("SELECT JSON_VALUE(payload.user.name) FROM ds.events WHERE id = 1", [("ann",)]),
    (
        """SELECT FIRST_VALUE(id) OVER w, LAST_VALUE(id) OVER w, NTH_VALUE(id, 2) OVER w
           FROM ds.events WHERE id = 1
           WINDOW w AS (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)""",
        [(1, 1, None)],
    ),
    (
        """SELECT DATE(ts, 'America/Los_Angeles'), DATETIME(ts, 'Asia/Tokyo'),
                  EXTRACT(HOUR FROM ts AT TIME ZONE 'Asia/Tokyo')
           FROM ds.events WHERE id = 1""",
        [(dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 19), 19)],
    ),
    ("SELECT MAX_BY(name, id), MIN_BY(name, score) FROM ds.events", [("alpha", "alpha")]),
    ("SELECT BIT_OR(x), 5 & 3, 5 | 3, 5 ^ 3, 1 << 3 FROM UNNEST([1, 2]) AS x", [(3, 1, 7, 6, 8)]),
    (
        """SELECT GENERATE_TIMESTAMP_ARRAY(TIMESTAMP '2024-01-01 00:00:00+00',
                                          TIMESTAMP '2024-01-01 01:00:00+00', INTERVAL 30 MINUTE)""",
        [
            (
                [
                    dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
                    dt.datetime(2024, 1, 1, 0, 30, tzinfo=UTC),
                    dt.datetime(2024, 1, 1, 1, 0, tzinfo=UTC),
                ],
            )
        ],
    ),
    ("SELECT COUNT(*) FROM ds.events TABLESAMPLE SYSTEM (100 PERCENT)", [(4,)]),
    (
        """SELECT TIMESTAMP_TRUNC(TIMESTAMP '2024-01-02 03:00:00+00', DAY, 'America/New_York'),
                  PARSE_TIMESTAMP('%Y-%m-%d %H:%M', '2024-01-02 03:00', 'America/New_York')""",
        [(dt.datetime(2024, 1, 1, 5, tzinfo=UTC), dt.datetime(2024, 1, 2, 8, tzinfo=UTC))],
    ),
    ("SELECT COUNT(*) FROM ds.events TABLESAMPLE SYSTEM (99.5 PERCENT) WHERE FALSE", [(0,)]),
    ("SELECT STRING_AGG(DISTINCT name ORDER BY name) FROM ds.events", [("alpha,beta,gamma",)]),
    (
        "SELECT INITCAP('hello world'), LEFT('abc', 2), RIGHT('abc', 2), REPEAT('ab', 2)",
        [("Hello World", "ab", "bc", "abab")],
    ),
    (
        "SELECT TO_HEX(b'\\x01\\xff'), TO_HEX(MD5('a')), TO_BASE64(b'hi'), FROM_BASE64('aGk=')",
        [("01ff", "0cc175b9c0f1b6a831c399e269772661", "aGk=", b"hi")],
    ),
    ("SELECT FORMAT_DATETIME('%Y-%m-%d %H', DATETIME '2024-01-02 03:04:05')", [("2024-01-02 03",)]),
    (
        "SELECT FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E*SZ', TIMESTAMP '2024-01-02 03:04:05.123456+00')",
        [("2024-01-02T03:04:05.123456Z",)],
    ),
    ("SELECT APPROX_QUANTILES(x, 2) FROM UNNEST([1, 2, 3]) AS x", [([1, 2, 3],)]),
    (
        "SELECT ANY_VALUE(name HAVING MAX id), COUNTIF(name = 'alpha') / COUNT(*) FROM ds.events",
        [("alpha", 0.5)],
    ),
    ("SELECT 0x1F, 1e3, .5", [(31, 1000.0, 0.5)]),
    (
        """SELECT "dq", 'it\\'s', \"\"\"triple\"\"\", r"raw\\n", b"bytes" """,
        [("dq", "it's", "triple", "raw\\n", b"bytes")],
    ),
    (
        "SELECT id FROM ds.events WHERE ts BETWEEN '2024-01-02' AND '2024-01-03 23:59:59' ORDER BY id",
        [(2,), (3,)],
    ),
    ("SELECT SUBSTR('abcdef', -3, 2), INSTR('abcabc', 'c')", [("de", 3)]),
]


@pytest.mark.parametrize("sql, expected", _SWEEP)
def test_sweep(con, sql, expected):
    assert run(con, sql) == expected


def test_more_windows_and_statistics(con):
    rows = run(
        con,
        """SELECT id, NTILE(2) OVER w, DENSE_RANK() OVER (ORDER BY name), PERCENT_RANK() OVER w,
                  CUME_DIST() OVER w
           FROM ds.events WINDOW w AS (ORDER BY id) ORDER BY id""",
    )
    assert rows == [
        (1, 1, 1, 0.0, 0.25),
        (2, 1, 2, 1 / 3, 0.5),
        (3, 2, 3, 2 / 3, 0.75),
        (4, 2, 1, 1.0, 1.0),
    ]
    stddev, variance, corr, bits = one(
        con,
        """SELECT STDDEV(x), VARIANCE(x), CORR(x, 2 * x), [BIT_AND(x), BIT_XOR(x)]
           FROM UNNEST([1, 3, 5]) AS x""",
    )
    assert (stddev, variance, corr, bits) == (2.0, 4.0, pytest.approx(1.0), [1, 7])
    assert one(con, "SELECT LENGTH(SHA256('abc')), LENGTH(MD5('abc'))") == (32, 16)


def test_error_function_reaches_duckdb(con):
    stmt = tr("SELECT ERROR('boom')")
    with pytest.raises(duckdb.Error, match="boom"):
        con.execute(stmt.duckdb_sql).fetchall()


def test_create_view_if_not_exists():
    stmt = tr("CREATE VIEW IF NOT EXISTS ds.v AS SELECT 1 AS a")
    assert (stmt.kind, stmt.if_not_exists, stmt.or_replace) == ("CREATE_VIEW", True, False)


# --- properties: BigQuery semantics computed in Python vs. the translated query -----------

_PROPERTY_DB = duckdb.connect()
register(_PROPERTY_DB)
_PROPERTY_DB.execute("SET TimeZone='UTC'")


def _eval(sql: str, params=None):
    stmt = tr(sql, params)
    return _PROPERTY_DB.execute(stmt.duckdb_sql, stmt.duckdb_params).fetchone()


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


_INT = hs.integers(-(2**40), 2**40)


@settings(max_examples=60, deadline=None)
@given(_INT, _INT, hs.integers(-1000, 1000).filter(bool))
def test_property_int64_arithmetic(a, b, c):
    row = _eval(f"SELECT {a} + {b}, {a} * {c}, DIV({a}, {c}), MOD({a}, {c}), {a} / {c}")
    assert row[:4] == (a + b, a * c, _trunc_div(a, c), a - c * _trunc_div(a, c))
    assert row[4] == pytest.approx(a / c)


_DATES = hs.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31))


@settings(max_examples=60, deadline=None)
@given(_DATES, _DATES, hs.integers(-5000, 5000))
def test_property_date_functions(d1, d2, n):
    row = _eval(
        f"""SELECT DATE_ADD(DATE '{d1}', INTERVAL {n} DAY), DATE_DIFF(DATE '{d1}', DATE '{d2}', DAY),
                   EXTRACT(DAYOFWEEK FROM DATE '{d1}'), EXTRACT(DAYOFYEAR FROM DATE '{d1}'),
                   DATE_TRUNC(DATE '{d1}', MONTH), DATE_TRUNC(DATE '{d1}', WEEK),
                   FORMAT_DATE('%Y%m%d', DATE '{d1}'), DATE_DIFF(DATE '{d1}', DATE '{d2}', MONTH)"""
    )
    sunday_week_start = d1 - dt.timedelta(days=d1.isoweekday() % 7)
    months = (d1.year - d2.year) * 12 + d1.month - d2.month  # boundaries crossed
    assert row == (
        d1 + dt.timedelta(days=n),
        (d1 - d2).days,
        d1.isoweekday() % 7 + 1,
        d1.timetuple().tm_yday,
        d1.replace(day=1),
        sunday_week_start,
        d1.strftime("%Y%m%d"),
        months,
    )


_TS = hs.datetimes(dt.datetime(1971, 1, 1), dt.datetime(2100, 1, 1)).map(
    lambda t: t.replace(tzinfo=UTC)
)


@settings(max_examples=60, deadline=None)
@given(_TS, _TS)
def test_property_timestamp_functions(t1, t2):
    row = _eval(
        """SELECT TIMESTAMP_DIFF(@t1, @t2, SECOND), TIMESTAMP_DIFF(@t1, @t2, HOUR),
                  UNIX_MICROS(@t1), TIMESTAMP_TRUNC(@t1, HOUR), DATE(@t1),
                  FORMAT_TIMESTAMP('%Y-%m-%d %H:%M:%E6S', @t1)""",
        {"t1": t1, "t2": t2},
    )
    micros = (t1 - t2) // dt.timedelta(microseconds=1)
    assert row == (
        int(micros / 1_000_000),  # whole units, truncated toward zero
        int(micros / 3_600_000_000),
        (t1 - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1),
        t1.replace(minute=0, second=0, microsecond=0),
        t1.date(),
        t1.strftime("%Y-%m-%d %H:%M:%S.%f"),
    )


@settings(max_examples=60, deadline=None)
@given(hs.lists(hs.integers(-100, 100), min_size=1, max_size=8), hs.integers(-3, 10))
def test_property_array_subscripts(values, i):
    row = _eval(
        "SELECT @a[SAFE_OFFSET(@i)], @a[SAFE_ORDINAL(@i)], ARRAY_LENGTH(@a), "
        "ARRAY_REVERSE(@a)[OFFSET(0)], (SELECT o FROM UNNEST(@a) AS v WITH OFFSET o "
        "ORDER BY o DESC LIMIT 1)",
        {"a": values, "i": i},
    )
    assert row == (
        values[i] if 0 <= i < len(values) else None,
        values[i - 1] if 1 <= i <= len(values) else None,
        len(values),
        values[-1],
        len(values) - 1,
    )


def _bq_substr(s: str, pos: int, length: int | None = None) -> str:
    if pos > 0:
        start = pos - 1
    elif pos == 0:
        start = 0
    else:
        start = max(len(s) + pos, 0)
    return s[start:] if length is None else s[start : start + length]


_TEXT = hs.text(alphabet="abcxyz,_- é", max_size=12)


@settings(max_examples=60, deadline=None)
@given(_TEXT, hs.integers(-15, 15), hs.integers(0, 15), _TEXT.filter(bool))
def test_property_string_functions(s, pos, length, needle):
    row = _eval(
        """SELECT SUBSTR(@s, @pos), SUBSTR(@s, @pos, @len), LENGTH(@s), REVERSE(@s), UPPER(@s),
                  STRPOS(@s, @n), REPLACE(@s, @n, '#'), SPLIT(@s, ','), STARTS_WITH(@s, @n),
                  CONCAT(@s, @n), LPAD(@s, @len, '*')""",
        {"s": s, "pos": pos, "len": length, "n": needle},
    )
    assert row == (
        _bq_substr(s, pos),
        _bq_substr(s, pos, length),
        len(s),
        s[::-1],
        s.upper(),
        s.find(needle) + 1,
        s.replace(needle, "#"),
        s.split(","),
        s.startswith(needle),
        s + needle,
        s[:length] if len(s) >= length else "*" * (length - len(s)) + s,
    )


_JSON_SCALARS = hs.one_of(
    hs.none(),
    hs.booleans(),
    hs.integers(-(10**6), 10**6),
    hs.text(alphabet="abc xyz'\"\\é", max_size=8),
)
_JSON_DOCS = hs.dictionaries(
    hs.text(alphabet="abcdef", min_size=1, max_size=4),
    hs.one_of(_JSON_SCALARS, hs.lists(_JSON_SCALARS, max_size=3)),
    min_size=1,
    max_size=4,
)


def _json_value_text(value):
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@settings(max_examples=60, deadline=None)
@given(_JSON_DOCS, hs.data())
def test_property_json_paths(doc, data):
    key = data.draw(hs.sampled_from(sorted(doc)))
    text = json.dumps(doc)
    value, query = _eval(
        "SELECT JSON_VALUE(@doc, @path), JSON_QUERY(PARSE_JSON(@doc), @path)",
        {"doc": text, "path": f"$.{key}"},
    )
    assert value == _json_value_text(doc[key])
    assert (json.loads(query) if query is not None else None) == doc[key]


def _week_start(d: dt.date, weekday: int) -> dt.date:
    """Start of the week containing d; weekday 6 = Sunday, 0 = Monday (Python numbering)."""
    return d - dt.timedelta(days=(d.weekday() - weekday) % 7)


@settings(max_examples=60, deadline=None)
@given(_DATES, _DATES)
def test_property_week_quarter_year_parts(d1, d2):
    row = _eval(
        f"""SELECT DATE_DIFF(DATE '{d1}', DATE '{d2}', WEEK),
                   DATE_DIFF(DATE '{d1}', DATE '{d2}', ISOWEEK),
                   DATE_DIFF(DATE '{d1}', DATE '{d2}', QUARTER),
                   DATE_DIFF(DATE '{d1}', DATE '{d2}', YEAR),
                   EXTRACT(WEEK FROM DATE '{d1}'), EXTRACT(ISOWEEK FROM DATE '{d1}'),
                   EXTRACT(ISOYEAR FROM DATE '{d1}'), EXTRACT(QUARTER FROM DATE '{d1}'),
                   DATE_TRUNC(DATE '{d1}', ISOWEEK), LAST_DAY(DATE '{d1}')"""
    )
    quarter = lambda d: d.year * 4 + (d.month - 1) // 3  # noqa: E731
    next_month = (d1.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    assert row == (
        (_week_start(d1, 6) - _week_start(d2, 6)).days // 7,
        (_week_start(d1, 0) - _week_start(d2, 0)).days // 7,
        quarter(d1) - quarter(d2),
        d1.year - d2.year,
        int(d1.strftime("%U")),
        d1.isocalendar()[1],
        d1.isocalendar()[0],
        (d1.month - 1) // 3 + 1,
        _week_start(d1, 0),
        next_month - dt.timedelta(days=1),
    )
