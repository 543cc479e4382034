"""Model: snapshots, the unacked set of a subscription frozen for a later seek."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulators.pubsub.topics import Message

SNAPSHOT_LIFETIME_S = 7 * 24 * 3600


@dataclass(eq=False)
class Snapshot:
    """Messages unacked at creation plus every message published to the topic afterwards."""

    name: str
    topic: str
    expire_time_ns: int
    labels: dict[str, str] = field(default_factory=dict)
    messages: dict[int, Message] = field(default_factory=dict)

    def add(self, messages: list[Message]) -> None:
        for msg in messages:
            self.messages[msg.seq] = msg

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "topic": self.topic, "labels": dict(self.labels)}
