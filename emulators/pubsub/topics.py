"""Model: published messages and topics."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from emulators.pubsub.durations import seconds


@dataclass(slots=True, eq=False)
class Message:
    """One published message, shared (never copied) by every subscription that holds it."""

    seq: int
    data: bytes
    attributes: dict[str, str]
    ordering_key: str
    publish_time_ns: int
    topic: str = ""
    wire: bytes | None = None  # serialized PubsubMessage, cached by the wire layer

    @property
    def message_id(self) -> str:
        return str(self.seq)

    @property
    def publish_time(self) -> datetime:
        return datetime.fromtimestamp(self.publish_time_ns / 1e9, tz=timezone.utc)

    @property
    def size(self) -> int:
        return len(self.data) + sum(len(k) + len(v) for k, v in self.attributes.items())


@dataclass(eq=False)
class Topic:
    """A topic: its config (proto field names, JSON-ready), subscriptions and retained log."""

    name: str
    config: dict[str, Any]
    subscriptions: dict[str, Any] = field(default_factory=dict)
    snapshots: dict[str, Any] = field(default_factory=dict)
    log: deque[Message] = field(default_factory=deque)

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
