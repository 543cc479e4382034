"""Cloud Monitoring's Pub/Sub metrics from the emulator: the model's counts (in-process, on a
frozen clock) and ``GET /_emulator/metrics`` of a running emulator, read with the real clients."""

from __future__ import annotations

import requests

from emulators.pubsub import metrics
from emulators.pubsub.broker import Broker
from emulators.pubsub.clock import Clock
from emulators.pubsub.hooks import AdminClient
from emulators.pubsub.topics import Message
from ops.samples import parse
from tests.support.emulators import unique
from tests.support.pubsub import PROJECT, clients

T = f"projects/{PROJECT}/topics/metered"
S = f"projects/{PROJECT}/subscriptions/metered"
DLQ = f"projects/{PROJECT}/topics/metered-dlq"


def values(text: str, name: str) -> dict[tuple, float]:
    """``{(label values sorted by label name): value}`` of one metric in Prometheus text."""
    return {
        tuple(v for _, v in sorted(s.labels.items())): s.value
        for s in parse(text)
        if s.name == name
    }


def test_subscription_counts_follow_what_happened():
    clock = Clock()
    clock.freeze()
    broker = Broker(clock=clock)
    broker.create_topic({"name": T})
    broker.create_topic({"name": DLQ})
    broker.create_subscription({
        "name": S, "topic": T, "ack_deadline_seconds": 10,
        "dead_letter_policy": {"dead_letter_topic": DLQ, "max_delivery_attempts": 5},
    })  # fmt: skip
    topic = broker.topic(T)
    broker.publish(topic, [Message(0, b"x" * 100, {}, "", 0) for _ in range(4)])
    broker.publish(topic, [Message(0, b"y" * 2000, {}, "", 0)])
    clock.advance(30)
    sub = broker.subscription(S)
    leased = sub.take(10, 1 << 30, 10)
    sub.ack([leased[0].ack_id])
    sub.modify([leased[1].ack_id], 0)  # a nack
    clock.advance(11)
    broker.tick()  # the other three leases expire

    text = metrics.render(broker)
    sub_key = (PROJECT, "metered")
    assert values(text, "pubsub_googleapis_com:subscription_num_undelivered_messages")[sub_key] == 4
    assert values(text, "pubsub_googleapis_com:subscription_oldest_unacked_message_age")[
        sub_key] == 41
    assert values(text, "pubsub_googleapis_com:subscription_backlog_bytes")[sub_key] == 2300
    assert values(text, "pubsub_googleapis_com:subscription_sent_message_count")[sub_key] == 5
    assert values(text, "pubsub_googleapis_com:subscription_ack_message_count")[sub_key] == 1
    assert values(text, "pubsub_googleapis_com:subscription_nack_requests")[sub_key] == 1
    assert values(text, "pubsub_googleapis_com:subscription_expired_ack_deadlines_count")[
        sub_key] == 3
    assert values(text, "pubsub_googleapis_com:subscription_dead_letter_message_count")[
        sub_key] == 0
    topic_key = (PROJECT, "metered")
    assert values(text, "pubsub_googleapis_com:topic_send_request_count")[
        (PROJECT, "success", "metered")] == 2
    assert values(text, "pubsub_googleapis_com:topic_message_sizes_count")[topic_key] == 5
    assert values(text, "pubsub_googleapis_com:topic_message_sizes_sum")[topic_key] == 2400
    buckets = values(text, "pubsub_googleapis_com:topic_message_sizes_bucket")
    assert buckets[("256", PROJECT, "metered")] == 4 and buckets[("4096", PROJECT, "metered")] == 5

    # five failed deliveries dead-letter a message
    for _ in range(4):
        clock.advance(1)
        for entry in sub.take(10, 1 << 30, 10):
            sub.modify([entry.ack_id], 0)
    text = metrics.render(broker)
    assert values(text, "pubsub_googleapis_com:subscription_dead_letter_message_count")[
        sub_key] == 4
    assert values(text, "pubsub_googleapis_com:subscription_num_undelivered_messages")[
        sub_key] == 0


def test_a_running_emulator_serves_its_metrics_behind_the_guard(ours):
    topic_id, sub_id = unique("topic"), unique("sub")
    publisher, subscriber = clients(ours.host)
    topic = publisher.topic_path(PROJECT, topic_id)
    sub = subscriber.subscription_path(PROJECT, sub_id)
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic)
    for i in range(3):
        publisher.publish(topic, f"m{i}".encode()).result(30)
    pulled = subscriber.pull(subscription=sub, max_messages=10, timeout=30)
    subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in pulled.received_messages])

    admin = AdminClient(ours.host)
    text = admin.metrics()
    key = (PROJECT, sub_id)
    assert values(text, "pubsub_googleapis_com:subscription_sent_message_count")[key] == len(
        pulled.received_messages)
    assert values(text, "pubsub_googleapis_com:subscription_ack_message_count")[key] == len(
        pulled.received_messages)
    assert values(text, "pubsub_googleapis_com:topic_message_sizes_count")[
        (PROJECT, topic_id)] == 3
    memory = values(text, "process_resident_memory_bytes")[("pubsub",)]
    assert memory > 1_000_000
    # the same Host/Origin policy as the rest of the admin surface
    response = requests.get(f"http://{ours.host}/_emulator/metrics",
                            headers={"Origin": "https://evil.example"}, timeout=10)
    assert response.status_code == 403
