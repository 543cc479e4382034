"""One warm pipeline for many producer tests, each test in a namespace of its own.

The production pipeline runs once, unchanged (``pipeline.run.run`` with the harness file's
arguments, the same graph ``python -m pipeline`` deploys), on a project provisioned for it.
Tests do not restart it: each gets a :class:`Namespace`, publishes through it and sees only the
rows and dead letters of the messages it published itself. Both tables already record each
message's Pub/Sub ``message_id``, and the id is what the publisher got back from Pub/Sub, so
no other test can publish into a namespace: isolation needs no change to the pipeline. Each
message also carries the attribute :data:`NAMESPACE_ATTRIBUTE` (the test's name), so whoever
reads the shared tables by hand can tell which test wrote a row.

What is shared is what production shares: the pipeline writes insertId = event_id, so an event
id another test already wrote would be dropped as a duplicate. :meth:`Namespace.publish` refuses
such a publish at once (:class:`EventIdReused`) rather than letting the test time out.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable

from harness.endpoints import Endpoints
from harness.landing import Landing
from harness.resources import PipelineResources

NAMESPACE_ATTRIBUTE = "streambench-test"
"""Pub/Sub attribute naming the test that published a message (left out of the rows tests get)."""

_MAX_ATTRIBUTE_BYTES = 1024  # Pub/Sub's limit for an attribute value


class EventIdReused(ValueError):
    """A test published a valid event whose event_id another test's event already used."""


class WarmPipeline(PipelineResources):
    """The pipeline running in the background for many tests; drained once by :meth:`stop`."""

    def __init__(self, endpoints: Endpoints, config, extra_args: Iterable[str] = (), tuning=None):
        """``config``: a :class:`harness.provision.HarnessConfig` whose project is this
        pipeline's own; ``extra_args``: more ``python -m pipeline`` arguments."""
        self.endpoints = endpoints
        self.config = config
        self.extra_args = list(extra_args)
        self.tuning = tuning
        self.run = None
        self.publisher = None
        self.bigquery = None
        self.started_at: float | None = None
        self._owners: dict[str, str] = {}  # event_id of a valid event -> label of its namespace
        self._lock = threading.Lock()

    def start(self) -> WarmPipeline:
        """Provision the project, then start the pipeline."""
        from harness import clients
        from harness.provision import provision
        from harness.running import PipelineRun

        self.publisher = clients.publisher(self.endpoints)
        self.bigquery = clients.bigquery(self.endpoints, self.project)
        subscriber = clients.subscriber(self.endpoints)
        try:
            provision(self.config, self.publisher, subscriber, self.bigquery)
        finally:
            subscriber.close()
        args = self.config.pipeline_args() + self.extra_args
        self.run = PipelineRun(args, self.endpoints, self.landed, self.tuning).start()
        self.started_at = time.monotonic()
        return self

    def status(self) -> str:
        """One line about the pipeline, for failure reports."""
        if self.run is None or self.run.result is None:
            return "The warm pipeline is not running."
        age = time.monotonic() - (self.started_at or time.monotonic())
        return (
            f"The warm pipeline has run for {age:.0f}s on {self.run.subscription} "
            f"(counters so far: {self.run.counters() or 'none'})."
        )

    def namespace(self, label: str = "") -> Namespace:
        """A new namespace; ``label`` (e.g. the test's node id) goes into each message."""
        if self.run is None or self.run.result is None:
            raise RuntimeError("the warm pipeline is not running: start() it first")
        return Namespace(self, label or "namespace")

    def stop(self) -> dict[str, int]:
        """Drain and stop the pipeline (once, at the end); returns its counters."""
        counters = self.run.stop() if self.run is not None else {}
        if self.publisher is not None:
            self.publisher.stop()  # its batch threads; nothing is pending (publish waits for ids)
            self.bigquery.close()
        return counters

    def _claim(self, event_ids: Iterable[str], label: str) -> None:
        with self._lock:
            for event_id in event_ids:
                owner = self._owners.get(event_id)
                if owner is not None and owner != label:
                    raise EventIdReused(
                        f"event_id {event_id!r} was already published by {owner} on this warm "
                        f"pipeline: the pipeline writes insertId = event_id, so BigQuery would "
                        f"drop this event as a duplicate of that one. Give each test its own "
                        f"event ids (producer.unique_id({event_id!r}) makes one)."
                    )
            for event_id in event_ids:
                self._owners[event_id] = label


def _valid_event_ids(payloads: list[bytes], attributes: dict[str, str]) -> list[str]:
    """The event_id of each payload the pipeline would write as a row (its own checks)."""
    from pipeline.messages import Message, ParsedEvent, ValidEvent
    from pipeline.parse import parse_message
    from pipeline.validate import validate_event

    ids = []
    for payload in payloads:
        parsed = parse_message(Message(payload, attributes))
        if isinstance(parsed, ParsedEvent):
            valid = validate_event(parsed)
            if isinstance(valid, ValidEvent):
                ids.append(valid.event["event_id"])
    return ids


class Namespace(Landing):
    """One test's view of a :class:`WarmPipeline`: what it publishes, and only that, lands.

    ``publish`` adds message ids to the namespace; ``wait_for``, ``arrivals``, ``rows``,
    ``dead_letters`` and ``query`` (from :class:`harness.landing.Landing`) read only the rows
    of those messages.
    """

    def __init__(self, warm: WarmPipeline, label: str):
        self.warm = warm
        self.uid = uuid.uuid4().hex[:10]
        suffix = f" #{self.uid}"
        self.label = _truncate(label, _MAX_ATTRIBUTE_BYTES - len(suffix)) + suffix
        self._published: list[str] = []
        self._ids_made = 0
        super().__init__(
            warm.bigquery,
            warm.events_table,
            warm.dead_letter_table,
            message_ids=lambda: list(self._published),
            status=warm.status,
            hidden_attributes=(NAMESPACE_ATTRIBUTE,),
        )

    @property
    def message_ids(self) -> list[str]:
        """The ids of the messages published in this namespace, in order."""
        return list(self._published)

    def publish(self, items: Iterable[dict | bytes], **attributes: str) -> list[str]:
        """Publish events (dicts, sent as JSON) or raw payloads (bytes) with ``attributes``;
        returns the message ids. Raises :class:`EventIdReused` before publishing anything if
        a valid event reuses an event_id of another namespace."""
        from harness import traffic

        if NAMESPACE_ATTRIBUTE in attributes:
            raise ValueError(f"the attribute {NAMESPACE_ATTRIBUTE!r} is the harness's own")
        payloads = [i if isinstance(i, bytes) else json.dumps(i).encode() for i in items]
        self.warm._claim(_valid_event_ids(payloads, attributes), self.label)
        ids = traffic.publish(
            self.warm.publisher,
            self.warm.topic,
            payloads,
            **attributes,
            **{NAMESPACE_ATTRIBUTE: self.label},
        )
        self._published.extend(ids)
        return ids

    def unique_id(self, prefix: str = "e") -> str:
        """An event id no other namespace uses: ``prefix``, this namespace and a counter."""
        self._ids_made += 1
        return f"{prefix}-{self.uid}-{self._ids_made}"

    def __repr__(self) -> str:
        return f"Namespace({self.label!r}, {len(self._published)} message(s))"


def _truncate(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")
