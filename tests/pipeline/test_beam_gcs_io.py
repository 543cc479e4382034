"""Beam's file-based BigQuery paths, unmodified, against the stack with only its environment
variables: WriteToBigQuery(method=FILE_LOADS) (temp files in the emulated bucket, load jobs
from gs://, temp tables and copy jobs when there are several partitions) and
ReadFromBigQuery(method=EXPORT) (extract jobs to gs://, table= and query=, Avro and JSON)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

beam = pytest.importorskip("apache_beam")

from apache_beam.io.gcp.bigquery_file_loads import BigQueryBatchFileLoads  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402
from google.cloud import bigquery  # noqa: E402

from harness import clients  # noqa: E402
from pipeline.endpoints import use_emulators_from_env  # noqa: E402

SCHEMA = {"fields": [
    {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
    {"name": "name", "type": "STRING", "mode": "NULLABLE"},
    {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "day", "type": "DATE", "mode": "NULLABLE"},
    {"name": "amount", "type": "NUMERIC", "mode": "NULLABLE"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
]}


def _row(i: int) -> dict:
    return {"id": i, "name": f"n{i}", "ts": f"2024-05-01T10:00:{i % 60:02d}.5Z",
            "day": "2024-05-01", "amount": f"{i}.25", "tags": ["a", f"t{i}"]}


def _read_back(i: int) -> dict:
    """What ReadFromBigQuery(EXPORT, Avro with logical types) gives for ``_row(i)``."""
    return {"id": i, "name": f"n{i}",
            "ts": dt.datetime(2024, 5, 1, 10, 0, i % 60, 500000, tzinfo=dt.UTC),
            "day": dt.date(2024, 5, 1), "amount": decimal.Decimal(f"{i}.25"),
            "tags": ["a", f"t{i}"]}


@pytest.fixture
def stack_env(emulator_stack, monkeypatch):
    """The stack's variables, a project with a dataset and a temp bucket of its own."""
    project = f"beam-{uuid.uuid4().hex[:8]}"
    for key, value in emulator_stack.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
    assert use_emulators_from_env()
    bq = clients.bigquery(emulator_stack, project)
    bq.create_dataset("ds")
    bucket = clients.storage(emulator_stack, project).create_bucket(f"{project}-temp")
    options = PipelineOptions(["--project", project, "--temp_location",
                               f"gs://{bucket.name}/tmp", "--runner", "DirectRunner"])
    return project, bq, bucket, options


def test_file_loads_then_export_read_of_the_table(stack_env):
    project, bq, bucket, options = stack_env
    table = f"{project}:ds.rows"
    with beam.Pipeline(options=options) as p:
        _ = p | beam.Create([_row(i) for i in range(50)]) | beam.io.WriteToBigQuery(
            table, schema=SCHEMA, method=beam.io.WriteToBigQuery.Method.FILE_LOADS,
            create_disposition="CREATE_IF_NEEDED", write_disposition="WRITE_APPEND")
    assert bq.get_table(f"{project}.ds.rows").num_rows == 50
    loads = [j for j in bq.list_jobs() if j.job_type == "load"]
    assert loads and all(u.startswith(f"gs://{bucket.name}/tmp/") for u in loads[0].source_uris)
    with beam.Pipeline(options=options) as p:
        rows = p | beam.io.ReadFromBigQuery(table=table, method="EXPORT")
        assert_that(rows, equal_to([_read_back(i) for i in range(50)]))


def test_file_loads_with_several_partitions_go_through_temp_tables_and_copy_jobs(stack_env):
    project, bq, _bucket, options = stack_env
    table = f"{project}:ds.partitioned"
    with beam.Pipeline(options=options) as p:
        _ = p | beam.Create([_row(i) for i in range(40)], reshuffle=False) | BigQueryBatchFileLoads(
            table, schema=SCHEMA, create_disposition="CREATE_IF_NEEDED",
            write_disposition="WRITE_TRUNCATE", max_file_size=400, max_files_per_partition=2)
    got = sorted(r["id"] for r in bq.query_and_wait(f"SELECT id FROM `{project}.ds.partitioned`"))
    assert got == list(range(40))
    kinds = {j.job_type for j in bq.list_jobs()}
    assert {"load", "copy"} <= kinds
    # Beam drops its temp tables once they are copied.
    assert [t.table_id for t in bq.list_tables("ds")] == ["partitioned"]


@pytest.mark.parametrize("json_exports", [False, True])
def test_export_read_of_a_query(stack_env, json_exports):
    project, bq, bucket, options = stack_env
    table = f"{project}.ds.q"
    fields = [bigquery.SchemaField.from_api_repr(f) for f in SCHEMA["fields"]]
    bq.create_table(bigquery.Table(table, schema=fields))
    assert not bq.insert_rows_json(table, [_row(i) for i in range(20)])
    query = f"SELECT id, name FROM `{table}` WHERE id >= 15"
    with beam.Pipeline(options=options) as p:
        rows = p | beam.io.ReadFromBigQuery(query=query, use_standard_sql=True, method="EXPORT",
                                            use_json_exports=json_exports)
        assert_that(rows, equal_to([{"id": i, "name": f"n{i}"} for i in range(15, 20)]))
    # The extract files and Beam's temporary dataset are cleaned up (batch deletes).
    assert not [b.name for b in bucket.list_blobs() if "bigquery-table-dump" in b.name]
    assert [d.dataset_id for d in bq.list_datasets()] == ["ds"]
