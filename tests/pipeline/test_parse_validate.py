"""ParseEvents and ValidateEvents, one message at a time."""

import json
from datetime import datetime, timezone

import pytest

from pipeline import errors
from pipeline.messages import DeadLetter, Message, ParsedEvent, ValidEvent
from pipeline.parse import parse_message
from pipeline.validate import parse_timestamp, validate_event

GOOD = {
    "event_id": "e-1",
    "timestamp": "2024-05-06T07:08:09.123Z",
    "data": {"amount": 12.5, "user": {"id": "u1", "vip": True}, "note": None},
    "metadata": {"source": "checkout", "version": "1.0"},
}


def _validate(event: dict, **kwargs):
    return validate_event(ParsedEvent(event, Message(json.dumps(event).encode())), **kwargs)


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xff\xfe", errors.INVALID_UTF8),
        (b"{not json", errors.MALFORMED_JSON),
        (b"", errors.MALFORMED_JSON),
        (b"NaN", errors.MALFORMED_JSON),
        (b'{"x": 1e400}', errors.MALFORMED_JSON),
        (b"[1, 2]", errors.NOT_AN_OBJECT),
        (b'"text"', errors.NOT_AN_OBJECT),
        (b"42", errors.NOT_AN_OBJECT),
        (b"[" * 100_000, errors.MALFORMED_JSON),
    ],
)
def test_parse_rejects_with_reason(payload, reason):
    result = parse_message(Message(payload, message_id="m1"))
    assert isinstance(result, DeadLetter)
    assert result.error_type == reason
    assert result.failed_step == "parse"
    assert result.message.data == payload


def test_parse_accepts_an_object():
    result = parse_message(Message(json.dumps(GOOD).encode()))
    assert isinstance(result, ParsedEvent)
    assert result.event == GOOD


def test_valid_event_passes_with_utc_time():
    result = _validate(GOOD)
    assert isinstance(result, ValidEvent)
    assert result.event_time == datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "change, reason, path",
    [
        ({"event_id": ""}, errors.SCHEMA_VIOLATION, "$.event_id"),
        ({"event_id": "  "}, errors.SCHEMA_VIOLATION, "$.event_id"),
        ({"event_id": 7}, errors.SCHEMA_VIOLATION, "$.event_id"),
        ({"event_id": "x" * 129}, errors.SCHEMA_VIOLATION, "$.event_id"),
        ({"timestamp": 1714979289}, errors.SCHEMA_VIOLATION, "$.timestamp"),
        ({"timestamp": "2024-05-06"}, errors.INVALID_TIMESTAMP, "$.timestamp"),
        ({"timestamp": "2024-05-06T07:08:09"}, errors.INVALID_TIMESTAMP, "$.timestamp"),
        ({"timestamp": "2024-13-06T07:08:09Z"}, errors.INVALID_TIMESTAMP, "$.timestamp"),
        ({"timestamp": "yesterday"}, errors.INVALID_TIMESTAMP, "$.timestamp"),
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, errors.INVALID_TIMESTAMP, "$.timestamp"),
        ({"timestamp": "9999-12-31T23:59:59-01:00"}, errors.INVALID_TIMESTAMP, "$.timestamp"),
        ({"data": []}, errors.SCHEMA_VIOLATION, "$.data"),
        ({"data": {"list": [1, 2]}}, errors.SCHEMA_VIOLATION, "$.data.list"),
        ({"metadata": {"source": "s"}}, errors.SCHEMA_VIOLATION, "$.metadata"),
        ({"metadata": {"source": "", "version": "1"}}, errors.SCHEMA_VIOLATION, "$.metadata.source"),
        ({"unexpected": 1}, errors.SCHEMA_VIOLATION, "$"),
    ],
)
def test_invalid_events_are_dead_lettered_with_reason_and_path(change, reason, path):
    result = _validate({**GOOD, **change})
    assert isinstance(result, DeadLetter)
    assert (result.error_type, result.failed_step) == (reason, "validate")
    assert result.error_message.startswith(path + ":")


@pytest.mark.parametrize("missing", ["event_id", "timestamp", "data", "metadata"])
def test_missing_fields_are_named(missing):
    event = {k: v for k, v in GOOD.items() if k != missing}
    result = _validate(event)
    assert result.error_type == errors.SCHEMA_VIOLATION
    assert repr(missing) in result.error_message


def test_oversize_payload_is_dead_lettered_before_schema_checks():
    result = _validate(GOOD, max_event_bytes=10)
    assert result.error_type == errors.OVERSIZE_PAYLOAD
    assert result.event_id == "e-1"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("2024-01-01T02:00:00+02:00", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("2024-01-01t00:00:00.5z", datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)),
        ("2024-01-01T00:00:00.123456789Z", datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc)),
    ],
)
def test_parse_timestamp_normalises_to_utc(text, expected):
    assert parse_timestamp(text) == expected


def test_validator_resolves_the_data_value_anchor_once():
    """Nested data objects go through the anchor $ref; the pre-crawled registry resolves it."""
    deep = {**GOOD, "data": {"a": {"b": {"c": {"d": 1}}}}}
    assert isinstance(_validate(deep), ValidEvent)
    bad = {**GOOD, "data": {"a": {"b": {"c": {"d": [1]}}}}}
    assert _validate(bad).error_message.startswith("$.data.a.b.c.d:")


def test_a_message_rejected_at_the_edge_is_dead_lettered_as_it_says():
    # A valid event, but the edge (the MQTT bridge) refused it: it must not become a row.
    message = Message(
        json.dumps(GOOD).encode(),
        {errors.EDGE_ERROR_TYPE: errors.SOURCE_NOT_OWNED, errors.EDGE_ERROR_MESSAGE: "no"},
    )
    result = parse_message(message)
    assert isinstance(result, DeadLetter)
    assert (result.error_type, result.error_message, result.failed_step) == (
        errors.SOURCE_NOT_OWNED, "no", errors.EDGE_STEP)
    assert isinstance(parse_message(Message(json.dumps(GOOD).encode(), {"x": "y"})), ParsedEvent)
