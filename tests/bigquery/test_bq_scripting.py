"""Multi-statement queries through the real google-cloud-bigquery client: results, child jobs
as BigQuery lists them, errors with their script positions, temporary tables, parameters."""

from __future__ import annotations

import pytest
from google.api_core.exceptions import BadRequest, NotFound
from google.cloud import bigquery

pytestmark = pytest.mark.integration


def run(client, sql, dataset=None, **config):
    job_config = bigquery.QueryJobConfig(**config)
    if dataset:
        job_config.default_dataset = f"{client.project}.{dataset}"
    job = client.query(sql, job_config=job_config)
    rows = [tuple(r.values()) for r in job.result()]
    return job, rows


def test_a_script_returns_its_last_statements_result(bq_client):
    job, rows = run(bq_client, "DECLARE x INT64 DEFAULT 20; SELECT x + 1; SELECT x * 2 AS y")
    assert rows == [(40,)]
    assert [f.name for f in job.result().schema] == ["y"]
    assert job.statement_type == "SCRIPT"
    assert job.num_child_jobs == 2


def test_query_and_wait_reads_a_script_result(bq_client):
    result = bq_client.query_and_wait("SELECT 1 AS a; SELECT 'last' AS b")
    assert [tuple(r.values()) for r in result] == [("last",)]


def test_child_jobs_are_listed_with_their_parent(bq_client):
    script = "DECLARE n INT64 DEFAULT (SELECT COUNT(*) FROM UNNEST([1, 2]));\nSELECT n;\nSELECT n + 1"
    job, rows = run(bq_client, script)
    assert rows == [(3,)]
    children = list(bq_client.list_jobs(parent_job=job))
    assert len(children) == job.num_child_jobs == 3
    assert {c.parent_job_id for c in children} == {job.job_id}
    kinds = sorted(c.script_statistics.evaluation_kind for c in children)
    assert kinds == ["EXPRESSION", "STATEMENT", "STATEMENT"]
    by_line = {c.script_statistics.stack_frames[0].start_line: c for c in children}
    assert by_line[2].script_statistics.stack_frames[0].text == "SELECT n"
    assert by_line[3].script_statistics.stack_frames[0].start_column == 1
    assert all(c.job_id.startswith("script_job_") for c in children)
    # each child's result is readable, as BigQuery keeps them
    child = bq_client.get_job(by_line[2].job_id)
    assert [tuple(r.values()) for r in child.result()] == [(2,)]
    assert child.statement_type == "SELECT"
    # child jobs are not top-level jobs
    top = [j.job_id for j in bq_client.list_jobs(max_results=50)]
    assert job.job_id in top and not any(c.job_id in top for c in children)


def test_a_failing_statement_fails_the_script_with_its_position(bq_client):
    with pytest.raises(BadRequest) as error:
        run(bq_client, "SELECT 1;\nSELECT\n  1 / 0")
    failed = error.value.errors[0]
    assert failed["reason"] == "invalidQuery"
    assert failed["message"] == "Query error: division by zero at [2:1]"


@pytest.mark.parametrize("text", [";", "; ;", "-- nothing\n;"])
def test_a_text_of_only_semicolons_is_a_syntax_error(bq_client, text):
    # Found by the hostile-query property test: it was an HTTP 500.
    with pytest.raises(BadRequest, match="Syntax error"):
        bq_client.query(text).result()


def test_an_error_inside_a_statement_is_located_in_the_script(bq_client):
    with pytest.raises(BadRequest) as error:
        run(bq_client, "SELECT 1;\nSELECT no_such_function(1)")
    assert "Function not found: no_such_function at [2:8]" in error.value.errors[0]["message"]


def test_the_failed_child_job_is_kept(bq_client):
    job = bq_client.query("SELECT 'ok';\nSELECT ERROR('boom')")
    with pytest.raises(BadRequest):
        job.result()
    children = sorted(bq_client.list_jobs(parent_job=job.job_id), key=lambda c: c.job_id)
    assert [c.state for c in children] == ["DONE", "DONE"]
    assert children[0].error_result is None
    assert "boom" in children[1].error_result["message"]


