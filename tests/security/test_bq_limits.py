"""BigQuery's limits, as BigQuery states them: request and row sizes, rows per request, RECORD
and JSON nesting, ids, paging parameters, query length. Every refusal is a 4xx in BigQuery's
error shape (never a 500), through raw HTTP and the real client, and the server keeps serving."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import requests
from google.api_core import exceptions
from google.cloud import bigquery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.bigquery import uploads
from tests.support.security import PROJECT, assert_error, assert_serves, query

pytestmark = pytest.mark.integration

TOO_LARGE = "Request payload size exceeds the limit: 10485760 bytes."
TOO_DEEP = "Invalid JSON payload received. Nesting too deep: more than 100 levels."


@pytest.fixture
def events(bq_client, dataset) -> str:
    table = f"{PROJECT}.{dataset}.events"
    schema = [bigquery.SchemaField("s", "STRING"), bigquery.SchemaField("j", "JSON")]
    bq_client.create_table(bigquery.Table(table, schema))
    return table


def _insert_url(bq, table: str) -> str:
    _, dataset, table_id = table.split(".")
    return f"{bq.api}/datasets/{dataset}/tables/{table_id}/insertAll"


# ------------------------------------------------------------------ sizes


def test_insert_all_over_10_mb_is_refused(bq, bq_client, events):
    rows = [{"json": {"s": "x" * 1_000_000}} for _ in range(11)]
    response = requests.post(_insert_url(bq, events), json={"rows": rows}, timeout=60)
    assert_error(response, 400, "badRequest", TOO_LARGE)
    with pytest.raises(exceptions.BadRequest) as error:
        bq_client.insert_rows_json(events, [{"s": "x" * 15_000_000}])  # one 15 MB row
    assert error.value.errors[0]["message"] == TOO_LARGE
    assert next(iter(bq_client.query_and_wait(f"SELECT COUNT(*) AS n FROM `{events}`"))).n == 0
    assert_serves(bq)


def test_a_50_mb_request_is_refused_unread(bq, events):
    body = b'{"rows": [' + b" " * (50 << 20) + b"]}"
    response = requests.post(_insert_url(bq, events), data=body, timeout=60,
                             headers={"Content-Type": "application/json"})  # fmt: skip
    assert_error(response, 413, "requestTooLarge", "Request Too Large")
    chunked = iter([b'{"rows": [', b" " * (20 << 20), b"]}"])  # no Content-Length: read, cut
    response = requests.post(_insert_url(bq, events), data=chunked, timeout=60)
    assert_error(response, 400, "badRequest", TOO_LARGE)
    assert_serves(bq)


def test_rows_per_request(bq, bq_client, events):
    with pytest.raises(exceptions.BadRequest) as error:
        bq_client.insert_rows_json(events, [{"s": "x"}] * 50_001)
    assert error.value.errors[0]["message"] == (
        "too many rows present in the request, limit: 50000 row count: 50001."
    )
    assert not bq_client.insert_rows_json(events, [{"s": "x"}] * 50_000)


def test_query_text_over_1024k_characters(bq, bq_client):
    sql = "SELECT 1 -- " + "x" * (1024 * 1024)
    message = (
        "The query is too large. The maximum standard SQL query length is 1024.00K characters, "
        "including comments and white space characters."
    )
    assert_error(query(bq, sql), 400, "invalidQuery", message)
    with pytest.raises(exceptions.BadRequest) as error:
        bq_client.query_and_wait(sql)
    assert message in error.value.message


def test_resumable_uploads_are_bounded(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 10)
    sessions = uploads.ResumableUploads()
    upload_id = sessions.start(PROJECT, {})
    assert sessions.add_chunk(upload_id, "bytes 0-5/*", b"123456") is None
    with pytest.raises(uploads.RequestTooLarge):
        sessions.add_chunk(upload_id, "bytes 6-11/*", b"789012")
    with pytest.raises(uploads.NotFound):  # the session is gone with its data
        sessions.add_chunk(upload_id, "bytes 6-7/8", b"78")
    for _ in range(uploads.MAX_SESSIONS + 5):
        sessions.start(PROJECT, {})
    assert len(sessions._sessions) == uploads.MAX_SESSIONS


# ------------------------------------------------------------------ nesting


def _nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [101, 1_000, 10_000, 100_000])
def test_deeply_nested_bodies(bq, depth):
    body = '{"datasetReference": {"datasetId": "deep"}, "labels": ' + _nested_json(depth) + "}"
    response = requests.post(f"{bq.api}/datasets", data=body, timeout=60)
    assert_error(response, 400, "parseError", TOO_DEEP)
    response = requests.post(f"{bq.api}/queries", data=_nested_json(depth), timeout=60)
    assert_error(response, 400, "parseError", TOO_DEEP)
    assert_serves(bq)


@pytest.mark.parametrize("depth", [501, 10_000])
def test_deeply_nested_json_values(bq, bq_client, events, depth):
    """A JSON value may nest 500 levels (BigQuery's limit), as text or as an object."""
    message = "Invalid JSON value: nesting depth exceeds the maximum of 500."
    errors = bq_client.insert_rows_json(events, [{"j": _nested_json(depth)}])
    assert errors[0]["errors"][0]["message"] == message
    if depth < 900:  # deeper objects cannot be built by the client's own JSON encoder
        errors = bq_client.insert_rows_json(events, [{"j": json.loads(_nested_json(depth))}])
        assert errors[0]["errors"][0]["message"] == message
    body = '{"rows": [{"json": {"j": ' + _nested_json(depth) + "}}]}"
    response = requests.post(_insert_url(bq, events), data=body, timeout=60)
    if response.status_code == 200:
        assert response.json()["insertErrors"][0]["errors"][0]["message"] == message
    else:  # too deep for the JSON parser itself
        assert_error(response, 400, "parseError", TOO_DEEP)
    assert not bq_client.insert_rows_json(events, [{"j": _nested_json(500)}])
    assert_serves(bq)


def _record(depth: int) -> dict:
    field = {"name": "leaf", "type": "STRING"}
    for level in range(depth):
        field = {"name": f"r{level}", "type": "RECORD", "fields": [field]}
    return field


def test_record_nesting(bq, bq_client, dataset):
    table = bigquery.Table(
        f"{PROJECT}.{dataset}.deep16", [bigquery.SchemaField.from_api_repr(_record(15))]
    )
    with pytest.raises(exceptions.BadRequest) as error:
        bq_client.create_table(table)
    path = ".".join(f"r{level}" for level in range(14, -1, -1))
    assert error.value.errors[0]["message"] == (
        f"Schema nested too deeply for field {path}, maximum allowed depth is 15."
    )
    ok = bigquery.Table(
        f"{PROJECT}.{dataset}.deep15", [bigquery.SchemaField.from_api_repr(_record(14))]
    )
    assert bq_client.create_table(ok).schema
    body = {"tableReference": {"tableId": "deep300"}, "schema": {"fields": [_record(300)]}}
    response = requests.post(f"{bq.api}/datasets/{dataset}/tables", json=body, timeout=30)
    assert_error(response, 400, "parseError", TOO_DEEP)
    assert_serves(bq)


# ------------------------------------------------------------------ ids


DATASET_RULE = (
    "Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long."
)
JOB_RULE = "Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 characters long."
TABLE_RULE = (
    "Table IDs must be alphanumeric (plus underscores) and must be at most 1024 characters "
    "long. Also, Table decorators cannot be used."
)


@pytest.mark.parametrize("bad", ["..", "a..b", "a/b", "a\x00b", "x" * 100_000, "a b", "a-b", ""])
def test_dataset_ids(bq, bq_client, bad):
    response = requests.post(f"{bq.api}/datasets",
                             json={"datasetReference": {"datasetId": bad}}, timeout=30)  # fmt: skip
    shown = bad.replace("\x00", "\\x00")
    shown = shown if len(shown) <= 200 else shown[:200] + "..."
    assert_error(response, 400, "invalid", f'Invalid dataset ID "{shown}". {DATASET_RULE}')
    if bad and "/" not in bad:
        with pytest.raises(exceptions.BadRequest):
            bq_client.create_dataset(bigquery.Dataset(f"{PROJECT}.{bad}"))


@pytest.mark.parametrize("bad", ["..", "a/b", "a\x00b", "x" * 100_000, "a.b", "a$b", "a\nb"])
def test_job_ids(bq, bq_client, bad):
    body = {"jobReference": {"jobId": bad}, "configuration": {"query": {"query": "SELECT 1"}}}
    response = requests.post(f"{bq.api}/jobs", json=body, timeout=30)
    assert response.status_code == 400 and JOB_RULE in response.json()["error"]["message"]
    with pytest.raises(exceptions.BadRequest) as error:
        bq_client.query("SELECT 1", job_id=bad, job_retry=None).result()
    assert JOB_RULE in error.value.message
    assert not any(j.job_id == bad for j in bq_client.list_jobs(max_results=1000))


@pytest.mark.parametrize("bad", ["a/b", "a\x00b", "x" * 2000, "a.b", "a$20240101", "a;b", "a'b"])
def test_table_ids(bq, dataset, bad):
    body = {"tableReference": {"tableId": bad}, "schema": {"fields": []}}
    response = requests.post(f"{bq.api}/datasets/{dataset}/tables", json=body, timeout=30)
    assert response.status_code == 400 and TABLE_RULE in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "path, rule",
    [
        ("/datasets/a..b", DATASET_RULE),
        ("/datasets/" + quote("a\x00b"), DATASET_RULE),
        ("/datasets/ok/tables/" + quote("t\x00"), TABLE_RULE),
        ("/datasets/ok/tables/t$notadate", TABLE_RULE),
        ("/jobs/" + quote("j\x00"), JOB_RULE),
        ("/jobs/" + "j" * 1025, JOB_RULE),
        ("/queries/a.b", JOB_RULE),
    ],
)
def test_ids_in_paths(bq, path, rule):
    response = requests.get(bq.api + path, timeout=30)
    assert response.status_code == 400 and rule in response.json()["error"]["message"], (
        response.text
    )


