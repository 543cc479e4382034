"""Publish, pull, streaming pull, acks, deadlines and redelivery with the real clients."""

from __future__ import annotations

import threading
import time

import pytest
from google.cloud import pubsub_v1

from tests.support.pubsub import clients

pytestmark = pytest.mark.integration


def test_publish_and_pull_roundtrip(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    ids = pubsub_target.publish(topic, b"hello", b"world", source="test")
    assert len(set(ids)) == 2
    got = pubsub_target.pull(sub, expect=2)
    assert sorted(m.message.data for m in got) == [b"hello", b"world"]
    for m in got:
        assert m.message.attributes["source"] == "test"
        assert m.message.message_id in ids
        assert m.message.publish_time.timestamp() > time.time() - 60
        assert m.delivery_attempt == 0  # no dead-letter policy
    pubsub_target.subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in got])
    resp = pubsub_target.subscriber.pull(
        request={"subscription": sub, "max_messages": 10, "return_immediately": True}
    )
    assert not resp.received_messages


def test_every_subscription_gets_a_copy(pubsub_target):
    topic = pubsub_target.topic()
    subs = [pubsub_target.subscription(topic) for _ in range(3)]
    pubsub_target.publish(topic, b"fan-out")
    for sub in subs:
        [msg] = pubsub_target.pull(sub)
        assert msg.message.data == b"fan-out"


def test_subscription_only_sees_messages_after_creation(pubsub_target):
    topic = pubsub_target.topic()
    pubsub_target.publish(topic, b"before")
    sub = pubsub_target.subscription(topic)
    pubsub_target.publish(topic, b"after")
    got = pubsub_target.pull(sub)
    assert [m.message.data for m in got] == [b"after"]


def test_batching_publisher(pubsub_target):
    publisher, _ = clients(
        pubsub_target.host,
        batch_settings=pubsub_v1.types.BatchSettings(max_messages=50, max_latency=0.05),
    )
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    futures = [publisher.publish(topic, f"m{i}".encode(), i=str(i)) for i in range(300)]
    ids = [f.result(timeout=30) for f in futures]
    assert len(set(ids)) == 300
    got = pubsub_target.pull(sub, max_messages=1000, expect=300)
    assert sorted(int(m.message.attributes["i"]) for m in got) == list(range(300))


def test_nack_redelivers(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    pubsub_target.publish(topic, b"again")
    [first] = pubsub_target.pull(sub)
    pubsub_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[first.ack_id], ack_deadline_seconds=0
    )
    [second] = pubsub_target.pull(sub)
    assert second.message.message_id == first.message.message_id
    assert second.ack_id != first.ack_id


def test_expired_deadline_redelivers(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    pubsub_target.publish(topic, b"slow")
    [first] = pubsub_target.pull(sub)
    pubsub_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[first.ack_id], ack_deadline_seconds=1
    )
    [second] = pubsub_target.pull(sub, timeout=15)
    assert second.message.message_id == first.message.message_id


def test_extended_deadline_holds_message(ours_target):
    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    ours_target.publish(topic, b"held")
    [msg] = ours_target.pull(sub)
    ours_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[msg.ack_id], ack_deadline_seconds=60
    )
    time.sleep(0.3)
    resp = ours_target.subscriber.pull(
        request={"subscription": sub, "max_messages": 10, "return_immediately": True}
    )
    assert not resp.received_messages
    ours_target.subscriber.acknowledge(subscription=sub, ack_ids=[msg.ack_id])


