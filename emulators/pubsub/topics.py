"""Model: published messages and topics."""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from emulators.pubsub.durations import seconds

# Upper bounds (bytes) of the topic/message_sizes histogram; the last catches the rest.
SIZE_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, float("inf"))


class Message:
    """One published message, shared (never copied) by every subscription that holds it.

    Published messages keep only their serialized form (``wire``); ``data`` is decoded from
    it on the rare paths that need it (push, dead letters), which halves the memory a large
    backlog takes.
    """

    __slots__ = (
        "seq",
        "_data",
        "attributes",
        "ordering_key",
        "publish_time_ns",
        "topic",
        "wire",
        "size",
    )
    decode_data: Callable[[bytes], bytes] = staticmethod(lambda wire: b"")

    def __init__(
        self,
        seq: int,
        data: bytes | None,
        attributes: dict[str, str],
        ordering_key: str,
        publish_time_ns: int,
        topic: str = "",
        wire: bytes | None = None,
        size: int | None = None,
    ):
        self.seq = seq
        self._data = data
        self.attributes = attributes
        self.ordering_key = ordering_key
        self.publish_time_ns = publish_time_ns
        self.topic = topic
        self.wire = wire  # serialized PubsubMessage, made by the wire layer
        if size is None:
            size = len(data or b"") + (
                sum(len(k) + len(v) for k, v in attributes.items()) if attributes else 0
            )
        self.size = size

    @property
    def data(self) -> bytes:
        if self._data is None:
            return Message.decode_data(self.wire or b"")
        return self._data

    @property
    def message_id(self) -> str:
        return str(self.seq)

    @property
    def publish_time(self) -> datetime:
        return datetime.fromtimestamp(self.publish_time_ns / 1e9, tz=timezone.utc)


@dataclass(eq=False)
class Topic:
    """A topic: its config (proto field names, JSON-ready), subscriptions and retained log."""

    name: str
    config: dict[str, Any]
    subscriptions: dict[str, Any] = field(default_factory=dict)
    snapshots: dict[str, Any] = field(default_factory=dict)
    log: deque[Message] = field(default_factory=deque)
    # Behind topic/send_request_count and topic/message_sizes (metrics.py)
    publish_requests: int = 0
    size_counts: list[int] = field(default_factory=lambda: [0] * len(SIZE_BUCKETS))
    size_sum: int = 0

    def count_published(self, messages: list[Message]) -> None:
        self.publish_requests += 1
        counts = self.size_counts
        for msg in messages:
            counts[bisect_left(SIZE_BUCKETS, msg.size)] += 1
            self.size_sum += msg.size

    @property
    def retention_s(self) -> float:
        return seconds(self.config.get("message_retention_duration"))

    @property
    def schema_settings(self) -> dict[str, Any] | None:
        settings = self.config.get("schema_settings")
        return settings if settings and settings.get("schema") else None

    def retain(self, messages: list[Message], now_ns: int) -> None:
        """Keep published messages for seek-to-time when the topic has a retention duration."""
        retention = self.retention_s
        if not retention:
            if self.log:
                self.log.clear()
            return
        self.log.extend(messages)
        horizon = now_ns - int(retention * 1e9)
        while self.log and self.log[0].publish_time_ns < horizon:
            self.log.popleft()
