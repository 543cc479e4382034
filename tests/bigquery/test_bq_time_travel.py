"""Point-in-time recovery in the BigQuery own_bq_emulator, with the real client: FOR SYSTEM_TIME AS OF,
table snapshots and clones, restoring a deleted table with ``tableId@<millis>``, BigQuery's
errors past the window, and all of it after ``kill -9`` with ``--data-dir``."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from google.api_core import exceptions
from google.cloud import bigquery

from emulators.bigquery.service import BigQueryService
from tests.support.bigquery import PROJECT, make_client, start_emulator, stop_emulator

pytestmark = pytest.mark.integration


def moment() -> datetime:
    """Now, between two changes (the history is kept to the millisecond)."""
    time.sleep(0.02)
    at = datetime.now(timezone.utc)
    time.sleep(0.02)
    return at


def query(client, sql: str, **params) -> list[dict]:
    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter(k, "TIMESTAMP", v) for k, v in params.items()])
    return [dict(r.items()) for r in client.query(sql, job_config=config).result()]


def ids(client, sql: str, **params) -> list[int]:
    return sorted(r["n"] for r in query(client, sql, **params))


@pytest.fixture
def history(own_bq_emulator):
    """A table with a past: two appends, a DELETE and an UPDATE, and the moments between."""
    client = make_client(own_bq_emulator.url)
    dataset = f"tt_{uuid.uuid4().hex[:8]}"
    client.create_dataset(dataset)
    ref = f"{PROJECT}.{dataset}.events"
    client.create_table(bigquery.Table(ref, schema=[
        bigquery.SchemaField("n", "INTEGER"), bigquery.SchemaField("v", "STRING")]))
    times = {"created": moment()}
    assert client.insert_rows_json(ref, [{"n": i, "v": "a"} for i in range(1, 4)]) == []
    times["first"] = moment()
    assert client.insert_rows_json(ref, [{"n": i, "v": "b"} for i in range(4, 7)]) == []
    times["second"] = moment()
    client.query(f"DELETE FROM `{ref}` WHERE n <= 2").result()
    times["deleted"] = moment()
    client.query(f"UPDATE `{ref}` SET v = 'z' WHERE n = 6").result()
    assert client.insert_rows_json(ref, [{"n": 7, "v": "c"}]) == []
    times["now"] = moment()
    return client, dataset, ref, times


def test_for_system_time_as_of_reads_the_past(history):
    client, _, ref, t = history
    at = f"SELECT n FROM `{ref}` FOR SYSTEM_TIME AS OF @t"
    assert ids(client, at, t=t["created"]) == []
    assert ids(client, at, t=t["first"]) == [1, 2, 3]
    assert ids(client, at, t=t["second"]) == [1, 2, 3, 4, 5, 6]
    assert ids(client, at, t=t["deleted"]) == [3, 4, 5, 6]
    assert ids(client, at, t=t["now"]) == [3, 4, 5, 6, 7]
    assert ids(client, f"SELECT n FROM `{ref}`") == [3, 4, 5, 6, 7]
    before_update = query(client, f"SELECT v FROM `{ref}` FOR SYSTEM_TIME AS OF @t WHERE n = 6",
                          t=t["deleted"])
    assert before_update == [{"v": "b"}]
    # a literal and an expression work too, joined with the table as it is now
    literal = t["first"].strftime("%Y-%m-%d %H:%M:%S.%f+00")
    rows = query(client, f"SELECT old.n FROM `{ref}` AS old FOR SYSTEM_TIME AS OF '{literal}' "
                         f"JOIN `{ref}` AS cur USING (n)")
    assert sorted(r["n"] for r in rows) == [3]
    rows = query(client, f"SELECT COUNT(*) AS c FROM `{ref}` FOR SYSTEM_TIME AS OF "
                         "TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 MILLISECOND)")
    assert rows[0]["c"] == 5


def test_reads_outside_the_window_fail_as_bigquery_fails_them(history):
    client, dataset, ref, t = history
    at = f"SELECT n FROM `{ref}` FOR SYSTEM_TIME AS OF @t"
    with pytest.raises(exceptions.BadRequest, match=r"Invalid snapshot time \d+ for table "
                       rf"{PROJECT}:{dataset}\.events\. Cannot read before \d+"):
        ids(client, at, t=t["created"] - timedelta(hours=1))
    with pytest.raises(exceptions.BadRequest, match="Cannot read after"):
        ids(client, at, t=datetime.now(timezone.utc) + timedelta(hours=1))
    client.query(f"CREATE VIEW `{PROJECT}.{dataset}.v` AS SELECT n FROM `{ref}`").result()
    with pytest.raises(exceptions.BadRequest, match="cannot be used with view"):
        ids(client, f"SELECT n FROM `{PROJECT}.{dataset}.v` FOR SYSTEM_TIME AS OF @t",
            t=t["now"])
    with pytest.raises(exceptions.NotFound):
        ids(client, f"SELECT n FROM `{PROJECT}.{dataset}.nope` FOR SYSTEM_TIME AS OF @t",
            t=t["now"])


def test_snapshots_are_read_only_and_clones_restore_them(history):
    client, dataset, ref, t = history
    snap = f"{PROJECT}.{dataset}.events_snap"
    job = client.query(f"CREATE SNAPSHOT TABLE `{snap}` CLONE `{ref}` FOR SYSTEM_TIME AS OF @t "
                       "OPTIONS(expiration_timestamp = TIMESTAMP '2099-01-01 00:00:00+00', "
                       "description = 'before the bad deploy')",
                       job_config=bigquery.QueryJobConfig(query_parameters=[
                           bigquery.ScalarQueryParameter("t", "TIMESTAMP", t["second"])]))
    job.result()
    assert job.statement_type == "CREATE_SNAPSHOT_TABLE"
    table = client.get_table(snap)
    assert table.table_type == "SNAPSHOT" and table.num_rows == 6
    assert table.snapshot_definition.base_table_reference.table_id == "events"
    assert abs(table.snapshot_definition.snapshot_time - t["second"]) < timedelta(seconds=1)
    assert table.expires.year == 2099 and table.description == "before the bad deploy"
    assert ids(client, f"SELECT n FROM `{snap}`") == [1, 2, 3, 4, 5, 6]
    assert len(list(client.list_rows(snap))) == 6
    with pytest.raises(exceptions.BadRequest, match="type SNAPSHOT"):
        client.insert_rows_json(snap, [{"n": 99}])
    with pytest.raises(exceptions.BadRequest, match="read-only"):
        client.query(f"DELETE FROM `{snap}` WHERE TRUE").result()
    with pytest.raises(exceptions.Conflict):
        client.query(f"CREATE SNAPSHOT TABLE `{snap}` CLONE `{ref}`").result()
    client.query(f"CREATE SNAPSHOT TABLE IF NOT EXISTS `{snap}` CLONE `{ref}`").result()

    restored = f"{PROJECT}.{dataset}.events_restored"
    client.query(f"CREATE TABLE `{restored}` CLONE `{snap}`").result()
    clone = client.get_table(restored)
    assert clone.table_type == "TABLE" and clone.clone_definition.base_table_reference.table_id \
        == "events_snap"
    assert client.insert_rows_json(restored, [{"n": 8}]) == []
    assert ids(client, f"SELECT n FROM `{restored}`") == [1, 2, 3, 4, 5, 6, 8]
    # the table itself, put back to a point in time in one statement
    client.query(f"CREATE OR REPLACE TABLE `{ref}` CLONE `{ref}` FOR SYSTEM_TIME AS OF @t",
                 job_config=bigquery.QueryJobConfig(query_parameters=[
                     bigquery.ScalarQueryParameter("t", "TIMESTAMP", t["first"])])).result()
    assert ids(client, f"SELECT n FROM `{ref}`") == [1, 2, 3]
    client.query(f"DROP SNAPSHOT TABLE `{snap}`").result()
    with pytest.raises(exceptions.NotFound):
        client.get_table(snap)
    with pytest.raises(exceptions.BadRequest, match="not a table snapshot"):
        client.query(f"DROP SNAPSHOT TABLE `{restored}`").result()


def test_a_deleted_table_comes_back_with_a_decorated_copy(history):
    client, dataset, ref, t = history
    deleted_at = moment()
    client.delete_table(ref)
    with pytest.raises(exceptions.NotFound):
        client.get_table(ref)
    millis = int(deleted_at.timestamp() * 1000) - 1
    back = f"{PROJECT}.{dataset}.events_back"
    client.copy_table(f"{ref}@{millis}", back).result()
    assert ids(client, f"SELECT n FROM `{back}`") == [3, 4, 5, 6, 7]
    relative = f"{PROJECT}.{dataset}.events_back2"
    ago = int((datetime.now(timezone.utc) - t["second"]).total_seconds() * 1000)
    client.copy_table(f"{ref}@-{ago}", relative).result()
    assert ids(client, f"SELECT n FROM `{relative}`") == [1, 2, 3, 4, 5, 6]
    with pytest.raises(exceptions.NotFound, match="was deleted"):
        client.copy_table(f"{ref}@{int(time.time() * 1000)}", f"{back}_late").result()
    # the copy job API's snapshot operation
    config = bigquery.CopyJobConfig(operation_type="SNAPSHOT")
    client.copy_table(back, f"{PROJECT}.{dataset}.back_snap", job_config=config).result()
    assert client.get_table(f"{PROJECT}.{dataset}.back_snap").table_type == "SNAPSHOT"
    restore = bigquery.CopyJobConfig(operation_type="RESTORE")
    client.copy_table(f"{PROJECT}.{dataset}.back_snap", f"{PROJECT}.{dataset}.again",
                      job_config=restore).result()
    assert client.get_table(f"{PROJECT}.{dataset}.again").table_type == "TABLE"


def test_the_window_is_the_datasets(own_bq_emulator):
    client = make_client(own_bq_emulator.url)
    name = f"tt_window_{uuid.uuid4().hex[:6]}"
    # the client checks multiples of 24 itself; the emulator checks the rest of the range too
    for bad in ("100", "24", "192", "soon"):
        response = requests.post(
            f"{own_bq_emulator.url}/bigquery/v2/projects/{PROJECT}/datasets",
            json={"datasetReference": {"datasetId": name}, "maxTimeTravelHours": bad}, timeout=10)
        assert response.status_code == 400 and "maxTimeTravelHours" in response.text
    dataset = bigquery.Dataset(f"{PROJECT}.{name}")
    dataset.max_time_travel_hours = 48
    client.create_dataset(dataset)
    assert client.get_dataset(dataset.reference).max_time_travel_hours == 48


def test_the_window_passes_and_old_versions_go():
    """In-process, with the history's clock moved on: past 48 h nothing before is readable,
    and the retired table's data is dropped."""
    service = BigQueryService()
    catalog = service.catalog
    catalog.create_dataset(PROJECT, {"datasetReference": {"datasetId": "d"},
                                     "maxTimeTravelHours": "48"})  # fmt: skip
    table = catalog.create_table(PROJECT, "d", {
        "tableReference": {"tableId": "t"}, "schema": {"fields": [{"name": "n",
                                                                    "type": "INTEGER"}]}})
    service.insert_all(PROJECT, "d", "t", {"rows": [{"json": {"n": 1}}]})
    history = catalog.history
    real = history.clock
    created = real()
    history.clock = lambda: real() + 47 * 3600 * 1000
    assert history.read_at(table.ref, created + 1, current_only=True)[2] == 1
    catalog.delete_table(PROJECT, "d", "t")  # deleted at +47 h: restorable until +95 h
    history.clock = lambda: real() + 49 * 3600 * 1000
    with pytest.raises(Exception, match="Cannot read before"):
        history.read_at(table.ref, created + 1, current_only=False)
    assert history.read_at(table.ref, real() + 46 * 3600 * 1000, current_only=False)[2] == 1
    assert history.sweep(force=True) == 0
    history.clock = lambda: real() + 96 * 3600 * 1000
    assert history.sweep(force=True) == 1
    assert table.ref not in history.incarnations
    service.close()


