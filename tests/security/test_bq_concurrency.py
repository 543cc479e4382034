"""One query cannot stall everyone: reads run concurrently, timeoutMs is honoured (the job goes
on, the client polls), and jobs.cancel, a dropped client, jobTimeoutMs and --max-query-seconds
interrupt the work. No assertion here depends on timing: "still running" is the job's state,
and ENDLESS cannot finish while a test lasts (10^15 rows)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from google.api_core import exceptions
from google.cloud import bigquery

from tests.support.security import PROJECT, assert_error, assert_serves, client, query, start

pytestmark = pytest.mark.integration

ENDLESS = (
    "SELECT COUNT(*) AS n FROM UNNEST(GENERATE_ARRAY(1, 100000)) AS a, "
    "UNNEST(GENERATE_ARRAY(1, 100000)) AS b, UNNEST(GENERATE_ARRAY(1, 100000)) AS c"
)
CANCELLED = "Job execution was cancelled: User requested cancellation"


def _job(server, job_id: str) -> dict:
    return requests.get(f"{server.api}/jobs/{job_id}", timeout=30).json()


def _until_done(server, job_id: str, limit_s: float = 60.0) -> dict:
    """The job once DONE (a bound on waiting, not a timing assertion)."""
    until = time.monotonic() + limit_s
    while time.monotonic() < until:
        job = _job(server, job_id)
        if job["status"]["state"] == "DONE":
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']['state']} after {limit_s}s")


def test_select_1_answers_while_a_long_query_runs(bq, bq_client, dataset):
    table = f"{PROJECT}.{dataset}.side"
    bq_client.create_table(bigquery.Table(table, [bigquery.SchemaField("n", "INT64")]))
    long = bq_client.query(ENDLESS)
    assert long.state in ("PENDING", "RUNNING")
    # another client's quick query, a streaming insert and a read all complete meanwhile
    other = client(bq)
    assert [tuple(r) for r in other.query_and_wait("SELECT 1 AS one")] == [(1,)]
    assert not other.insert_rows_json(table, [{"n": 1}, {"n": 2}])
    assert sorted(r.n for r in other.list_rows(table)) == [1, 2]
    long.reload()
    assert long.state == "RUNNING"
    cancelled = bq_client.cancel_job(long.job_id)
    done = _until_done(bq, long.job_id)
    assert done["status"]["errorResult"] == {
        "reason": "stopped", "message": CANCELLED, "domain": "global"
    }  # fmt: skip
    assert cancelled.job_id == long.job_id
    with pytest.raises(exceptions.GoogleAPICallError) as error:
        long.result()
    assert CANCELLED in str(error.value)
    other.close()


def test_timeout_ms_is_honoured_and_the_job_goes_on(bq):
    response = query(bq, ENDLESS, timeoutMs=200)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["jobComplete"] is False and "rows" not in body
    job_id = body["jobReference"]["jobId"]
    page = requests.get(f"{bq.api}/queries/{job_id}", params={"timeoutMs": 100}, timeout=30)
    assert page.json()["jobComplete"] is False
    assert _job(bq, job_id)["status"]["state"] == "RUNNING"
    requests.post(f"{bq.api}/jobs/{job_id}/cancel", timeout=30)
    _until_done(bq, job_id)
    assert_error(requests.get(f"{bq.api}/queries/{job_id}", timeout=30), 400, "stopped", CANCELLED)


def test_the_client_polls_a_query_that_outlasts_timeout_ms(bq):
    """With a short api_timeout the client sends timeoutMs=0: jobs.query answers jobComplete:
    false, the client polls getQueryResults, and reads the result once the job is done."""
    bq_client = client(bq)
    seen: list[tuple[str, str, bool | None]] = []

    def record(response, *args, **kwargs):
        body = response.json() if response.content else {}
        seen.append((response.request.method, urlsplit(response.url).path, body.get("jobComplete")))

    bq_client._http.hooks["response"].append(record)
    sql = (
        "SELECT COUNT(*) AS n FROM UNNEST(GENERATE_ARRAY(1, 4000)) a, "
        "UNNEST(GENERATE_ARRAY(1, 4000)) b"
    )
    rows = list(bq_client.query_and_wait(sql, api_timeout=0.2, wait_timeout=120))
    assert rows[0].n == 16_000_000
    first = seen[0]
    assert first[:2] == ("POST", f"/bigquery/v2/projects/{PROJECT}/queries") and first[2] is False
    assert any(m == "GET" and "/queries/" in p for m, p, _ in seen[1:]), seen
    bq_client.close()


def test_a_dropped_client_stops_its_query(bq):
    """jobs.query sent on a raw socket that is then closed: the job stops."""
    request_id = uuid.uuid4().hex
    body = json.dumps({"query": ENDLESS, "useLegacySql": False, "requestId": request_id,
                       "timeoutMs": 60000}).encode()  # fmt: skip
    address = urlsplit(bq.address)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(
            f"POST /bigquery/v2/projects/{PROJECT}/queries HTTP/1.1\r\n"
            f"Host: {address.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        job_id = f"job_{request_id}"
        until = time.monotonic() + 30
        while _job(bq, job_id).get("status", {}).get("state") != "RUNNING":
            assert time.monotonic() < until
            time.sleep(0.05)
    job = _until_done(bq, job_id)
    assert job["status"]["errorResult"]["reason"] == "stopped"
    assert job["status"]["errorResult"]["message"] == (
        "Job execution was cancelled: the client that ran jobs.query disconnected"
    )
    assert_serves(bq)


def test_job_timeout_ms(bq, bq_client):
    job = bq_client.query(ENDLESS, job_config=bigquery.QueryJobConfig(job_timeout_ms=300))
    done = _until_done(bq, job.job_id)
    assert done["status"]["errorResult"] == {
        "reason": "stopped",
        "message": "Job execution was cancelled: Job timed out after 0s (jobTimeoutMs)",
        "domain": "global",
    }


def test_concurrent_dml_on_one_table_is_serialised(bq, bq_client, dataset):
    table = f"{PROJECT}.{dataset}.counter"
    bq_client.query_and_wait(f"CREATE TABLE `{table}` AS SELECT 0 AS n")
    errors: list[Exception] = []

    def bump() -> None:
        try:
            client(bq).query_and_wait(f"UPDATE `{table}` SET n = n + 1 WHERE TRUE")
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [tuple(r) for r in bq_client.query_and_wait(f"SELECT n FROM `{table}`")] == [(8,)]


def test_max_query_seconds_and_shutdown_with_a_running_job(tmp_path):
    server = start("emulators.bigquery", tmp_path, "--max-query-seconds", "1")
    try:
        bq_client = client(server)
        with pytest.raises(exceptions.GoogleAPICallError) as error:
            bq_client.query_and_wait(ENDLESS)
        assert (
            "Job execution was cancelled: Job timed out after 1s (the emulator's "
            "--max-query-seconds)" in str(error.value)
        )
        running = bq_client.query(ENDLESS)  # still running when the server is stopped
        assert running.state in ("PENDING", "RUNNING")
        assert_serves(server)
    finally:
        server.stop()
    assert server.process.returncode == 0


def test_bad_max_query_seconds_is_one_sentence(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "emulators.bigquery", "--port", "0", "--max-query-seconds", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: argument --max-query-seconds: '0' must be positive "
                                   "seconds (python -m emulators.bigquery --help)")