def test_temporary_tables_are_gone_after_the_script(bq_client):
    run(bq_client, "CREATE TEMP TABLE scratch AS SELECT 1 AS x; SELECT * FROM scratch")
    with pytest.raises((BadRequest, NotFound)):
        run(bq_client, "SELECT 1; SELECT * FROM _SESSION.scratch")
    # the same name is free again (nothing left on a pooled connection)
    _, rows = run(bq_client, "CREATE TEMP TABLE scratch AS SELECT 2 AS x; SELECT x FROM scratch")
    assert rows == [(2,)]


def test_temporary_tables_are_not_in_the_catalog(bq_client, bq_dataset):
    run(bq_client, "CREATE TEMP TABLE hidden (x INT64); INSERT INTO hidden VALUES (1); SELECT 1",
        bq_dataset)  # fmt: skip
    assert list(bq_client.list_tables(bq_dataset)) == []


def test_scripts_change_tables_of_the_catalog(bq_client, bq_dataset):
    script = f"""
        DECLARE i INT64 DEFAULT 0;
        CREATE TABLE {bq_dataset}.counts (n INT64);
        WHILE i < 5 DO
          INSERT INTO {bq_dataset}.counts VALUES (i);
          SET i = i + 1;
        END WHILE;
        SELECT SUM(n) FROM {bq_dataset}.counts"""
    _, rows = run(bq_client, script)
    assert rows == [(10,)]
    assert bq_client.get_table(f"{bq_dataset}.counts").num_rows == 5
    with pytest.raises(BadRequest, match="Variable declarations are allowed only"):
        run(bq_client, "SELECT 1; DECLARE j INT64; SELECT j")


def test_query_parameters_reach_the_statements(bq_client):
    job, rows = run(bq_client, "DECLARE x INT64 DEFAULT @start; SET x = x * 2; SELECT x, @name",
                    query_parameters=[bigquery.ScalarQueryParameter("start", "INT64", 21),
                                      bigquery.ScalarQueryParameter("name", "STRING", "n")])  # fmt: skip
    assert rows == [(42, "n")]


def test_a_variable_value_is_never_sql(bq_client):
    _, rows = run(bq_client, "DECLARE s STRING DEFAULT \"x'); SELECT 1; --\"; SELECT s, LENGTH(s)")
    assert rows == [("x'); SELECT 1; --", 17)]


def test_temp_functions_before_a_query_are_not_a_script(bq_client):
    job, rows = run(bq_client, "CREATE TEMP FUNCTION Add(x INT64, y INT64) AS (x + y); "
                               "SELECT Add(3, 4) AS s")  # fmt: skip
    assert rows == [(7,)]
    assert job.statement_type == "SELECT"
    assert job.num_child_jobs in (None, 0)
    assert list(bq_client.list_jobs(parent_job=job)) == []


def test_a_script_cannot_have_a_destination_table(bq_client, bq_dataset):
    config = bigquery.QueryJobConfig(destination=f"{bq_client.project}.{bq_dataset}.out")
    with pytest.raises(BadRequest, match="destinationTable cannot be set for scripts"):
        bq_client.query("SELECT 1; SELECT 2", job_config=config).result()


def test_a_dry_run_of_a_script(bq_client):
    config = bigquery.QueryJobConfig(dry_run=True)
    job = bq_client.query("DECLARE x INT64; SELECT x", job_config=config)
    assert job.statement_type == "SCRIPT"
    bad = bq_client.query("DECLARE x INT64; IF x THEN SELECT 1;", job_config=config)
    assert "Syntax error" in bad.error_result["message"]


def test_system_variables_of_the_job(bq_client):
    job, rows = run(bq_client, "SELECT 1; SELECT @@script.job_id, @@current_job_id, "
                               "@@project_id, @@last_job_id")  # fmt: skip
    script_id, current, project, last = rows[0]
    assert script_id == job.job_id and project == bq_client.project
    children = {c.job_id for c in bq_client.list_jobs(parent_job=job)}
    assert current in children and last in children and current != last


