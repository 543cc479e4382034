"""EnrichEvents turns a valid event into a row of the derived events-table schema."""

import json
from datetime import datetime, timedelta, timezone

from pipeline import schema
from pipeline.enrich import to_row
from pipeline.messages import Message, ValidEvent

NOW = datetime(2024, 5, 6, 8, 0, 0, tzinfo=timezone.utc)
EVENT = {
    "event_id": "e-1",
    "timestamp": "2024-05-06T09:08:09+02:00",
    "data": {"b": 1, "a": {"x": "y"}},
    "metadata": {"source": "checkout", "version": "1.0"},
}


def _valid(publish_time=NOW - timedelta(milliseconds=250)):
    message = Message(b"{}", {"k": "v"}, "m-1", publish_time)
    return ValidEvent(EVENT, message, datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc))


def test_row_has_exactly_the_table_columns():
    row = to_row(_valid(), {}, NOW)
    assert set(row) == {f["name"] for f in schema.events_table_schema()["fields"]}


def test_row_values():
    row = to_row(_valid(), {"checkout": {"source": "checkout", "team": "payments"}}, NOW)
    assert row["event_id"] == "e-1"
    assert row["event_timestamp"] == "2024-05-06T07:08:09.000000Z"
    assert row["event_date"] == "2024-05-06"
    assert json.loads(row["data"]) == EVENT["data"]
    assert (row["source"], row["schema_version"]) == ("checkout", "1.0")
    assert row["message_id"] == "m-1"
    assert json.loads(row["attributes"]) == {"k": "v"}
    assert row["processing_time"] == "2024-05-06T08:00:00.000000Z"
    assert row["lag_ms"] == 250
    assert row["reference_found"] is True
    assert json.loads(row["reference"])["team"] == "payments"


def test_unknown_reference_is_kept_and_flagged():
    row = to_row(_valid(publish_time=None), {"other": {"source": "other"}}, NOW)
    assert row["reference_found"] is False
    assert row["reference"] is None
    assert row["lag_ms"] is None
    assert row["publish_time"] is None
