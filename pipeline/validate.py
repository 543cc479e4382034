"""ValidateEvents: check parsed events against the contract in :mod:`pipeline.schema`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

import apache_beam as beam
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from pipeline import errors, metrics, schema
from pipeline.messages import DEAD_LETTER, DeadLetter, ParsedEvent, ValidEvent, route

STEP = "validate"

# RFC 3339 section 5.6: full-date "T" full-time, with a mandatory offset.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    contract = schema.event_json_schema()
    # Crawled once up front: otherwise `referencing` re-crawls the schema on every anchor $ref
    # lookup, which made validation the pipeline's most expensive step.
    registry = Registry().with_resource("", DRAFT202012.create_resource(contract)).crawl()
    return Draft202012Validator(contract, registry=registry)


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp to an aware UTC datetime; ``ValueError`` if it is not one."""
    if not _RFC3339.match(text):
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp with a time zone")
    head, _, rest = text.replace("t", "T").replace(" ", "T").partition(".")
    if rest:
        # Python keeps microseconds: drop nanosecond digits rather than reject them.
        digits = re.match(r"\d+", rest).group(0)
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        return datetime.fromisoformat(text.replace("z", "Z")).astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(f"{text!r} is outside the range of timestamps") from exc


def contract_violation(event: dict) -> tuple[str, str] | None:
    """The first violation of the contract as ``(json_path, message)``, or None."""
    error = best_match(_validator().iter_errors(event))
    if error is None:
        return None
    return error.json_path, error.message


def contract_violations(event: dict) -> list[tuple[str, str]]:
    """Every violation of the contract as ``(json_path, message)``: the one a dead letter names
    (:func:`contract_violation`) first, then the others in path order."""
    errors = list(_validator().iter_errors(event))
    if not errors:
        return []
    first = best_match(errors)
    out = [(first.json_path, first.message)]
    for error in sorted(errors, key=lambda e: (e.json_path, e.message)):
        # anyOf/oneOf errors hold the reasons of each branch: name the most relevant one.
        leaf = best_match(error.context) if error.context else error
        if (leaf.json_path, leaf.message) not in out:
            out.append((leaf.json_path, leaf.message))
    return out


def validate_event(parsed: ParsedEvent, max_event_bytes: int = schema.MAX_EVENT_BYTES):
    """A ``ValidEvent``, or a ``DeadLetter`` naming the rule and JSON path it broke."""
    message, event = parsed.message, parsed.event
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    if len(message.data) > max_event_bytes:
        return DeadLetter(
            message,
            errors.OVERSIZE_PAYLOAD,
            f"payload is {len(message.data)} bytes, the limit is {max_event_bytes}",
            STEP,
            event_id,
        )
    violation = contract_violation(event)
    if violation is not None:
        path, text = violation
        return DeadLetter(message, errors.SCHEMA_VIOLATION, f"{path}: {text}", STEP, event_id)
    try:
        event_time = parse_timestamp(event["timestamp"])
    except ValueError as exc:
        return DeadLetter(message, errors.INVALID_TIMESTAMP, f"$.timestamp: {exc}", STEP, event_id)
    return ValidEvent(event, message, event_time)


class _ValidateFn(beam.DoFn):
    def __init__(self, max_event_bytes: int):
        self._max_event_bytes = max_event_bytes

    def process(self, element):
        yield from route(validate_event(element, self._max_event_bytes), metrics.valid)


class ValidateEvents(beam.PTransform):
    """``ParsedEvent`` -> ``ValidEvent`` (main) and ``DeadLetter`` (``dead_letter``)."""

    def __init__(self, max_event_bytes: int = schema.MAX_EVENT_BYTES):
        super().__init__()
        self._max_event_bytes = max_event_bytes

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_ValidateFn(self._max_event_bytes)).with_outputs(
            DEAD_LETTER, main="events"
        )
