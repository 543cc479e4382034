"""python -m pipeline.backfill and python -m pipeline.backup: unit tests of their pieces, and
runs against the emulator stack (Beam's DirectRunner, FILE_LOADS through the emulated bucket)."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import backfill, backup, samples, schema

# -- pieces -----------------------------------------------------------------------------------


@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    chunk=st.integers(1, 50),
    final_newline=st.booleans(),
)
def test_lines_of_any_chunking_gives_the_lines_back(lines, chunk, final_newline):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    expected = [line.removesuffix(b"\r") for line in lines]
    if lines and not final_newline and lines[-1] == b"":
        expected = expected[:-1]  # "a\n" and "a\n" + "" are the same file
    assert list(backfill.lines_of(io.BytesIO(data), chunk)) == expected


def test_numbered_lines_skip_blanks_but_keep_the_file_line_numbers():
    data = b'{"a": 1}\r\n\n   \n{"b": 2}\nlast'
    messages = list(backfill.numbered_lines("gs://b/f.ndjson", io.BytesIO(data), chunk_size=3))
    assert [(m.data, m.attributes["line_number"], m.message_id) for m in messages] == [
        (b'{"a": 1}', "1", "gs://b/f.ndjson:1"),
        (b'{"b": 2}', "4", "gs://b/f.ndjson:4"),
        (b"last", "5", "gs://b/f.ndjson:5"),
    ]
    assert messages[0].attributes["source_file"] == "gs://b/f.ndjson"


def test_merge_sql_inserts_every_column_once_per_key():
    sql = backfill.merge_sql("p:d.events", "p:d.events__backfill_x", schema.events_table_schema(),
                             backfill.EVENT_KEYS, "processing_time")
    columns = [f["name"] for f in schema.events_table_schema()["fields"]]
    assert sql.startswith("MERGE `p.d.events` AS T")
    assert "PARTITION BY `event_id`" in sql and "ON T.`event_id` = S.`event_id`" in sql
    assert sql.count("S.`") == len(columns) + 1


def test_load_row_turns_json_text_into_json_values():
    row = {"data": '{"a": 1}', "attributes": "{}", "reference": None, "event_id": "e"}
    assert backfill.load_row(row, ("data", "attributes", "reference")) == {
        "data": {"a": 1}, "attributes": {}, "reference": None, "event_id": "e"}


def test_backup_location_is_dated_per_table():
    location = backup.BackupLocation.dated("gs://bk/root/", dt.date(2024, 5, 1), "p:ds.events")
    assert location.uri("part-*.avro") == "gs://bk/root/2024-05-01/ds.events/part-*.avro"
    with pytest.raises(backup.BackupError, match="not a gs:// location"):
        backup.BackupLocation.parse("/tmp/backups")


@pytest.mark.parametrize(("module", "args", "says"), [
    ("pipeline.backfill", ["--output_table", "p:d.t"], "--input"),
    ("pipeline.backfill", ["--input", "x", "--output_table", "p:d.t", "--dead_letter_table",
                           "p:d.u", "--temp_location", "/tmp"], "--temp_location gs://"),
    ("pipeline.backup", ["restore", "--from", "/local", "--table", "p:d.t"], "not a gs://"),
    ("pipeline.backup", ["backup", "--tables", "nodots", "--to", "gs://b"], "PROJECT:DATASET"),
])
def test_cli_mistakes_are_one_sentence_and_exit_2(module, args, says):
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr


# -- against the stack ------------------------------------------------------------------------


@pytest.fixture
def batch_stack(provisioned_stack, monkeypatch):
    """The provisioned stack's variables set, and Beam's DoFn-spec cache (a local-run tuning)."""
    from harness import beam_local

    if provisioned_stack.storage is None:
        pytest.skip("this backend runs no Cloud Storage emulator")
    for key, value in provisioned_stack.endpoints.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", provisioned_stack.project)
    beam_local.apply("cached_dofn_specs")
    yield provisioned_stack
    beam_local.reset("cached_dofn_specs")


def _args(stack, pattern: str) -> list[str]:
    config = stack.config
    return [
        "--input", pattern,
        "--output_table", config.table_ref(config.pipeline["output_table"]),
        "--dead_letter_table", config.table_ref(config.pipeline["dead_letter_table"]),
        "--reference_table", config.table_ref(config.pipeline["reference_table"]),
        "--temp_location", config.gcs_path("temp_location"),
        "--project", stack.project,
    ]


def _ndjson(count: int, seed: int) -> tuple[bytes, int]:
    batch = samples.mixed_batch(count, bad_ratio=0.05, seed=seed)
    return b"".join(payload + b"\n" for payload, _ in batch), sum(1 for _, e in batch if e)


def _count(stack, sql: str) -> int:
    return next(iter(stack.bigquery.query_and_wait(sql)))[0]


@pytest.mark.integration
@pytest.mark.slow
def test_backfill_local_and_gcs_files_twice_adds_nothing_twice(batch_stack, tmp_path):
    stack = batch_stack
    local, bad_local = _ndjson(150, seed=1)
    (tmp_path / "day1.ndjson").write_bytes(local)
    remote, bad_remote = _ndjson(150, seed=2)
    bucket = stack.storage.bucket(stack.bucket("{project}-batch"))
    bucket.blob("incoming/day2.ndjson").upload_from_string(remote)
    first = backfill.run(_args(stack, str(tmp_path / "*.ndjson")))
    assert (first["rows"], first["dead_letters"]) == (150 - bad_local, bad_local)
    second = backfill.run(_args(stack, f"gs://{bucket.name}/incoming/*.ndjson"))
    assert second["lines"] == 150 and second["dead_letters"] == bad_remote
    again = backfill.run(_args(stack, f"gs://{bucket.name}/incoming/*.ndjson"))
    assert again["rows_added"] == 0 and again["dead_letters_added"] == 0
    assert again["rows_already_there"] == 150 - bad_remote
    assert stack.landed() == (300 - bad_local - bad_remote, bad_local + bad_remote)
    dead = next(iter(stack.bigquery.query_and_wait(
        f"SELECT message_id, attributes, raw_payload FROM `{stack.dead_letter_table}` "
        f"WHERE message_id LIKE 'gs://%' ORDER BY message_id LIMIT 1")))
    path, _, line = dead["message_id"].rpartition(":")
    assert dead["attributes"] == {"source_file": path, "line_number": line}
    assert remote.split(b"\n")[int(line) - 1] == dead["raw_payload"]
    # Staging tables are gone once merged.
    tables = {t.table_id for t in stack.bigquery.list_tables(f"{stack.project}.analytics")}
    assert tables == {"events", "events_dlq", "sources"}


def _with_layout(table):
    from google.cloud import bigquery

    table.time_partitioning = bigquery.TimePartitioning(field="event_date")
    table.clustering_fields = ["source"]
    return table


def _snapshot(stack, table: str, key: str) -> list[dict]:
    return [dict(r) for r in stack.bigquery.query_and_wait(
        f"SELECT * FROM `{table}` ORDER BY {key}")]


@pytest.mark.integration
@pytest.mark.slow
def test_backup_drop_restore_round_trip_is_identical(batch_stack, capsys):
    stack = batch_stack
    data, _ = _ndjson(120, seed=5)
    bucket = stack.storage.bucket(stack.bucket("{project}-batch"))
    bucket.blob("incoming/b.ndjson").upload_from_string(data)
    backfill.run(_args(stack, f"gs://{bucket.name}/incoming/*.ndjson"))
    tables = {stack.events_table: "event_id", stack.dead_letter_table: "message_id"}
    before = {t: _snapshot(stack, t, key) for t, key in tables.items()}
    stack.bigquery.update_table(_with_layout(stack.bigquery.get_table(stack.events_table)),
                                ["time_partitioning", "clustering_fields"])
    root = stack.config.gcs_path("backup_location")
    assert backup.main(["backup", "--tables", ",".join(tables), "--to", root,
                        "--date", "2024-05-01"]) == 0
    assert backup.main(["backup", "--tables", stack.events_table, "--to", root,
                        "--date", "2024-05-01"]) == 2  # that day's backup is kept
    original_schema = stack.bigquery.get_table(stack.events_table).schema
    for table in tables:
        stack.bigquery.delete_table(table)
    for table in tables:
        name = table.split(".", 1)[1]
        assert backup.main(["restore", "--from", f"{root}/2024-05-01/{name}",
                            "--table", table]) == 0
        assert _snapshot(stack, table, tables[table]) == before[table]
    restored = stack.bigquery.get_table(stack.events_table)
    assert restored.time_partitioning.field == "event_date"  # from table.json
    assert restored.clustering_fields == ["source"]
    assert restored.schema == original_schema  # JSON columns, modes, descriptions
    assert backup.main(["restore", "--from", f"{root}/2024-05-01/analytics.events",
                        "--table", stack.events_table]) == 2  # not into a table with rows
    capsys.readouterr()
    assert backup.main(["list", "--to", root]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {e["table"] for e in listed} == {t for t in tables}
