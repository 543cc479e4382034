"""Hostile SQL through the real google-cloud-bigquery client against the emulator process.

The translator renders to DuckDB, so a query that could name DuckDB's own functions or catalog
tables would reach the host (files, settings, sleeps) or show engine internals. Only
BigQuery's functions and our catalog's tables may be named: everything else gets BigQuery's
refusal, and the server goes on serving. Issue 12 ("Engine internals leak") lists the probes.
"""

from __future__ import annotations

import re

import duckdb
import pytest
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import GoogleAPICallError
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.bigquery.sql.surface import BIGQUERY_FUNCTIONS
from emulators.process import ROOT, ServerProcess

pytestmark = pytest.mark.integration

PROJECT = "sec-project"
DATASET = "ds"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("sql-surface")
    before = set(ROOT.iterdir())
    emulator = ServerProcess.emulator(
        "bigquery", "--project", PROJECT, data_dir=base / "data", log_path=base / "logs" / "bq.log"
    )
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{emulator.port}"),
    )
    client.create_dataset(DATASET)
    client.query(f"CREATE TABLE {DATASET}.t (a INT64, s STRING)").result()
    client.query(f"INSERT INTO {DATASET}.t VALUES (1, 'x')").result()
    yield client, base
    client.close()
    emulator.stop()
    # nothing a query did may leave a file behind, here or beside the data directory
    assert set(ROOT.iterdir()) == before
    assert sorted(p.name for p in base.iterdir()) == ["data", "logs"]


def refusal(client: bigquery.Client, sql: str, dataset: str | None = None) -> tuple:
    """(HTTP code, reason, message) of the error the query gets; fails if it runs."""
    config = bigquery.QueryJobConfig()
    if dataset:
        config.default_dataset = f"{PROJECT}.{dataset}"
    with pytest.raises(GoogleAPICallError) as info:
        client.query(sql, job_config=config).result()
    error = info.value.errors[0]
    return info.value.code, error["reason"], error["message"]


def still_serves(client: bigquery.Client) -> None:
    assert [tuple(r.values()) for r in client.query("SELECT 1 AS one").result()] == [(1,)]


NOT_FOUND = f"Not found: Table {PROJECT}:{DATASET}.{{}} was not found in location US"

