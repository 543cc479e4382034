"""Fixtures: our Pub/Sub emulator as a process, real clients, and the REST edge on a real socket."""

from __future__ import annotations

import uuid

import pytest

from emulators.process import ServerProcess
from harness import clients
from harness.stack import Endpoints


@pytest.fixture(scope="module")
def pubsub_host():
    proc = ServerProcess.emulator("pubsub")
    yield proc.address
    proc.stop()


@pytest.fixture(scope="module")
def pubsub_clients(pubsub_host):
    ends = Endpoints(pubsub_host, "")
    publisher, subscriber = clients.publisher(ends), clients.subscriber(ends)
    yield publisher, subscriber
    subscriber.close()


@pytest.fixture
def topic(pubsub_clients):
    """A fresh topic with one subscription: ``(topic, subscription)``."""
    publisher, subscriber = pubsub_clients
    name = uuid.uuid4().hex[:10]
    topic = f"projects/ingest-test/topics/events-{name}"
    sub = f"projects/ingest-test/subscriptions/events-{name}"
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic)
    return topic, sub


@pytest.fixture
def edge(pubsub_host, topic):
    """``edge(raw_config: dict, allow_unauthenticated=False, pubsub=host) -> BackgroundServer``
    serving on 127.0.0.1; stopped after the test."""
    from ingest.config import parse
    from ingest.server import BackgroundServer, build_service

    servers = []

    def start(raw: dict | None = None, allow_unauthenticated: bool = False,
              pubsub: str | None = None) -> BackgroundServer:
        service = build_service(topic[0], parse(raw or {}), allow_unauthenticated,
                                emulator_host=pubsub or pubsub_host)
        server = BackgroundServer(service).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
