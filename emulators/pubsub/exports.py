"""Export subscriptions: the service itself delivers a subscription's messages to a sink.

One ``Sink`` per kind of export, registered by the subscription field that configures it
(``bigquery_config`` -> ``bigquery_export.BigQuerySink``; Cloud Storage will plug in the same way
under ``cloud_storage_config``). ``ExportWorkers`` runs one task per export subscription: it
leases batches, asks the sink to write them, acks what was written and nacks what was not,
with the error text kept for the dead-letter topic (``CloudPubSubDeadLetterSourceDeliveryError
Message``). Delivery is at least once, as the service's: a write that half succeeded before a
failure may be repeated.

A sink that cannot write at all (table deleted, schema changed, no endpoint) reports a state
other than ACTIVE: the subscription shows it (``bigquery_config.state``, subscription ``state``
RESOURCE_ERROR), its leases go back without counting as delivery attempts, and the worker
checks again every ``RECHECK_S``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from emulators.pubsub.errors import ApiError
from emulators.pubsub.subscriptions import PUSH_BACKOFF, Entry, Subscription

log = logging.getLogger("emulators.pubsub.exports")
ACTIVE = "ACTIVE"
# the error a create/update gets when the destination is in this state
REFUSALS = {
    "NOT_FOUND": "NOT_FOUND",
    "PERMISSION_DENIED": "PERMISSION_DENIED",
    "SCHEMA_MISMATCH": "INVALID_ARGUMENT",
}
RECHECK_S = 2.0
EXPORT_LEASE_S = 600  # the worker acks or nacks every batch itself; no lease should run out


@dataclass
class Batch:
    """What a sink is asked to write: the subscription and the leased entries, in order."""

    subscription: Subscription
    topic_config: dict[str, Any]
    entries: list[Entry]


class Sink(Protocol):
    """Writes export batches somewhere."""

    field: str  # the subscription field configuring it, e.g. "bigquery_config"
    max_messages: int
    max_bytes: int

    async def check(
        self, name: str, config: dict[str, Any], topic: dict[str, Any]
    ) -> tuple[str, str]:
        """(ACTIVE or the documented error state, why); raises ApiError for a config the
        service refuses whatever the destination (called at create/update, then to resume)."""

    async def write(self, batch: Batch) -> list[str | None]:
        """Write the batch; per entry None (written) or why it could not be. Raises
        SinkUnavailable when nothing could be written for a reason outside the messages."""


class SinkUnavailable(Exception):
    """The destination cannot be written now; ``state`` is what the subscription shows."""

    def __init__(self, state: str, message: str):
        super().__init__(message)
        self.state = state


class _Lane:
    """The lease owner of one export subscription's batch in flight."""

    kind = "export"

    def __init__(self) -> None:
        self.waiter: asyncio.Future | None = None

    def release(self, entry: Entry) -> None:
        pass


