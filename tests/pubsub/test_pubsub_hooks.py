"""Test hooks: the settable clock, message introspection, clear-all and error injection, on the
model in-process (``hooks.Hooks``) and on a running emulator (``hooks.AdminClient``)."""

from __future__ import annotations

import asyncio
import time

import pytest
import requests
from google.api_core import exceptions

from emulators.pubsub.broker import Broker
from emulators.pubsub.clock import Clock, parse_rfc3339_ns
from emulators.pubsub.errors import ApiError
from emulators.pubsub.faults import Faults
from emulators.pubsub.hooks import AdminClient, Hooks
from emulators.pubsub.topics import Message
from tests.support.pubsub import PROJECT, Emulator, Target, rest_clients

T = f"projects/{PROJECT}/topics/clocked"
S = f"projects/{PROJECT}/subscriptions/clocked"


def model(**sub_config):
    clock = Clock()
    clock.freeze()
    broker = Broker(clock=clock)
    broker.create_topic({"name": T})
    broker.create_subscription({"name": S, "topic": T, **sub_config})
    return broker, Hooks(broker, Faults())


def publish(broker, *payloads: bytes):
    return broker.publish(broker.topic(T), [Message(0, p, {}, "", 0) for p in payloads])


def test_clock_is_frozen_and_only_moves_forward():
    clock = Clock()
    clock.freeze()
    wall, mono = clock.time_ns(), clock.monotonic()
    time.sleep(0.01)
    assert (clock.time_ns(), clock.monotonic()) == (wall, mono)
    clock.advance(2.5)
    assert clock.time_ns() == wall + 2_500_000_000 and clock.monotonic() == pytest.approx(mono + 2.5)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set_time(wall)
    clock.unfreeze()
    assert clock.time_ns() >= wall + 2_500_000_000


def test_advance_expires_leases_and_counts_what_happened():
    broker, hooks = model(ack_deadline_seconds=60)
    publish(broker, b"one")
    sub = broker.subscription(S)
    [entry] = sub.take(10, 1 << 30, 60)
    sub.modify([entry.ack_id], 120)  # one modack
    [record] = hooks.messages(S)
    assert record["state"] == "leased" and record["lease"]["holder"] == "pull"
    assert record["lease"]["expiresInSeconds"] == 120
    assert (record["deliveryAttempts"], record["modacks"], record["acks"]) == (1, 1, 0)
    hooks.advance(119)
    assert hooks.messages(S)[0]["state"] == "leased"
    hooks.advance(2)
    [record] = hooks.messages(S)
    assert (record["state"], record["expiredLeases"], record["lease"]) == ("ready", 1, None)
    [again] = sub.take(10, 1 << 30, 60)
    sub.ack([again.ack_id])
    [record] = hooks.messages(S)
    assert (record["state"], record["deliveryAttempts"], record["acks"]) == ("acked", 2, 1)
    assert record["data"] == "b25l" and record["stateTime"]


def test_advance_releases_retry_backoff():
    broker, hooks = model(retry_policy={"minimum_backoff": "30s", "maximum_backoff": "60s"})
    publish(broker, b"x")
    sub = broker.subscription(S)
    [entry] = sub.take(1, 1 << 30, 10)
    sub.modify([entry.ack_id], 0)  # nack: back off 30 s
    assert hooks.messages(S)[0]["state"] == "delayed" and hooks.messages(S)[0]["nacks"] == 1
    assert sub.take(1, 1 << 30, 10) == []
    hooks.advance(29)
    assert sub.take(1, 1 << 30, 10) == []
    hooks.advance(2)
    assert len(sub.take(1, 1 << 30, 10)) == 1


def test_advance_past_retention_drops_messages():
    broker, hooks = model(message_retention_duration="600s")
    publish(broker, b"old")
    hooks.advance(601)
    assert broker.subscription(S).take(10, 1 << 30, 10) == []
    publish(broker, b"new")
    [entry] = broker.subscription(S).take(10, 1 << 30, 10)
    assert entry.msg.data == b"new"


