"""DuckDB locked down, the wall behind the translator: no file, URL or extension access from
SQL, the configuration locked, one statement per execute.

The storage-level tests talk to ``Storage`` directly, as if a statement had slipped past the
translator; the HTTP tests send the same attempts as queries."""

from __future__ import annotations

import duckdb
import pytest
from google.api_core import exceptions

from emulators.bigquery.errors import InvalidQuery
from emulators.bigquery.storage import Storage, execute, executemany, relation
from tests.support.security import assert_error, assert_no_stray_files, query

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "data-dir"])
def storage(request, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path in an attack would land here
    store = Storage(str(tmp_path / "data") if request.param == "data-dir" else None)
    yield store
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["data"])
    if request.param == "data-dir":
        assert all(p.name.startswith("bigquery.duckdb") for p in (tmp_path / "data").iterdir())


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO 'pwned.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM glob('/*')",
        "ATTACH 'other.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD spatial",
        "SELECT * FROM read_json('https://example.com/x.json')",
        "EXPORT DATABASE 'dump'",
        "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')",
    ],
)
def test_no_file_url_or_extension_access(storage, sql):
    with storage.lock, pytest.raises(duckdb.Error) as error:
        execute(storage.con, sql)
    assert isinstance(error.value, (duckdb.PermissionException, duckdb.CatalogException,
                                    duckdb.InvalidInputException)), error.value  # fmt: skip


@pytest.mark.parametrize(
    "setting",
    [
        "enable_external_access = true",
        "autoload_known_extensions = true",
        "autoinstall_known_extensions = true",
        "allow_community_extensions = true",
        "lock_configuration = false",
        "TimeZone = 'Europe/Paris'",
        "temp_directory = '/tmp'",
    ],
)
def test_configuration_is_locked(storage, setting):
    with storage.lock, pytest.raises(duckdb.InvalidInputException, match="locked"):
        execute(storage.con, f"SET {setting}")
    with storage.cursor() as cur, pytest.raises(duckdb.InvalidInputException, match="locked"):
        execute(cur, f"SET GLOBAL {setting}")


def test_settings_hold_on_every_connection(storage):
    with storage.cursor() as cur:
        rows = execute(
            cur,
            "SELECT current_setting('enable_external_access'), "
            "current_setting('autoload_known_extensions'), current_setting('lock_configuration'), "
            "current_setting('TimeZone')",
        ).fetchall()
    assert rows == [(False, False, True, "UTC")]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; SELECT 2",
        "SELECT 1; COPY (SELECT 1) TO 'pwned.csv'",
        "CREATE TABLE x (a INT); DROP TABLE x",
        "SELECT 1;;SELECT 2",
        "",
        ";",
    ],
)
def test_one_statement_per_execute(storage, sql):
    for run in (
        lambda con: execute(con, sql),
        lambda con: relation(con, sql),
        lambda con: executemany(con, sql, [[1]]),
    ):
        with storage.cursor() as cur, pytest.raises(InvalidQuery) as error:
            run(cur)
        assert error.value.message == "Unsupported construct: multi-statement script"


def test_relation_runs_only_a_select(storage):
    with storage.cursor() as cur, pytest.raises(InvalidQuery):
        relation(cur, "CREATE TABLE x AS SELECT 1")


# ------------------------------------------------------------------ the same through the API


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; ATTACH 'x.duckdb' AS x",  # a script: each statement on its own
        "SELECT 1; COPY (SELECT 1) TO 'pwned.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT read_text('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "INSTALL httpfs",
        "ATTACH 'x.duckdb' AS x",
        "COPY (SELECT 1) TO 'pwned.csv'",
        "EXPORT DATABASE 'dump'",
    ],
)
def test_file_and_stacked_statements_through_the_api(bq, sql):
    error = assert_error(query(bq, sql), 400, "invalidQuery")
    assert "root:" not in error["message"]  # nothing of /etc/passwd
    assert_no_stray_files(bq, bq.workdir / "pwned.csv", bq.workdir / "x.duckdb")


def test_file_access_through_the_client(bq, bq_client):
    with pytest.raises(exceptions.BadRequest) as error:
        bq_client.query_and_wait("SELECT * FROM read_csv('/etc/passwd')")
    assert "root:" not in error.value.message
    with pytest.raises(exceptions.BadRequest):
        bq_client.query_and_wait("SELECT 1; SELECT * FROM read_csv('/etc/passwd')")
    assert_no_stray_files(bq)
