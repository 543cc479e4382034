"""Push delivery: envelope shape, no_wrapper bodies, and the dispatcher against a real HTTP server."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web
from google.protobuf import timestamp_pb2
from google.pubsub_v1.types import PubsubMessage

from emulators.pubsub.push import PushDispatcher, envelope, rfc3339, unwrapped

SUB = "projects/p/subscriptions/s"
WHEN = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)


@dataclass
class Msg:
    data: bytes
    attributes: dict = field(default_factory=dict)
    message_id: str = "42"
    publish_time: datetime = WHEN
    ordering_key: str = ""


def test_envelope_exact_shape():
    body = envelope(Msg(b"hello", {"k": "v"}), SUB, None)
    assert body == {
        "message": {
            "data": base64.b64encode(b"hello").decode(),
            "attributes": {"k": "v"},
            "messageId": "42",
            "message_id": "42",
            "publishTime": "2024-05-06T07:08:09.123Z",
            "publish_time": "2024-05-06T07:08:09.123Z",
        },
        "subscription": SUB,
    }


def test_envelope_optional_fields():
    body = envelope(Msg(b"", ordering_key="user-1"), SUB, 3)
    assert body["message"]["orderingKey"] == "user-1"
    assert body["deliveryAttempt"] == 3
    # empty data and attributes are omitted, as protobuf JSON does
    assert "data" not in body["message"] and "attributes" not in body["message"]
    assert "data" in envelope(Msg(b"x"), SUB, None)["message"]


def test_envelope_accepts_proto_plus_and_pb2_messages():
    msg = PubsubMessage(
        data=b"\x00\xff",
        attributes={"a": "b"},
        message_id="7",
        publish_time=WHEN,
        ordering_key="k",
    )
    from_plus = envelope(msg, SUB, None)
    from_pb2 = envelope(PubsubMessage.pb(msg), SUB, None)
    assert from_plus == from_pb2
    assert from_plus["message"]["data"] == "AP8="
    assert from_plus["message"]["publishTime"] == "2024-05-06T07:08:09.123Z"
    assert from_plus["message"]["orderingKey"] == "k"


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "2024-01-02T03:04:05Z"),
        (datetime(2024, 1, 2, 3, 4, 5, 100000), "2024-01-02T03:04:05.100Z"),
        (datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc), "2024-01-02T03:04:05.123456Z"),
        (
            datetime(2024, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1))),
            "2024-01-02T03:04:05Z",
        ),
        (timestamp_pb2.Timestamp(seconds=1704164645, nanos=1), "2024-01-02T03:04:05.000000001Z"),
        (timestamp_pb2.Timestamp(seconds=0, nanos=500_000_000), "1970-01-01T00:00:00.500Z"),
    ],
)
def test_rfc3339(ts, text):
    assert rfc3339(ts) == text


def test_unwrapped_with_and_without_metadata():
    msg = Msg(b"raw\x00bytes", {"color": "red", "bad key": "x", "nl": "a\nb"}, ordering_key="o")
    body, headers = unwrapped(msg, SUB, write_metadata=False)
    assert body == b"raw\x00bytes" and headers == {}
    body, headers = unwrapped(msg, SUB, write_metadata=True)
    assert body == b"raw\x00bytes"
    assert headers == {
        "color": "red",
        "x-goog-pubsub-subscription-name": SUB,
        "x-goog-pubsub-message-id": "42",
        "x-goog-pubsub-publish-time": "2024-05-06T07:08:09.123Z",
        "x-goog-pubsub-ordering-key": "o",
    }


# --- dispatcher against a real aiohttp server -------------------------------------------------


@asynccontextmanager
async def endpoint(statuses: list[int] | None = None, delay: float = 0.0):
    """A local HTTP server recording requests; answers with ``statuses`` in turn (then 200)."""
    received: list[tuple[dict, bytes]] = []
    pending = list(statuses or [])

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=pending.pop(0) if pending else 200)

    app = web.Application()
    app.router.add_post("/push", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/push", received
    finally:
        await runner.cleanup()


def test_deliver_posts_json_envelope():
    async def run():
        dispatcher = PushDispatcher()
        body = envelope(Msg(b"hi", {"k": "v"}), SUB, None)
        async with endpoint() as (url, received):
            assert await dispatcher.deliver(url, body, {})
            assert await dispatcher.deliver(url, body, {})  # the session is reused
        await dispatcher.close()
        return received

    received = asyncio.run(run())
    assert len(received) == 2
    headers, raw = received[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("APIs-Google")
    assert json.loads(raw) == envelope(Msg(b"hi", {"k": "v"}), SUB, None)


# 102 is in the success set too, but a server cannot send 1xx as a final response to test it
@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_success_codes_ack(status: int):
    async def run():
        dispatcher = PushDispatcher()
        async with endpoint([status]) as (url, _):
            ok = await dispatcher.deliver(url, {"x": 1}, {})
        await dispatcher.close()
        return ok

    assert asyncio.run(run()) is True


@pytest.mark.parametrize("status", [203, 301, 400, 404, 429, 500, 503])
def test_other_codes_nack(status: int):
    async def run():
        dispatcher = PushDispatcher()
        async with endpoint([status]) as (url, received):
            ok = await dispatcher.deliver(url, {"x": 1}, {})
        await dispatcher.close()
        return ok, received

    ok, received = asyncio.run(run())
    assert ok is False
    assert len(received) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"http://127.0.0.1:{_closed_port()}/push", id="closed-port"),
        "not a url",
        "ftp://127.0.0.1/x",
    ],
)
def test_unreachable_or_bad_endpoint_is_false(url: str):
    async def run():
        dispatcher = PushDispatcher(timeout=5)
        ok = await dispatcher.deliver(url, {"x": 1}, {})
        await dispatcher.close()
        return ok

    assert asyncio.run(run()) is False


def test_timeout_is_false():
    async def run():
        dispatcher = PushDispatcher(timeout=0.2)
        async with endpoint(delay=1) as (url, received):
            ok = await dispatcher.deliver(url, {"x": 1}, {})
        await dispatcher.close()
        return ok, received

    ok, received = asyncio.run(run())
    assert ok is False and len(received) == 1


def test_invalid_header_is_false_not_an_exception():
    async def run():
        dispatcher = PushDispatcher()
        async with endpoint() as (url, received):
            ok = await dispatcher.deliver(url, b"x", {"bad\nname": "v"})
        await dispatcher.close()
        return ok, received

    ok, received = asyncio.run(run())
    assert ok is False and received == []


def test_deliver_unwrapped_body_and_headers():
    async def run():
        dispatcher = PushDispatcher()
        body, headers = unwrapped(Msg(b"\x01raw", {"color": "red"}), SUB, write_metadata=True)
        async with endpoint() as (url, received):
            assert await dispatcher.deliver(url, body, headers)
        await dispatcher.close()
        return received

    [(headers, raw)] = asyncio.run(run())
    assert raw == b"\x01raw"
    assert headers["color"] == "red"
    assert headers["x-goog-pubsub-subscription-name"] == SUB
    assert headers["x-goog-pubsub-message-id"] == "42"
    assert headers["x-goog-pubsub-publish-time"] == "2024-05-06T07:08:09.123Z"
    assert headers.get("Content-Type") != "application/json"


# --- end to end: push subscriptions of the emulator process ------------------------------------




class ThreadedEndpoint:
    """An aiohttp push endpoint on its own loop/thread, for the synchronous Google clients."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        self.changed = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> str:
        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            with self.changed:
                self.requests.append((dict(request.headers), body))
                status = self.statuses.pop(0) if self.statuses else 200
                self.changed.notify_all()
            return web.Response(status=status)

        app = web.Application()
        app.router.add_post("/push", handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}/push"

    def wait_for(self, count: int, limit: float = 60) -> list[tuple[dict, bytes]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.requests) >= count, timeout=limit)
            assert len(self.requests) >= count, f"only {len(self.requests)} push requests"
            return list(self.requests)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _pull_ids(subscriber, sub: str, wait_s: float) -> list[str]:
    """Message ids a blocking pull returns within ``wait_s`` (none: an empty list)."""
    from google.api_core import exceptions as gexc
    from google.api_core import retry as gretry

    try:
        response = subscriber.pull(
            request={"subscription": sub, "max_messages": 10},
            timeout=wait_s,
            retry=gretry.Retry(deadline=wait_s),
        )
    except (gexc.DeadlineExceeded, gexc.RetryError):
        return []
    return [m.message.message_id for m in response.received_messages]


