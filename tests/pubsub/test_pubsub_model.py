"""The model without gRPC: broker, subscriptions, store. Fast and deterministic."""

from __future__ import annotations

import time

import pytest

from emulators.pubsub import names, wire
from emulators.pubsub.broker import Broker
from emulators.pubsub.errors import ApiError
from emulators.pubsub.store import SqliteStore
from emulators.pubsub.topics import Message

TOPIC = "projects/p/topics/topic-a"
SUB = "projects/p/subscriptions/sub-a"


def make_broker(store=None, **sub_config) -> Broker:
    broker = Broker(store)
    broker.encode = wire.encode_published
    broker.create_topic({"name": TOPIC})
    broker.create_subscription({"name": SUB, "topic": TOPIC, **sub_config})
    return broker


def publish(broker: Broker, *payloads: bytes, key: str = "", **attrs) -> list[Message]:
    msgs = [Message(0, p, dict(attrs), key, 0) for p in payloads]
    return broker.publish(broker.topics[TOPIC], msgs)


@pytest.mark.parametrize(
    "name,ok",
    [
        ("projects/p/topics/abc", True),
        ("projects/p/topics/a-b_c.d~e+f%g", True),
        ("projects/p/topics/ab", False),
        ("projects/p/topics/goog-x", False),
        ("projects/p/topics/9abc", False),
        ("projects/p/topics/" + "a" * 255, True),
        ("projects/p/topics/" + "a" * 256, False),
        ("projects/p/subscriptions/abc", False),
        ("projects//topics/abc", False),
    ],
)
def test_topic_names(name, ok):
    if ok:
        assert names.topic(name) == name
    else:
        with pytest.raises(ApiError) as err:
            names.topic(name)
        assert err.value.code == "INVALID_ARGUMENT"


def test_ids_grow_and_each_subscription_gets_all():
    broker = make_broker()
    broker.create_subscription({"name": SUB + "-2", "topic": TOPIC})
    msgs = publish(broker, b"a", b"b")
    assert [m.seq for m in msgs] == [1, 2]
    for name in (SUB, SUB + "-2"):
        taken = broker.subscriptions[name].take(10, 1 << 30, 10)
        assert [e.msg.data for e in taken] == [b"a", b"b"]


def test_wire_bytes_round_trip():
    broker = make_broker()
    [msg] = publish(broker, b"payload", key="k", a="1")
    decoded = wire.PubsubMessage.FromString(msg.wire)
    assert decoded.data == b"payload"
    assert decoded.message_id == "1"
    assert dict(decoded.attributes) == {"a": "1"}
    assert decoded.ordering_key == "k"
    assert wire.timestamp_ns(decoded.publish_time) == msg.publish_time_ns
    assert msg.data == b"payload"  # decoded lazily from the wire bytes


def test_take_respects_max_messages_and_bytes():
    broker = make_broker()
    publish(broker, *(b"x" * 100 for _ in range(10)))
    sub = broker.subscriptions[SUB]
    assert len(sub.take(3, 1 << 30, 10)) == 3
    assert len(sub.take(10, 250, 10)) == 3  # stops once 250 bytes are reached
    assert len(sub.take(10, 1, 10)) == 1  # always at least one


def test_ack_nack_and_expiry():
    broker = make_broker()
    publish(broker, b"m")
    sub = broker.subscriptions[SUB]
    [entry] = sub.take(1, 1 << 30, 10)
    first_id = entry.ack_id
    assert sub.modify([first_id], 0) == []  # nack
    [again] = sub.take(1, 1 << 30, 10)
    assert again.ack_id != first_id
    assert sub.ack([first_id]) == [first_id]  # the old id is dead
    sub.modify([again.ack_id], 1)
    sub.tick(time.monotonic() + 2)  # deadline passed
    [third] = sub.take(1, 1 << 30, 10)
    assert third.attempts == 3
    assert sub.ack([third.ack_id]) == []
    assert not sub.entries


def test_ordering_one_batch_per_key():
    broker = make_broker(enable_message_ordering=True)
    publish(broker, b"k1", b"k2", key="k")
    publish(broker, b"free")
    sub = broker.subscriptions[SUB]
    first = sub.take(1, 1 << 30, 10)
    assert [e.msg.data for e in first] == [b"k1"]
    rest = sub.take(10, 1 << 30, 10)
    assert [e.msg.data for e in rest] == [b"free"]  # k2 waits for k1's ack
    sub.ack([first[0].ack_id])
    assert [e.msg.data for e in sub.take(10, 1 << 30, 10)] == [b"k2"]


def test_ordering_nack_returns_later_messages_too():
    broker = make_broker(enable_message_ordering=True)
    publish(broker, b"1", b"2", b"3", key="k")
    sub = broker.subscriptions[SUB]
    batch = sub.take(10, 1 << 30, 10)
    sub.ack([batch[0].ack_id])
    sub.modify([batch[1].ack_id], 0)
    assert [e.msg.data for e in sub.take(10, 1 << 30, 10)] == [b"2", b"3"]


