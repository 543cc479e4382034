"""EnrichEvents: a valid event -> an events-table row (BigQuery insertAll JSON encoding)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime

import apache_beam as beam

from pipeline import errors, metrics, schema
from pipeline.messages import DEAD_LETTER, DeadLetter, ValidEvent, route, to_bq_timestamp, utc_now

STEP = "enrich"

def to_row(valid: ValidEvent, references: Mapping[str, dict], now: datetime) -> dict:
    """The events-table row of ``valid``; columns come from :mod:`pipeline.schema`."""
    row = {}
    for field in schema.CONTRACT:
        value = schema.event_value(valid.event, field)
        if field.kind == "timestamp":
            value = to_bq_timestamp(valid.event_time)  # normalised to UTC
        elif field.kind == "object":
            value = json.dumps(value, sort_keys=True, separators=(",", ":"))
        row[field.column] = value
    message = valid.message
    reference = references.get(valid.event["metadata"]["source"])
    lag_ms = None
    if message.publish_time is not None:
        lag_ms = int((now - message.publish_time).total_seconds() * 1000)
    row.update(
        publish_time=to_bq_timestamp(message.publish_time),
        message_id=message.message_id,
        attributes=json.dumps(message.attributes, sort_keys=True),
        processing_time=to_bq_timestamp(now),
        event_date=valid.event_time.date().isoformat(),
        lag_ms=lag_ms,
        reference_found=reference is not None,
        reference=None if reference is None else json.dumps(reference, sort_keys=True),
    )
    return row


class _EnrichFn(beam.DoFn):
    def __init__(self, clock: Callable[[], datetime]):
        self._clock = clock

    def process(self, element: ValidEvent, references=None):
        try:
            row = to_row(element, references or {}, self._clock())
        except Exception as exc:  # a bug here must not kill the bundle nor lose the message
            yield from route(
                DeadLetter(
                    element.message,
                    errors.ENRICH_FAILED,
                    f"{type(exc).__name__}: {exc}",
                    STEP,
                    element.event.get("event_id"),
                ),
                metrics.enriched,
            )
            return
        if not row["reference_found"]:
            metrics.unknown_reference.inc()
        if row["lag_ms"] is not None:
            metrics.end_to_end_lag_ms.update(row["lag_ms"])
        yield from route(row, metrics.enriched)


class EnrichEvents(beam.PTransform):
    """``ValidEvent`` -> row dict (main) and ``DeadLetter`` (``dead_letter``).

    ``references`` is an optional PCollection of ``(source, row)`` pairs used as a side input
    (see :class:`pipeline.reference.LoadReference`); events whose source has no reference row
    are kept with ``reference_found = false``.
    """

    def __init__(self, references=None, clock: Callable[[], datetime] = utc_now):
        super().__init__()
        self._references = references
        self._clock = clock

    def expand(self, pcoll):
        side = [] if self._references is None else [beam.pvalue.AsDict(self._references)]
        return pcoll | beam.ParDo(_EnrichFn(self._clock), *side).with_outputs(
            DEAD_LETTER, main="rows"
        )