# (sql, default dataset, HTTP code, reason, message) - the probes and a few more.
PROBES = [
    # a CTE of an inner scope must not hide an outer table name from resolution
    (
        "SELECT sql FROM sqlite_master WHERE EXISTS (WITH sqlite_master AS (SELECT 1) SELECT 1)",
        DATASET,
        404,
        "notFound",
        NOT_FOUND.format("sqlite_master"),
    ),
    (
        "SELECT sql FROM sqlite_master WHERE EXISTS (WITH sqlite_master AS (SELECT 1) SELECT 1)",
        None,
        400,
        "invalidQuery",
        'Table "sqlite_master" must be qualified with a dataset (e.g. dataset.table).',
    ),
    (
        "WITH a AS (SELECT * FROM duckdb_settings), duckdb_settings AS (SELECT 1) SELECT * FROM a",
        DATASET,
        404,
        "notFound",
        NOT_FOUND.format("duckdb_settings"),
    ),
    ("SELECT * FROM duckdb_databases", DATASET, 404, "notFound",
     NOT_FOUND.format("duckdb_databases")),
    ("SELECT * FROM duckdb_databases()", None, 400, "invalidQuery",
     "Table-valued function not found: duckdb_databases at [1:15]"),
    ("SELECT * FROM main.duckdb_tables", None, 404, "notFound",
     f"Not found: Dataset {PROJECT}:main"),
    ("SELECT * FROM pg_catalog.pg_tables", None, 404, "notFound",
     f"Not found: Dataset {PROJECT}:pg_catalog"),
    ("SELECT * FROM _emulator.catalog", None, 404, "notFound",
     f"Not found: Dataset {PROJECT}:_emulator"),
    ("SELECT * FROM scratch.anything", None, 404, "notFound",
     f"Not found: Dataset {PROJECT}:scratch"),
    ("SELECT * FROM system.main.duckdb_tables", None, 404, "notFound",
     "Not found: Dataset system:main"),
    ("SELECT * FROM 'pwned.csv'", None, 404, "notFound", f"Not found: Dataset {PROJECT}:pwned"),
    # DuckDB functions: settings, version, sleeps, logs, environment, files, lambdas
    ("SELECT current_setting('threads')", None, 400, "invalidQuery",
     "Function not found: current_setting at [1:8]"),
    ("SELECT version()", None, 400, "invalidQuery", "Function not found: version at [1:8]"),
    ("SELECT sleep_ms(10000)", None, 400, "invalidQuery", "Function not found: sleep_ms at [1:8]"),
    ("SELECT pg_sleep(10)", None, 400, "invalidQuery", "Function not found: pg_sleep at [1:8]"),
    ("SELECT write_log('x')", None, 400, "invalidQuery", "Function not found: write_log at [1:8]"),
    ("SELECT getenv('HOME')", None, 400, "invalidQuery", "Function not found: getenv at [1:8]"),
    ("SELECT 1 AS a,\n  SAFE.current_setting('x')", None, 400, "invalidQuery",
     "Function not found: current_setting at [2:8]"),
    ("SELECT list_transform([1, 2], x -> x + 1)", None, 400, "invalidQuery",
     "Function not found: list_transform at [1:8]"),
    ("SELECT [1, 2].list_transform(x -> x + 1)", None, 400, "invalidQuery",
     "Function not found: list_transform at [1:15]"),
    ("SELECT ARRAY_LENGTH([1]) FROM UNNEST([1]) WHERE EXISTS(SELECT x -> x)", None, 400,
     "invalidQuery", 'Syntax error: Unexpected "->"'),
    ("SELECT * FROM read_text('/etc/passwd')", None, 400, "invalidQuery",
     "Table-valued function not found: read_text at [1:15]"),
    ("SELECT * FROM read_csv('/etc/passwd')", None, 400, "invalidQuery",
     "Table-valued function not found: read_csv at [1:15]"),
    ("SELECT * FROM query('SELECT 1')", None, 400, "invalidQuery",
     "Table-valued function not found: query at [1:15]"),
    ("SELECT a FROM ds.t WHERE a IN (SELECT * FROM duckdb_functions())", None, 400,
     "invalidQuery", "Table-valued function not found: duckdb_functions at [1:46]"),
    # values DuckDB would answer for a name no column has
    ("SELECT current_catalog", None, 400, "invalidQuery",
     "Unrecognized name: current_catalog at [1:8]"),
    ("SELECT user", None, 400, "invalidQuery", "Unrecognized name: user at [1:8]"),
    ("SELECT current_user", None, 400, "invalidQuery", "Unrecognized name: current_user"),
    ("SELECT JSON '{\"a\": 1}'->>'a'", None, 400, "invalidQuery",
     'Syntax error: Unexpected "->>"'),
    # statements of the engine, not of BigQuery
    ("COPY (SELECT 1) TO 'pwned.csv'", None, 400, "invalidQuery",
     "Unsupported construct: COPY statement"),
    ("ATTACH 'pwned.db' AS x", None, 400, "invalidQuery",
     "Syntax error: Unexpected string literal at [1:8]"),
    ("PRAGMA database_list", None, 400, "invalidQuery", "Unsupported construct: PRAGMA statement"),
    ("SET threads = 1", None, 400, "invalidQuery",
     "Query error: Undeclared variable: threads at [1:1]"),  # a script's SET, not DuckDB's
    ("LOAD httpfs", None, 400, "invalidQuery", "Unsupported construct: LOAD httpfs statement"),
    ("INSTALL httpfs", None, 400, "invalidQuery",
     "Syntax error: Expected a statement (SELECT, INSERT, CREATE, ...) at [1:1]"),
    # CALL names BigQuery procedures only; every statement of a script goes through the
    # translator on its own (the second one is refused where it stands)
    ("CALL pragma_version()", None, 404, "notFound",
     "Query error: Not found: Procedure pragma_version at [1:1]"),
    ("SELECT 1; COPY (SELECT 1) TO 'pwned.csv'", None, 400, "invalidQuery",
     "Query error: Unsupported construct: COPY statement at [1:11]"),
]


@pytest.mark.parametrize("sql, dataset, code, reason, message", PROBES)
def test_probe_is_refused(server, sql, dataset, code, reason, message):
    client, _ = server
    assert refusal(client, sql, dataset) == (code, reason, message)
    still_serves(client)


def test_information_schema_is_ours(server):
    """DuckDB's information_schema is never reached: the name means BigQuery's views."""
    client, _ = server
    for sql in (
        "SELECT table_schema, table_name FROM information_schema.tables",
        f"SELECT table_schema, table_name FROM {DATASET}.INFORMATION_SCHEMA.TABLES",
    ):
        config = bigquery.QueryJobConfig(default_dataset=f"{PROJECT}.{DATASET}")
        rows = [tuple(r.values()) for r in client.query(sql, job_config=config).result()]
        assert rows == [(DATASET, "t")]


def test_scoped_cte_still_works(server):
    client, _ = server
    sql = (
        "WITH a AS (SELECT a FROM ds.t), b AS (SELECT a + 1 AS b FROM a) "
        "SELECT b, (SELECT COUNT(*) FROM (WITH t AS (SELECT 5) SELECT * FROM t)) AS n FROM b"
    )
    assert [tuple(r.values()) for r in client.query(sql).result()] == [(2, 1)]


