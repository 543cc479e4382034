"""How the demo's events reach Pub/Sub: published directly, POSTed to the REST edge, or sent by
MQTT devices through the broker and the bridge (``python -m harness.demo --via ...``).

Each producer takes payloads one at a time (:meth:`send`), in :meth:`finish` waits until
every one sent so far is answered, and lets its connections go in :meth:`close`. Answers are: Pub/Sub's message id, the edge's per-event verdict, or the broker's PUBACK
(which the bridge gives only after Pub/Sub accepted). :attr:`accepted` counts what went on to
Pub/Sub; :attr:`refused` counts, by reason, what the edge turned away (it never reaches the
pipeline, so the demo does not wait for it).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

VIAS = ("pubsub", "rest", "mqtt")


class Direct:
    """The Pub/Sub client, as the demo always did."""

    def __init__(self, publisher, topic: str):
        self.publisher, self.topic = publisher, topic
        self.futures = []
        self.accepted, self.refused = 0, Counter()

    def send(self, payload: bytes) -> None:
        self.futures.append(self.publisher.publish(self.topic, payload))

    def finish(self, timeout: float = 60) -> None:
        for future in self.futures:
            future.result(timeout=timeout)
        self.accepted += len(self.futures)
        self.futures.clear()

    def close(self) -> None:
        pass  # the publisher belongs to the caller


class Rest:
    """``POST /v1/events`` as NDJSON, ``batch`` events a request, ``workers`` requests at once;
    429/503 are retried after their ``Retry-After``."""

    def __init__(self, url: str, batch: int = 50, workers: int = 4, api_key: str | None = None):
        self.url, self.batch, self.api_key = f"{url.rstrip('/')}/v1/events", batch, api_key
        self.pending: list[bytes] = []
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="demo-rest")
        self.futures = []
        self.local = threading.local()
        self.lock = threading.Lock()
        self.accepted, self.refused = 0, Counter()

    def send(self, payload: bytes) -> None:
        self.pending.append(payload)
        if len(self.pending) >= self.batch:
            self._flush()

    def finish(self, timeout: float = 60) -> None:
        self._flush()
        for future in self.futures:
            future.result(timeout=timeout)
        self.futures.clear()

    def close(self) -> None:
        self.pool.shutdown()

    def _flush(self) -> None:
        if self.pending:
            body, self.pending = b"\n".join(self.pending) + b"\n", []
            self.futures.append(self.pool.submit(self._post, body))

    def _post(self, body: bytes, attempts: int = 10) -> None:
        import requests

        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        headers = {"Content-Type": "application/x-ndjson"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        for _ in range(attempts):
            response = session.post(self.url, data=body, headers=headers, timeout=60)
            if response.status_code in (429, 503):
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            break
        if response.status_code not in (200, 207, 422):
            with self.lock:
                self.refused[f"HTTP {response.status_code}"] += body.count(b"\n")
            return
        answer = response.json()
        with self.lock:
            # A duplicate here is a retried 503 whose first attempt Pub/Sub accepted: once.
            self.accepted += len(answer["accepted"])
            self.refused.update(item["error_type"] for item in answer["rejected"])


class Mqtt:
    """One MQTT client per device (the event's ``metadata.source``), QoS 1 on
    ``devices/<device>/events``; finished when every PUBACK has come."""

    def __init__(self, broker_url: str, topic_pattern: str = "devices/{}/events"):
        from urllib.parse import urlsplit

        where = urlsplit(broker_url)
        self.host, self.port, self.pattern = where.hostname, where.port or 1883, topic_pattern
        self.clients: dict = {}
        self.unacked: set[tuple[str, int]] = set()
        self.early: set[tuple[str, int]] = set()  # PUBACKs that came before publish() returned
        self.lock = threading.Lock()
        self.accepted, self.refused = 0, Counter()

    def _client(self, device: str):
        if device not in self.clients:
            import paho.mqtt.client as mqtt

            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"demo-{device}")
            client.username_pw_set(device)
            client.max_inflight_messages_set(1000)

            def on_publish(_client, _userdata, mid, _reason_code, _properties):
                with self.lock:
                    self._acked((device, mid))

            client.on_publish = on_publish
            client.connect(self.host, self.port)
            client.loop_start()
            self.clients[device] = client
        return self.clients[device]

    def _acked(self, key: tuple[str, int]) -> None:
        if key in self.unacked:
            self.unacked.discard(key)
            self.accepted += 1
        else:
            self.early.add(key)

    def send(self, payload: bytes) -> None:
        device = device_of(payload)
        # Not under self.lock: paho calls on_publish holding its own mutex, which publish()
        # takes too; one lock held across both orders would deadlock.
        info = self._client(device).publish(self.pattern.format(device), payload, qos=1)
        key = (device, info.mid)
        with self.lock:
            if key in self.early:
                self.early.discard(key)
                self.accepted += 1
            else:
                self.unacked.add(key)

    def finish(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.unacked and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.unacked:
            raise TimeoutError(f"{len(self.unacked)} MQTT messages got no PUBACK in {timeout:.0f}s")

    def close(self) -> None:
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()


def device_of(payload: bytes) -> str:
    """The device an event claims to come from (its ``metadata.source``), when that is a
    usable MQTT topic level; else ``unknown-device`` (the bridge dead-letters such events)."""
    try:
        source = json.loads(payload)["metadata"]["source"]
    except (ValueError, TypeError, KeyError):
        return "unknown-device"
    if not isinstance(source, str) or not source or any(c in source for c in "/+#\0"):
        return "unknown-device"
    return source
