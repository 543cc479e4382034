"""Projects, datasets, tables and views through google-cloud-bigquery; error shapes over HTTP."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions
from google.cloud import bigquery

pytestmark = pytest.mark.integration


def _schema():
    return [
        bigquery.SchemaField("id", "INT64", mode="REQUIRED", description="the id"),
        bigquery.SchemaField("name", "STRING"),
        bigquery.SchemaField("raw", "BYTES"),
        bigquery.SchemaField("price", "NUMERIC"),
        bigquery.SchemaField("big", "BIGNUMERIC"),
        bigquery.SchemaField("ok", "BOOL"),
        bigquery.SchemaField("ts", "TIMESTAMP"),
        bigquery.SchemaField("day", "DATE"),
        bigquery.SchemaField("at", "TIME"),
        bigquery.SchemaField("local", "DATETIME"),
        bigquery.SchemaField("doc", "JSON"),
        bigquery.SchemaField("place", "GEOGRAPHY"),
        bigquery.SchemaField("ratio", "FLOAT64"),
        bigquery.SchemaField(
            "items",
            "RECORD",
            mode="REPEATED",
            fields=[
                bigquery.SchemaField("sku", "STRING", mode="REQUIRED"),
                bigquery.SchemaField(
                    "dims", "STRUCT", fields=[bigquery.SchemaField("w", "INTEGER", mode="REPEATED")]
                ),
            ],
        ),
    ]


def test_projects_list_includes_client_project(bq_client):
    assert bq_client.project in [p.project_id for p in bq_client.list_projects()]


def test_dataset_lifecycle(bq_client):
    ds = bigquery.Dataset(f"{bq_client.project}.lifecycle_ds")
    ds.description = "first"
    ds.labels = {"team": "data"}
    created = bq_client.create_dataset(ds)
    assert created.description == "first" and created.labels == {"team": "data"}
    assert created.created is not None and created.etag
    with pytest.raises(exceptions.Conflict) as conflict:
        bq_client.create_dataset(ds)
    assert conflict.value.errors[0]["reason"] == "duplicate"
    bq_client.create_dataset(ds, exists_ok=True)

    created.description = "second"
    updated = bq_client.update_dataset(created, ["description"])
    assert updated.description == "second" and updated.labels == {"team": "data"}
    assert "lifecycle_ds" in [d.dataset_id for d in bq_client.list_datasets()]
    assert [d.dataset_id for d in bq_client.list_datasets(filter="labels.team:data")] == [
        "lifecycle_ds"
    ]

    bq_client.create_table(f"{bq_client.project}.lifecycle_ds.t", exists_ok=False)
    with pytest.raises(exceptions.BadRequest) as in_use:
        bq_client.delete_dataset("lifecycle_ds")
    assert in_use.value.errors[0]["reason"] == "resourceInUse"
    bq_client.delete_dataset("lifecycle_ds", delete_contents=True)
    with pytest.raises(exceptions.NotFound) as missing:
        bq_client.get_dataset("lifecycle_ds")
    assert missing.value.errors[0]["reason"] == "notFound"
    bq_client.delete_dataset("lifecycle_ds", not_found_ok=True)


def test_dataset_list_pagination(bq_client):
    ids = [f"page_ds_{i}" for i in range(5)]
    for dataset_id in ids:
        bq_client.create_dataset(dataset_id, exists_ok=True)
    try:
        listed = bq_client.list_datasets(page_size=2)
        pages = list(listed.pages)
        assert len(pages) >= 3
        names = [d.dataset_id for page in pages for d in page]
        assert set(ids) <= set(names) and len(names) == len(set(names))
    finally:
        for dataset_id in ids:
            bq_client.delete_dataset(dataset_id, not_found_ok=True)


def test_table_lifecycle_with_full_schema(bq_client, bq_dataset):
    ref = f"{bq_client.project}.{bq_dataset}.full"
    table = bigquery.Table(ref, schema=_schema())
    table.description = "all the types"
    table.time_partitioning = bigquery.TimePartitioning(field="ts", type_="DAY")
    table.clustering_fields = ["name"]
    table.labels = {"k": "v"}
    created = bq_client.create_table(table)
    assert created.table_type == "TABLE"
    assert created.num_rows == 0
    assert created.time_partitioning.field == "ts"
    assert created.clustering_fields == ["name"]
    fetched = bq_client.get_table(ref)
    types = {f.name: f.field_type for f in fetched.schema}
    assert types["id"] == "INTEGER" and types["ok"] == "BOOLEAN" and types["ratio"] == "FLOAT"
    assert fetched.schema[0].mode == "REQUIRED" and fetched.schema[0].description == "the id"
    items = fetched.schema[-1]
    assert items.mode == "REPEATED" and items.field_type == "RECORD"
    assert items.fields[1].fields[0].mode == "REPEATED"
    assert fetched.etag and fetched.created and fetched.modified
    with pytest.raises(exceptions.Conflict):
        bq_client.create_table(table)
    assert [t.table_id for t in bq_client.list_tables(bq_dataset)] == ["full"]

    fetched.description = "patched"
    patched = bq_client.update_table(fetched, ["description"])
    assert patched.description == "patched" and patched.labels == {"k": "v"}

    bq_client.delete_table(ref)
    with pytest.raises(exceptions.NotFound):
        bq_client.get_table(ref)
    with pytest.raises(exceptions.NotFound):
        bq_client.delete_table(ref)
    bq_client.delete_table(ref, not_found_ok=True)


def test_schema_patch_adds_nullable_column(bq_client, bq_dataset):
    ref = f"{bq_client.project}.{bq_dataset}.evolving"
    table = bq_client.create_table(
        bigquery.Table(ref, schema=[bigquery.SchemaField("a", "STRING")])
    )
    assert not bq_client.insert_rows_json(table, [{"a": "before"}])
    table.schema = [*table.schema, bigquery.SchemaField("b", "INTEGER")]
    table = bq_client.update_table(table, ["schema"])
    assert [f.name for f in table.schema] == ["a", "b"]
    assert not bq_client.insert_rows_json(table, [{"a": "after", "b": 2}])
    rows = sorted((r["a"], r["b"]) for r in bq_client.list_rows(ref))
    assert rows == [("after", 2), ("before", None)]

    table.schema = [*table.schema, bigquery.SchemaField("c", "STRING", mode="REQUIRED")]
    with pytest.raises(exceptions.BadRequest):
        bq_client.update_table(table, ["schema"])
    table.schema = [bigquery.SchemaField("a", "INTEGER"), bigquery.SchemaField("b", "INTEGER")]
    with pytest.raises(exceptions.BadRequest):
        bq_client.update_table(table, ["schema"])


def test_table_errors(bq_client, bq_dataset):
    with pytest.raises(exceptions.NotFound) as no_dataset:
        bq_client.get_table(f"{bq_client.project}.no_such_dataset.t")
    assert "Dataset" in no_dataset.value.message
    with pytest.raises(exceptions.BadRequest) as bad_type:
        bq_client.create_table(
            bigquery.Table(
                f"{bq_client.project}.{bq_dataset}.bad",
                schema=[bigquery.SchemaField("a", "NOT_A_TYPE")],
            )
        )
    assert bad_type.value.errors[0]["reason"] == "invalid"
    with pytest.raises(exceptions.BadRequest):
        bq_client.create_table(
            bigquery.Table(
                f"{bq_client.project}.{bq_dataset}.dup",
                schema=[bigquery.SchemaField("a", "STRING"), bigquery.SchemaField("A", "STRING")],
            )
        )


def test_view_resource_and_query(bq_client, bq_dataset):
    base = f"{bq_client.project}.{bq_dataset}.base"
    table = bq_client.create_table(
        bigquery.Table(
            base, schema=[bigquery.SchemaField("n", "INTEGER"), bigquery.SchemaField("s", "STRING")]
        )
    )
    assert not bq_client.insert_rows_json(table, [{"n": i, "s": f"s{i}"} for i in range(5)])
    view = bigquery.Table(f"{bq_client.project}.{bq_dataset}.big_ones")
    view.view_query = f"SELECT n, s FROM `{base}` WHERE n >= 3"
    created = bq_client.create_table(view)
    assert created.table_type == "VIEW"
    assert created.view_query == view.view_query
    assert [f.name for f in created.schema] == ["n", "s"]
    listed = {t.table_id: t.table_type for t in bq_client.list_tables(bq_dataset)}
    assert listed == {"base": "TABLE", "big_ones": "VIEW"}
    rows = bq_client.query_and_wait(
        f"SELECT n FROM `{bq_dataset}.big_ones` ORDER BY n",
    )
    assert [r.n for r in rows] == [3, 4]


def test_ingestion_time_partitioned_pseudo_columns(bq_client, bq_dataset):
    ref = f"{bq_client.project}.{bq_dataset}.ingest"
    table = bigquery.Table(ref, schema=[bigquery.SchemaField("a", "STRING")])
    table.time_partitioning = bigquery.TimePartitioning(type_="DAY")
    table = bq_client.create_table(table)
    assert [f.name for f in table.schema] == ["a"]
    assert not bq_client.insert_rows_json(table, [{"a": "x"}])
    assert [dict(r) for r in bq_client.list_rows(ref)] == [{"a": "x"}]
    rows = list(
        bq_client.query_and_wait(
            f"SELECT a, _PARTITIONTIME AS pt, _PARTITIONDATE AS pd FROM `{ref}` "
            "WHERE _PARTITIONDATE = CURRENT_DATE()"
        )
    )
    assert len(rows) == 1 and rows[0].pt.date() == rows[0].pd


def _api(bq_emulator, path):
    return f"{bq_emulator.url}/bigquery/v2/projects/{bq_emulator.project}{path}"


def test_malformed_json_gets_400_and_server_keeps_serving(bq_emulator, bq_client, bq_dataset):
    response = requests.post(
        _api(bq_emulator, "/datasets"),
        data=b'{"datasetReference": {',
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["errors"][0]["domain"] == "global" and error["errors"][0]["message"]
    bq_client.create_table(f"{bq_client.project}.{bq_dataset}.t")
    response = requests.post(
        _api(bq_emulator, f"/datasets/{bq_dataset}/tables/t/insertAll"),
        data=b"[1, 2",
        timeout=10,
    )
    assert response.status_code == 400
    response = requests.post(  # NaN is not JSON, even though Python's parser takes it
        _api(bq_emulator, "/datasets"),
        data=b'{"datasetReference": {"datasetId": "nan_ds"}, "description": NaN}',
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["reason"] == "parseError"
    assert bq_client.get_dataset(bq_dataset).dataset_id == bq_dataset


def test_unknown_route_and_wrong_body_shapes(bq_emulator):
    response = requests.get(f"{bq_emulator.url}/bigquery/v2/nothing/here", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["errors"][0]["reason"] == "notFound"
    response = requests.post(_api(bq_emulator, "/datasets"), json=[1, 2], timeout=10)
    assert response.status_code == 400
    response = requests.post(
        _api(bq_emulator, "/datasets"),
        json={"datasetReference": {"datasetId": "bad-id!"}},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["reason"] == "invalid"
    response = requests.post(_api(bq_emulator, "/jobs"), json={"configuration": {}}, timeout=10)
    assert response.status_code == 400


def test_labels_are_validated_and_patched_key_by_key(bq_emulator, bq_client):
    response = requests.post(
        _api(bq_emulator, "/datasets"),
        json={"datasetReference": {"datasetId": "labels_bad"}, "labels": 5},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["reason"] == "invalid"
    ds = bigquery.Dataset(f"{bq_client.project}.labels_ok")
    ds.labels = {"team": "data", "tier": "gold"}
    ds = bq_client.create_dataset(ds)
    try:
        ds.labels = {"tier": None, "env": "dev"}  # the client sends null to delete a label
        ds = bq_client.update_dataset(ds, ["labels"])
        assert ds.labels == {"team": "data", "env": "dev"}
        ds.labels = {"Bad Key": "x"}
        with pytest.raises(exceptions.BadRequest):
            bq_client.update_dataset(ds, ["labels"])
    finally:
        bq_client.delete_dataset("labels_ok", delete_contents=True)


def test_routines_models_and_service_account(bq_client, bq_dataset):
    assert list(bq_client.list_routines(bq_dataset)) == []
    assert list(bq_client.list_models(bq_dataset)) == []
    assert bq_client.get_service_account_email().endswith("@bigquery-emulator.local")
    with pytest.raises(exceptions.NotFound):
        list(bq_client.list_routines("no_such_dataset"))
