"""Pub/Sub: requests of any size get INVALID_ARGUMENT (never the transport's RESOURCE_EXHAUSTED,
which the client retries forever), the server keeps serving, and nothing is written outside
--data-dir."""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from tests.support.security import assert_no_stray_files, start

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pubsub(tmp_path_factory, monkeypatch_module):
    server = start("emulators.pubsub", tmp_path_factory.mktemp("pubsub"))
    monkeypatch_module.setenv("PUBSUB_EMULATOR_HOST", server.address)
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.create_topic(name="projects/sec-project/topics/big").name
    subscription = subscriber.create_subscription(
        name="projects/sec-project/subscriptions/big-sub", topic=topic
    ).name
    yield server, publisher, subscriber, topic, subscription
    try:
        assert publisher.api.publish(topic=topic, messages=[{"data": b"still here"}]).message_ids
        assert_no_stray_files(server, prefix="pubsub.sqlite3")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


@pytest.mark.parametrize("size", [10_000_001, 70 << 20])  # the second is past gRPC's old 64 MB cap
def test_oversize_publish(pubsub, size):
    _, publisher, _, topic, _ = pubsub
    with pytest.raises(exceptions.InvalidArgument) as error:
        publisher.api.publish(
            topic=topic, messages=[{"data": b"x" * size}], retry=None, timeout=120
        )
    assert error.value.message.startswith("The value for request_size is too large. You passed ")
    assert error.value.message.endswith(" but the maximum value is 10000000.")


def test_oversize_acknowledge_and_modify_ack_deadline(pubsub):
    _, _, subscriber, _, subscription = pubsub
    message = "Request payload size exceeds the limit: 524288 bytes."
    ack_ids = ["a" * 1000] * 600
    with pytest.raises(exceptions.InvalidArgument) as error:
        subscriber.api.acknowledge(subscription=subscription, ack_ids=ack_ids, retry=None)
    assert error.value.message == message
    with pytest.raises(exceptions.InvalidArgument) as error:
        subscriber.api.modify_ack_deadline(
            subscription=subscription, ack_ids=ack_ids, ack_deadline_seconds=10, retry=None
        )
    assert error.value.message == message


def test_oversize_other_requests(pubsub):
    _, publisher, _, _, _ = pubsub
    with pytest.raises(exceptions.InvalidArgument) as error:
        publisher.api.create_topic(
            request={
                "name": "projects/sec-project/topics/labels",
                "labels": {"k": "v" * (11 << 20)},
            },
            retry=None,
        )
    assert error.value.message == "Request payload size exceeds the limit: 10485760 bytes."
