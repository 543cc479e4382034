"""``Stack.crash`` / ``Stack.restart``: kill -9 both emulators and bring them back on the same
ports with their data (what the drill's scenario d does with the pipeline running)."""

from __future__ import annotations

import pytest
from google.cloud import bigquery

from harness import clients, traffic
from harness.stack import Stack

pytestmark = pytest.mark.integration


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
