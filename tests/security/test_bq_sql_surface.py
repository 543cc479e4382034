"""The engine's own catalogs and DuckDB-only functions are out of reach of a query.

The translator's allowlist and total table resolution refuse them (more probes, generated ones
too, in test_sql_surface.py); the DuckDB lock-down (test_bq_lockdown.py) is the wall behind them
either way: none of these can touch a file."""

from __future__ import annotations

import pytest
import requests

from tests.support.security import assert_error, assert_no_stray_files, query

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def table(bq):
    requests.post(f"{bq.api}/datasets", json={"datasetReference": {"datasetId": "ds"}}, timeout=30)
    query(bq, "CREATE TABLE IF NOT EXISTS ds.t (a INT64)")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT sql FROM sqlite_master WHERE EXISTS (WITH sqlite_master AS (SELECT 1) SELECT 1)",
        "SELECT * FROM ds.t WHERE EXISTS (WITH x AS (SELECT 1) SELECT * FROM duckdb_databases)",
    ],
)
def test_engine_catalogs_are_not_reachable(bq, table, sql):
    """An unqualified name that is no CTE in scope is refused as BigQuery refuses it (no default
    dataset); it never reaches DuckDB's catalog."""
    error = assert_error(query(bq, sql), 400, "invalidQuery")
    assert "must be qualified with a dataset" in error["message"]
    assert_no_stray_files(bq)


@pytest.mark.parametrize(
    "sql, name",
    [
        ("SELECT current_setting('enable_external_access')", "current_setting"),
        ("SELECT version()", "version"),
        ("SELECT sleep_ms(10)", "sleep_ms"),
        ("SELECT pg_sleep(0.01)", "pg_sleep"),
        ("SELECT write_log('x')", "write_log"),
        ("SELECT list_transform([1, 2], x -> x + 1)", "list_transform"),
    ],
)
def test_duckdb_only_functions_are_not_found(bq, sql, name):
    error = assert_error(query(bq, sql), 400, "invalidQuery")
    assert error["message"].lower().startswith(f"function not found: {name}")
