"""tabledata.insertAll semantics and tabledata.list encoding/pagination with the real client."""

from __future__ import annotations

import base64
import datetime as dt
import decimal

import pytest
import requests
from google.api_core import exceptions
from google.cloud import bigquery

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc


@pytest.fixture
def people(bq_client, bq_dataset):
    schema = [
        bigquery.SchemaField("id", "INTEGER", mode="REQUIRED"),
        bigquery.SchemaField("name", "STRING"),
        bigquery.SchemaField("score", "FLOAT"),
        bigquery.SchemaField("born", "TIMESTAMP"),
        bigquery.SchemaField(
            "address",
            "RECORD",
            fields=[
                bigquery.SchemaField("city", "STRING", mode="REQUIRED"),
                bigquery.SchemaField("zips", "INTEGER", mode="REPEATED"),
            ],
        ),
    ]
    return bq_client.create_table(
        bigquery.Table(f"{bq_client.project}.{bq_dataset}.people", schema=schema)
    )


def _ids(bq_client, table):
    return sorted(r["id"] for r in bq_client.list_rows(table))


def test_invalid_row_stops_the_whole_request(bq_client, people):
    errors = bq_client.insert_rows_json(
        people, [{"id": 1}, {"id": "abc"}, {"id": 3}], skip_invalid_rows=False
    )
    assert errors == [
        {
            "index": 0,
            "errors": [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}],
        },
        {
            "index": 1,
            "errors": [
                {
                    "reason": "invalid",
                    "location": "id",
                    "debugInfo": "",
                    "message": "Cannot convert value to integer (bad value): abc",
                }
            ],
        },
        {
            "index": 2,
            "errors": [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}],
        },
    ]
    assert _ids(bq_client, people) == []


def test_skip_invalid_rows_keeps_the_valid_ones(bq_client, people):
    errors = bq_client.insert_rows_json(
        people,
        [{"id": 1}, {"name": "no id"}, {"id": 3, "address": {"zips": [1]}}, {"id": 4}],
        skip_invalid_rows=True,
    )
    assert [
        (e["index"], e["errors"][0]["location"], e["errors"][0]["message"]) for e in errors
    ] == [
        (1, "id", "Missing required field: id."),
        (2, "address.city", "Missing required field: address.city."),
    ]
    assert _ids(bq_client, people) == [1, 4]


def test_unknown_fields_rejected_unless_ignored(bq_client, people):
    errors = bq_client.insert_rows_json(people, [{"id": 1, "nope": 2}])
    assert errors[0]["errors"] == [
        {
            "reason": "invalid",
            "location": "nope",
            "debugInfo": "",
            "message": "no such field: nope.",
        }
    ]
    assert not bq_client.insert_rows_json(
        people, [{"id": 1, "nope": 2}], ignore_unknown_values=True
    )
    assert _ids(bq_client, people) == [1]


def test_type_errors_per_field(bq_client, people):
    rows = [
        {"id": 1, "score": "fast"},
        {"id": 2, "born": "yesterday"},
        {"id": 3, "address": "not a record"},
        {"id": 4, "address": {"city": "x", "zips": 5}},
        {"id": [5]},
        {"id": True},
    ]
    errors = bq_client.insert_rows_json(people, rows, skip_invalid_rows=True)
    by_index = {e["index"]: e["errors"][0] for e in errors}
    assert sorted(by_index) == [0, 1, 2, 3, 4, 5]
    assert by_index[0]["location"] == "score" and "floating point" in by_index[0]["message"]
    assert by_index[1]["location"] == "born" and "timestamp" in by_index[1]["message"]
    assert by_index[2]["message"] == "This field: address is not a record."
    assert by_index[3]["location"] == "address.zips"
    assert by_index[4]["message"] == "Array specified for non-repeated field: id."
    assert all(e["reason"] == "invalid" for e in by_index.values())
    assert _ids(bq_client, people) == []


def test_accepted_value_forms(bq_client, people):
    assert not bq_client.insert_rows_json(
        people,
        [
            {"id": "7", "score": "1.5", "born": "2024-01-02 03:04:05.678901 UTC"},
            {"id": 8.0, "score": 2, "born": 1704164645.5},
            {"ID": 9, "Address": {"City": "Paris", "zips": ["75001", 75002]}},
        ],
    )
    rows = {r["id"]: r for r in bq_client.list_rows(people)}
    assert rows[7]["born"] == dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert rows[8]["born"] == dt.datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    assert rows[8]["score"] == 2.0
    assert rows[9]["address"] == {"city": "Paris", "zips": [75001, 75002]}


