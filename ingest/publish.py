"""Publishing to Pub/Sub with the real client, behind a bounded in-flight budget.

The client batches (``BatchSettings``) and retries by itself; what it does not do is refuse
work up front: its own flow control (``PublishFlowControl``) either blocks the caller or fails
one message at a time, half-way through a request. :meth:`Publisher.reserve` admits a whole
request or none of it, so a caller can answer 503 before anything was published.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from ingest.config import Batching
from ingest.metrics import Metrics

_LOG = logging.getLogger(__name__)


@dataclass
class Outgoing:
    """One Pub/Sub message to publish."""

    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    ordering_key: str = ""


class NoCredentials(RuntimeError):
    """Neither an emulator nor Google credentials: the message says what to set."""


def make_client(batching: Batching, ordering: bool, emulator_host: str | None = None):
    """A ``PublisherClient`` with these batch settings. ``emulator_host`` talks plaintext gRPC
    to an emulator; without it the client follows ``PUBSUB_EMULATOR_HOST`` or uses ADC
    (:class:`NoCredentials` if there are none)."""
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import pubsub_v1

    kwargs = {
        "batch_settings": pubsub_v1.types.BatchSettings(
            max_bytes=batching.max_bytes,
            max_latency=batching.max_latency_seconds,
            max_messages=batching.max_messages,
        ),
        "publisher_options": pubsub_v1.types.PublisherOptions(enable_message_ordering=ordering),
    }
    if emulator_host:
        import grpc
        from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

        channel = grpc.insecure_channel(emulator_host)
        kwargs["transport"] = PublisherGrpcTransport(channel=channel)
    try:
        return pubsub_v1.PublisherClient(**kwargs)
    except DefaultCredentialsError:
        raise NoCredentials("no Google credentials found: set PUBSUB_EMULATOR_HOST to use an "
                            "emulator, or configure Application Default Credentials") from None


class Publisher:
    """A topic's publisher with an in-flight budget of events and bytes (thread-safe)."""

    def __init__(self, topic: str, client, metrics: Metrics, max_events: int, max_bytes: int):
        self.topic = topic
        self.client = client
        self.metrics = metrics
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._events = 0
        self._bytes = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stopped = False

    @classmethod
    def create(cls, topic: str, batching: Batching, ordering: bool, metrics: Metrics,
               max_events: int, max_bytes: int, emulator_host: str | None = None) -> Publisher:
        """A publisher with a client of its own (see :func:`make_client`)."""
        client = make_client(batching, ordering, emulator_host)
        return cls(topic, client, metrics, max_events, max_bytes)

    @property
    def in_flight(self) -> int:
        return self._events

    def reserve(self, events: int, size: int) -> bool:
        """Admit ``events`` messages of ``size`` bytes in total, or refuse them all."""
        with self._lock:
            if self._events and (self._events + events > self.max_events
                                 or self._bytes + size > self.max_bytes):
                return False
            self._events += events
            self._bytes += size
        self.metrics.in_flight.labels(self.metrics.service).set(self._events)
        return True

    def wait_for_room(self, events: int, size: int, stop: threading.Event) -> bool:
        """Block until :meth:`reserve` admits the messages (False if ``stop`` is set first)."""
        while not stop.is_set():
            if self.reserve(events, size):
                return True
            with self._idle:
                self._idle.wait(0.1)
        return False

    def _release(self, size: int) -> None:
        with self._lock:
            self._events -= 1
            self._bytes -= size
            self._idle.notify_all()
        self.metrics.in_flight.labels(self.metrics.service).set(self._events)

    def publish(self, message: Outgoing, on_done: Callable[[Future], None] | None = None) -> Future:
        """Hand one message (already reserved) to the client; the budget is given back, the
        latency observed and ``on_done`` called (in a client thread) when Pub/Sub answers."""
        started = time.perf_counter()
        size = len(message.data)
        try:
            future = self.client.publish(self.topic, message.data,
                                         ordering_key=message.ordering_key, **message.attributes)
        except Exception:
            self._release(size)
            raise

        def done(fut: Future) -> None:
            self._release(size)
            if fut.exception() is None:
                self.metrics.publish_latency.labels(self.metrics.service).observe(
                    time.perf_counter() - started)
            elif message.ordering_key:
                # The client pauses a key after a failure until told to resume.
                self.client.resume_publish(self.topic, message.ordering_key)
            if on_done is not None:
                on_done(fut)

        future.add_done_callback(done)
        return future

    def ready(self, timeout: float = 2.0) -> str | None:
        """None when the topic answers, else why not."""
        from google.api_core import exceptions

        try:
            self.client.api.get_topic(topic=self.topic, timeout=timeout, retry=None)
        except exceptions.NotFound:
            return f"the topic {self.topic} does not exist"
        except exceptions.GoogleAPICallError as exc:
            return f"Pub/Sub is not reachable: {exc.__class__.__name__}: {exc.message}"
        return None

    def flush(self) -> None:
        """Send every pending batch now; later publishes are refused (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.client.stop()

    def close(self, timeout: float = 30.0) -> None:
        """Flush the batches not sent yet and wait (up to ``timeout``) for Pub/Sub's answers."""
        self.flush()
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._events and time.monotonic() < deadline:
                self._idle.wait(0.1)
        if self._events:
            _LOG.warning("closing with %d events still unanswered by Pub/Sub", self._events)
