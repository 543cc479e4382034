"""The composed transforms on Beam's TestPipeline, batch and TestStream."""

import json
from datetime import datetime, timezone

import apache_beam as beam
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from pipeline import errors, metrics
from pipeline.parse import ParseEvents
from pipeline.run import ProcessEvents
from pipeline.validate import ValidateEvents
from pipeline.write import _event_insert_id, _keyed

pytestmark = pytest.mark.slow

NOW = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)


def _event(event_id, source="web", timestamp="2024-01-01T11:59:00Z"):
    return {
        "event_id": event_id,
        "timestamp": timestamp,
        "data": {"n": 1},
        "metadata": {"source": source, "version": "1.0"},
    }


def _payload(event):
    return json.dumps(event).encode()


def test_parse_then_validate_split_good_and_bad():
    with TestPipeline() as p:
        parsed = p | beam.Create([_payload(_event("a")), b"{", _payload({"x": 1})]) | ParseEvents()
        validated = parsed.events | ValidateEvents()
        assert_that(
            validated.events | beam.Map(lambda v: v.event["event_id"]), equal_to(["a"]), "valid"
        )
        assert_that(
            parsed.dead_letter | beam.Map(lambda d: d.error_type),
            equal_to([errors.MALFORMED_JSON]),
            "parse_dl",
        )
        assert_that(
            validated.dead_letter | beam.Map(lambda d: d.error_type),
            equal_to([errors.SCHEMA_VIOLATION]),
            "validate_dl",
        )


def test_process_events_with_reference_side_input():
    messages = [
        PubsubMessage(_payload(_event("a", "web")), {"attr": "1"}, "m-a"),
        PubsubMessage(_payload(_event("b", "unknown-source")), {}, "m-b"),
        PubsubMessage(b"\xff", {"attr": "2"}, "m-c"),
    ]
    with TestPipeline() as p:
        refs = p | "Refs" >> beam.Create([("web", {"source": "web", "team": "growth"})])
        rows, dead = p | beam.Create(messages) | ProcessEvents(refs, clock=lambda: NOW)
        assert_that(
            rows | beam.Map(lambda r: (r["event_id"], r["message_id"], r["reference_found"])),
            equal_to([("a", "m-a", True), ("b", "m-b", False)]),
            "rows",
        )
        assert_that(
            dead | beam.Map(lambda d: (d.message.message_id, d.error_type, d.message.attributes)),
            equal_to([("m-c", errors.INVALID_UTF8, {"attr": "2"})]),
            "dead",
        )


def test_stream_with_late_and_duplicate_events():
    """Late events are still written; a duplicate keeps its event_id, the insertId BigQuery
    de-duplicates on, so it cannot become a second row."""
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([window.TimestampedValue(_payload(_event("a")), 10)])
        .add_elements([window.TimestampedValue(_payload(_event("b")), 20)])
        .advance_watermark_to(1000)
        # Late: event time far behind the watermark.
        .add_elements([window.TimestampedValue(_payload(_event("late", timestamp="2020-01-01T00:00:00Z")), 5)])
        # Duplicate redelivery of "a", and one bad message.
        .add_elements([window.TimestampedValue(_payload(_event("a")), 1001)])
        .add_elements([window.TimestampedValue(b"oops", 1002)])
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=options) as p:
        rows, dead = p | stream | ProcessEvents(clock=lambda: NOW)
        assert_that(
            rows | beam.Map(lambda r: r["event_id"]),
            equal_to(["a", "b", "late", "a"]),
            "rows",
        )
        assert_that(
            rows | beam.Map(_keyed("p:d.t", _event_insert_id, metrics.written))
            | beam.Map(lambda kv: kv[1][1]),
            equal_to(["a", "b", "late", "a"]),
            "insert_ids",
        )
        assert_that(
            dead | beam.Map(lambda d: d.error_type), equal_to([errors.MALFORMED_JSON]), "dead"
        )


def test_write_fn_sizes_rows_by_their_json_text():
    from pipeline.write import _EmulatorAwareWriteFn

    fn = _EmulatorAwareWriteFn(batch_size=10, max_insert_payload_size=50)
    row = {"event_id": "e" * 10}
    assert fn._check_row_size((row, "id")) == (len(json.dumps([row, "id"])), None)
    size, error = fn._check_row_size(({"event_id": "e" * 100}, "id"))
    assert size > 50 and "exceeds the maximum insert payload size" in error