def test_insert_id_deduplication(bq_client, people):
    assert not bq_client.insert_rows_json(people, [{"id": 1}, {"id": 2}], row_ids=["a", "b"])
    # Redelivered rows are reported as success and dropped; new ids are stored.
    assert not bq_client.insert_rows_json(people, [{"id": 1}, {"id": 3}], row_ids=["a", "c"])
    # Duplicates inside one request collapse too; rows without insertId are never dropped.
    assert not bq_client.insert_rows_json(people, [{"id": 4}, {"id": 4}], row_ids=["d", "d"])
    assert not bq_client.insert_rows_json(people, [{"id": 5}, {"id": 5}], row_ids=[None, None])
    assert _ids(bq_client, people) == [1, 2, 3, 4, 5, 5]


def test_insert_ids_of_a_rejected_request_are_not_remembered(bq_client, people):
    errors = bq_client.insert_rows_json(people, [{"id": 1}, {"id": "x"}], row_ids=["a", "b"])
    assert len(errors) == 2
    assert not bq_client.insert_rows_json(people, [{"id": 1}, {"id": 2}], row_ids=["a", "b"])
    assert _ids(bq_client, people) == [1, 2]


def test_insert_into_missing_table_is_404(bq_client, bq_dataset):
    with pytest.raises(exceptions.NotFound) as missing:
        bq_client.insert_rows_json(f"{bq_client.project}.{bq_dataset}.nope", [{"a": 1}])
    assert "Not found: Table" in missing.value.message


def test_list_rows_pagination_and_start_index(bq_client, people):
    assert not bq_client.insert_rows_json(people, [{"id": i} for i in range(25)])
    iterator = bq_client.list_rows(people, page_size=10)
    pages = [[r["id"] for r in page] for page in iterator.pages]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert sorted(sum(pages, [])) == list(range(25))
    assert iterator.total_rows == 25
    assert len(list(bq_client.list_rows(people, start_index=20))) == 5
    assert len(list(bq_client.list_rows(people, max_results=7))) == 7
    selected = list(
        bq_client.list_rows(people, selected_fields=[bigquery.SchemaField("name", "STRING")])
    )
    assert len(selected) == 25 and list(selected[0].keys()) == ["name"]


def test_wire_encoding_of_rows(bq_emulator, bq_client, bq_dataset):
    schema = [
        bigquery.SchemaField("ts", "TIMESTAMP"),
        bigquery.SchemaField("n", "INTEGER"),
        bigquery.SchemaField("b", "BOOLEAN"),
        bigquery.SchemaField("raw", "BYTES"),
        bigquery.SchemaField("price", "NUMERIC"),
        bigquery.SchemaField("tags", "STRING", mode="REPEATED"),
        bigquery.SchemaField("rec", "RECORD", fields=[bigquery.SchemaField("x", "INTEGER")]),
    ]
    table = bq_client.create_table(
        bigquery.Table(f"{bq_client.project}.{bq_dataset}.wire", schema=schema)
    )
    raw = base64.b64encode(b"\x00\xff").decode()
    assert not bq_client.insert_rows_json(
        table,
        [
            {
                "ts": "2024-01-01T00:00:01.5Z",
                "n": 42,
                "b": True,
                "raw": raw,
                "price": "3.140",
                "tags": ["a", "b"],
                "rec": {"x": 1},
            }
        ],
    )
    url = (
        f"{bq_emulator.url}/bigquery/v2/projects/{bq_emulator.project}/datasets/{bq_dataset}"
        "/tables/wire/data"
    )
    body = requests.get(url, timeout=10).json()
    assert body["totalRows"] == "1"
    assert body["rows"][0]["f"] == [
        {"v": "1704067201.500000"},
        {"v": "42"},
        {"v": "true"},
        {"v": raw},
        {"v": "3.14"},
        {"v": [{"v": "a"}, {"v": "b"}]},
        {"v": {"f": [{"v": "1"}]}},
    ]
    as_int64 = requests.get(url, params={"formatOptions.useInt64Timestamp": "true"}, timeout=10)
    assert as_int64.json()["rows"][0]["f"][0] == {"v": "1704067201500000"}
    row = next(iter(bq_client.list_rows(table)))
    assert row["price"] == decimal.Decimal("3.14") and row["raw"] == b"\x00\xff"