def test_retry_policy_backoff():
    broker = make_broker(retry_policy={"minimum_backoff": "5s", "maximum_backoff": "7s"})
    publish(broker, b"m")
    sub = broker.subscriptions[SUB]
    [entry] = sub.take(1, 1 << 30, 10)
    sub.modify([entry.ack_id], 0)
    assert sub.take(1, 1 << 30, 10) == []
    sub.tick(time.monotonic() + 4)
    assert sub.take(1, 1 << 30, 10) == []
    sub.tick(time.monotonic() + 5.1)
    [again] = sub.take(1, 1 << 30, 10)
    sub.modify([again.ack_id], 0)  # second failure: 10 s capped at 7 s
    sub.tick(time.monotonic() + 6.5)
    assert sub.take(1, 1 << 30, 10) == []
    sub.tick(time.monotonic() + 7.1)
    assert len(sub.take(1, 1 << 30, 10)) == 1


def test_dead_letter_forwarding():
    broker = Broker()
    broker.encode = wire.encode_published
    broker.create_topic({"name": TOPIC})
    broker.create_topic({"name": TOPIC + "-dead"})
    broker.create_subscription({"name": SUB + "-dead", "topic": TOPIC + "-dead"})
    broker.create_subscription(
        {
            "name": SUB,
            "topic": TOPIC,
            "dead_letter_policy": {"dead_letter_topic": TOPIC + "-dead"},
        }
    )
    publish(broker, b"poison", a="b")
    sub = broker.subscriptions[SUB]
    for attempt in range(1, 6):
        [entry] = sub.take(1, 1 << 30, 10)
        assert entry.attempts == attempt
        sub.modify([entry.ack_id], 0)
    assert sub.take(1, 1 << 30, 10) == []
    [dead] = broker.subscriptions[SUB + "-dead"].take(1, 1 << 30, 10)
    assert dead.msg.data == b"poison"
    assert dead.msg.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert dead.msg.attributes["CloudPubSubDeadLetterSourceSubscription"] == "sub-a"
    assert dead.msg.attributes["a"] == "b"


def test_exactly_once_failures_carry_metadata():
    broker = make_broker(enable_exactly_once_delivery=True)
    publish(broker, b"m")
    [entry] = broker.subscriptions[SUB].take(1, 1 << 30, 10)
    ack_id = entry.ack_id
    broker.modify_ack_deadline(SUB, [ack_id], 0)
    with pytest.raises(ApiError) as err:
        broker.acknowledge(SUB, [ack_id])
    assert err.value.metadata == {ack_id: "PERMANENT_FAILURE_INVALID_ACK_ID"}


def test_store_restore_and_garbage(tmp_path):
    store = SqliteStore(str(tmp_path))
    broker = make_broker(store)
    publish(broker, b"a", b"b", b"c")
    sub = broker.subscriptions[SUB]
    taken = sub.take(10, 1 << 30, 10)
    broker.acknowledge(SUB, [taken[0].ack_id])
    assert broker.collect_garbage() == 1  # "a" is held by nothing now
    store.close()

    store = SqliteStore(str(tmp_path))
    restored = Broker(store)
    restored.encode = wire.encode_published
    restored.restore(store.load(), wire.decode_message)
    sub = restored.subscriptions[SUB]
    assert [e.msg.data for e in sub.take(10, 1 << 30, 10)] == [b"b", b"c"]
    [msg] = publish(restored, b"d")
    assert msg.seq == 4
    store.close()


def test_retention_drops_old_messages():
    broker = make_broker(message_retention_duration="600s")
    [old, new] = publish(broker, b"old", b"new")
    old.publish_time_ns -= 601 * 10**9  # published 10 minutes and a second ago
    sub = broker.subscriptions[SUB]
    assert [e.msg.data for e in sub.take(10, 1 << 30, 10)] == [b"new"]
    assert old.seq not in sub.entries


def test_topic_retention_keeps_a_log_for_seek():
    broker = make_broker()
    broker.update_topic(
        {"name": TOPIC, "message_retention_duration": "3600s"}, ["message_retention_duration"]
    )
    publish(broker, b"kept")
    broker.create_subscription({"name": SUB + "-late", "topic": TOPIC})
    broker.seek_time(SUB + "-late", 0)
    late = broker.subscriptions[SUB + "-late"]
    assert [e.msg.data for e in late.take(10, 1 << 30, 10)] == [b"kept"]
    with pytest.raises(ApiError):
        broker.update_topic(
            {"name": TOPIC, "message_retention_duration": "60s"}, ["message_retention_duration"]
        )