def test_a_procedure_call_is_a_script(bq_client, bq_dataset):
    bq_client.query_and_wait(
        f"CREATE PROCEDURE {bq_dataset}.two_selects(x INT64) BEGIN SELECT x; SELECT x * 10; END"
    )
    job, rows = run(bq_client, f"CALL {bq_dataset}.two_selects(4)")
    assert rows == [(40,)]
    assert job.statement_type == "SCRIPT"
    children = list(bq_client.list_jobs(parent_job=job))
    assert len(children) == 2
    frames = children[0].script_statistics.stack_frames
    assert frames[0].procedure_id == f"{bq_client.project}.{bq_dataset}.two_selects"
    assert len(frames) == 2  # the statement in the procedure, then the CALL


def test_deleting_a_script_deletes_its_child_jobs(bq_client):
    job, _ = run(bq_client, "SELECT 1; SELECT 2")
    children = [c.job_id for c in bq_client.list_jobs(parent_job=job)]
    assert len(children) == 2
    with pytest.raises(BadRequest, match="child jobs"):  # BigQuery refuses it too
        bq_client.delete_job_metadata(children[0], location="US")
    bq_client.delete_job_metadata(job.job_id, location="US")
    for child in children:
        with pytest.raises(NotFound):
            bq_client.get_job(child)


def test_transactions_commit_roll_back_and_end_with_the_script(bq_client, bq_dataset):
    table = f"{bq_dataset}.stock"
    run(bq_client, f"CREATE TABLE {table} (item STRING, n INT64)")
    count = f"SELECT COUNT(*) FROM {table}"
    _, rows = run(bq_client, f"BEGIN TRANSACTION; INSERT {table} VALUES ('a', 1); {count}; "
                             "ROLLBACK TRANSACTION")  # fmt: skip
    assert rows == [(1,)]  # seen inside the transaction ...
    assert run(bq_client, count)[1] == [(0,)]  # ... and gone after ROLLBACK
    run(bq_client, f"BEGIN TRANSACTION; INSERT {table} VALUES ('b', 2); COMMIT TRANSACTION")
    run(bq_client, f"BEGIN TRANSACTION; DELETE FROM {table} WHERE TRUE")  # left open: rolled back
    with pytest.raises(BadRequest, match="division by zero"):
        run(bq_client, f"BEGIN TRANSACTION; INSERT {table} VALUES ('c', 3); SELECT 1/0; COMMIT")
    _, rows = run(bq_client, f"""
        BEGIN
          BEGIN TRANSACTION;
          INSERT {table} VALUES ('d', 4);
          SELECT 1/0;
          COMMIT TRANSACTION;
        EXCEPTION WHEN ERROR THEN
          ROLLBACK TRANSACTION;
          SELECT @@error.message;
        END""")
    assert "division by zero" in rows[0][0]
    assert run(bq_client, f"SELECT item FROM {table}")[1] == [("b",)]


def test_a_transaction_refuses_permanent_ddl_and_nesting(bq_client, bq_dataset):
    with pytest.raises(BadRequest, match="not supported inside a transaction"):
        run(bq_client, f"BEGIN TRANSACTION; CREATE TABLE {bq_dataset}.t (a INT64); COMMIT")
    with pytest.raises(NotFound):
        bq_client.get_table(f"{bq_dataset}.t")
    with pytest.raises(BadRequest, match="Nested transactions"):
        run(bq_client, "BEGIN TRANSACTION; BEGIN TRANSACTION")
    with pytest.raises(BadRequest, match="without an active transaction"):
        run(bq_client, "COMMIT TRANSACTION")
    # temporary tables and functions are allowed
    _, rows = run(bq_client, "BEGIN TRANSACTION; CREATE TEMP TABLE s AS SELECT 41 AS x; "
                             "CREATE TEMP FUNCTION inc(v INT64) AS (v + 1); SELECT inc(x) FROM s; "
                             "COMMIT TRANSACTION")  # fmt: skip
    assert rows == [(42,)]
