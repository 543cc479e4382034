"""Plain-Python values that flow between the pipeline's transforms."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class Message:
    """A received Pub/Sub message, independent of the client library that delivered it."""

    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    publish_time: datetime | None = None

    @classmethod
    def of(cls, element: Any) -> Message:
        """Accept Beam's ``PubsubMessage``, a ``Message`` or raw bytes."""
        if isinstance(element, Message):
            return element
        if isinstance(element, (bytes, bytearray)):
            return cls(bytes(element))
        publish_time = getattr(element, "publish_time", None)
        if publish_time is not None and not isinstance(publish_time, datetime):
            # Beam's DirectRunner hands over a protobuf Timestamp.
            publish_time = publish_time.ToDatetime(tzinfo=UTC)
        return cls(
            data=bytes(element.data or b""),
            attributes=dict(element.attributes or {}),
            message_id=element.message_id or None,
            publish_time=publish_time,
        )


@dataclass
class ParsedEvent:
    """A message whose payload is a JSON object, not yet validated."""

    event: dict
    message: Message


@dataclass
class ValidEvent:
    """An event that satisfies the contract, with its timestamp parsed (UTC)."""

    event: dict
    message: Message
    event_time: datetime


@dataclass
class DeadLetter:
    """A message the pipeline could not turn into an events-table row, and why."""

    message: Message
    error_type: str
    error_message: str
    failed_step: str
    event_id: str | None = None
    processing_time: datetime = field(default_factory=lambda: utc_now())

    def to_row(self) -> dict:
        """The dead-letter table row, in BigQuery's insertAll JSON encoding."""
        return {
            "raw_payload": base64.b64encode(self.message.data).decode("ascii"),
            "error_type": self.error_type,
            "error_message": self.error_message[:10_000],
            "failed_step": self.failed_step,
            "event_id": self.event_id,
            "message_id": self.message.message_id,
            "attributes": json.dumps(self.message.attributes, sort_keys=True),
            "publish_time": to_bq_timestamp(self.message.publish_time),
            "processing_time": to_bq_timestamp(self.processing_time),
        }


DEAD_LETTER = "dead_letter"
"""The output tag every transform of the pipeline gives its dead letters."""


def route(result, ok_counter):
    """Yield ``result`` to the main output, or to ``DEAD_LETTER`` if it is a ``DeadLetter``,
    counting it either way."""
    import apache_beam as beam

    from pipeline import metrics

    if isinstance(result, DeadLetter):
        metrics.invalid(result.error_type).inc()
        yield beam.pvalue.TaggedOutput(DEAD_LETTER, result)
    else:
        ok_counter.inc()
        yield result


def to_bq_timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds, as BigQuery's insertAll accepts for TIMESTAMP."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> datetime:
    return datetime.now(UTC)
