"""Unmodified Beam BigQuery IO (DirectRunner, batch) against the emulator subprocess."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

beam = pytest.importorskip("apache_beam")

from apache_beam.io.gcp import bigquery as beam_bq  # noqa: E402
from apache_beam.io.gcp.bigquery_tools import RetryStrategy  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

from pipeline.endpoints import use_emulators_from_env  # noqa: E402

SCHEMA = {
    "fields": [
        {"name": "event_id", "type": "STRING", "mode": "REQUIRED"},
        {"name": "count", "type": "INTEGER", "mode": "NULLABLE"},
        {"name": "score", "type": "FLOAT", "mode": "NULLABLE"},
        {"name": "ok", "type": "BOOLEAN", "mode": "NULLABLE"},
        {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"},
        {"name": "day", "type": "DATE", "mode": "NULLABLE"},
        {"name": "amount", "type": "NUMERIC", "mode": "NULLABLE"},
        {"name": "data", "type": "JSON", "mode": "NULLABLE"},
        {"name": "tags", "type": "STRING", "mode": "REPEATED"},
        {
            "name": "source",
            "type": "RECORD",
            "mode": "NULLABLE",
            "fields": [
                {"name": "name", "type": "STRING", "mode": "NULLABLE"},
                {"name": "ids", "type": "INTEGER", "mode": "REPEATED"},
            ],
        },
    ]
}


@pytest.fixture
def beam_env(bq_emulator, monkeypatch):
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bq_emulator.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", bq_emulator.project)
    assert use_emulators_from_env() is True
    assert use_emulators_from_env() is True  # idempotent
    return bq_emulator


def _options(project: str) -> PipelineOptions:
    return PipelineOptions(["--project", project, "--runner", "DirectRunner"])


def _row(i: int) -> dict:
    return {
        "event_id": f"e{i}",
        "count": i,
        "score": i / 2,
        "ok": i % 2 == 0,
        "ts": f"2024-05-0{i + 1}T10:00:00.123456Z",
        "day": f"2024-05-0{i + 1}",
        "amount": f"{i}.25",
        "data": json.dumps({"k": i}),
        "tags": ["a", f"t{i}"],
        "source": {"name": "beam", "ids": [i, i + 1]},
    }


def test_write_to_bigquery_streaming_create_if_needed(beam_env, bq_client, bq_dataset):
    project = beam_env.project
    table = f"{project}:{bq_dataset}.events"
    with beam.Pipeline(options=_options(project)) as p:
        result = (
            p
            | beam.Create([_row(i) for i in range(3)])
            | beam_bq.WriteToBigQuery(
                table=table,
                schema=SCHEMA,
                method=beam_bq.WriteToBigQuery.Method.STREAMING_INSERTS,
                create_disposition=beam_bq.BigQueryDisposition.CREATE_IF_NEEDED,
                write_disposition=beam_bq.BigQueryDisposition.WRITE_APPEND,
                insert_retry_strategy=RetryStrategy.RETRY_NEVER,
            )
        )
        assert_that(result.failed_rows_with_errors, equal_to([]))

    created = bq_client.get_table(f"{project}.{bq_dataset}.events")
    assert [f.name for f in created.schema] == [f["name"] for f in SCHEMA["fields"]]
    rows = sorted((dict(r) for r in bq_client.list_rows(created)), key=lambda r: r["event_id"])
    assert len(rows) == 3
    assert rows[1]["count"] == 1 and rows[1]["score"] == 0.5 and rows[1]["ok"] is False
    assert rows[1]["ts"] == dt.datetime(2024, 5, 2, 10, 0, 0, 123456, tzinfo=dt.timezone.utc)
    assert rows[1]["day"] == dt.date(2024, 5, 2)
    assert rows[1]["amount"] == decimal.Decimal("1.25")
    assert rows[1]["data"] == {"k": 1}
    assert rows[1]["tags"] == ["a", "t1"]
    assert rows[1]["source"] == {"name": "beam", "ids": [1, 2]}


def test_write_create_never_missing_table_reports_failed_rows(beam_env, bq_dataset):
    project = beam_env.project
    with beam.Pipeline(options=_options(project)) as p:
        result = (
            p
            | beam.Create([_row(0)])
            | beam_bq.WriteToBigQuery(
                table=f"{project}:{bq_dataset}.missing",
                method=beam_bq.WriteToBigQuery.Method.STREAMING_INSERTS,
                create_disposition=beam_bq.BigQueryDisposition.CREATE_NEVER,
                write_disposition=beam_bq.BigQueryDisposition.WRITE_APPEND,
                insert_retry_strategy=RetryStrategy.RETRY_NEVER,
            )
        )
        reasons = result.failed_rows_with_errors | beam.Map(
            lambda e: (e[1]["event_id"], "Not found: Table" in e[2][0]["message"])
        )
        assert_that(reasons, equal_to([("e0", True)]))


def test_invalid_rows_come_out_of_failed_rows_with_errors(beam_env, bq_client, bq_dataset):
    project = beam_env.project
    good = _row(1)
    bad_type = dict(_row(2), count="not-a-number")
    missing_required = {k: v for k, v in _row(3).items() if k != "event_id"}
    with beam.Pipeline(options=_options(project)) as p:
        result = (
            p
            | beam.Create([good, bad_type, missing_required])
            | beam_bq.WriteToBigQuery(
                table=f"{project}:{bq_dataset}.events",
                schema=SCHEMA,
                method=beam_bq.WriteToBigQuery.Method.STREAMING_INSERTS,
                create_disposition=beam_bq.BigQueryDisposition.CREATE_IF_NEEDED,
                write_disposition=beam_bq.BigQueryDisposition.WRITE_APPEND,
                insert_retry_strategy=RetryStrategy.RETRY_NEVER,
            )
        )
        errors = result.failed_rows_with_errors | beam.Map(
            lambda e: (e[1].get("event_id"), e[2][0]["reason"], e[2][0]["location"])
        )
        assert_that(errors, equal_to([("e2", "invalid", "count"), (None, "invalid", "event_id")]))
    rows = list(bq_client.list_rows(f"{project}.{bq_dataset}.events"))
    assert [r["event_id"] for r in rows] == ["e1"]


def test_bigquery_write_fn_honours_our_insert_ids(beam_env, bq_client, bq_dataset):
    """The pipeline feeds BigQueryWriteFn (destination, (row, insert_id)) so redelivered
    messages are not stored twice."""
    project = beam_env.project
    table = f"{project}:{bq_dataset}.dedup"
    elements = [
        (table, (_row(0), "msg-0")),
        (table, (_row(1), "msg-1")),
        (table, (_row(0), "msg-0")),  # a redelivery
    ]
    write_fn = beam_bq.BigQueryWriteFn(
        batch_size=2,
        schema=SCHEMA,
        create_disposition=beam_bq.BigQueryDisposition.CREATE_IF_NEEDED,
        write_disposition=beam_bq.BigQueryDisposition.WRITE_APPEND,
        kms_key=None,
        retry_strategy=RetryStrategy.RETRY_NEVER,
    )
    with beam.Pipeline(options=_options(project)) as p:
        _ = p | beam.Create(elements) | beam.ParDo(write_fn)
    # A later bundle redelivering msg-1 is dropped too (within the dedup window).
    with beam.Pipeline(options=_options(project)) as p:
        _ = p | beam.Create([(table, (_row(1), "msg-1"))]) | beam.ParDo(write_fn)
    rows = list(bq_client.list_rows(f"{project}.{bq_dataset}.dedup"))
    assert sorted(r["event_id"] for r in rows) == ["e0", "e1"]


def test_streaming_pipeline_writes(beam_env, bq_client, bq_dataset):
    from apache_beam.options.pipeline_options import StandardOptions
    from apache_beam.testing.test_stream import TestStream

    project = beam_env.project
    options = _options(project)
    options.view_as(StandardOptions).streaming = True
    stream = (
        TestStream()
        .add_elements([_row(0), _row(1)])
        .advance_watermark_to(10)
        .add_elements([_row(2)])
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(options=options) as p:
        _ = (
            p
            | stream
            | beam_bq.WriteToBigQuery(
                table=f"{project}:{bq_dataset}.stream",
                schema=SCHEMA,
                method=beam_bq.WriteToBigQuery.Method.STREAMING_INSERTS,
            )
        )
    rows = bq_client.list_rows(f"{project}.{bq_dataset}.stream")
    assert sorted(r["event_id"] for r in rows) == ["e0", "e1", "e2"]
