"""bench/null_pubsub.py, the publish benchmark's ceiling: the real client must work against it."""

import subprocess
import sys
from pathlib import Path

import pytest

from emulators.process import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def null_server(monkeypatch):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "null_pubsub.py"), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "null Pub/Sub server" in proc.stdout.readline()
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{port}")
        yield
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_publisher_client_gets_one_id_per_message_from_the_null_server(null_server):
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(max_messages=1000, max_latency=0.01)
    )
    subscriber = pubsub_v1.SubscriberClient()
    topic = "projects/bench-project/topics/ceiling"
    assert publisher.create_topic(name=topic).name == topic
    sub = subscriber.create_subscription(
        name="projects/bench-project/subscriptions/ceiling", topic=topic
    )
    assert sub.topic == topic
    futures = [publisher.publish(topic, b"x" * 1024) for _ in range(2500)]
    ids = [f.result(timeout=30) for f in futures]
    assert len(set(ids)) == 2500
    publisher.stop()
