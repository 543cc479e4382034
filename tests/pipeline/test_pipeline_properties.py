"""Property-based tests (hypothesis) of every transform."""

import base64
import json
from datetime import date, datetime, timezone

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import schema
from pipeline.enrich import to_row
from pipeline.messages import DeadLetter, Message, ParsedEvent, ValidEvent
from pipeline.parse import parse_message
from pipeline.run import ProcessEvents
from pipeline.validate import validate_event

NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
data_values = st.recursive(
    scalars, lambda children: st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=10
)
timestamps = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones()
)
rfc3339 = timestamps.map(lambda t: t.isoformat(timespec="microseconds").replace("+00:00", "Z"))
non_blank = st.text(min_size=1, max_size=40).filter(lambda s: s.strip())
valid_events = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=schema.MAX_EVENT_ID_LENGTH).filter(str.strip),
        "timestamp": rfc3339,
        "data": st.dictionaries(st.text(max_size=10), data_values, max_size=6),
        "metadata": st.fixed_dictionaries({"source": non_blank, "version": non_blank}),
    }
)


def _outcome(message: Message):
    """Run parse then validate; return the single outcome."""
    parsed = parse_message(message)
    if isinstance(parsed, DeadLetter):
        return parsed
    return validate_event(parsed)


@given(st.binary(max_size=2000))
@settings(max_examples=400)
def test_arbitrary_bytes_end_in_exactly_one_outcome(payload):
    outcome = _outcome(Message(payload, message_id="m"))
    assert isinstance(outcome, (ValidEvent, DeadLetter))
    if isinstance(outcome, DeadLetter):
        assert outcome.message.data == payload  # raw payload kept for the dead-letter table
        row = outcome.to_row()
        assert base64.b64decode(row["raw_payload"]) == payload


@given(st.recursive(scalars | st.lists(scalars), lambda c: st.dictionaries(st.text(), c) | st.lists(c)))
@settings(max_examples=300)
def test_arbitrary_json_documents_never_crash(document):
    outcome = _outcome(Message(json.dumps(document).encode()))
    assert isinstance(outcome, (ValidEvent, DeadLetter))


def _check_cell(field: dict, value) -> None:
    if value is None:
        assert field["mode"] != "REQUIRED", field["name"]
        return
    kind = field["type"]
    if kind == "STRING":
        assert isinstance(value, str)
    elif kind == "TIMESTAMP":
        assert value.endswith("Z")
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    elif kind == "DATE":
        date.fromisoformat(value)
    elif kind == "JSON":
        json.loads(value)
    elif kind == "INT64":
        assert isinstance(value, int) and not isinstance(value, bool)
    elif kind == "BOOL":
        assert isinstance(value, bool)
    elif kind == "BYTES":
        base64.b64decode(value, validate=True)
    else:
        raise AssertionError(f"unexpected column type {kind}")


def _check_row(row: dict, table_schema: dict) -> None:
    fields = {f["name"]: f for f in table_schema["fields"]}
    assert set(row) == set(fields)
    for name, field in fields.items():
        _check_cell(field, row[name])


@given(valid_events, st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
@settings(max_examples=200)
def test_valid_events_round_trip_to_rows_of_the_derived_schema(event, attributes):
    message = Message(json.dumps(event).encode(), attributes, "m-1", NOW)
    outcome = validate_event(ParsedEvent(event, message))
    assert isinstance(outcome, ValidEvent), getattr(outcome, "error_message", None)
    row = to_row(outcome, {}, NOW)
    _check_row(row, schema.events_table_schema())
    assert row["event_id"] == event["event_id"]
    assert json.loads(row["data"]) == event["data"]
    assert json.loads(row["attributes"]) == attributes


@given(valid_events, st.sampled_from(["event_id", "timestamp", "data", "metadata"]))
@settings(max_examples=100)
def test_removing_a_required_field_always_dead_letters(event, missing):
    del event[missing]
    outcome = validate_event(ParsedEvent(event, Message(b"{}")))
    assert isinstance(outcome, DeadLetter)
    _check_row(outcome.to_row(), schema.dead_letter_table_schema())


@given(st.lists(st.one_of(st.binary(max_size=50), valid_events.map(lambda e: json.dumps(e).encode())), max_size=25))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_pipeline_partitions_every_message(payloads):
    """Through the composed Beam transforms: rows + dead letters == messages, none twice."""
    messages = [Message(p, message_id=str(i)) for i, p in enumerate(payloads)]
    with TestPipeline() as p:
        rows, dead = p | beam.Create(messages) | ProcessEvents(clock=lambda: NOW)
        ids = (
            (
                rows | "RowIds" >> beam.Map(lambda r: r["message_id"]),
                dead | "DeadIds" >> beam.Map(lambda d: d.message.message_id),
            )
            | beam.Flatten()
        )
        assert_that(ids, equal_to([m.message_id for m in messages]))