def test_expiration_policy_deletes_idle_subscriptions():
    broker, hooks = model(expiration_policy={"ttl": "86400s"})
    broker.create_subscription({"name": S + "-never", "topic": T, "expiration_policy": {}})
    broker.create_subscription({"name": S + "-streamed", "topic": T,
                                "expiration_policy": {"ttl": "86400s"}})
    broker.subscription(S + "-streamed").connected = 1  # an open StreamingPull
    hooks.advance(86_000)
    broker.subscription(S).take(1, 1 << 30, 10)  # a pull is activity
    hooks.advance(86_000)
    assert S in broker.subscriptions
    hooks.advance(500)
    assert S not in broker.subscriptions
    assert {S + "-never", S + "-streamed"} <= set(broker.subscriptions)


def test_snapshots_expire_with_the_clock():
    broker, hooks = model()
    publish(broker, b"x")
    broker.create_snapshot(f"projects/{PROJECT}/snapshots/snap", S, {})
    hooks.advance(7 * 24 * 3600 + 1)
    assert broker.snapshots == {}


def test_set_time_moves_publish_times():
    broker, hooks = model()
    hooks.set_time("2031-05-01T00:00:00Z")
    [msg] = publish(broker, b"future")
    assert msg.publish_time_ns == parse_rfc3339_ns("2031-05-01T00:00:00Z")


def test_dead_letters_show_in_the_history():
    broker, hooks = model()
    broker.create_topic({"name": T + "-dlq"})
    broker.update_subscription(
        {"name": S, "dead_letter_policy": {"dead_letter_topic": T + "-dlq",
                                           "max_delivery_attempts": 5}},
        ["dead_letter_policy"],
    )
    publish(broker, b"poison")
    sub = broker.subscription(S)
    for _ in range(5):
        [entry] = sub.take(1, 1 << 30, 10)
        sub.modify([entry.ack_id], 0)
    [record] = hooks.messages(S)
    assert (record["state"], record["deliveryAttempts"], record["nacks"]) == (
        "dead_lettered", 5, 5)


def test_reset_clears_everything_and_ids_keep_growing():
    broker, hooks = model()
    [first] = publish(broker, b"x")
    hooks.reset()
    assert (broker.topics, broker.subscriptions, broker.snapshots) == ({}, {}, {})
    broker.create_topic({"name": T})
    [second] = publish(broker, b"y")
    assert second.seq > first.seq


def test_history_limit():
    broker, hooks = model()
    hooks.set_history(2)
    publish(broker, b"a", b"b", b"c")
    sub = broker.subscription(S)
    sub.ack([e.ack_id for e in sub.take(10, 1 << 30, 10)])
    assert [r["data"] for r in hooks.messages(S)] == ["Yg==", "Yw=="]
    hooks.set_history(0)
    assert hooks.messages(S) == []


def test_injected_failures_from_code():
    faults = Faults()
    assert not faults.active
    faults.fail("Publish", "NOT_FOUND", times=2, message="gone")
    assert faults.active

    async def calls():
        results = []
        for method in ("Pull", "Publish", "Publish", "Publish"):
            try:
                await faults.inject(method)
                results.append("ok")
            except ApiError as err:
                results.append((err.code, err.message))
        return results

    assert asyncio.run(calls()) == ["ok", ("NOT_FOUND", "gone"), ("NOT_FOUND", "gone"), "ok"]
    assert not faults.active
    faults.configure({"methods": {"*": {"error_rate": 1.0, "error_code": "ABORTED"}}})
    with pytest.raises(ApiError):
        asyncio.run(faults.inject("Anything"))
    faults.clear()
    asyncio.run(faults.inject("Anything"))
    with pytest.raises(ValueError):
        faults.fail("Publish", "NOT_A_CODE")


# ---- a running emulator, through the admin endpoint -----------------------------------------


@pytest.fixture
def hooked():
    """A private emulator: these tests move its clock and wipe it."""
    emulator = Emulator().start()
    yield emulator, AdminClient(emulator.host), Target("ours", emulator.host)
    emulator.stop()


