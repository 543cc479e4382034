"""Helpers for the Pub/Sub tests: our emulator and Google's as subprocesses, clients, names."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from emulators.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
GOOGLE_JAR = Path(
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/lib/cloud-pubsub-emulator-0.8.20-all.jar"
)
PROJECT = "test-project"
_env_lock = threading.Lock()


class Emulator:
    """Our emulator as a subprocess: ``python -m emulators.pubsub --port 0 ...``."""

    def __init__(self, *args: str, port: int = 0):
        self.args = list(args)
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.host = ""

    def start(self, timeout: float = 15.0) -> Emulator:
        cmd = [sys.executable, "-m", "emulators.pubsub", "--port", str(self.port), *self.args]
        # stderr to a file: an undrained pipe would block the server once it fills up
        self.log = tempfile.NamedTemporaryFile("w+", prefix="pubsub-emulator-", suffix=".log")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        line = _readline(self.proc, timeout)
        if not line.startswith("pubsub emulator listening on "):
            self.stop()
            raise RuntimeError(f"emulator did not start: {line!r} {self.stderr()!r}")
        self.host = line.rsplit(" ", 1)[1].strip()
        self.port = int(self.host.rsplit(":", 1)[1])
        return self

    def stderr(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def killed_and_restarted(self) -> Emulator:
        """SIGKILL this process (no chance to flush), then start one with the same arguments."""
        self.kill()
        self.stop()
        return Emulator(*self.args).start()

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def _start_google() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        ["java", "-jar", str(GOOGLE_JAR), "--host=127.0.0.1", f"--port={port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = _readline(proc, max(0.1, deadline - time.monotonic()))
        if not line:
            break
        if "Server started" in line:
            # keep draining so the JVM never blocks on a full pipe
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, f"127.0.0.1:{port}"
    proc.kill()
    raise RuntimeError("Google's Pub/Sub emulator did not start")


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
