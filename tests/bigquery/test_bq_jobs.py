"""Query, load and copy jobs, jobs.* methods, DML/DDL statistics, dry runs and parameters."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

pytestmark = pytest.mark.integration


@pytest.fixture
def numbers(bq_client, bq_dataset):
    ref = f"{bq_client.project}.{bq_dataset}.numbers"
    table = bq_client.create_table(
        bigquery.Table(
            ref,
            schema=[
                bigquery.SchemaField("n", "INTEGER"),
                bigquery.SchemaField("parity", "STRING"),
                bigquery.SchemaField("tags", "STRING", mode="REPEATED"),
            ],
        )
    )
    rows = [
        {"n": i, "parity": "even" if i % 2 == 0 else "odd", "tags": [f"t{i % 3}"]}
        for i in range(250)
    ]
    assert not bq_client.insert_rows_json(table, rows)
    return ref


def test_query_results_across_pages(bq_client, numbers):
    job = bq_client.query(f"SELECT n FROM `{numbers}` ORDER BY n")
    result = job.result(page_size=100)
    pages = [[row.n for row in page] for page in result.pages]
    assert [len(p) for p in pages] == [100, 100, 50]
    assert sum(pages, []) == list(range(250))
    assert result.total_rows == 250
    assert job.state == "DONE" and job.statement_type == "SELECT"
    assert job.total_bytes_processed > 0


def test_query_and_wait_with_group_by_window_and_unnest(bq_client, numbers):
    rows = list(
        bq_client.query_and_wait(
            f"""
            SELECT parity, tag, COUNT(*) AS c,
                   RANK() OVER (PARTITION BY parity ORDER BY COUNT(*) DESC, tag) AS r
            FROM `{numbers}`, UNNEST(tags) AS tag
            GROUP BY parity, tag
            ORDER BY parity, r
            """
        )
    )
    assert [(r.parity, r.tag, r.c, r.r) for r in rows[:3]] == [
        ("even", "t0", 42, 1),
        ("even", "t2", 42, 2),
        ("even", "t1", 41, 3),
    ]


def test_named_positional_array_and_struct_parameters(bq_client, numbers):
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("low", "INT64", 10),
            bigquery.ArrayQueryParameter("parities", "STRING", ["odd"]),
            bigquery.ScalarQueryParameter(
                "at_time", "TIMESTAMP", dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
            ),
        ]
    )
    rows = list(
        bq_client.query_and_wait(
            f"SELECT n, @at_time AS at_time FROM `{numbers}` WHERE n < @low AND parity IN UNNEST(@parities) "
            "ORDER BY n",
            job_config=config,
        )
    )
    assert [r.n for r in rows] == [1, 3, 5, 7, 9]
    assert rows[0].at_time == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    positional = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter(None, "INT64", 3),
            bigquery.ScalarQueryParameter(None, "STRING", "even"),
        ]
    )
    rows = list(
        bq_client.query_and_wait(
            f"SELECT n FROM `{numbers}` WHERE n < ? AND parity = ? ORDER BY n",
            job_config=positional,
        )
    )
    assert [r.n for r in rows] == [0, 2]
    struct = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.StructQueryParameter(
                "s",
                bigquery.ScalarQueryParameter("x", "INT64", 1),
                bigquery.ScalarQueryParameter("y", "STRING", "a"),
            )
        ]
    )
    row = next(iter(bq_client.query_and_wait("SELECT @s.x AS x, @s.y AS y", job_config=struct)))
    assert (row.x, row.y) == (1, "a")


def test_dml_counts(bq_client, numbers):
    job = bq_client.query(f"UPDATE `{numbers}` SET parity = 'small' WHERE n < 10")
    job.result()
    assert job.num_dml_affected_rows == 10 and job.statement_type == "UPDATE"
    assert job.dml_stats.updated_row_count == 10
    job = bq_client.query(f"DELETE FROM `{numbers}` WHERE n >= 200")
    job.result()
    assert job.num_dml_affected_rows == 50 and job.dml_stats.deleted_row_count == 50
    job = bq_client.query(
        f"INSERT INTO `{numbers}` (n, parity) VALUES (1000, 'big'), (1001, 'big')"
    )
    job.result()
    assert job.num_dml_affected_rows == 2 and job.dml_stats.inserted_row_count == 2
    assert bq_client.get_table(numbers).num_rows == 202


def test_ddl_create_ctas_view_drop(bq_client, bq_dataset, numbers):
    base = f"{bq_client.project}.{bq_dataset}"
    job = bq_client.query(
        f"CREATE TABLE `{base}.made` (id INT64 NOT NULL, name STRING, tags ARRAY<STRING>, "
        "s STRUCT<a INT64, b STRING>)"
    )
    job.result()
    assert job.statement_type == "CREATE_TABLE" and job.ddl_operation_performed == "CREATE"
    assert job.ddl_target_table.table_id == "made"
    made = bq_client.get_table(f"{base}.made")
    assert [(f.name, f.field_type, f.mode) for f in made.schema] == [
        ("id", "INTEGER", "REQUIRED"),
        ("name", "STRING", "NULLABLE"),
        ("tags", "STRING", "REPEATED"),
        ("s", "RECORD", "NULLABLE"),
    ]
    job = bq_client.query(f"CREATE TABLE IF NOT EXISTS `{base}.made` (x INT64)")
    job.result()
    assert job.ddl_operation_performed == "SKIP"
    with pytest.raises(exceptions.Conflict):
        bq_client.query(f"CREATE TABLE `{base}.made` (x INT64)").result()

    job = bq_client.query(
        f"CREATE TABLE `{base}.odds` AS SELECT n, parity FROM `{numbers}` WHERE parity = 'odd'"
    )
    job.result()
    assert job.statement_type == "CREATE_TABLE_AS_SELECT"
    odds = bq_client.get_table(f"{base}.odds")
    assert odds.num_rows == 125 and [f.field_type for f in odds.schema] == ["INTEGER", "STRING"]

    bq_client.query(
        f"CREATE OR REPLACE VIEW `{base}.v` AS SELECT n FROM `{base}.odds` WHERE n < 5"
    ).result()
    view = bq_client.get_table(f"{base}.v")
    assert view.table_type == "VIEW" and "SELECT n" in view.view_query
    assert sorted(r.n for r in bq_client.query_and_wait(f"SELECT n FROM `{base}.v`")) == [1, 3]

    # The view follows its base table through a drop and re-create.
    bq_client.query(f"CREATE OR REPLACE TABLE `{base}.odds` AS SELECT 7 AS n").result()
    assert [r.n for r in bq_client.query_and_wait(f"SELECT n FROM `{base}.v`")] == []
    bq_client.query(f"INSERT INTO `{base}.odds` (n) VALUES (3)").result()
    assert [r.n for r in bq_client.query_and_wait(f"SELECT n FROM `{base}.v`")] == [3]

    bq_client.query(f"DROP VIEW `{base}.v`").result()
    bq_client.query(f"DROP TABLE `{base}.made`").result()
    bq_client.query(f"DROP TABLE IF EXISTS `{base}.made`").result()
    with pytest.raises(exceptions.NotFound):
        bq_client.get_table(f"{base}.made")


def test_dry_run(bq_client, numbers):
    job = bq_client.query(
        f"SELECT n, parity FROM `{numbers}`",
        job_config=bigquery.QueryJobConfig(dry_run=True, use_query_cache=False),
    )
    assert job.state == "DONE"
    assert job.total_bytes_processed > 0
    assert [f.name for f in job.schema] == ["n", "parity"]
    with pytest.raises(exceptions.NotFound):
        bq_client.get_job(job.job_id) if job.job_id else bq_client.get_job("never-stored")


def test_destination_table_dispositions(bq_client, bq_dataset, numbers):
    dest = f"{bq_client.project}.{bq_dataset}.dest"

    def run(disposition):
        config = bigquery.QueryJobConfig(destination=dest, write_disposition=disposition)
        return bq_client.query(f"SELECT n FROM `{numbers}` WHERE n < 3", job_config=config).result()

    assert [r.n for r in run("WRITE_EMPTY")] == [0, 1, 2]
    with pytest.raises(exceptions.Conflict):
        run("WRITE_EMPTY")
    run("WRITE_APPEND")
    assert bq_client.get_table(dest).num_rows == 6
    run("WRITE_TRUNCATE")
    assert bq_client.get_table(dest).num_rows == 3
    never = bigquery.QueryJobConfig(
        destination=f"{bq_client.project}.{bq_dataset}.never", create_disposition="CREATE_NEVER"
    )
    with pytest.raises(exceptions.NotFound):
        bq_client.query("SELECT 1 AS x", job_config=never).result()


def test_load_destination_dispositions_and_a_view(bq_client, bq_dataset, numbers):
    schema = [bigquery.SchemaField("n", "INTEGER")]

    def load(table, **dispositions):
        config = bigquery.LoadJobConfig(
            source_format="NEWLINE_DELIMITED_JSON", schema=schema, **dispositions
        )
        ref = f"{bq_client.project}.{bq_dataset}.{table}"
        return bq_client.load_table_from_file(io.BytesIO(b'{"n": 1}\n'), ref, job_config=config)

    load("loads", write_disposition="WRITE_EMPTY").result()
    with pytest.raises(exceptions.Conflict):
        load("loads", write_disposition="WRITE_EMPTY").result()
    with pytest.raises(exceptions.NotFound):
        load("missing", create_disposition="CREATE_NEVER").result()
    view = bigquery.Table(f"{bq_client.project}.{bq_dataset}.a_view")
    view.view_query = f"SELECT n FROM `{numbers}`"
    bq_client.create_table(view)
    with pytest.raises(exceptions.BadRequest, match="it is a VIEW"):
        load("a_view").result()
    with pytest.raises(exceptions.BadRequest, match="it is a VIEW"):
        bq_client.query(
            "SELECT 1 AS n", job_config=bigquery.QueryJobConfig(destination=view.reference)
        ).result()
    assert bq_client.get_table(f"{bq_client.project}.{bq_dataset}.loads").num_rows == 1


def test_query_errors(bq_client, bq_dataset):
    with pytest.raises(exceptions.BadRequest) as syntax:
        bq_client.query_and_wait("SELEC 1")
    assert syntax.value.errors[0]["reason"] == "invalidQuery"
    with pytest.raises(exceptions.NotFound):
        bq_client.query_and_wait(f"SELECT * FROM `{bq_dataset}.missing`")
    job = bq_client.query("SELECT nope FROM UNNEST([1]) AS x")
    with pytest.raises(exceptions.BadRequest):
        job.result()
    assert job.error_result["reason"] == "invalidQuery"
    assert job.error_result["message"] == "Unrecognized name: nope"


def test_jobs_get_list_cancel(bq_client, numbers):
    job = bq_client.query(
        f"SELECT COUNT(*) AS c FROM `{numbers}`", job_id=f"my_job_{id(numbers)}", job_retry=None
    )
    assert next(iter(job.result())).c == 250
    fetched = bq_client.get_job(job.job_id)
    assert fetched.state == "DONE" and fetched.query.startswith("SELECT COUNT")
    assert job.job_id in [j.job_id for j in bq_client.list_jobs(max_results=50)]
    assert bq_client.cancel_job(job.job_id).state == "DONE"
    with pytest.raises(exceptions.Conflict):
        bq_client.query("SELECT 1", job_id=job.job_id, job_retry=None)
    with pytest.raises(exceptions.NotFound):
        bq_client.get_job("no_such_job")


def test_information_schema(bq_client, bq_dataset, numbers):
    rows = list(
        bq_client.query_and_wait(
            f"SELECT table_name, table_type FROM `{bq_dataset}.INFORMATION_SCHEMA.TABLES`"
        )
    )
    assert [(r.table_name, r.table_type) for r in rows] == [("numbers", "BASE TABLE")]
    columns = list(
        bq_client.query_and_wait(
            f"SELECT column_name, data_type FROM `{bq_dataset}.INFORMATION_SCHEMA.COLUMNS` "
            "WHERE table_name = 'numbers' ORDER BY ordinal_position"
        )
    )
    assert [(c.column_name, c.data_type) for c in columns] == [
        ("n", "INT64"),
        ("parity", "STRING"),
        ("tags", "ARRAY<STRING>"),
    ]


def test_load_ndjson_with_autodetect_and_schema(bq_client, bq_dataset):
    ref = f"{bq_client.project}.{bq_dataset}.loaded"
    rows = [{"a": 1, "b": "x", "c": {"d": True}, "e": [1.5]}, {"a": 2, "b": "y"}]
    job = bq_client.load_table_from_json(rows, ref)
    job.result()
    assert job.output_rows == 2
    table = bq_client.get_table(ref)
    assert {f.name: f.field_type for f in table.schema} == {
        "a": "INTEGER", "b": "STRING", "c": "RECORD", "e": "FLOAT",
    }  # fmt: skip
    config = bigquery.LoadJobConfig(
        source_format="NEWLINE_DELIMITED_JSON",
        schema=table.schema,
        write_disposition="WRITE_TRUNCATE",
    )
    data = b'{"a": 10, "b": "z"}\n{"a": 11}\n'
    bq_client.load_table_from_file(io.BytesIO(data), ref, job_config=config).result()
    assert sorted(r.a for r in bq_client.list_rows(ref)) == [10, 11]

    bad = bq_client.load_table_from_file(
        io.BytesIO(b'{"a": "not int"}\n'),
        ref,
        job_config=bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON"),
    )
    with pytest.raises(exceptions.BadRequest):
        bad.result()
    assert bq_client.get_table(ref).num_rows == 2


def test_load_csv_multipart_and_resumable(bq_client, bq_dataset):
    ref = f"{bq_client.project}.{bq_dataset}.csv"
    schema = [bigquery.SchemaField("id", "INTEGER"), bigquery.SchemaField("name", "STRING")]
    config = bigquery.LoadJobConfig(source_format="CSV", skip_leading_rows=1, schema=schema)
    data = b'id,name\n1,alpha\n2,"be,ta"\n'
    # With a known size the client uses a multipart upload ...
    bq_client.load_table_from_file(
        io.BytesIO(data), ref, job_config=config, size=len(data)
    ).result()
    # ... without one, a resumable upload session.
    job = bq_client.load_table_from_file(io.BytesIO(b"id,name\n3,gamma\n"), ref, job_config=config)
    job.result()
    assert job.output_rows == 1
    assert sorted((r.id, r.name) for r in bq_client.list_rows(ref)) == [
        (1, "alpha"), (2, "be,ta"), (3, "gamma"),
    ]  # fmt: skip
    auto = f"{bq_client.project}.{bq_dataset}.csv_auto"
    bq_client.load_table_from_file(
        io.BytesIO(b"city,pop,big\nParis,2100000,true\nLyon,500000,false\n"),
        auto,
        job_config=bigquery.LoadJobConfig(source_format="CSV", autodetect=True),
    ).result()
    table = bq_client.get_table(auto)
    assert [(f.name, f.field_type) for f in table.schema] == [
        ("city", "STRING"), ("pop", "INTEGER"), ("big", "BOOLEAN"),
    ]  # fmt: skip
    assert table.num_rows == 2


def test_load_large_resumable_in_chunks(bq_client, bq_dataset, monkeypatch):
    from google.cloud.bigquery import client as client_module

    monkeypatch.setattr(client_module, "_DEFAULT_CHUNKSIZE", 256 * 1024)  # several PUTs
    ref = f"{bq_client.project}.{bq_dataset}.chunked"
    lines = b"".join(json.dumps({"i": i, "pad": "x" * 50}).encode() + b"\n" for i in range(20000))
    config = bigquery.LoadJobConfig(
        source_format="NEWLINE_DELIMITED_JSON",
        schema=[bigquery.SchemaField("i", "INTEGER"), bigquery.SchemaField("pad", "STRING")],
    )
    job = bq_client.load_table_from_file(io.BytesIO(lines), ref, job_config=config, num_retries=0)
    job.result()
    assert bq_client.get_table(ref).num_rows == 20000


def test_copy_jobs(bq_client, bq_dataset, numbers):
    dest = f"{bq_client.project}.{bq_dataset}.copy"
    bq_client.copy_table(numbers, dest).result()
    assert bq_client.get_table(dest).num_rows == 250
    with pytest.raises(exceptions.Conflict):
        bq_client.copy_table(numbers, dest).result()
    append = bigquery.CopyJobConfig(write_disposition="WRITE_APPEND")
    bq_client.copy_table(numbers, dest, job_config=append).result()
    assert bq_client.get_table(dest).num_rows == 500
    truncate = bigquery.CopyJobConfig(write_disposition="WRITE_TRUNCATE")
    bq_client.copy_table([numbers, numbers], dest, job_config=truncate).result()
    assert bq_client.get_table(dest).num_rows == 500
    assert [f.name for f in bq_client.get_table(dest).schema] == ["n", "parity", "tags"]


def test_extract_is_reported_as_unsupported(bq_client, numbers):
    job = bq_client.extract_table(numbers, "gs://bucket/out.json")
    with pytest.raises(exceptions.BadRequest) as error:
        job.result()
    assert "Cloud Storage" in error.value.message


def test_jobs_query_pages_and_get_query_results_start_index(bq_client, numbers):
    rows = bq_client.query_and_wait(f"SELECT n FROM `{numbers}` ORDER BY n", page_size=60)
    pages = [[r.n for r in page] for page in rows.pages]
    assert [len(p) for p in pages] == [60, 60, 60, 60, 10]
    assert sum(pages, []) == list(range(250))
    job = bq_client.query(f"SELECT n FROM `{numbers}` ORDER BY n")
    tail = list(job.result(start_index=245))
    assert [r.n for r in tail] == [245, 246, 247, 248, 249]


def test_alter_table(bq_client, bq_dataset):
    base = f"{bq_client.project}.{bq_dataset}"
    bq_client.query_and_wait(f"CREATE TABLE `{base}.alt` (id INT64 NOT NULL, old STRING)")
    bq_client.query_and_wait(f"INSERT INTO `{base}.alt` (id, old) VALUES (1, 'a')")
    job = bq_client.query(
        f"ALTER TABLE `{base}.alt` ADD COLUMN n FLOAT64, ADD COLUMN IF NOT EXISTS old STRING"
    )
    job.result()
    assert job.statement_type == "ALTER_TABLE" and job.ddl_operation_performed == "ALTER"
    bq_client.query_and_wait(f"ALTER TABLE `{base}.alt` RENAME COLUMN old TO label")
    bq_client.query_and_wait(f"ALTER TABLE `{base}.alt` ALTER COLUMN id DROP NOT NULL")
    bq_client.query_and_wait(
        f"ALTER TABLE `{base}.alt` SET OPTIONS (description = 'altered', labels = [('k', 'v')])"
    )
    table = bq_client.get_table(f"{base}.alt")
    assert [(f.name, f.field_type, f.mode) for f in table.schema] == [
        ("id", "INTEGER", "NULLABLE"),
        ("label", "STRING", "NULLABLE"),
        ("n", "FLOAT", "NULLABLE"),
    ]
    assert table.description == "altered" and table.labels == {"k": "v"}
    assert not bq_client.insert_rows_json(table, [{"id": 2, "label": "b", "n": 1.5}])
    bq_client.query_and_wait(f"ALTER TABLE `{base}.alt` DROP COLUMN label")
    bq_client.query_and_wait(f"ALTER TABLE `{base}.alt` RENAME TO alt2")
    rows = bq_client.query_and_wait(f"SELECT id, n FROM `{base}.alt2` ORDER BY id")
    assert [(r.id, r.n) for r in rows] == [(1, None), (2, 1.5)]
    with pytest.raises(exceptions.NotFound):
        bq_client.get_table(f"{base}.alt")
    with pytest.raises(exceptions.BadRequest):
        bq_client.query_and_wait(f"ALTER TABLE `{base}.alt2` ADD COLUMN n INT64")
    with pytest.raises(exceptions.NotFound):
        bq_client.query_and_wait(f"ALTER TABLE `{base}.missing` ADD COLUMN x INT64")
    bq_client.query_and_wait(f"ALTER TABLE IF EXISTS `{base}.missing` ADD COLUMN x INT64")


def test_repeated_queries_see_replaced_and_altered_tables(bq_client, bq_dataset):
    ref = f"{bq_client.project}.{bq_dataset}.changing"
    sql = f"SELECT * FROM `{ref}`"
    bq_client.query_and_wait(f"CREATE TABLE `{ref}` AS SELECT 1 AS a")
    assert [dict(r) for r in bq_client.query_and_wait(sql)] == [{"a": 1}]
    bq_client.query_and_wait(f"CREATE OR REPLACE TABLE `{ref}` AS SELECT 2 AS a")
    assert [dict(r) for r in bq_client.query_and_wait(sql)] == [{"a": 2}]
    bq_client.query_and_wait(f"ALTER TABLE `{ref}` ADD COLUMN b STRING")
    assert [dict(r) for r in bq_client.query_and_wait(sql)] == [{"a": 2, "b": None}]
    bq_client.delete_table(ref)
    with pytest.raises(exceptions.NotFound):
        bq_client.query_and_wait(sql)