@pytest.mark.integration
def test_admin_injects_errors_into_grpc_and_rest(hooked):
    emulator, admin, target = hooked
    topic = target.topic()
    admin.fail("Publish", "UNAVAILABLE", times=1)
    admin.fail("GetTopic", "PERMISSION_DENIED", times=None)
    assert [f["method"] for f in admin.faults()["failures"]] == ["Publish", "GetTopic"]
    with pytest.raises(exceptions.ServiceUnavailable):
        target.publisher.api.publish(topic=topic, messages=[{"data": b"x"}], retry=None)
    assert target.publish(topic, b"x")  # only the next call failed
    with pytest.raises(exceptions.PermissionDenied):
        target.publisher.get_topic(topic=topic)
    response = requests.get(f"http://{emulator.host}/v1/{topic}", timeout=10)
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
    admin.clear_faults()
    assert target.publisher.get_topic(topic=topic).name == topic
    admin.configure_faults({"methods": {"ListTopics": {"error_rate": 1, "error_code": "ABORTED"}}})
    with pytest.raises(exceptions.Aborted):
        target.publisher.api.list_topics(project=f"projects/{PROJECT}", retry=None)
    admin.clear_faults()


@pytest.mark.integration
def test_admin_clock_drives_redelivery_and_introspection(hooked):
    _, admin, target = hooked
    topic = target.topic()
    # never expires: the jump to 2031 below would outlast the default 31-day ttl
    sub = target.subscription(topic, ack_deadline_seconds=600, expiration_policy={})
    target.publish(topic, b"slow")
    [first] = target.pull(sub)
    [record] = admin.messages(sub)
    assert record["state"] == "leased" and record["lease"]["ackId"] == first.ack_id
    assert record["deliveryAttempts"] == 1
    assert target.subscriber.pull(subscription=sub, max_messages=1, return_immediately=True,
                                  timeout=5).received_messages == []
    admin.advance(601)  # ten minutes later: the lease ran out
    [again] = target.pull(sub)
    assert again.message.message_id == first.message.message_id
    target.subscriber.acknowledge(subscription=sub, ack_ids=[again.ack_id])
    [record] = admin.messages(sub)
    assert (record["state"], record["deliveryAttempts"], record["expiredLeases"]) == (
        "acked", 2, 1)
    state = admin.freeze()
    assert state["frozen"] and state["offsetSeconds"] >= 601
    later = admin.set_time("2031-01-01T00:00:00Z")
    assert later["time"] == "2031-01-01T00:00:00Z"
    target.publish(topic, b"then")
    [then] = target.pull(sub)
    assert then.message.publish_time.year == 2031


@pytest.mark.integration
def test_admin_reset_and_errors(hooked):
    emulator, admin, target = hooked
    target.subscription(target.topic())
    admin.reset()
    assert list(target.publisher.list_topics(project=f"projects/{PROJECT}")) == []
    assert admin.messages() == []
    base = f"http://{emulator.host}/_emulator"
    for verb, path, body in (("GET", "/nothing", None), ("POST", "/clock", {"advance": -5}),
                             ("POST", "/clock", {"advance": "soon"}),
                             ("POST", "/faults:fail", {"method": "Publish", "code": "NOPE"}),
                             ("GET", "/messages?subscription=bad", None)):
        response = requests.request(verb, base + path, json=body, timeout=10)
        assert 400 <= response.status_code < 500, path
        assert response.json()["error"]["message"]
    refused = requests.post(base + "/reset", headers={"Origin": "http://evil.example"},
                            timeout=10)
    assert refused.status_code == 403


@pytest.mark.integration
def test_rest_clients_see_the_clock(hooked):
    _, admin, target = hooked
    topic = target.topic()
    admin.set_time("2035-06-01T12:00:00Z")
    publisher, _ = rest_clients(target.host)
    sub = target.subscription(topic)
    publisher.publish(topic, b"x").result(timeout=30)
    [got] = target.pull(sub)
    assert got.message.publish_time.year == 2035