def test_partition_decorators_still_work(bq, bq_client, events):
    _, dataset, table_id = events.split(".")
    response = requests.get(f"{bq.api}/datasets/{dataset}/tables/{table_id}$20240101", timeout=30)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/datasets", "/jobs", "/datasets/{ds}/tables", "/datasets/{ds}/tables/events/data",
     "/bigquery/v2/projects"],
)  # fmt: skip
def test_negative_max_results(bq, events, path):
    _, dataset, _ = events.split(".")
    url = bq.address + path if path.startswith("/bigquery") else bq.api + path.format(ds=dataset)
    response = requests.get(url, params={"maxResults": -5}, timeout=30)
    assert_error(response, 400, "invalid", "Invalid value for maxResults: -5")


def test_negative_timeout_ms(bq):
    assert_error(query(bq, "SELECT 1", timeoutMs=-1), 400, "invalid",
                 "Invalid value for timeoutMs: -1")  # fmt: skip


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(dataset_id=st.text(max_size=40), job_id=st.text(max_size=40))
def test_random_ids_are_accepted_or_refused_with_bigquery_messages(bq, dataset_id, job_id):
    response = requests.post(f"{bq.api}/datasets",
                             json={"datasetReference": {"datasetId": dataset_id}}, timeout=30)  # fmt: skip
    valid = bool(dataset_id) and all(c.isascii() and (c.isalnum() or c == "_") for c in dataset_id)
    if valid:
        assert response.status_code in (200, 409), response.text
    else:
        assert response.status_code == 400 and DATASET_RULE in response.json()["error"]["message"]
    body = {"jobReference": {"jobId": job_id}, "configuration": {"query": {"query": "SELECT 1"}}}
    response = requests.post(f"{bq.api}/jobs", json=body, timeout=30)
    valid = all(c.isascii() and (c.isalnum() or c in "_-") for c in job_id)  # "" -> generated
    if valid:
        assert response.status_code in (200, 409), response.text
    else:
        assert response.status_code == 400 and JOB_RULE in response.json()["error"]["message"]
