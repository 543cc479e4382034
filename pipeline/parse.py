"""ParseEvents: Pub/Sub message bytes -> JSON object, or a dead letter saying why not."""

from __future__ import annotations

import json

import apache_beam as beam

from pipeline import errors, metrics
from pipeline.messages import DEAD_LETTER, DeadLetter, Message, ParsedEvent, route

STEP = "parse"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} is out of range")
    return value


def loads(text: str):
    """``json.loads`` as the pipeline reads payloads: NaN, Infinity and numbers out of the
    float range are errors. Raises ``ValueError`` or ``RecursionError``."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def rejected_upstream(message: Message) -> DeadLetter | None:
    """The dead letter of a message an ingestion edge already rejected (see
    :data:`pipeline.errors.EDGE_ERROR_TYPE`), or None for an ordinary message."""
    error_type = message.attributes.get(errors.EDGE_ERROR_TYPE)
    if not error_type:
        return None
    reason = message.attributes.get(errors.EDGE_ERROR_MESSAGE) or "rejected by the ingestion edge"
    return DeadLetter(message, error_type, reason, errors.EDGE_STEP)


def parse_message(message: Message) -> ParsedEvent | DeadLetter:
    """Decode one message; never raises."""
    rejected = rejected_upstream(message)
    if rejected is not None:
        return rejected
    try:
        text = message.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DeadLetter(message, errors.INVALID_UTF8, f"payload is not UTF-8: {exc}", STEP)
    try:
        event = loads(text)
    except (ValueError, RecursionError) as exc:
        return DeadLetter(message, errors.MALFORMED_JSON, f"payload is not JSON: {exc}", STEP)
    if not isinstance(event, dict):
        return DeadLetter(
            message,
            errors.NOT_AN_OBJECT,
            f"payload is JSON {type(event).__name__}, expected an object",
            STEP,
        )
    return ParsedEvent(event, message)


class _ParseFn(beam.DoFn):
    def process(self, element):
        metrics.messages_read.inc()
        yield from route(parse_message(Message.of(element)), metrics.parsed)


class ParseEvents(beam.PTransform):
    """``PubsubMessage``/bytes -> ``ParsedEvent`` (main) and ``DeadLetter`` (``dead_letter``)."""

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_ParseFn()).with_outputs(DEAD_LETTER, main="events")
