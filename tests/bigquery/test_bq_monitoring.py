"""The BigQuery emulator's ``/_emulator/``: Cloud Monitoring metrics as Prometheus text and fault
injection, against a running emulator with the real client and raw HTTP."""

from __future__ import annotations

import uuid

import pytest
import requests

from emulators.bigquery.monitoring import AdminClient, api_method
from ops.samples import parse
from tests.support.bigquery import PROJECT, make_client

pytestmark = pytest.mark.integration


def metric(text: str, name: str, **labels) -> float:
    return sum(
        s.value for s in parse(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )  # fmt: skip


@pytest.fixture
def table(own_bq_emulator):
    from google.cloud import bigquery

    client = make_client(own_bq_emulator.url)
    client.create_dataset("metered", exists_ok=True)
    ref = f"{PROJECT}.metered.t_{uuid.uuid4().hex[:8]}"
    client.create_table(bigquery.Table(ref, schema=[bigquery.SchemaField("n", "INTEGER")]))
    return client, ref


def test_rows_errors_and_requests_are_counted(own_bq_emulator, table):
    client, ref = table
    table_id = ref.rsplit(".", 1)[1]
    assert client.insert_rows_json(ref, [{"n": 1}, {"n": 2}], row_ids=["a", "b"]) == []
    assert client.insert_rows_json(ref, [{"n": 1}], row_ids=["a"]) == []  # a duplicate
    errors = client.insert_rows_json(ref, [{"n": "x"}, {"n": 3}], skip_invalid_rows=True)
    assert len(errors) == 1

    text = AdminClient(own_bq_emulator.url).metrics()
    rows = metric(text, "bigquery_googleapis_com:storage_uploaded_row_count", table=table_id,
                  api="streaming")
    assert rows == 3  # two, the duplicate dropped, then the valid one of two
    assert metric(text, "emulator_bigquery_insert_errors", table=table_id, reason="invalid") == 1
    assert metric(text, "serviceruntime_googleapis_com:api_request_count",
                  method="google.cloud.bigquery.v2.TableDataService.InsertAll",
                  response_code="200") >= 3
    assert metric(text, "bigquery_googleapis_com:storage_table_count",
                  dataset_id=ref.split(".")[1]) >= 1


def test_a_fault_answers_bigquery_errors_then_clears(own_bq_emulator, table):
    client, ref = table
    _, dataset, table_id = ref.split(".")
    admin = AdminClient(own_bq_emulator.url)
    admin.fail("tabledata.insertAll", times=2)
    url = (f"{own_bq_emulator.url}/bigquery/v2/projects/{PROJECT}/datasets/{dataset}/tables/"
           f"{table_id}/insertAll")
    for _ in range(2):
        response = requests.post(url, json={"rows": [{"json": {"n": 7}}]}, timeout=10)
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["errors"][0]["reason"] == "backendError"
        assert "Retrying may solve the problem" in error["message"]
    assert admin.faults() == {"faults": []}
    assert requests.post(url, json={"rows": [{"json": {"n": 7}}]}, timeout=10).status_code == 200
    text = admin.metrics()
    assert metric(text, "serviceruntime_googleapis_com:api_request_count",
                  method="google.cloud.bigquery.v2.TableDataService.InsertAll",
                  response_code_class="5xx") >= 2
    # other methods were not touched
    assert list(client.query("SELECT 1 AS x").result())[0]["x"] == 1


def test_the_client_retries_through_a_timed_fault(own_bq_emulator, table):
    client, ref = table
    admin = AdminClient(own_bq_emulator.url)
    admin.fail("tabledata.insertAll", seconds=1.5)
    assert admin.faults()["faults"][0]["method"] == "tabledata.insertAll"
    # the library retries 503 backendError with backoff until the fault has passed
    assert client.insert_rows_json(ref, [{"n": 42}]) == []
    rows = list(client.query(f"SELECT n FROM `{ref}` WHERE n = 42").result())
    assert len(rows) == 1


def test_bad_admin_requests_get_bigquery_errors(own_bq_emulator):
    base = f"{own_bq_emulator.url}/_emulator"
    bad = requests.post(base + "/faults:fail", json={"method": "tables.explode"}, timeout=10)
    assert bad.status_code == 400 and "Unknown method" in bad.json()["error"]["message"]
    bad = requests.post(base + "/faults:fail", data=b"{not json", timeout=10)
    assert bad.status_code == 400
    bad = requests.post(base + "/faults:fail", json={"method": "*", "times": -1}, timeout=10)
    assert bad.status_code == 400
    assert requests.get(base + "/nothing", timeout=10).status_code == 404
    foreign = requests.get(base + "/metrics", headers={"Origin": "https://evil.example"},
                           timeout=10)
    assert foreign.status_code == 403
    assert requests.get(base + "/metrics", timeout=10).status_code == 200


def test_api_methods_are_named_as_cloud_monitoring_names_them():
    assert api_method("POST", "/bigquery/v2/projects/p/datasets/d/tables/t/insertAll") == (
        "tabledata.insertAll", "google.cloud.bigquery.v2.TableDataService.InsertAll")
    assert api_method("GET", "/bigquery/v2/projects/p/queries/j1")[0] == "jobs.getQueryResults"
    assert api_method("GET", "/elsewhere") is None
