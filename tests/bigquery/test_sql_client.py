"""BigQuery SQL through the real google-cloud-bigquery client against the emulator subprocess.

Uses the `bq_client` / `bq_dataset` fixtures of tests/bigquery/conftest.py.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from google.api_core.exceptions import BadRequest, NotFound
from google.cloud import bigquery

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc


def rows(client, sql, params=None, dataset=None):
    config = bigquery.QueryJobConfig(query_parameters=params or [])
    if dataset:
        config.default_dataset = f"{client.project}.{dataset}"
    return [tuple(r.values()) for r in client.query(sql, job_config=config).result()]


def run(client, sql, params=None):
    job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params or []))
    job.result()
    return job


@pytest.fixture
def events(bq_client, bq_dataset):
    """`<dataset>.events` with four rows, created and filled through SQL."""
    table = f"`{bq_client.project}.{bq_dataset}.events`"
    run(
        bq_client,
        f"""CREATE TABLE {table} (
              id INT64 NOT NULL, name STRING, score FLOAT64, ts TIMESTAMP, d DATE,
              amount NUMERIC, tags ARRAY<STRING>, items ARRAY<STRUCT<sku STRING, qty INT64>>,
              payload JSON)""",
    )
    job = run(
        bq_client,
        f"""INSERT INTO {table} (id, name, score, ts, d, amount, tags, items, payload) VALUES
            (1, 'alpha', 1.5, TIMESTAMP '2024-01-01 10:00:00+00', DATE '2024-01-01', 10.5,
             ['a', 'b'], [STRUCT('x' AS sku, 2 AS qty), STRUCT('y' AS sku, 3 AS qty)],
             JSON '{{"user": {{"id": 7, "name": "ann"}}}}'),
            (2, 'beta', 2.5, TIMESTAMP '2024-01-02 11:30:00+00', DATE '2024-01-02', 20,
             ['c'], [STRUCT('x' AS sku, 1 AS qty)], JSON '{{"user": {{"id": 8}}}}'),
            (3, 'gamma', NULL, TIMESTAMP '2024-01-03 12:00:00+00', DATE '2024-01-03', NULL,
             [], [], NULL),
            (4, 'alpha', 4.0, TIMESTAMP '2024-02-01 00:00:00+00', DATE '2024-02-01', 5,
             ['a'], [], JSON '{{"user": {{"id": 7}}}}')""",
    )
    assert job.num_dml_affected_rows == 4
    return f"{bq_dataset}.events"


def test_select_literals_and_types(bq_client):
    row = rows(
        bq_client,
        """SELECT 1 AS i, 2.5 AS f, 'x' AS s, TRUE AS b, NUMERIC '1.25' AS n,
                  DATE '2024-01-02' AS d, TIMESTAMP '2024-01-02 03:04:05+00' AS ts,
                  [1, 2] AS arr, STRUCT(1 AS a, 'q' AS b) AS st, 7 / 2 AS q""",
    )[0]
    assert row == (
        1,
        2.5,
        "x",
        True,
        Decimal("1.25"),
        dt.date(2024, 1, 2),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        [1, 2],
        {"a": 1, "b": "q"},
        3.5,
    )


def test_result_field_names(bq_client, events):
    result = bq_client.query(
        f"SELECT id, 1 + 1, UPPER(name), items[SAFE_OFFSET(0)].sku FROM {events} WHERE id = 1"
    ).result()
    assert [f.name for f in result.schema] == ["id", "f0_", "f1_", "sku"]
    row = next(iter(result))
    assert (row["id"], row["f0_"], row["f1_"], row["sku"]) == (1, 2, "ALPHA", "x")


def test_aggregation_window_and_qualify(bq_client, events):
    assert rows(
        bq_client,
        f"""SELECT name, COUNT(*) AS n, SUM(id) AS total FROM {events}
            GROUP BY name HAVING n >= 1 ORDER BY total DESC LIMIT 2""",
    ) == [("alpha", 2, 5), ("gamma", 1, 3)]
    assert rows(
        bq_client,
        f"""SELECT name, id FROM {events}
            QUALIFY ROW_NUMBER() OVER (PARTITION BY name ORDER BY id DESC) = 1 ORDER BY name""",
    ) == [("alpha", 4), ("beta", 2), ("gamma", 3)]


def test_unnest_structs_and_offsets(bq_client, events):
    assert rows(
        bq_client,
        f"""SELECT id, it.sku, it.qty, pos FROM {events}, UNNEST(items) AS it WITH OFFSET AS pos
            ORDER BY id, pos""",
    ) == [(1, "x", 2, 0), (1, "y", 3, 1), (2, "x", 1, 0)]
    assert rows(bq_client, f"SELECT tags[SAFE_OFFSET(1)] FROM {events} ORDER BY id") == [
        ("b",),
        (None,),
        (None,),
        (None,),
    ]


def test_unnest_of_structs_gives_field_columns(bq_client, events):
    job = bq_client.query("SELECT * FROM UNNEST([STRUCT('a' AS k, 1 AS v), STRUCT('b', 2)])")
    result = job.result()
    assert [(f.name, f.field_type) for f in result.schema] == [("k", "STRING"), ("v", "INTEGER")]
    assert sorted(tuple(r.values()) for r in result) == [("a", 1), ("b", 2)]
    assert rows(
        bq_client,
        f"""SELECT id, sku, s.qty FROM {events}, UNNEST({events.split(".")[1]}.items) AS s
            ORDER BY id, sku""",
    ) == [(1, "x", 2), (1, "y", 3), (2, "x", 1)]


def test_dates_json_and_strings(bq_client, events):
    assert rows(
        bq_client,
        f"""SELECT DATE_TRUNC(d, MONTH) AS m, COUNT(*),
                   STRING_AGG(UPPER(name), ',' ORDER BY id),
                   MAX(TIMESTAMP_DIFF(ts, TIMESTAMP '2024-01-01 00:00:00+00', HOUR))
            FROM {events} GROUP BY m ORDER BY m""",
    ) == [
        (dt.date(2024, 1, 1), 3, "ALPHA,BETA,GAMMA", 60),
        (dt.date(2024, 2, 1), 1, "ALPHA", 744),
    ]
    assert rows(
        bq_client,
        f"""SELECT JSON_VALUE(payload, '$.user.name'), FORMAT_TIMESTAMP('%Y-%m-%d %H:%M', ts)
            FROM {events} WHERE id = 1""",
    ) == [("ann", "2024-01-01 10:00")]


def test_default_dataset(bq_client, bq_dataset, events):
    assert rows(bq_client, "SELECT COUNT(*) FROM events", dataset=bq_dataset) == [(4,)]


# --- query parameters ---------------------------------------------------------------------


def test_scalar_parameters(bq_client, events):
    params = [
        bigquery.ScalarQueryParameter("name", "STRING", "alpha"),
        bigquery.ScalarQueryParameter("since", "TIMESTAMP", dt.datetime(2024, 1, 2, tzinfo=UTC)),
        bigquery.ScalarQueryParameter("min_amount", "NUMERIC", Decimal("1.5")),
    ]
    assert rows(
        bq_client,
        f"""SELECT id FROM {events}
            WHERE name = @name AND ts >= @since AND amount > @min_amount ORDER BY id""",
        params,
    ) == [(4,)]


def test_typed_scalar_parameters_round_trip(bq_client):
    params = [
        bigquery.ScalarQueryParameter("i", "INT64", 9007199254740993),
        bigquery.ScalarQueryParameter("f", "FLOAT64", 0.25),
        bigquery.ScalarQueryParameter("b", "BOOL", False),
        bigquery.ScalarQueryParameter("d", "DATE", dt.date(2024, 2, 29)),
        bigquery.ScalarQueryParameter("n", "NUMERIC", Decimal("123.456")),
    ]
    assert rows(
        bq_client, "SELECT @i + 1, @f * 2, NOT @b, DATE_ADD(@d, INTERVAL 1 DAY), @n", params
    ) == [(9007199254740994, 0.5, True, dt.date(2024, 3, 1), Decimal("123.456"))]


def test_wide_numeric_parameters_keep_every_digit(bq_client):
    """38 digits (NUMERIC; BIGNUMERIC as DuckDB stores it): more than Python's default context."""
    numeric = Decimal("12345678901234567890123456789.123456789")
    big = Decimal("12345678901234567890.123456789012345678")
    params = [
        bigquery.ScalarQueryParameter("n", "NUMERIC", numeric),
        bigquery.ScalarQueryParameter("b", "BIGNUMERIC", big),
        bigquery.StructQueryParameter("s", bigquery.ScalarQueryParameter("a", "NUMERIC", 10**19)),
    ]
    assert rows(bq_client, "SELECT @n, @b, @s.a", params) == [(numeric, big, Decimal(10**19))]


