"""Hostile scripts, routines and JavaScript UDFs: a UDF that loops forever or allocates without
bound is stopped with BigQuery's error, JavaScript reaches no file, network or process, every
statement of a script (EXECUTE IMMEDIATE's included) and every UDF body passes BigQuery's
function list, variables are values and never SQL, and the server keeps serving throughout.

The emulator here runs with short JavaScript limits (2 s per call, 64 MB per isolate)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.security import (
    PROJECT,
    assert_error,
    assert_no_stray_files,
    assert_serves,
    client,
    query,
    start,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bq(tmp_path_factory):
    server = start("emulators.bigquery", tmp_path_factory.mktemp("bq_js"),
                   "--js-udf-timeout-seconds", "2", "--js-udf-memory-mb", "64")  # fmt: skip
    yield server
    try:
        assert_serves(server)
        assert_no_stray_files(server)
    finally:
        server.stop()


def js(body: str, returns: str = "FLOAT64", args: str = "") -> str:
    return (f"CREATE TEMP FUNCTION f({args}) RETURNS {returns} LANGUAGE js AS r'''{body}''';\n"
            "SELECT f()")  # fmt: skip


# ------------------------------------------------------------------ JavaScript limits


def test_a_udf_that_loops_forever_is_stopped(bq):
    started = time.monotonic()
    response = query(bq, js("while (true) {}"))
    error = assert_error(response, 400, "resourcesExceeded")
    assert "Resources exceeded during query execution" in error["message"]
    assert "timed out" in error["message"]
    assert time.monotonic() - started < 60
    assert_serves(bq)


def test_a_udf_that_allocates_without_bound_is_stopped(bq):
    body = "var a = []; while (true) { a.push(new Array(100000).fill(1.5)); } return 0;"
    response = query(bq, js(body))
    error = assert_error(response, 400, "resourcesExceeded")
    assert "UDF out of memory" in error["message"]
    assert_serves(bq)
    # the next query with a JavaScript UDF gets a fresh isolate
    assert query(bq, js("return 1;")).json()["rows"] == [{"f": [{"v": "1.0"}]}]


def test_a_never_settling_promise_is_stopped(bq):
    response = query(bq, js("return new Promise(function () {});"))
    assert_error(response, 400, "resourcesExceeded")
    assert_serves(bq)


def test_other_queries_run_while_a_udf_spins(bq):
    import threading

    spinning = threading.Thread(target=query, args=(bq, js("while (true) {}")))
    spinning.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert_serves(bq)
    assert time.monotonic() - started < 1.5  # not behind the 2 s JavaScript call
    spinning.join()


@pytest.mark.parametrize(
    "expression",
    [
        "typeof require", "typeof process", "typeof fetch", "typeof XMLHttpRequest",
        "typeof Deno", "typeof Bun", "typeof module", "typeof globalThis.process",
    ],
)  # fmt: skip
def test_javascript_has_no_node_browser_or_process_apis(bq, expression):
    response = query(bq, js(f"return {expression};", "STRING"))
    assert response.json()["rows"] == [{"f": [{"v": "undefined"}]}], response.text


def test_javascript_cannot_import_modules(bq):
    body = "return import('fs').then(function (m) { return 'imported'; });"
    response = query(bq, js(body, "STRING"))
    assert response.status_code == 400, response.text
    assert "imported" not in response.text


def test_javascript_state_does_not_leak_between_queries(bq):
    leak = "globalThis.secret = 'from the first query'; return 1;"
    assert query(bq, js(leak)).status_code == 200
    probe = "return typeof globalThis.secret;"
    assert query(bq, js(probe, "STRING")).json()["rows"] == [{"f": [{"v": "undefined"}]}]


def test_udf_code_is_compiled_as_code_of_its_own(bq):
    """The code is a string handed to ``new Function``: closing the function early cannot
    reach the wrapper's variables or run at set-up."""
    body = "}; __bq.fn = function () { return 666; }; function x() {"
    response = query(bq, js(body))
    assert response.status_code == 400
    assert_serves(bq)


# ------------------------------------------------------------------ BigQuery's names only


