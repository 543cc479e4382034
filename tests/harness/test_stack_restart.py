"""``Stack.crash`` / ``Stack.kill`` / ``Stack.restart`` on the embedded backend: SIGKILL the
emulators (or one), start them again with their own arguments on the same ports and data (what
the drill's scenario d does with the pipeline running; tests/containers does the same on
volumes)."""

from __future__ import annotations

import pytest
from google.cloud import bigquery

from harness import clients, traffic
from harness.stack import Stack, StackError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_crash_and_restart_keep_ports_and_everything_acknowledged(tmp_path):
    with Stack(run_dir=tmp_path / "run", data_dir=tmp_path / "data") as stack:
        before = stack.endpoints
        pids = [p.pid for p in stack.processes]
        publisher = clients.publisher(before)
        publisher.create_topic(name="projects/restart-test/topics/kept-topic")
        subscriber = clients.subscriber(before)
        subscriber.create_subscription(name="projects/restart-test/subscriptions/kept-sub",
                                       topic="projects/restart-test/topics/kept-topic")
        traffic.publish(publisher, "projects/restart-test/topics/kept-topic", [b"kept"])
        bq = clients.bigquery(before, "restart-test")
        bq.create_dataset("d")
        bq.create_table(bigquery.Table("restart-test.d.t", schema=[bigquery.SchemaField("n", "INTEGER")]))
        assert bq.insert_rows_json("restart-test.d.t", [{"n": 1}]) == []

        stack.crash()
        assert not any(p.running() for p in stack.processes)
        after = stack.restart()

        assert after == before
        assert [p.pid for p in stack.processes] != pids
        # the same clients, reconnected: nothing acknowledged was lost
        pulled = subscriber.pull(subscription="projects/restart-test/subscriptions/kept-sub",
                                 max_messages=5, timeout=30)
        assert [m.message.data for m in pulled.received_messages] == [b"kept"]
        assert traffic.count_rows(bq, "restart-test.d.t") == 1


def test_a_killed_emulator_restarts_on_its_port_and_data(tmp_path):
    with Stack(data_dir=tmp_path / "data") as stack:
        before = stack.endpoints
        bigquery = clients.bigquery(before, "restart-project")
        bigquery.create_dataset("restart-project.kept")
        old_pid = next(p for p in stack.processes if p.name == "bigquery").pid
        stack.kill("bigquery")
        assert "bigquery" in before.unanswered()

        after = stack.restart("bigquery")
        assert after == before  # same ports
        restarted = next(p for p in stack.processes if p.name == "bigquery")
        assert restarted.pid != old_pid
        # its own arguments again: BigQuery still reads gs:// through the storage emulator
        assert "--storage-endpoint" in restarted.argv
        assert after.bigquery_storage and before.bigquery_storage == after.bigquery_storage
        assert [d.dataset_id for d in clients.bigquery(after, "restart-project").list_datasets()] \
            == ["kept"]
        with pytest.raises(StackError, match="no nosuch emulator"):
            stack.kill("nosuch")