def test_null_and_json_parameters_keep_their_declared_types(bq_client, events):
    null_int = [bigquery.ScalarQueryParameter("n", "INT64", None)]
    assert rows(bq_client, "SELECT @n IS NULL, @n + 1, CAST(@n AS STRING)", null_int) == [
        (True, None, None)
    ]
    # the NULL INT64 in a filter next to an INT64 column, and as an INTEGER result column
    job = bq_client.query(
        f"SELECT id, @n AS n FROM {events} WHERE @n IS NULL AND id = 1",
        job_config=bigquery.QueryJobConfig(query_parameters=null_int),
    )
    result = job.result()
    assert [f.field_type for f in result.schema] == ["INTEGER", "INTEGER"]
    assert [tuple(r.values()) for r in result] == [(1, None)]
    # the client sends a dict as JSON text (a str would be sent as a JSON string value)
    doc = [bigquery.ScalarQueryParameter("doc", "JSON", {"user": {"name": "ann"}, "n": [1, 2]})]
    assert rows(
        bq_client,
        "SELECT JSON_VALUE(@doc, '$.user.name'), JSON_VALUE(@doc, '$.n[1]'), @doc.user.name",
        doc,
    ) == [("ann", "2", "ann")]
    # a dry run and jobs.query translate the same way (each NULL keeps its type in the schema)
    nulls = null_int + [
        bigquery.ScalarQueryParameter("s", "STRING", None),
        bigquery.ScalarQueryParameter("t", "TIMESTAMP", None),
    ]
    dry = bq_client.query(
        "SELECT @n AS n, @s AS s, @t AS t",
        job_config=bigquery.QueryJobConfig(query_parameters=nulls, dry_run=True),
    )
    expected = [("n", "INTEGER"), ("s", "STRING"), ("t", "TIMESTAMP")]
    assert [(f.name, f.field_type) for f in dry.schema] == expected
    result = bq_client.query_and_wait(
        "SELECT @n AS n, @s AS s, @t AS t",
        job_config=bigquery.QueryJobConfig(query_parameters=nulls),
    )
    assert [(f.name, f.field_type) for f in result.schema] == expected
    assert [tuple(r.values()) for r in result] == [(None, None, None)]