def test_streaming_pull_flow_control(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    total, limit = 60, 5
    pubsub_target.publisher.api.publish(
        topic=topic, messages=[{"data": str(i).encode()} for i in range(total)]
    )
    lock = threading.Lock()
    state = {"in_flight": 0, "max": 0, "seen": set()}
    done = threading.Event()

    def callback(message):
        with lock:
            state["in_flight"] += 1
            state["max"] = max(state["max"], state["in_flight"])
        time.sleep(0.01)
        with lock:
            state["in_flight"] -= 1
            state["seen"].add(message.data)
            if len(state["seen"]) == total:
                done.set()
        message.ack()

    _, subscriber = clients(pubsub_target.host)
    future = subscriber.subscribe(
        sub, callback, flow_control=pubsub_v1.types.FlowControl(max_messages=limit)
    )
    try:
        assert done.wait(30), f"received {len(state['seen'])} of {total}"
    finally:
        future.cancel()
        subscriber.close()
    assert 1 <= state["max"] <= limit


def test_streaming_pull_nack_redelivers(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    pubsub_target.publish(topic, b"nack-me")
    attempts = []
    done = threading.Event()

    def callback(message):
        attempts.append(message.message_id)
        if len(attempts) < 3:
            message.nack()
        else:
            message.ack()
            done.set()

    _, subscriber = clients(pubsub_target.host)
    future = subscriber.subscribe(sub, callback)
    try:
        assert done.wait(30)
    finally:
        future.cancel()
        subscriber.close()
    assert len(set(attempts)) == 1 and len(attempts) >= 3


def test_server_limits_outstanding_messages_per_stream(ours_target):
    """The server itself honours max_outstanding_messages from the first request."""
    from google.pubsub_v1.types import StreamingPullRequest

    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    ours_target.publisher.api.publish(
        topic=topic, messages=[{"data": str(i).encode()} for i in range(20)]
    )
    first = StreamingPullRequest(
        subscription=sub, stream_ack_deadline_seconds=60, max_outstanding_messages=3
    )
    ack_now = threading.Event()
    requests_done = threading.Event()

    def requests():
        yield first
        ack_now.wait(10)
        yield StreamingPullRequest(ack_ids=list(received[:3]))
        requests_done.wait(10)

    received: list[str] = []
    stream = ours_target.subscriber.api.streaming_pull(requests=requests())
    try:
        batch = next(stream)
        received.extend(m.ack_id for m in batch.received_messages)
        assert len(received) == 3
        ack_now.set()
        batch = next(stream)
        assert len(batch.received_messages) == 3
    finally:
        requests_done.set()
        stream.cancel()


def test_subscribe_to_missing_subscription_fails(pubsub_target):
    from google.api_core import exceptions

    _, subscriber = clients(pubsub_target.host)
    future = subscriber.subscribe(pubsub_target.sub_path("missing"), lambda m: m.ack())
    try:
        with pytest.raises(exceptions.NotFound):
            future.result(timeout=30)
    finally:
        subscriber.close()


def test_streaming_pull_rejects_bad_stream_deadline(ours_target):
    from google.api_core import exceptions
    from google.pubsub_v1.types import StreamingPullRequest

    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    first = StreamingPullRequest(subscription=sub, stream_ack_deadline_seconds=5)
    stream = ours_target.subscriber.api.streaming_pull(requests=iter([first]))
    with pytest.raises(exceptions.InvalidArgument):
        for _ in stream:
            pass


def test_exactly_once_stream_confirmations(ours_target):
    import queue

    from google.pubsub_v1.types import StreamingPullRequest

    topic = ours_target.topic()
    sub = ours_target.subscription(topic, enable_exactly_once_delivery=True)
    ours_target.publish(topic, b"confirm me")
    outgoing: queue.Queue = queue.Queue()
    outgoing.put(StreamingPullRequest(subscription=sub, stream_ack_deadline_seconds=60))

    def requests():
        while True:
            item = outgoing.get()
            if item is None:
                return
            yield item

    stream = ours_target.subscriber.api.streaming_pull(requests=requests())
    try:
        first = next(stream)
        assert first.subscription_properties.exactly_once_delivery_enabled
        [received] = first.received_messages
        stale = received.ack_id.rsplit("-", 1)[0] + "-fffffff"
        outgoing.put(
            StreamingPullRequest(
                modify_deadline_ack_ids=[received.ack_id, stale], modify_deadline_seconds=[30, 30]
            )
        )
        confirmation = next(stream).modify_ack_deadline_confirmation
        assert list(confirmation.ack_ids) == [received.ack_id]
        assert list(confirmation.invalid_ack_ids) == [stale]
        outgoing.put(StreamingPullRequest(ack_ids=[received.ack_id, stale]))
        confirmation = next(stream).acknowledge_confirmation
        assert list(confirmation.ack_ids) == [received.ack_id]
        assert list(confirmation.invalid_ack_ids) == [stale]
    finally:
        outgoing.put(None)
        stream.cancel()