@pytest.mark.parametrize(
    "sql, fragment",
    [
        ("EXECUTE IMMEDIATE 'SELECT version()'", "Function not found: version"),
        ("EXECUTE IMMEDIATE 'SELECT * FROM duckdb_tables()'",
         "Table-valued function not found: duckdb_tables"),
        ("EXECUTE IMMEDIATE CONCAT('SELECT * FROM ', 'read_text(\"/etc/passwd\")')",
         "Table-valued function not found: read_text"),
        ("EXECUTE IMMEDIATE 'SELECT * FROM sqlite_master'", "must be qualified with a dataset"),
        ("EXECUTE IMMEDIATE 'SELECT * FROM _emulator.catalog'", "Not found: Dataset"),
        ("EXECUTE IMMEDIATE \"COPY (SELECT 1) TO 'pwned.csv'\"", "Unsupported construct"),
        ("EXECUTE IMMEDIATE \"ATTACH 'x.duckdb' AS x\"", "Syntax error"),
        ("EXECUTE IMMEDIATE 'SELECT 1; SELECT 2'", "EXECUTE IMMEDIATE takes exactly one"),
        ('EXECUTE IMMEDIATE "EXECUTE IMMEDIATE \'SELECT 1\'"', "cannot be executed dynamically"),
        ("DECLARE s STRING DEFAULT 'current_setting'; EXECUTE IMMEDIATE CONCAT('SELECT ', s, "
         "\"('threads')\")", "Function not found: current_setting"),
        ("CREATE TEMP FUNCTION f() AS (current_setting('threads')); SELECT f()",
         "Function not found: current_setting"),
        ("CREATE TEMP FUNCTION f() AS ((SELECT COUNT(*) FROM duckdb_settings())); SELECT f()",
         "Table-valued function not found: duckdb_settings"),
        ("CREATE TEMP TABLE t AS SELECT * FROM read_csv('/etc/passwd')",
         "Table-valued function not found: read_csv"),
        ("DECLARE x INT64 DEFAULT (SELECT COUNT(*) FROM pragma_version())",
         "Table-valued function not found: pragma_version"),
        ("SET @@dataset_id = '_emulator'; SELECT * FROM catalog", "Not found: Dataset"),
        ("CALL duckdb_settings()", "Not found: Procedure duckdb_settings"),
    ],
)
def test_every_statement_of_a_script_passes_the_function_list(bq, sql, fragment):
    response = query(bq, sql)
    assert response.status_code in (400, 404), response.text
    message = response.json()["error"]["message"]
    assert fragment in message, message
    assert "root:" not in response.text
    assert_no_stray_files(bq, bq.workdir / "pwned.csv", bq.workdir / "x.duckdb")


def test_routine_bodies_from_the_api_pass_the_function_list(bq):
    bq_client = client(bq)
    bq_client.create_dataset("routines_hostile", exists_ok=True)
    body = {
        "routineReference": {"projectId": PROJECT, "datasetId": "routines_hostile",
                             "routineId": "sneaky"},
        "routineType": "SCALAR_FUNCTION", "language": "SQL",
        "definitionBody": "(SELECT value FROM duckdb_settings() LIMIT 1)",
    }  # fmt: skip
    url = f"{bq.api}/datasets/routines_hostile/routines"
    assert requests.post(url, json=body, timeout=30).status_code == 200  # stored as text
    response = query(bq, "SELECT routines_hostile.sneaky()")
    assert_error(response, 400, "invalidQuery")
    assert "Table-valued function not found: duckdb_settings" in response.json()["error"]["message"]


# ------------------------------------------------------------------ values are never SQL


@pytest.mark.parametrize(
    "value",
    ["x'); DROP TABLE t; --", "1; SELECT 2", "\\'", "$1", "'", "\x00", "@@project_id"],
)
def test_variables_are_values(bq, value):
    literal = value.replace("\\", "\\\\").replace("'", "\\'").replace("\x00", "\\x00")
    sql = f"DECLARE s STRING DEFAULT '{literal}'; EXECUTE IMMEDIATE 'SELECT ?' INTO s USING s; SELECT s"
    response = query(bq, sql)
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [{"f": [{"v": value}]}]


# ------------------------------------------------------------------ runaway scripts


def test_a_script_that_loops_forever_stops_at_its_time_limit(bq):
    response = query(bq, "DECLARE i INT64 DEFAULT 0; LOOP SET i = i + 1; END LOOP",
                     jobTimeoutMs=1500, timeoutMs=30000)  # fmt: skip
    error = assert_error(response, 400, "stopped")
    assert "Job timed out" in error["message"]
    assert_serves(bq)