def test_array_parameter(bq_client, events):
    params = [bigquery.ArrayQueryParameter("ids", "INT64", [2, 3, 99])]
    assert rows(
        bq_client, f"SELECT id FROM {events} WHERE id IN UNNEST(@ids) ORDER BY id", params
    ) == [(2,), (3,)]
    params = [bigquery.ArrayQueryParameter("words", "STRING", ["b", "a"])]
    assert rows(bq_client, "SELECT ARRAY_TO_STRING(@words, '+'), ARRAY_LENGTH(@words)", params) == [
        ("b+a", 2)
    ]


def test_struct_parameter(bq_client):
    param = bigquery.StructQueryParameter(
        "who",
        bigquery.ScalarQueryParameter("name", "STRING", "ann"),
        bigquery.ScalarQueryParameter("age", "INT64", 41),
    )
    assert rows(bq_client, "SELECT @who.name, @who.age + 1", [param]) == [("ann", 42)]


def test_positional_parameters(bq_client, events):
    params = [
        bigquery.ScalarQueryParameter(None, "STRING", "alpha"),
        bigquery.ScalarQueryParameter(None, "INT64", 1),
    ]
    assert rows(bq_client, f"SELECT id FROM {events} WHERE name = ? AND id > ?", params) == [(4,)]


