"""Model: a subscription's backlog, leases, ack deadlines, redelivery, ordering, dead letters.

Everything here runs on the server's event loop thread, so nothing is locked. Time comes from
the broker's ``clock.Clock``: ``monotonic()`` for deadlines, ``time_ns()`` for publish times,
retention and activity (expiration), so tests can move it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from emulators.pubsub.clock import Clock
from emulators.pubsub.durations import seconds
from emulators.pubsub.errors import ApiError, invalid
from emulators.pubsub.topics import Message

DEFAULT_ACK_DEADLINE = 10
MAX_ACK_DEADLINE = 600
DEFAULT_RETENTION_S = 7 * 24 * 3600
# RetryPolicy's documented defaults; push subscriptions without a policy back off like this too.
DEFAULT_MIN_BACKOFF_S = 10.0
DEFAULT_MAX_BACKOFF_S = 600.0
PUSH_BACKOFF = (DEFAULT_MIN_BACKOFF_S, DEFAULT_MAX_BACKOFF_S)
INVALID_ACK_ID = "PERMANENT_FAILURE_INVALID_ACK_ID"
HISTORY_LIMIT = 1000  # acked / dead-lettered messages kept per subscription for introspection


class Entry:
    """One unacked message in one subscription, with what happened to it so far."""

    __slots__ = ("msg", "attempts", "ack_id", "deadline", "owner", "modacks", "nacks", "expired")

    def __init__(self, msg: Message, attempts: int = 0):
        self.msg = msg
        self.attempts = attempts
        self.ack_id: str | None = None
        self.deadline = 0.0
        self.owner: Any = None  # the stream (or push worker) holding the lease
        self.modacks = 0  # deadline extensions
        self.nacks = 0  # explicit nacks (modack to 0, failed push or export)
        self.expired = 0  # leases that ran out


class Subscription:
    """State of one subscription; configuration is the proto's fields as a JSON-ready dict."""

    _ack_counter = itertools.count(1)

    def __init__(self, name: str, config: dict[str, Any], epoch: str, clock: Clock | None = None):
        self.name = name
        self.epoch = epoch  # ack ids from another server run are expired, never confused
        self.clock = clock or Clock()
        # the last acked / dead-lettered messages: (entry, "acked" | "dead_lettered", time_ns)
        self.history: deque[tuple[Entry, str, int]] = deque(maxlen=HISTORY_LIMIT)
        self.last_active_ns = self.clock.time_ns()  # for the expiration policy
        self.connected = 0  # open StreamingPull calls: a connected subscriber is activity
        self.entries: dict[int, Entry] = {}  # seq -> unacked entry (ready, delayed or leased)
        self.pending: deque[Entry] = deque()
        self.key_queues: dict[str, deque[Entry]] = {}
        self.key_leased: dict[str, set[Entry]] = {}
        self.key_blocked: dict[str, float] = {}
        self.ready_keys: deque[str] = deque()
        self.delayed: list[tuple[float, int, Any]] = []
        self.leases: dict[str, Entry] = {}
        self.lease_heap: list[tuple[float, str]] = []
        self.acked: deque[Message] = deque()  # kept for seek when retain_acked_messages
        self.waiters: set[Any] = set()  # futures of pulls/streams waiting for messages
        self.on_removed: Callable[[Subscription, list[Message]], None] = lambda s, m: None
        # (subscription, message, delivery attempts, why it failed or None) -> forwards it
        self.dead_letter: Callable[..., None] = lambda s, m, n, error=None: None
        self.duplicate_rate: Callable[[], bool] = lambda: False
        self._tiebreak = itertools.count()
        self.deleted = False
        self.configure(config)

    # ---- configuration -------------------------------------------------------------------
    def configure(self, config: dict[str, Any]) -> None:
        from emulators.pubsub import filtering

        self.config = config
        self.topic: str = config["topic"]
        self.ack_deadline = int(config.get("ack_deadline_seconds") or DEFAULT_ACK_DEADLINE)
        self.ordered = bool(config.get("enable_message_ordering"))
        self.exactly_once = bool(config.get("enable_exactly_once_delivery"))
        self.retain_acked = bool(config.get("retain_acked_messages"))
        if not self.retain_acked:
            self.acked.clear()
        self.retention_s = seconds(config.get("message_retention_duration"), DEFAULT_RETENTION_S)
        self.detached = bool(config.get("detached"))
        self.matches = filtering.compile(config.get("filter", ""))
        dlp = config.get("dead_letter_policy") or {}
        self.dead_letter_topic: str = dlp.get("dead_letter_topic", "")
        self.max_delivery_attempts = int(dlp.get("max_delivery_attempts") or 5)
        rp = config.get("retry_policy")
        self.retry: tuple[float, float] | None = None
        if rp is not None:
            self.retry = (
                seconds(rp.get("minimum_backoff"), DEFAULT_MIN_BACKOFF_S),
                seconds(rp.get("maximum_backoff"), DEFAULT_MAX_BACKOFF_S),
            )
        self.push_endpoint: str = (config.get("push_config") or {}).get("push_endpoint", "")
        ttl = (config.get("expiration_policy") or {}).get("ttl")
        self.expiration_s = seconds(ttl) if ttl else None  # an empty policy never expires

    def touch(self) -> None:
        """Note subscriber activity (the expiration policy counts from the last)."""
        self.last_active_ns = self.clock.time_ns()

    def idle_too_long(self, now_ns: int) -> bool:
        return (
            self.expiration_s is not None
            and not self.connected
            and now_ns - self.last_active_ns > self.expiration_s * 1e9
        )

    # ---- waiting -------------------------------------------------------------------------
    def notify(self) -> None:
        waiters, self.waiters = self.waiters, set()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait(self, owner: Any = None, timeout: float | None = None) -> None:
        """Until notify() (messages to deliver) or, for ``owner`` (a stream or push lane that
        sets its ``waiter`` when acks free room), its wake-up; TimeoutError after ``timeout``."""
        waiter = asyncio.get_running_loop().create_future()
        if owner is not None:
            owner.waiter = waiter
        self.waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        finally:
            if owner is not None:
                owner.waiter = None
            self.waiters.discard(waiter)

    def has_ready(self) -> bool:
        return bool(self.pending or self.ready_keys)

    # ---- incoming ------------------------------------------------------------------------
    def enqueue(self, messages: Iterable[Message]) -> list[Message]:
        """Add published messages; returns those the filter let in (the others are acked)."""
        accepted = []
        matches = self.matches
        for msg in messages:
            if matches is not None and not matches(msg.attributes):
                continue
            entry = Entry(msg)
            self.entries[msg.seq] = entry
            self._ready(entry)
            accepted.append(msg)
        if accepted:
            self.notify()
        return accepted

    def restore(self, msg: Message) -> None:
        entry = Entry(msg)
        self.entries[msg.seq] = entry
        self._ready(entry)

    def _ready(self, entry: Entry) -> None:
        key = entry.msg.ordering_key
        if not (self.ordered and key):
            self.pending.append(entry)
            return
        queue = self.key_queues.get(key)
        if queue is None:
            queue = self.key_queues[key] = deque()
        if queue and queue[-1].msg.seq > entry.msg.seq:
            queue.append(entry)
            self.key_queues[key] = deque(sorted(queue, key=lambda e: e.msg.seq))
        else:
            queue.append(entry)
        self._maybe_ready_key(key)

    def _maybe_ready_key(self, key: str) -> None:
        if self.key_leased.get(key) or not self.key_queues.get(key) or key in self.ready_keys:
            return
        blocked = self.key_blocked.get(key)
        if blocked is not None:
            if blocked > self.clock.monotonic():
                return
            del self.key_blocked[key]
        self.ready_keys.append(key)

    # ---- delivery ------------------------------------------------------------------------
    def take(
        self, max_messages: int, max_bytes: int, deadline_s: float, owner: Any = None
    ) -> list[Entry]:
        """Lease up to ``max_messages`` ready messages (at least one if any, bytes permitting)."""
        out: list[Entry] = []
        if max_messages <= 0:
            return out
        clock = self.clock
        now = clock.monotonic()
        wall = clock.time_ns()
        self.last_active_ns = wall
        horizon = wall - int(self.retention_s * 1e9)
        size = 0
        while self.ready_keys and len(out) < max_messages and (not out or size < max_bytes):
            key = self.ready_keys.popleft()
            queue = self.key_queues[key]
            leased = self.key_leased.setdefault(key, set())
            while queue and len(out) < max_messages and (not out or size < max_bytes):
                entry = queue.popleft()
                leased.add(entry)
                size += entry.msg.size
                out.append(entry)
            if not queue:
                del self.key_queues[key]
        pending = self.pending
        while pending and len(out) < max_messages and (not out or size < max_bytes):
            entry = pending.popleft()
            if entry.msg.publish_time_ns < horizon:
                self._remove([entry])  # past the retention window: gone, as in the service
                continue
            size += entry.msg.size
            out.append(entry)
        deadline = now + deadline_s
        leases = self.leases
        heap = self.lease_heap
        prefix = self.epoch
        counter = self._ack_counter
        for entry in out:
            entry.attempts += 1
            ack_id = f"{prefix}-{next(counter):x}"
            entry.ack_id = ack_id
            entry.deadline = deadline
            entry.owner = owner
            leases[ack_id] = entry
            heapq.heappush(heap, (deadline, ack_id))
        return out

    def valid_ack_id(self, ack_id: str) -> bool:
        prefix, _, counter = ack_id.rpartition("-")
        return bool(prefix) and bool(counter) and all(c in "0123456789abcdef" for c in counter)

    def _check_ack_ids(self, ack_ids: list[str]) -> None:
        leases = self.leases
        for ack_id in ack_ids:
            if ack_id not in leases and not self.valid_ack_id(ack_id):
                raise invalid(
                    f"You have passed an invalid ack ID to the service (ack_id={ack_id})."
                )

    # ---- acks ----------------------------------------------------------------------------
    def ack(self, ack_ids: list[str]) -> list[str]:
        """Acknowledge; returns the ack ids that were unknown or expired."""
        self._check_ack_ids(ack_ids)
        failed = []
        done = []
        leases = self.leases
        for ack_id in ack_ids:
            entry = leases.pop(ack_id, None)
            if entry is None:
                failed.append(ack_id)
                continue
            self._release(entry)
            if self.duplicate_rate():
                entry.ack_id = None
                self._ready(entry)  # fault injection: the ack is "lost"
                continue
            done.append(entry)
        if done:
            self._remove(done)
            history = self.history
            if history.maxlen:
                now = self.clock.time_ns()
                history.extend((entry, "acked", now) for entry in done)
        self.last_active_ns = self.clock.time_ns()
        if self.has_ready():
            self.notify()
        return failed

    def modify(self, ack_ids: list[str], seconds_: int) -> list[str]:
        """Set new ack deadlines (0 = nack); returns the unknown or expired ack ids."""
        self._check_ack_ids(ack_ids)
        if seconds_ < 0 or seconds_ > MAX_ACK_DEADLINE:
            raise invalid(
                f"Invalid ack deadline given: {seconds_}. It must be between 0 and "
                f"{MAX_ACK_DEADLINE} seconds."
            )
        failed = []
        now = self.clock.monotonic()
        self.touch()
        for ack_id in ack_ids:
            entry = self.leases.get(ack_id)
            if entry is None:
                failed.append(ack_id)
                continue
            if seconds_ == 0:
                entry.nacks += 1
                self.nack(entry, now)
            else:
                entry.modacks += 1
                entry.deadline = now + seconds_
                heapq.heappush(self.lease_heap, (entry.deadline, ack_id))
        if self.has_ready():
            self.notify()
        return failed

    def nack(
        self,
        entry: Entry,
        now: float,
        backoff: tuple[float, float] | None = None,
        error: str | None = None,
    ) -> None:
        """Return a leased message: dead-letter it, delay it (retry policy) or make it ready.
        ``error``: why an export could not deliver it, for the dead-letter attribute."""
        if entry.ack_id is not None:
            self.leases.pop(entry.ack_id, None)
        entry.ack_id = None
        if self.dead_letter_topic and entry.attempts >= self.max_delivery_attempts:
            self._release(entry)
            self.dead_letter(self, entry.msg, entry.attempts, error)
            self._remove([entry], forwarded=True)
            if self.history.maxlen:
                self.history.append((entry, "dead_lettered", self.clock.time_ns()))
            return
        policy = self.retry or backoff
        delay = 0.0
        if policy:
            low, high = policy
            delay = min(high, low * (2 ** max(0, entry.attempts - 1)))
        key = entry.msg.ordering_key
        if not (self.ordered and key):
            self._release(entry)
            if delay > 0:
                heapq.heappush(self.delayed, (now + delay, next(self._tiebreak), entry))
            else:
                self.pending.appendleft(entry)
            return
        if delay > 0:
            # block the key first, so releasing the lease cannot make it ready early
            self.key_blocked[key] = now + delay
            heapq.heappush(self.delayed, (now + delay, next(self._tiebreak), key))
        # Everything after a failed message of a key is redelivered too, in order.
        group = [entry]
        for other in self.key_leased.get(key, ()):
            if other is not entry:
                group.append(other)
        for item in group:
            if item is not entry and item.ack_id is not None:
                self.leases.pop(item.ack_id, None)
                item.ack_id = None
            self._release(item)
        for item in group:
            self._ready(item)

    def _release(self, entry: Entry) -> None:
        owner = entry.owner
        if owner is not None:
            entry.owner = None
            owner.release(entry)
        if self.ordered:
            key = entry.msg.ordering_key
            leased = self.key_leased.get(key)
            if leased is not None:
                leased.discard(entry)
                if not leased:
                    del self.key_leased[key]
                    self._maybe_ready_key(key)

    def _remove(self, entries: list[Entry], forwarded: bool = False) -> None:
        msgs = []
        for entry in entries:
            if self.entries.pop(entry.msg.seq, None) is not None:
                msgs.append(entry.msg)
        if self.retain_acked and not forwarded:
            self.acked.extend(msgs)
        if msgs:
            self.on_removed(self, msgs)

    # ---- time ----------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Expire leases past their deadline and release delayed messages that are due."""
        changed = False
        heap = self.lease_heap
        while heap and heap[0][0] <= now:
            deadline, ack_id = heapq.heappop(heap)
            entry = self.leases.get(ack_id)
            if entry is not None and entry.deadline == deadline:
                entry.expired += 1
                self.nack(entry, now)
                changed = True
        delayed = self.delayed
        while delayed and delayed[0][0] <= now:
            _, _, item = heapq.heappop(delayed)
            if isinstance(item, str):
                self.key_blocked.pop(item, None)
                self._maybe_ready_key(item)
            elif self.entries.get(item.msg.seq) is item and item.ack_id is None:
                self.pending.append(item)
            changed = True
        if self.retain_acked and self.acked:
            horizon = self.clock.time_ns() - int(self.retention_s * 1e9)
            while self.acked and self.acked[0].publish_time_ns < horizon:
                self.acked.popleft()
        if changed and self.has_ready():
            self.notify()

    # ---- seek / snapshots / detach -------------------------------------------------------
    def unacked_messages(self) -> list[Message]:
        return [e.msg for e in self.entries.values()]

    def reset(self, unacked: Iterable[Message], acked: Iterable[Message] = ()) -> None:
        """Replace the backlog (seek): every lease is dropped, ``unacked`` becomes deliverable."""
        for entry in list(self.leases.values()):
            self._release(entry)
        self.entries.clear()
        self.pending.clear()
        self.key_queues.clear()
        self.key_leased.clear()
        self.key_blocked.clear()
        self.ready_keys.clear()
        self.delayed.clear()
        self.leases.clear()
        self.lease_heap.clear()
        self.acked = deque(acked) if self.retain_acked else deque()
        for msg in sorted(unacked, key=lambda m: m.seq):
            if self.matches is None or self.matches(msg.attributes):
                self.restore(msg)
        self.notify()

    def retained_messages(self) -> list[Message]:
        """Every message this subscription can still seek to (acked ones too, if retained)."""
        return list(self.acked) + self.unacked_messages()

    def require_active(self) -> None:
        if self.detached:
            raise ApiError(
                "FAILED_PRECONDITION", f"Subscription {self.name} has been detached from its topic."
            )