def test_null_repeated_reads_back_empty(bq_client, bq_dataset):
    table = bq_client.create_table(
        bigquery.Table(
            f"{bq_client.project}.{bq_dataset}.rep",
            schema=[bigquery.SchemaField("tags", "STRING", mode="REPEATED")],
        )
    )
    assert not bq_client.insert_rows_json(table, [{"tags": None}, {}])
    assert [r["tags"] for r in bq_client.list_rows(table)] == [[], []]


def test_json_columns_validated(bq_client, bq_dataset):
    table = bq_client.create_table(
        bigquery.Table(
            f"{bq_client.project}.{bq_dataset}.docs",
            schema=[bigquery.SchemaField("id", "INTEGER"), bigquery.SchemaField("doc", "JSON")],
        )
    )
    rows = [
        {"id": 1, "doc": '{"a": [1, 2]}'},
        {"id": 2, "doc": "{not json"},
        {"id": 3, "doc": {"b": 1}},
        {"id": 4, "doc": [1, "two"]},
    ]
    errors = bq_client.insert_rows_json(table, rows)
    assert [(e["index"], e["errors"][0]["reason"]) for e in errors] == [
        (0, "stopped"),
        (1, "invalid"),
        (2, "stopped"),
        (3, "stopped"),
    ]
    assert errors[1]["errors"][0]["location"] == "doc"
    assert _ids(bq_client, table) == []
    assert len(bq_client.insert_rows_json(table, rows, skip_invalid_rows=True)) == 1
    docs = {r["id"]: r["doc"] for r in bq_client.list_rows(table)}
    assert docs == {1: {"a": [1, 2]}, 3: {"b": 1}, 4: [1, "two"]}


def test_parallel_inserts_all_land(bq_emulator, bq_dataset):
    import concurrent.futures

    from tests.support.bigquery import make_client

    client = make_client(bq_emulator.url)
    table = client.create_table(
        bigquery.Table(
            f"{client.project}.{bq_dataset}.parallel",
            schema=[bigquery.SchemaField("id", "INTEGER"), bigquery.SchemaField("w", "STRING")],
        )
    )

    def send(worker: int) -> list:
        errors = []
        for batch in range(10):
            rows = [{"id": worker * 1000 + batch * 50 + i, "w": str(worker)} for i in range(50)]
            errors += client.insert_rows_json(table, rows, row_ids=[str(r["id"]) for r in rows])
        return errors

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert all(not errors for errors in pool.map(send, range(6)))
    ids = [r["id"] for r in client.list_rows(table)]
    assert len(ids) == 3000 and len(set(ids)) == 3000


def test_recreated_table_forgets_insert_ids(bq_client, bq_dataset):
    ref = f"{bq_client.project}.{bq_dataset}.again"
    schema = [bigquery.SchemaField("id", "INTEGER")]
    table = bq_client.create_table(bigquery.Table(ref, schema=schema))
    assert not bq_client.insert_rows_json(table, [{"id": 1}], row_ids=["same"])
    bq_client.delete_table(ref)
    table = bq_client.create_table(bigquery.Table(ref, schema=schema))
    assert not bq_client.insert_rows_json(table, [{"id": 2}], row_ids=["same"])
    assert _ids(bq_client, table) == [2]
    bq_client.query_and_wait(f"CREATE OR REPLACE TABLE `{ref}` (id INT64)")
    assert not bq_client.insert_rows_json(ref, [{"id": 3}], row_ids=["same"])
    assert _ids(bq_client, ref) == [3]


def test_insert_into_schemaless_table_is_invalid(bq_client, bq_dataset):
    table = bq_client.create_table(f"{bq_client.project}.{bq_dataset}.bare")
    with pytest.raises(exceptions.BadRequest):
        bq_client.insert_rows_json(table, [{}], ignore_unknown_values=True)
    table.schema = [bigquery.SchemaField("a", "STRING")]
    table = bq_client.update_table(table, ["schema"])
    assert not bq_client.insert_rows_json(table, [{"a": "x"}])
    assert [r["a"] for r in bq_client.list_rows(table)] == ["x"]