# --- DML ----------------------------------------------------------------------------------


def test_dml_affected_row_counts(bq_client, events):
    job = run(bq_client, f"UPDATE {events} SET score = score * 2 WHERE name = 'alpha'")
    assert job.num_dml_affected_rows == 2
    assert rows(bq_client, f"SELECT SUM(score) FROM {events} WHERE name = 'alpha'") == [(11.0,)]
    job = run(bq_client, f"DELETE {events} WHERE score IS NULL")
    assert job.num_dml_affected_rows == 1
    job = run(
        bq_client,
        f"INSERT {events} (id, name) SELECT id + 10, CONCAT(name, '2') FROM {events}",
    )
    assert job.num_dml_affected_rows == 3
    assert rows(bq_client, f"SELECT COUNT(*) FROM {events}") == [(6,)]


def test_merge(bq_client, bq_dataset, events):
    updates = f"{bq_dataset}.updates"
    run(
        bq_client,
        f"""CREATE TABLE {updates} AS
            SELECT * FROM UNNEST([STRUCT(1 AS id, 'ALPHA' AS name, FALSE AS gone),
                                  STRUCT(2, 'BETA', TRUE), STRUCT(9, 'NEW', FALSE)])""",
    )
    job = run(
        bq_client,
        f"""MERGE {events} T USING {updates} S ON T.id = S.id
            WHEN MATCHED AND S.gone THEN DELETE
            WHEN MATCHED THEN UPDATE SET T.name = S.name
            WHEN NOT MATCHED THEN INSERT (id, name) VALUES (S.id, S.name)""",
    )
    assert job.num_dml_affected_rows == 3
    assert rows(bq_client, f"SELECT id, name FROM {events} ORDER BY id") == [
        (1, "ALPHA"),
        (3, "gamma"),
        (4, "alpha"),
        (9, "NEW"),
    ]


def test_dml_without_where_is_rejected(bq_client, events):
    with pytest.raises(BadRequest) as info:
        run(bq_client, f"DELETE FROM {events}")
    assert info.value.errors[0]["reason"] == "invalidQuery"
    assert "WHERE" in info.value.errors[0]["message"]


# --- DDL ----------------------------------------------------------------------------------


def test_create_table_schema_and_metadata(bq_client, bq_dataset):
    run(
        bq_client,
        f"""CREATE TABLE {bq_dataset}.orders (
              order_id STRING NOT NULL OPTIONS(description = 'business key'),
              created TIMESTAMP,
              lines ARRAY<STRUCT<sku STRING, qty INT64>>,
              total NUMERIC(12, 2)
            )
            PARTITION BY DATE(created) CLUSTER BY order_id
            OPTIONS(description = 'orders table')""",
    )
    table = bq_client.get_table(f"{bq_dataset}.orders")
    assert [(f.name, f.field_type, f.mode) for f in table.schema] == [
        ("order_id", "STRING", "REQUIRED"),
        ("created", "TIMESTAMP", "NULLABLE"),
        ("lines", "RECORD", "REPEATED"),
        ("total", "NUMERIC", "NULLABLE"),
    ]
    assert table.schema[0].description == "business key"
    assert [f.name for f in table.schema[2].fields] == ["sku", "qty"]
    assert table.description == "orders table"
    assert table.time_partitioning.field == "created"
    assert table.clustering_fields == ["order_id"]