def test_a_transaction_stopped_by_the_time_limit_leaves_nothing_behind(bq):
    bq_client = client(bq)
    bq_client.create_dataset("tx_hostile", exists_ok=True)
    bq_client.query("CREATE OR REPLACE TABLE tx_hostile.t (x INT64)").result()
    response = query(bq, "BEGIN TRANSACTION; INSERT tx_hostile.t VALUES (1); "
                         "LOOP UPDATE tx_hostile.t SET x = x + 1 WHERE TRUE; END LOOP",
                     jobTimeoutMs=1500, timeoutMs=30000)  # fmt: skip
    assert_error(response, 400, "stopped")
    rows = bq_client.query("SELECT COUNT(*) FROM tx_hostile.t").result()
    assert [tuple(r.values()) for r in rows] == [(0,)]  # rolled back, not half-written
    # the table takes new transactions and plain DML at once (no lock or conflict left over)
    bq_client.query("BEGIN TRANSACTION; INSERT tx_hostile.t VALUES (7); COMMIT").result()
    bq_client.query("UPDATE tx_hostile.t SET x = 8 WHERE TRUE").result()
    assert_serves(bq)


def test_a_script_can_be_cancelled(bq):
    bq_client = client(bq)
    job = bq_client.query("WHILE TRUE DO SELECT 1; END WHILE")
    time.sleep(0.5)
    job.cancel()
    with pytest.raises(Exception, match="cancelled"):
        job.result(timeout=30)
    assert_serves(bq)


def test_procedures_calling_themselves_are_stopped(bq):
    bq_client = client(bq)
    bq_client.create_dataset("procs_hostile", exists_ok=True)
    bq_client.query_and_wait(
        "CREATE OR REPLACE PROCEDURE procs_hostile.again() BEGIN CALL procs_hostile.again(); END"
    )
    response = query(bq, "CALL procs_hostile.again()")
    error = assert_error(response, 400, "invalidQuery")
    assert "nested more than 50" in error["message"]
    assert_serves(bq)


def test_functions_calling_themselves_are_stopped(bq):
    bq_client = client(bq)
    bq_client.create_dataset("funcs_hostile", exists_ok=True)
    body = {
        "routineReference": {"projectId": PROJECT, "datasetId": "funcs_hostile",
                             "routineId": "loop"},
        "routineType": "SCALAR_FUNCTION", "language": "SQL",
        "definitionBody": "funcs_hostile.loop() + 1",
    }  # fmt: skip
    requests.post(f"{bq.api}/datasets/funcs_hostile/routines", json=body, timeout=30)
    response = query(bq, "SELECT funcs_hostile.loop()")
    assert_error(response, 400, "invalidQuery")
    assert_serves(bq)


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"routineReference": {"routineId": "r"}},
        {"routineReference": {"routineId": "r"}, "routineType": "SCALAR_FUNCTION",
         "definitionBody": "1", "arguments": "x"},
        {"routineReference": {"routineId": "r"}, "routineType": "SCALAR_FUNCTION",
         "definitionBody": "1", "arguments": [{"name": "a", "dataType": {"typeKind": "NOPE"}}]},
        {"routineReference": {"routineId": "r"}, "routineType": "SCALAR_FUNCTION",
         "definitionBody": "1", "arguments": [{"name": "a", "dataType": {
             "typeKind": "STRUCT", "structType": {"fields": [
                 {"name": "x` INT64>, y STRUCT<`", "type": {"typeKind": "INT64"}}]}}}]},
        {"routineReference": {"routineId": "r; DROP"}, "routineType": "SCALAR_FUNCTION",
         "definitionBody": "1"},
        {"routineReference": {"routineId": "r"}, "routineType": "SCALAR_FUNCTION",
         "definitionBody": "(", "language": "SQL"},
        {"routineReference": {"routineId": "r"}, "routineType": "PROCEDURE",
         "definitionBody": "BEGIN SELECT 1"},
        {"routineReference": {"routineId": "r"}, "routineType": "SCALAR_FUNCTION",
         "language": "JAVASCRIPT", "definitionBody": "return 1",
         "returnType": {"typeKind": "INT64"}, "importedLibraries": ["gs://b/l.js"]},
    ],
)  # fmt: skip
def test_hostile_routine_resources_are_refused(bq, body):
    bq_client = client(bq)
    bq_client.create_dataset("routines_refused", exists_ok=True)
    response = requests.post(f"{bq.api}/datasets/routines_refused/routines", json=body,
                             timeout=30)  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["error"]["errors"][0]["reason"] in ("invalid", "parseError")
    assert_serves(bq)
