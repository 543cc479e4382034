"""Acknowledged writes survive kill -9 and a restart on the same --data-dir."""

from __future__ import annotations

import io
import signal

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

from tests.support.bigquery import make_client, start_emulator, stop_emulator

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _kill_9(emulator) -> None:
    emulator.process.send_signal(signal.SIGKILL)
    emulator.process.wait()


def test_data_survives_kill_9(tmp_path):
    data_dir = str(tmp_path / "bq")
    first = start_emulator("--data-dir", data_dir)
    try:
        client = make_client(first.url)
        client.create_dataset("durable")
        ref = f"{client.project}.durable.events"
        table = bigquery.Table(
            ref,
            schema=[
                bigquery.SchemaField("id", "INTEGER", mode="REQUIRED"),
                bigquery.SchemaField("rec", "RECORD", fields=[bigquery.SchemaField("x", "STRING")]),
            ],
        )
        table.description = "kept"
        client.create_table(table)
        assert not client.insert_rows_json(
            ref,
            [{"id": i, "rec": {"x": str(i)}} for i in range(100)],
            row_ids=[f"row-{i}" for i in range(100)],
        )
        client.query_and_wait(f"DELETE FROM `{ref}` WHERE id >= 90")
        client.load_table_from_file(
            io.BytesIO(b'{"id": 500}\n'),
            ref,
            job_config=bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON"),
        ).result()
        client.query_and_wait(
            f"CREATE VIEW `{client.project}.durable.v` (ident) AS SELECT id FROM `{ref}`"
        )
    finally:
        _kill_9(first)

    second = start_emulator("--data-dir", data_dir)
    try:
        client = make_client(second.url)
        restored = client.get_table(ref)
        assert restored.description == "kept" and restored.num_rows == 91
        assert [f.name for f in restored.schema] == ["id", "rec"]
        ids = sorted(r["id"] for r in client.list_rows(ref))
        assert ids == [*range(90), 500]
        # insertIds acknowledged before the crash still de-duplicate after the restart.
        assert not client.insert_rows_json(ref, [{"id": 7}, {"id": 1000}], row_ids=["row-7", "new"])
        ids = sorted(r["id"] for r in client.list_rows(ref))
        assert ids == [*range(90), 500, 1000]
        count = next(
            iter(
                client.query_and_wait(f"SELECT COUNT(ident) AS c FROM `{client.project}.durable.v`")
            )
        )
        assert count.c == 92  # the view's column list survives the restart too
        assert "durable" in [d.dataset_id for d in client.list_datasets()]
    finally:
        stop_emulator(second)
    assert second.process.returncode == 0


def test_sigterm_exits_cleanly():
    emulator = start_emulator()
    emulator.process.send_signal(signal.SIGTERM)
    assert emulator.process.wait(timeout=15) == 0


def test_deleted_jobs_stay_deleted_and_ids_are_stable_across_restarts(tmp_path):
    """jobs.delete is persisted; projects.list's numericId does not change with the process
    (Python's hash() of a string is salted per process)."""
    data_dir = str(tmp_path / "bq")
    first = start_emulator("--data-dir", data_dir)
    try:
        client = make_client(first.url)
        kept = client.query("SELECT 1", job_id="kept_job", job_retry=None)
        gone = client.query("SELECT 2", job_id="deleted_job", job_retry=None)
        kept.result(), gone.result()
        client.delete_job_metadata(gone.job_id)
        numeric = {p.project_id: p.numeric_id for p in client.list_projects()}
    finally:
        _kill_9(first)

    second = start_emulator("--data-dir", data_dir)
    try:
        client = make_client(second.url)
        assert client.get_job("kept_job").state == "DONE"
        with pytest.raises(exceptions.NotFound):
            client.get_job("deleted_job")
        assert "deleted_job" not in [j.job_id for j in client.list_jobs()]
        assert {p.project_id: p.numeric_id for p in client.list_projects()} == numeric
    finally:
        stop_emulator(second)
