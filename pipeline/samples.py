"""Sample events for the demo, load tests and tests: valid ones and each kind of bad one."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

from pipeline import errors, schema

SOURCES = ("checkout", "web", "iot", "partner-feed")


def valid_event(rng: random.Random | None = None, event_id: str | None = None) -> dict:
    """A valid event of the current contract version."""
    rng = rng or random.Random()
    when = datetime.now(UTC) - timedelta(seconds=rng.uniform(0, 5))
    return {
        "event_id": event_id or str(uuid.UUID(int=rng.getrandbits(128))),
        "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": {
            "amount": round(rng.uniform(1, 500), 2),
            "currency": rng.choice(["EUR", "USD", "GBP"]),
            "user": {"id": f"u{rng.randrange(10_000)}", "new": rng.random() < 0.1},
        },
        "metadata": {"source": rng.choice(SOURCES), "version": schema.CONTRACT_VERSION},
    }


def encode(event: dict) -> bytes:
    return json.dumps(event).encode("utf-8")


def _without(key):
    def make(event):
        event.pop(key)
        return encode(event)

    return make


def _with(key, value):
    def make(event):
        event[key] = value
        return encode(event)

    return make


# (expected error_type, payload maker from a valid event)
BAD_KINDS = {
    "not_json": (errors.MALFORMED_JSON, lambda e: encode(e)[:-3]),
    "not_utf8": (errors.INVALID_UTF8, lambda e: b"\xff\xfe" + encode(e)),
    "not_object": (errors.NOT_AN_OBJECT, lambda e: json.dumps([e]).encode()),
    "missing_event_id": (errors.SCHEMA_VIOLATION, _without("event_id")),
    "empty_event_id": (errors.SCHEMA_VIOLATION, _with("event_id", "")),
    "bad_timestamp": (errors.INVALID_TIMESTAMP, _with("timestamp", "2024-02-30 25:61")),
    "array_in_data": (errors.SCHEMA_VIOLATION, _with("data", {"items": [1, 2, 3]})),
    "extra_field": (errors.SCHEMA_VIOLATION, _with("unexpected", True)),
}


def bad_payload(kind: str, rng: random.Random | None = None) -> tuple[bytes, str]:
    """A payload of the given bad ``kind`` and the error_type it must be dead-lettered with."""
    error_type, make = BAD_KINDS[kind]
    return make(valid_event(rng)), error_type


def mixed_batch(count: int, bad_ratio: float = 0.05, seed: int = 7) -> list[tuple[bytes, str | None]]:
    """``count`` payloads, about ``bad_ratio`` of them bad: ``(payload, expected_error or None)``."""
    rng = random.Random(seed)
    kinds = sorted(BAD_KINDS)
    batch = []
    for i in range(count):
        if rng.random() < bad_ratio:
            batch.append(bad_payload(kinds[i % len(kinds)], rng))
        else:
            batch.append((encode(valid_event(rng)), None))
    return batch