class ExportWorkers:
    """One task per export subscription, started and stopped as configs change."""

    def __init__(self, sinks: dict[str, Callable[[], Sink]], topics: Callable[[str], Any]):
        self.factories = sinks
        self.topics = topics  # topic name -> Topic or None
        self.made: dict[str, Sink] = {}
        self.tasks: dict[str, tuple[asyncio.Task, str]] = {}

    def sink(self, field: str) -> Sink:
        if field not in self.made:
            self.made[field] = self.factories[field]()
        return self.made[field]

    @staticmethod
    def configured(config: dict[str, Any], field: str) -> bool:
        section = config.get(field) or {}
        return bool(section.get("table") or section.get("bucket"))

    def field_of(self, config: dict[str, Any]) -> str | None:
        for field in self.factories:
            if self.configured(config, field):
                return field
        return None

    async def validate(self, config: dict[str, Any]) -> None:
        """Before a create/update: the sink's checks; sets the export's ``state``."""
        field = self.field_of(config)
        if field is None:
            return
        if (config.get("push_config") or {}).get("push_endpoint"):
            raise ApiError(
                "INVALID_ARGUMENT",
                "A subscription can have only one of push_config, bigquery_config or "
                "cloud_storage_config.",
            )
        topic = self.topics(config.get("topic", ""))
        state, why = await self.sink(field).check(
            config.get("name", ""), config[field], topic.config if topic else {}
        )
        if state != ACTIVE:  # the service refuses to create what it could not write to
            raise ApiError(REFUSALS.get(state, "FAILED_PRECONDITION"), why)
        config[field]["state"] = state

    def on_change(self, sub: Subscription | None, name: str) -> None:
        field = None if sub is None or sub.detached or sub.deleted else self.field_of(sub.config)
        running = self.tasks.pop(name, None)
        if running is not None:  # a changed config: start over with the new one
            running[0].cancel()
        if field is not None:
            task = asyncio.get_running_loop().create_task(self._run(sub, field))
            self.tasks[name] = (task, field)

    async def _run(self, sub: Subscription, field: str) -> None:
        sink = self.sink(field)
        lane = _Lane()
        entries: list[Entry] = []
        try:
            while not sub.deleted:
                entries = sub.take(sink.max_messages, sink.max_bytes, EXPORT_LEASE_S, lane)
                if not entries:
                    await sub.wait(lane)
                    continue
                topic = self.topics(sub.topic)
                batch = Batch(sub, topic.config if topic else {}, entries)
                try:
                    results = await sink.write(batch)
                except SinkUnavailable as exc:
                    self._set_state(sub, field, exc.state)
                    log.warning("export of %s paused: %s", sub.name, exc)
                    self._give_back(sub, entries)
                    entries = []
                    await self._wait_until_writable(sub, sink, field)
                    continue
                except Exception:  # a bug in a sink must not stop the export for good
                    log.exception("export of %s failed", sub.name)
                    self._give_back(sub, entries)
                    entries = []
                    await asyncio.sleep(RECHECK_S)
                    continue
                self._set_state(sub, field, ACTIVE)
                self._settle(sub, entries, results)
                entries = []
        except asyncio.CancelledError:
            self._give_back(sub, entries)
            raise

    def _settle(self, sub: Subscription, entries: list[Entry], results: list[str | None]) -> None:
        written = [e.ack_id for e, error in zip(entries, results, strict=True) if error is None]
        now = sub.clock.monotonic()
        for entry, error in zip(entries, results, strict=True):
            if error is not None and entry.ack_id is not None and sub.leases.get(entry.ack_id):
                entry.nacks += 1
                sub.nack(entry, now, backoff=PUSH_BACKOFF, error=error)
        if written:
            sub.ack([a for a in written if a is not None])
        sub.notify()

    @staticmethod
    def _give_back(sub: Subscription, entries: list[Entry]) -> None:
        """Return leased entries untouched: this delivery attempt did not happen."""
        now = sub.clock.monotonic()
        for entry in entries:
            if entry.ack_id is not None and sub.leases.get(entry.ack_id) is entry:
                entry.attempts = max(0, entry.attempts - 1)
                sub.nack(entry, now)
        sub.notify()

    async def _wait_until_writable(self, sub: Subscription, sink: Sink, field: str) -> None:
        while not sub.deleted:
            await asyncio.sleep(RECHECK_S)
            topic = self.topics(sub.topic)
            try:
                state, _ = await sink.check(sub.name, sub.config.get(field) or {},
                                            topic.config if topic else {})
            except ApiError as exc:
                log.warning("export of %s still paused: %s", sub.name, exc.message)
                continue
            self._set_state(sub, field, state)
            if state == ACTIVE:
                return

    @staticmethod
    def _set_state(sub: Subscription, field: str, state: str) -> None:
        section = sub.config.get(field)
        if section is not None and section.get("state") != state:
            section["state"] = state

    async def close(self) -> None:
        for task, _ in self.tasks.values():
            task.cancel()
        for sink in self.made.values():
            closer = getattr(sink, "close", None)
            if closer is not None:
                await closer()