@pytest.mark.integration
def test_push_subscription_retries_500_and_acks_200(emulator_host):
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    project = "push-e2e"
    topic = publisher.create_topic(name=publisher.topic_path(project, "rides")).name
    dead = publisher.create_topic(name=publisher.topic_path(project, "rides-dead")).name
    sub = subscriber.subscription_path(project, "rides-push")
    endpoint = ThreadedEndpoint([500])
    try:
        subscriber.create_subscription(
            request={
                "name": sub,
                "topic": topic,
                "push_config": {"push_endpoint": endpoint.url},
                "ack_deadline_seconds": 10,
                "retry_policy": {
                    "minimum_backoff": timedelta(milliseconds=100),
                    "maximum_backoff": timedelta(seconds=1),
                },
                "dead_letter_policy": {"dead_letter_topic": dead, "max_delivery_attempts": 5},
            }
        )
        first_id = publisher.publish(topic, b"ride-1", city="Oslo").result(30)
        (h1, b1), (h2, b2) = endpoint.wait_for(2)[:2]
        first, second = json.loads(b1), json.loads(b2)
        assert h1["Content-Type"] == "application/json"
        assert first["subscription"] == sub
        assert first["message"]["messageId"] == first["message"]["message_id"] == first_id
        assert base64.b64decode(first["message"]["data"]) == b"ride-1"
        assert first["message"]["attributes"] == {"city": "Oslo"}
        assert first["message"]["publishTime"].endswith("Z")
        assert (first["deliveryAttempt"], second["deliveryAttempt"]) == (1, 2)
        assert second["message"]["messageId"] == first_id  # the 500 was retried

        # after the 200 the message is acked: the next push is the next message, and a pull
        # once the subscription is switched to pull finds nothing left
        second_id = publisher.publish(topic, b"ride-2").result(30)
        later = [json.loads(b)["message"]["messageId"] for _, b in endpoint.wait_for(3)[2:]]
        assert later == [second_id]
        subscriber.modify_push_config(subscription=sub, push_config={})
        # a nacked message would be ready again within maximum_backoff (1 s); wait longer
        assert _pull_ids(subscriber, sub, wait_s=3) == []
    finally:
        endpoint.close()


@pytest.mark.integration
def test_push_no_wrapper_with_metadata(emulator_host):
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    project = "push-e2e-unwrapped"
    topic = publisher.create_topic(name=publisher.topic_path(project, "rides")).name
    sub = subscriber.subscription_path(project, "rides-push")
    endpoint = ThreadedEndpoint([])
    try:
        subscriber.create_subscription(
            request={
                "name": sub,
                "topic": topic,
                "push_config": {
                    "push_endpoint": endpoint.url,
                    "no_wrapper": {"write_metadata": True},
                },
            }
        )
        message_id = publisher.publish(topic, b"\x00raw", color="red").result(30)
        [(headers, body)] = endpoint.wait_for(1)
        assert body == b"\x00raw"
        assert headers["color"] == "red"
        assert headers["x-goog-pubsub-message-id"] == message_id
        assert headers["x-goog-pubsub-subscription-name"] == sub
        assert headers["x-goog-pubsub-publish-time"].endswith("Z")
    finally:
        endpoint.close()