# --- generated query texts ------------------------------------------------------------------


def _duckdb_only_functions() -> list[str]:
    with duckdb.connect() as con:
        rows = con.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()
    return sorted(
        name
        for (name,) in rows
        if re.fullmatch(r"[a-z_][a-z0-9_]*", name) and name.upper() not in BIGQUERY_FUNCTIONS
    )


_FUNCTIONS = _duckdb_only_functions()
_ARGS = st.lists(st.sampled_from(["1", "'x'", "a", "s", "NULL", "[1, 2]", "2.5"]), max_size=3)
_CALL_SHAPES = [
    "SELECT {call}",
    "SELECT a, {call} AS v FROM ds.t",
    "SELECT a FROM ds.t WHERE {call} IS NULL",
    "SELECT a FROM ds.t ORDER BY {call}",
    "WITH c AS (SELECT {call} AS v) SELECT * FROM c",
    "SELECT (SELECT {call}) AS v",
    "SELECT SAFE.{call}",
    "SELECT ARRAY(SELECT {call} FROM UNNEST([1]) AS a)",
    "SELECT COUNT(*) OVER (PARTITION BY {call}) FROM ds.t",
    "INSERT INTO ds.t (a) SELECT {call}",
    "UPDATE ds.t SET s = {call} WHERE TRUE",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(name=st.sampled_from(_FUNCTIONS), args=_ARGS, shape=st.sampled_from(_CALL_SHAPES))
def test_generated_calls_of_engine_functions_are_refused(server, name, args, shape):
    client, _ = server
    call = f"{name}({', '.join(args)})"
    sql = shape.format(call=call)
    code, reason, message = refusal(client, sql)
    assert (code, reason) == (400, "invalidQuery")
    column = sql.index(call) + 1
    # sqlglot knows some of these names and wants their own arity; those are syntax errors
    assert message == f"Function not found: {name} at [1:{column}]" or message.startswith(
        "Syntax error: "
    ), message
    still_serves(client)


_ENGINE_TABLES = [
    "sqlite_master", "sqlite_schema", "sqlite_temp_master", "duckdb_tables", "duckdb_columns",
    "duckdb_databases", "duckdb_settings", "duckdb_functions", "duckdb_extensions",
    "duckdb_secrets", "duckdb_views", "pg_class", "pg_namespace", "pg_tables", "pragma_version",
]  # fmt: skip
_TABLE_QUALIFIERS = ["", "main.", "memory.main.", "system.main.", "temp.main.", "pg_catalog.",
                     "_emulator.", "scratch.", "`ds`."]  # fmt: skip
_TABLE_SHAPES = [
    "SELECT * FROM {table}",
    "SELECT * FROM ds.t WHERE EXISTS (WITH {name} AS (SELECT 1) SELECT 1) AND a IN "
    "(SELECT 1 FROM {table})",
    "SELECT * FROM ds.t AS x JOIN {table} AS y ON TRUE",
    "WITH x AS (SELECT * FROM {table}) SELECT * FROM x",
    "SELECT (SELECT COUNT(*) FROM {table}) AS n",
    "SELECT * FROM ds.t UNION ALL SELECT * FROM {table}",
    "INSERT INTO ds.t SELECT * FROM {table}",
    "DELETE FROM ds.t WHERE a IN (SELECT 1 FROM {table})",
    "MERGE ds.t USING {table} AS s ON FALSE WHEN NOT MATCHED THEN INSERT ROW",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    name=st.sampled_from(_ENGINE_TABLES),
    qualifier=st.sampled_from(_TABLE_QUALIFIERS),
    shape=st.sampled_from(_TABLE_SHAPES),
    default_dataset=st.booleans(),
)
def test_generated_references_to_engine_tables_are_not_found(
    server, name, qualifier, shape, default_dataset
):
    client, _ = server
    table = f"{qualifier}{name}"
    sql = shape.format(table=table, name=name)
    code, reason, message = refusal(client, sql, DATASET if default_dataset else None)
    parts = [p.strip("`") for p in table.split(".")]
    if len(parts) == 1 and not default_dataset:
        expected = (400, "invalidQuery",
                    f'Table "{name}" must be qualified with a dataset (e.g. dataset.table).')  # fmt: skip
    elif len(parts) == 3:
        expected = (404, "notFound", f"Not found: Dataset {parts[0]}:{parts[1]}")
    elif len(parts) == 2 and parts[0] != DATASET:
        expected = (404, "notFound", f"Not found: Dataset {PROJECT}:{parts[0]}")
    else:
        expected = (404, "notFound", NOT_FOUND.format(name))
    assert (code, reason, message) == expected
    still_serves(client)