@pytest.mark.slow
def test_history_survives_kill_9(tmp_path):
    server = start_emulator("--data-dir", str(tmp_path))
    client = make_client(server.url)
    client.create_dataset("d")
    ref = f"{PROJECT}.d.t"
    client.create_table(bigquery.Table(ref, schema=[bigquery.SchemaField("n", "INTEGER")]))
    assert client.insert_rows_json(ref, [{"n": 1}, {"n": 2}]) == []
    first = moment()
    assert client.insert_rows_json(ref, [{"n": 3}]) == []
    client.query(f"DELETE FROM `{ref}` WHERE n = 1").result()
    second = moment()
    client.query(f"CREATE TABLE `{PROJECT}.d.gone` AS SELECT 42 AS n").result()
    before_drop = moment()
    client.delete_table(f"{PROJECT}.d.gone")
    server.process.kill()
    server.process.wait()
    server = start_emulator("--data-dir", str(tmp_path))
    try:
        client = make_client(server.url)
        at = f"SELECT n FROM `{ref}` FOR SYSTEM_TIME AS OF @t"
        assert ids(client, at, t=first) == [1, 2]
        assert ids(client, at, t=second) == [2, 3]
        assert client.insert_rows_json(ref, [{"n": 4}]) == []
        assert ids(client, at, t=second) == [2, 3]
        millis = int(before_drop.timestamp() * 1000)
        client.copy_table(f"{PROJECT}.d.gone@{millis}", f"{PROJECT}.d.back").result()
        assert ids(client, f"SELECT n FROM `{PROJECT}.d.back`") == [42]
    finally:
        stop_emulator(server)
