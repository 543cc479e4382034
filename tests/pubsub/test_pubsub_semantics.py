"""Ordering keys, dead letters, retry backoff, filters, seek and snapshots, exactly-once."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber import exceptions as sub_exceptions

from tests.support.pubsub import clients

pytestmark = pytest.mark.integration


def _subscribe_collect(target, sub, expect, callback=None, timeout=30, **kwargs):
    got = []
    done = threading.Event()
    lock = threading.Lock()

    def on_message(message):
        # the callback runs first, so the stream is not cancelled under its feet
        if callback is None:
            message.ack()
        else:
            callback(message)
        with lock:
            got.append(message)
            if len(got) >= expect:
                done.set()

    _, subscriber = clients(target.host)
    future = subscriber.subscribe(sub, on_message, **kwargs)
    try:
        done.wait(timeout)
    finally:
        future.cancel()
        try:
            future.result(timeout=10)
        except Exception:
            pass
        subscriber.close()
    return got


# ---- ordering ----------------------------------------------------------------------------
def test_ordering_keys_deliver_in_order(pubsub_target):
    publisher, _ = clients(
        pubsub_target.host,
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
        batch_settings=pubsub_v1.types.BatchSettings(max_messages=7),
    )
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic, enable_message_ordering=True)
    per_key = 40
    futures = []
    for i in range(per_key):
        for key in ("a", "b", "c"):
            futures.append(publisher.publish(topic, f"{key}{i}".encode(), ordering_key=key))
    for f in futures:
        f.result(timeout=30)
    got = _subscribe_collect(pubsub_target, sub, expect=3 * per_key)
    by_key: dict[str, list[int]] = {}
    for m in got:
        by_key.setdefault(m.ordering_key, []).append(int(m.data[1:]))
    assert set(by_key) == {"a", "b", "c"}
    for seq in by_key.values():
        assert seq == list(range(per_key))


def test_ordering_key_blocks_until_ack(pubsub_target):
    """One outstanding batch per key: the next message of a key waits for the ack."""
    ours_target = pubsub_target
    publisher, _ = clients(
        ours_target.host,
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
    )
    topic = ours_target.topic()
    sub = ours_target.subscription(topic, enable_message_ordering=True)
    publisher.publish(topic, b"k1", ordering_key="k").result()
    [first] = ours_target.pull(sub, max_messages=1)
    publisher.publish(topic, b"k2", ordering_key="k").result()
    publisher.publish(topic, b"free").result()
    resp = ours_target.subscriber.pull(
        request={"subscription": sub, "max_messages": 10, "return_immediately": True}
    )
    assert [m.message.data for m in resp.received_messages] == [b"free"]
    ours_target.subscriber.acknowledge(subscription=sub, ack_ids=[first.ack_id])
    [second] = ours_target.pull(sub)
    assert second.message.data == b"k2"


def test_ordered_nack_redelivers_the_rest_of_the_key_in_order(ours_target):
    # Google's emulator redelivers [1, 2, 0] here; the service (and we) keep the key's order.
    publisher, _ = clients(
        ours_target.host,
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
    )
    topic = ours_target.topic()
    sub = ours_target.subscription(topic, enable_message_ordering=True)
    ours_target.publisher.api.publish(
        topic=topic, messages=[{"data": str(i).encode(), "ordering_key": "k"} for i in range(3)]
    )
    got = ours_target.pull(sub, expect=3)
    assert [m.message.data for m in got] == [b"0", b"1", b"2"]
    ours_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[got[0].ack_id], ack_deadline_seconds=0
    )
    again = ours_target.pull(sub, expect=3)
    assert [m.message.data for m in again] == [b"0", b"1", b"2"]


def test_ordered_publish_resumes_after_failure(ours_target):
    """A failed ordered publish pauses the key client-side until resume_publish()."""
    publisher, _ = clients(
        ours_target.host,
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
    )
    topic = ours_target.topic()
    sub = ours_target.subscription(topic, enable_message_ordering=True)
    bad = publisher.publish(topic, b"", ordering_key="k")  # empty: INVALID_ARGUMENT
    with pytest.raises(exceptions.InvalidArgument):
        bad.result(timeout=30)
    paused = publisher.publish(topic, b"while paused", ordering_key="k")
    with pytest.raises(pubsub_v1.publisher.exceptions.PublishToPausedOrderingKeyException):
        paused.result(timeout=30)
    publisher.resume_publish(topic, "k")
    publisher.publish(topic, b"resumed", ordering_key="k").result(timeout=30)
    [msg] = ours_target.pull(sub)
    assert msg.message.data == b"resumed"


# ---- dead letters ------------------------------------------------------------------------
def test_dead_letter_after_max_attempts(pubsub_target):
    topic = pubsub_target.topic()
    dead_topic = pubsub_target.topic()
    dead_sub = pubsub_target.subscription(dead_topic)
    sub = pubsub_target.subscription(
        topic, dead_letter_policy={"dead_letter_topic": dead_topic, "max_delivery_attempts": 5}
    )
    pubsub_target.publish(topic, b"poison", origin="test")
    attempts = []
    for _ in range(5):
        [msg] = pubsub_target.pull(sub)
        attempts.append(msg.delivery_attempt)
        pubsub_target.subscriber.modify_ack_deadline(
            subscription=sub, ack_ids=[msg.ack_id], ack_deadline_seconds=0
        )
    assert attempts == [1, 2, 3, 4, 5]
    # (Google's emulator forwards lazily, on the next pull of the source subscription)
    resp = pubsub_target.subscriber.pull(
        request={"subscription": sub, "max_messages": 10, "return_immediately": True}
    )
    assert not resp.received_messages
    [dead] = pubsub_target.pull(dead_sub, timeout=20)
    attrs = dead.message.attributes
    assert dead.message.data == b"poison"
    assert attrs["origin"] == "test"
    assert attrs["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert attrs["CloudPubSubDeadLetterSourceSubscription"] == sub.rsplit("/", 1)[1]
    assert attrs["CloudPubSubDeadLetterSourceSubscriptionProject"] == "test-project"
    assert attrs["CloudPubSubDeadLetterSourceTopicPublishTime"]


def test_dead_letter_policy_validation(ours_target):
    topic = ours_target.topic()
    with pytest.raises(exceptions.OutOfRange):
        ours_target.subscription(
            topic, dead_letter_policy={"dead_letter_topic": topic, "max_delivery_attempts": 101}
        )
    with pytest.raises(exceptions.NotFound):
        ours_target.subscription(
            topic, dead_letter_policy={"dead_letter_topic": ours_target.topic_path("gone")}
        )


# ---- retry policy ------------------------------------------------------------------------
def test_retry_policy_delays_redelivery(ours_target):
    topic = ours_target.topic()
    sub = ours_target.subscription(
        topic, retry_policy={"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 2}}
    )
    ours_target.publish(topic, b"backoff")
    [msg] = ours_target.pull(sub)
    nacked_at = time.monotonic()
    ours_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[msg.ack_id], ack_deadline_seconds=0
    )
    resp = ours_target.subscriber.pull(
        request={"subscription": sub, "max_messages": 1, "return_immediately": True}
    )
    assert not resp.received_messages  # still backing off
    [again] = ours_target.pull(sub, timeout=10)
    assert again.message.message_id == msg.message.message_id
    assert time.monotonic() - nacked_at >= 0.9


def test_without_retry_policy_nack_is_immediate(ours_target):
    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    ours_target.publish(topic, b"now")
    [msg] = ours_target.pull(sub)
    ours_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[msg.ack_id], ack_deadline_seconds=0
    )
    resp = ours_target.subscriber.pull(
        request={"subscription": sub, "max_messages": 1, "return_immediately": True}
    )
    assert len(resp.received_messages) == 1


# ---- filters (Google's emulator ignores filters) -----------------------------------------
def test_filter_applied_at_publish(ours_target):
    topic = ours_target.topic()
    sub = ours_target.subscription(topic, filter='attributes.color = "red"')
    unfiltered = ours_target.subscription(topic)
    ours_target.publish(topic, b"red", color="red")
    ours_target.publish(topic, b"blue", color="blue")
    ours_target.publish(topic, b"none")
    got = ours_target.pull(sub, expect=2, timeout=2)
    assert [m.message.data for m in got] == [b"red"]
    assert len(ours_target.pull(unfiltered, expect=3)) == 3
    assert ours_target.subscriber.get_subscription(subscription=sub).filter == (
        'attributes.color = "red"'
    )


def test_bad_filter_rejected(ours_target):
    topic = ours_target.topic()
    with pytest.raises(exceptions.InvalidArgument) as err:
        ours_target.subscription(topic, filter="attributes.color = ")
    assert err.value.message.startswith("Invalid filter expression")


# ---- seek and snapshots ------------------------------------------------------------------
def test_seek_to_snapshot_replays_unacked_at_creation(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    pubsub_target.publish(topic, b"one")
    snap = pubsub_target.snapshot_path()
    pubsub_target.subscriber.create_snapshot(name=snap, subscription=sub)
    pubsub_target.publish(topic, b"two")
    got = pubsub_target.pull(sub, expect=2)
    pubsub_target.subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in got])
    pubsub_target.subscriber.seek(request={"subscription": sub, "snapshot": snap})
    replay = pubsub_target.pull(sub, expect=2)
    assert sorted(m.message.data for m in replay) == [b"one", b"two"]
    listed = pubsub_target.subscriber.list_snapshots(project="projects/test-project")
    assert snap in {s.name for s in listed}
    assert snap in set(pubsub_target.publisher.list_topic_snapshots(topic=topic))
    pubsub_target.subscriber.delete_snapshot(snapshot=snap)
    with pytest.raises(exceptions.NotFound):
        pubsub_target.subscriber.get_snapshot(snapshot=snap)


def test_seek_to_time_with_retained_acks(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic, retain_acked_messages=True)
    pubsub_target.publish(topic, b"old")
    time.sleep(0.2)
    middle = datetime.now(timezone.utc)
    time.sleep(0.2)
    pubsub_target.publish(topic, b"new")
    got = pubsub_target.pull(sub, expect=2)
    pubsub_target.subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in got])
    pubsub_target.subscriber.seek(request={"subscription": sub, "time": middle})
    replay = pubsub_target.pull(sub, expect=1)
    assert [m.message.data for m in replay] == [b"new"]
    past = middle - timedelta(minutes=5)
    pubsub_target.subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in replay])
    pubsub_target.subscriber.seek(request={"subscription": sub, "time": past})
    replay = pubsub_target.pull(sub, expect=2)
    assert sorted(m.message.data for m in replay) == [b"new", b"old"]


def test_seek_to_future_acks_everything(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    pubsub_target.publish(topic, b"skip me")
    future = datetime.now(timezone.utc) + timedelta(minutes=1)
    pubsub_target.subscriber.seek(request={"subscription": sub, "time": future})
    resp = pubsub_target.subscriber.pull(
        request={"subscription": sub, "max_messages": 10, "return_immediately": True}
    )
    assert not resp.received_messages


def test_seek_with_topic_retention_replays_before_subscription(ours_target):
    topic = ours_target.topic(message_retention_duration={"seconds": 3600})
    ours_target.publish(topic, b"retained by topic")
    sub = ours_target.subscription(topic)
    ours_target.subscriber.seek(
        request={"subscription": sub, "time": datetime.now(timezone.utc) - timedelta(minutes=1)}
    )
    [msg] = ours_target.pull(sub)
    assert msg.message.data == b"retained by topic"


# ---- exactly-once ------------------------------------------------------------------------
def test_exactly_once_ack_with_response(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic, enable_exactly_once_delivery=True)
    pubsub_target.publish(topic, b"once")
    results = []

    def callback(message):
        results.append(message.ack_with_response().result(timeout=30))

    got = _subscribe_collect(pubsub_target, sub, expect=1, callback=callback)
    assert len(got) == 1
    deadline = time.monotonic() + 10
    while not results and time.monotonic() < deadline:
        time.sleep(0.05)
    assert results == [sub_exceptions.AcknowledgeStatus.SUCCESS]


def test_exactly_once_expired_ack_id_fails(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic, enable_exactly_once_delivery=True)
    pubsub_target.publish(topic, b"once")
    [msg] = pubsub_target.pull(sub)
    pubsub_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[msg.ack_id], ack_deadline_seconds=0
    )
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_target.subscriber.acknowledge(subscription=sub, ack_ids=[msg.ack_id])


def test_exactly_once_failure_metadata(ours_target):
    """The ErrorInfo the client library reads to map failed ack ids to AcknowledgeError."""
    from google.cloud.pubsub_v1.subscriber._protocol.streaming_pull_manager import (
        _get_ack_errors,
    )

    topic = ours_target.topic()
    sub = ours_target.subscription(topic, enable_exactly_once_delivery=True)
    ours_target.publish(topic, b"once")
    [msg] = ours_target.pull(sub)
    ours_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[msg.ack_id], ack_deadline_seconds=0
    )
    with pytest.raises(exceptions.InvalidArgument) as err:
        ours_target.subscriber.acknowledge(subscription=sub, ack_ids=[msg.ack_id])
    assert _get_ack_errors(err.value) == {msg.ack_id: "PERMANENT_FAILURE_INVALID_ACK_ID"}


def test_exactly_once_ack_after_seek_is_invalid(ours_target):
    topic = ours_target.topic()
    sub = ours_target.subscription(topic, enable_exactly_once_delivery=True)
    ours_target.publish(topic, b"once")
    results = []
    seen = threading.Event()

    def callback(message):
        if not seen.is_set():
            seen.set()
            # invalidate every outstanding lease, then try to ack
            ours_target.subscriber.seek(
                request={"subscription": sub, "time": datetime.now(timezone.utc)}
            )
            try:
                message.ack_with_response().result(timeout=30)
                results.append("success")
            except sub_exceptions.AcknowledgeError as exc:
                results.append(exc.error_code)
        else:
            message.ack()

    _subscribe_collect(ours_target, sub, expect=1, callback=callback)
    deadline = time.monotonic() + 10
    while not results and time.monotonic() < deadline:
        time.sleep(0.05)
    assert results == [sub_exceptions.AcknowledgeStatus.INVALID_ACK_ID]


def test_non_exactly_once_ack_of_expired_id_is_silent(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    pubsub_target.publish(topic, b"x")
    [msg] = pubsub_target.pull(sub)
    pubsub_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[msg.ack_id], ack_deadline_seconds=0
    )
    pubsub_target.subscriber.acknowledge(subscription=sub, ack_ids=[msg.ack_id])


def test_seek_to_past_without_retained_acks_keeps_them_acked(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    pubsub_target.publish(topic, b"acked")
    [msg] = pubsub_target.pull(sub)
    pubsub_target.subscriber.acknowledge(subscription=sub, ack_ids=[msg.ack_id])
    pubsub_target.publish(topic, b"unacked")
    pubsub_target.subscriber.seek(request={"subscription": sub, "time": start})
    got = pubsub_target.pull(sub)
    assert [m.message.data for m in got] == [b"unacked"]
    resp = pubsub_target.subscriber.pull(
        request={"subscription": sub, "max_messages": 10, "return_immediately": True}
    )
    assert not resp.received_messages


def test_exactly_once_mixed_acks(pubsub_target):
    """One stale id in an ack request: only it is reported, the others are acked."""
    from google.cloud.pubsub_v1.subscriber._protocol.streaming_pull_manager import (
        _get_ack_errors,
    )

    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic, enable_exactly_once_delivery=True)
    pubsub_target.publish(topic, b"a", b"b")
    got = sorted(pubsub_target.pull(sub, expect=2), key=lambda m: m.message.data)
    stale = got[0].ack_id
    pubsub_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[stale], ack_deadline_seconds=0
    )
    with pytest.raises(exceptions.InvalidArgument) as err:
        pubsub_target.subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in got])
    assert _get_ack_errors(err.value) == {stale: "PERMANENT_FAILURE_INVALID_ACK_ID"}
    resp = pubsub_target.subscriber.pull(
        request={"subscription": sub, "max_messages": 10, "return_immediately": True}
    )
    assert [m.message.data for m in resp.received_messages] == [b"a"]
