"""Helpers for the Pub/Sub tests: our emulator and Google's as subprocesses, clients, names."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

from emulators.process import ServerProcess, StartError
from harness import google_emulator

PROJECT = "test-project"
_env_lock = threading.Lock()


class Emulator:
    """Our Pub/Sub emulator for tests, ``python -m emulators.pubsub --port 0 ...``
    (:class:`emulators.process.ServerProcess`); ``host`` is ``HOST:PORT``."""

    def __init__(self, *args: str, port: int = 0):
        self.args = list(args)
        self.port = port
        self.server: ServerProcess | None = None
        self.host = ""

    @property
    def proc(self):
        return self.server.process if self.server else None

    def start(self, timeout: float = 15.0) -> Emulator:
        self.server = ServerProcess(
            [sys.executable, "-m", "emulators.pubsub", "--port", str(self.port), *self.args],
            name="pubsub",
        )
        try:
            self.server.start(timeout)
        except StartError as exc:
            raise RuntimeError(str(exc)) from exc
        self.host, self.port = self.server.address, self.server.port
        return self

    def stderr(self) -> str:
        return self.server.log() if self.server else ""

    def kill(self) -> None:
        if self.server:
            self.server.kill()

    def killed_and_restarted(self) -> Emulator:
        """SIGKILL this process (no chance to flush), then start one with the same arguments."""
        self.kill()
        self.stop()
        return Emulator(*self.args).start()

    def stop(self) -> int | None:
        return self.server.stop() if self.server else None


def start_google() -> ServerProcess:
    """Google's Pub/Sub emulator (:mod:`harness.google_emulator`)."""
    return google_emulator.start()


def clients(host: str, **publisher_kwargs):
    """Real google-cloud-pubsub clients pointed at ``host``."""
    from google.cloud import pubsub_v1

    with _env_lock:
        old = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = host
        try:
            publisher = pubsub_v1.PublisherClient(**publisher_kwargs)
            subscriber = pubsub_v1.SubscriberClient()
        finally:
            if old is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = old
    return publisher, subscriber


@dataclass
class Target:
    """One emulator under test plus clients for it and fresh resource names."""

    kind: str
    host: str
    publisher: object = None
    subscriber: object = None
    created_topics: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.publisher, self.subscriber = clients(self.host)

    def name(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    def topic_path(self, prefix: str = "topic") -> str:
        return f"projects/{PROJECT}/topics/{self.name(prefix)}"

    def sub_path(self, prefix: str = "sub") -> str:
        return f"projects/{PROJECT}/subscriptions/{self.name(prefix)}"

    def snapshot_path(self, prefix: str = "snap") -> str:
        return f"projects/{PROJECT}/snapshots/{self.name(prefix)}"

    def topic(self, **kwargs) -> str:
        path = self.topic_path()
        self.publisher.create_topic(request={"name": path, **kwargs})
        return path

    def subscription(self, topic: str, **kwargs) -> str:
        path = self.sub_path()
        self.subscriber.create_subscription(request={"name": path, "topic": topic, **kwargs})
        return path

    def publish(self, topic: str, *payloads: bytes, **attrs) -> list[str]:
        """Publish synchronously through the raw API (one request)."""
        messages = [{"data": p, "attributes": attrs} for p in payloads]
        return list(self.publisher.api.publish(topic=topic, messages=messages).message_ids)

    def pull(self, sub: str, max_messages: int = 100, expect: int = 1, timeout: float = 10.0):
        """Pull until ``expect`` messages arrived (or the timeout)."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < expect and time.monotonic() < deadline:
            resp = self.subscriber.pull(
                request={"subscription": sub, "max_messages": max_messages}, timeout=5
            )
            got.extend(resp.received_messages)
        return got


def rest_clients(host: str):
    """google-cloud-pubsub clients on the REST transport against ``host``. The transports are
    passed built: the library sends PUBSUB_EMULATOR_HOST, when set, to gRPC only."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports.rest import PublisherRestTransport
    from google.pubsub_v1.services.subscriber.transports.rest import SubscriberRestTransport

    url = f"http://{host}"
    return (
        pubsub_v1.PublisherClient(
            transport=PublisherRestTransport(host=url, credentials=AnonymousCredentials())
        ),
        pubsub_v1.SubscriberClient(
            transport=SubscriberRestTransport(host=url, credentials=AnonymousCredentials())
        ),
    )