def test_create_if_not_exists_or_replace_and_drop(bq_client, bq_dataset):
    name = f"{bq_dataset}.t"
    run(bq_client, f"CREATE TABLE {name} (a INT64)")
    run(bq_client, f"INSERT {name} (a) VALUES (1)")
    run(bq_client, f"CREATE TABLE IF NOT EXISTS {name} (b STRING)")
    assert [f.name for f in bq_client.get_table(name).schema] == ["a"]
    run(bq_client, f"CREATE OR REPLACE TABLE {name} (b STRING)")
    assert [f.name for f in bq_client.get_table(name).schema] == ["b"]
    assert rows(bq_client, f"SELECT COUNT(*) FROM {name}") == [(0,)]
    run(bq_client, f"DROP TABLE {name}")
    with pytest.raises(NotFound):
        bq_client.get_table(name)
    run(bq_client, f"DROP TABLE IF EXISTS {name}")


def test_ctas_and_view(bq_client, bq_dataset, events):
    run(
        bq_client,
        f"""CREATE TABLE {bq_dataset}.daily AS
            SELECT DATE(ts) AS day, COUNT(*) AS n FROM {events} GROUP BY day""",
    )
    assert rows(bq_client, f"SELECT day, n FROM {bq_dataset}.daily ORDER BY day LIMIT 1") == [
        (dt.date(2024, 1, 1), 1)
    ]
    run(
        bq_client,
        f"CREATE OR REPLACE VIEW {bq_dataset}.alphas AS SELECT id FROM {events} WHERE name = 'alpha'",
    )
    assert rows(bq_client, f"SELECT id FROM {bq_dataset}.alphas ORDER BY id") == [(1,), (4,)]
    run(bq_client, f"DROP VIEW {bq_dataset}.alphas")
    with pytest.raises(NotFound):
        bq_client.get_table(f"{bq_dataset}.alphas")


def test_view_with_column_list(bq_client, bq_dataset, events):
    view = f"{bq_dataset}.named_cols"
    run(bq_client, f"CREATE VIEW {view} (a, b) AS SELECT id, UPPER(name) FROM {events}")
    table = bq_client.get_table(view)
    assert [(f.name, f.field_type) for f in table.schema] == [("a", "INTEGER"), ("b", "STRING")]
    assert table.view_query.strip().startswith("SELECT id")  # the body, as in BigQuery
    assert rows(bq_client, f"SELECT a, b FROM {view} WHERE a <= 2 ORDER BY a") == [
        (1, "ALPHA"),
        (2, "BETA"),
    ]
    job = bq_client.query(f"SELECT * FROM {view} WHERE a = 3")
    result = job.result()
    assert [f.name for f in result.schema] == ["a", "b"]
    assert [tuple(r.values()) for r in result] == [(3, "GAMMA")]
    # the view is re-translated from its body when a base table is re-created: names stay
    run(bq_client, f"CREATE OR REPLACE TABLE {events} AS SELECT 9 AS id, 'zed' AS name")
    assert rows(bq_client, f"SELECT a, b FROM {view}") == [(9, "ZED")]
    with pytest.raises(BadRequest, match="column list has 3 names but the query returns 2"):
        run(bq_client, f"CREATE VIEW {bq_dataset}.bad_cols (a, b, c) AS SELECT 1, 2")
    with pytest.raises(BadRequest, match="column list has 1 names but the query returns 2"):
        run(bq_client, f"CREATE VIEW {bq_dataset}.bad_cols (a) AS SELECT 1, 2")


def test_information_schema(bq_client, bq_dataset, events):
    assert rows(
        bq_client,
        f"SELECT table_name, table_type FROM {bq_dataset}.INFORMATION_SCHEMA.TABLES",
    ) == [("events", "BASE TABLE")]
    columns = rows(
        bq_client,
        f"""SELECT column_name, data_type FROM `{bq_client.project}.{bq_dataset}`.INFORMATION_SCHEMA.COLUMNS
            WHERE table_name = 'events' ORDER BY ordinal_position LIMIT 3""",
    )
    assert columns == [("id", "INT64"), ("name", "STRING"), ("score", "FLOAT64")]


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql, fragment",
    [
        ("SELECT 1; SELECT * FORM x", "Syntax error"),
        ("SELECT * FROM `ds.events_*`", "Unsupported construct: wildcard table"),
        ("CREATE TEMP TABLE x (a INT64)", "requires a script or session"),
        ("SELECT * FORM x", "Syntax error"),
    ],
)
def test_bad_sql_is_invalid_query(bq_client, sql, fragment):
    with pytest.raises(BadRequest) as info:
        run(bq_client, sql)
    error = info.value.errors[0]
    assert error["reason"] == "invalidQuery"
    assert fragment in error["message"]


