"""WriteEvents / WriteDeadLetters: streaming inserts into BigQuery with Beam's own write DoFn.

``WriteToBigQuery(method=STREAMING_INSERTS)`` gives every row a random insertId, so a message
that Pub/Sub redelivers (or a producer re-publishes) becomes a second row. The pipeline needs
the insertId to be the event_id instead, which ``WriteToBigQuery`` cannot be told; so these
transforms feed Beam's ``BigQueryWriteFn`` - the DoFn inside ``WriteToBigQuery`` - with
``(table, (row, insert_id))`` pairs themselves. Table creation, batching, retries and the
failed-rows outputs are Beam's.
"""

from __future__ import annotations

import hashlib
import json

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, BigQueryWriteFn
from apache_beam.io.gcp.bigquery_tools import RetryStrategy

from harness import beam_local
from pipeline import errors, metrics, schema
from pipeline.messages import DeadLetter, Message

STEP = "write"
BATCH_SIZE = 500

EVENTS_TABLE_PARAMETERS = {
    "timePartitioning": {"type": "DAY", "field": "event_date"},
    "clustering": {"fields": ["source"]},
}


# The one Beam-internal override outside harness.beam_local's registry: fail early, naming the
# Beam version, if the private method it replaces is gone.
beam_local.require(BigQueryWriteFn, "_check_row_size")


class _EmulatorAwareWriteFn(BigQueryWriteFn):
    """``BigQueryWriteFn`` that first points Beam at local emulators when they are configured."""

    def setup(self):
        from pipeline.endpoints import use_emulators_from_env

        use_emulators_from_env()
        super().setup()

    def _check_row_size(self, row_and_insert_id):
        # Beam sizes rows with objsize.get_deep_size, which walks far beyond the row (~1 ms per
        # row); the JSON text is what insertAll sends, so its length is the size that counts.
        size = len(json.dumps(row_and_insert_id, default=str))
        if size >= self._max_insert_payload_size:
            return size, (
                f"Received row with size {size / 1e6}MB that exceeds the maximum insert payload "
                f"size set ({self._max_insert_payload_size / 1e6}MB)."
            )
        return size, None


def _write(pcoll, table: str, table_schema: dict, create: bool, parameters: dict | None):
    write_fn = _EmulatorAwareWriteFn(
        batch_size=BATCH_SIZE,
        schema=table_schema,
        create_disposition=(
            BigQueryDisposition.CREATE_IF_NEEDED if create else BigQueryDisposition.CREATE_NEVER
        ),
        write_disposition=BigQueryDisposition.WRITE_APPEND,
        retry_strategy=RetryStrategy.RETRY_ON_TRANSIENT_ERROR,
        additional_bq_parameters=parameters,
    )
    return pcoll | beam.ParDo(write_fn).with_outputs(
        BigQueryWriteFn.FAILED_ROWS, BigQueryWriteFn.FAILED_ROWS_WITH_ERRORS
    )


def _keyed(table: str, insert_id_of, counter):
    """``row -> (table, (row, insert_id))``, the input ``BigQueryWriteFn`` expects."""

    def key(row):
        counter.inc()
        return table, (row, insert_id_of(row))

    return key


def _event_insert_id(row: dict) -> str:
    return row["event_id"]


def failed_insert_to_dead_letter(failure) -> DeadLetter:
    """``(table, row, errors)`` from ``BigQueryWriteFn`` -> a dead letter holding the row."""
    _table, row, insert_errors = failure
    attributes = row.get("attributes")
    return DeadLetter(
        Message(
            data=json.dumps(row, sort_keys=True).encode("utf-8"),
            attributes=json.loads(attributes) if attributes else {},
            message_id=row.get("message_id"),
        ),
        errors.INSERT_FAILED,
        json.dumps(insert_errors, default=str)[:10_000],
        STEP,
        row.get("event_id"),
    )


class WriteEvents(beam.PTransform):
    """Rows -> the events table, insertId = event_id. Output: ``DeadLetter`` of failed inserts."""

    def __init__(self, table: str, create_table: bool = True):
        super().__init__()
        self._table, self._create = table, create_table

    def expand(self, rows):
        result = _write(
            rows | "Key" >> beam.Map(_keyed(self._table, _event_insert_id, metrics.written)),
            self._table,
            schema.events_table_schema(),
            self._create,
            EVENTS_TABLE_PARAMETERS,
        )
        return result[BigQueryWriteFn.FAILED_ROWS_WITH_ERRORS] | "ToDeadLetter" >> beam.Map(
            failed_insert_to_dead_letter
        )


def _dead_letter_insert_id(row: dict) -> str:
    # Redelivery of the same message must not add a second dead-letter row.
    basis = row["message_id"] or row["raw_payload"] or ""
    return hashlib.sha256(f"{basis}|{row['failed_step']}".encode()).hexdigest()


class WriteDeadLetters(beam.PTransform):
    """``DeadLetter`` -> the dead-letter table. Rows it cannot insert are logged by Beam."""

    def __init__(self, table: str, create_table: bool = True):
        super().__init__()
        self._table, self._create = table, create_table

    def expand(self, dead_letters):
        return _write(
            dead_letters
            | "ToRow" >> beam.Map(DeadLetter.to_row)
            | "Key" >> beam.Map(_keyed(self._table, _dead_letter_insert_id, metrics.dead_lettered)),
            self._table,
            schema.dead_letter_table_schema(),
            self._create,
            None,
        )[BigQueryWriteFn.FAILED_ROWS_WITH_ERRORS]