def test_server_keeps_serving_after_errors(bq_client):
    with pytest.raises(BadRequest):
        run(bq_client, "SELECT (")
    assert rows(bq_client, "SELECT TO_JSON_STRING(STRUCT(1 AS a))") == [
        (json.dumps({"a": 1}, separators=(",", ":")),)
    ]


def test_range_columns_through_rest(bq_client, bq_dataset):
    """A RANGE column: REST schema with rangeElementType, insertAll of BigQuery's text and of
    {start, end}, tabledata.list and query results parsed by the client into {start, end}."""
    table_id = f"{bq_client.project}.{bq_dataset}.periods"
    schema = [
        bigquery.SchemaField("id", "INT64"),
        bigquery.SchemaField("p", "RANGE", range_element_type="DATE"),
        bigquery.SchemaField("t", "RANGE", range_element_type="TIMESTAMP"),
    ]
    bq_client.create_table(bigquery.Table(table_id, schema=schema))
    got = bq_client.get_table(table_id).schema
    assert got[1].field_type == "RANGE" and got[1].range_element_type.element_type == "DATE"
    errors = bq_client.insert_rows_json(table_id, [
        {"id": 1, "p": "[2024-01-01, UNBOUNDED)", "t": "[2024-01-01 00:00:00+00, 2024-01-02)"},
        {"id": 2, "p": {"start": None, "end": "2024-03-01"}},
    ])  # fmt: skip
    assert errors == []
    bad = bq_client.insert_rows_json(table_id, [{"id": 3, "p": "[2024-02-01, 2024-01-01)"}])
    assert bad and bad[0]["errors"][0]["reason"] == "invalid"
    listed = sorted(bq_client.list_rows(table_id), key=lambda r: r["id"])
    assert listed[0]["p"] == {"start": dt.date(2024, 1, 1), "end": None}
    assert listed[0]["t"] == {"start": dt.datetime(2024, 1, 1, tzinfo=UTC),
                              "end": dt.datetime(2024, 1, 2, tzinfo=UTC)}  # fmt: skip
    assert listed[1]["p"] == {"start": None, "end": dt.date(2024, 3, 1)} and listed[1]["t"] is None
    job = bq_client.query(
        f"SELECT id, RANGE_INTERSECT(p, RANGE<DATE> '[2023-12-01, 2024-02-01)') AS i "
        f"FROM `{table_id}` ORDER BY id"
    )
    result = job.result()
    field = result.schema[1]
    assert (field.field_type, field.range_element_type.element_type) == ("RANGE", "DATE")
    assert [r["i"] for r in result] == [
        {"start": dt.date(2024, 1, 1), "end": dt.date(2024, 2, 1)},
        {"start": dt.date(2023, 12, 1), "end": dt.date(2024, 2, 1)},
    ]


def test_range_query_parameters(bq_client):
    param = bigquery.RangeQueryParameter("DATE", start="2024-01-01", end=None, name="r")
    got = rows(bq_client, "SELECT @r, RANGE_CONTAINS(@r, DATE '2025-06-01'), RANGE_START(@r)",
               [param])  # fmt: skip
    assert got == [({"start": dt.date(2024, 1, 1), "end": None}, True, dt.date(2024, 1, 1))]
    inner = bigquery.RangeQueryParameter("DATE", start="2024-02-01", end="2024-03-01", name="i")
    assert rows(bq_client, "SELECT RANGE_CONTAINS(@r, @i)", [param, inner]) == [(True,)]
    wrong = bigquery.RangeQueryParameter("DATE", start="2024-02-01", end="2024-01-01", name="w")
    with pytest.raises(BadRequest, match="start must be less than end"):
        rows(bq_client, "SELECT @w", [wrong])
