"""Batch uploads: NDJSON files through the same ProcessEvents as the stream, into the same tables.

``python -m pipeline.backfill --input 'gs://bucket/path/*.ndjson' --output_table P:D.events
--dead_letter_table P:D.events_dlq --temp_location gs://bucket/tmp``

Every line of every matched file (local paths or ``gs://``; ``.gz`` files are decompressed)
becomes one message whose attributes are ``source_file`` and ``line_number`` and whose
``message_id`` is ``<file>:<line>``; the same parse -> validate -> enrich transforms turn it into
an events row or a dead letter (which keeps the raw line, the reason, the file and the line
number). Blank lines are skipped, as BigQuery's NDJSON loads skip them.

**No duplicates, by a staging table and MERGE.** Rows and dead letters are written with
``WriteToBigQuery(method=FILE_LOADS)`` into two staging tables of this run (created empty
beforehand, same schemas, expiring after a day), then merged into the real tables by one
``MERGE`` each: an events row goes in only if no row with its ``event_id`` is there yet (and
only once if the input holds the same ``event_id`` twice), a dead letter only if none with its
``message_id`` and ``failed_step`` is. Running the same backfill twice, or over files that
overlap with what the stream already wrote, adds nothing twice. The staging tables are dropped
after a successful merge; if the pipeline or a merge fails they are kept for inspection, and a
rerun is safe. On Dataflow the launcher runs the pipeline, waits for it, then merges: the same
code, unchanged.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
)

from pipeline import metrics, schema
from pipeline.messages import DeadLetter, Message
from pipeline.options import EventPipelineOptions
from pipeline.reference import LoadReference
from pipeline.run import ProcessEvents
from pipeline.write import EVENTS_TABLE_PARAMETERS

STAGING_EXPIRATION_MS = 24 * 3600 * 1000


class BackfillOptions(PipelineOptions):
    """``--input``: the files to load (the rest are :class:`EventPipelineOptions`)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        group = parser.add_argument_group("backfill")
        group.add_argument(
            "--input",
            help="(required) NDJSON files: a local path or glob, or gs://bucket/path/*.ndjson.",
        )


REQUIRED = ("input", "output_table", "dead_letter_table")


def missing_options(options: PipelineOptions) -> list[str]:
    """The required options not given, as ``--flag`` strings."""
    values = options.get_all_options()
    return [f"--{name}" for name in REQUIRED if not values.get(name)]


# -- reading ---------------------------------------------------------------------------------


CHUNK = 1 << 20


def lines_of(handle, chunk_size: int = CHUNK):
    """The lines of a binary file object, without their line ends, read in large chunks (Beam's
    GCS reader answers a line iterator one byte per call)."""
    rest = b""
    while True:
        chunk = handle.read(chunk_size)
        if not chunk:
            break
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for line in parts:
            yield line.removesuffix(b"\r")
    if rest:
        yield rest.removesuffix(b"\r")


def numbered_lines(path: str, handle, chunk_size: int = CHUNK):
    """One message per non-blank line of an open binary file: the line's bytes, with where it
    came from in ``attributes`` and ``message_id`` (the dead-letter de-duplication key)."""
    for number, data in enumerate(lines_of(handle, chunk_size), start=1):
        if not data.strip():
            continue
        yield Message(
            data=data,
            attributes={"source_file": path, "line_number": str(number)},
            message_id=f"{path}:{number}",
        )


class _ReadNumberedLines(beam.DoFn):
    def process(self, readable: fileio.ReadableFile):
        with readable.open() as handle:  # decompresses .gz/.bz2 by the file's extension
            yield from numbered_lines(readable.metadata.path, handle)


class ReadNumberedLines(beam.PTransform):
    """File pattern -> one :class:`Message` per line (reshuffled so Dataflow spreads a big
    file's lines over its workers)."""

    def __init__(self, pattern: str):
        super().__init__()
        self._pattern = pattern

    def expand(self, pbegin):
        return (
            pbegin
            | "Match" >> fileio.MatchFiles(self._pattern)
            | "Open" >> fileio.ReadMatches()
            | "Lines" >> beam.ParDo(_ReadNumberedLines())
            | "Spread" >> beam.Reshuffle()
        )


# -- writing ---------------------------------------------------------------------------------


def _json_columns(table_schema: dict) -> tuple[str, ...]:
    return tuple(f["name"] for f in table_schema["fields"] if f["type"] == "JSON")


def load_row(row: dict, json_columns: tuple[str, ...]) -> dict:
    """An insertAll-encoded row as a load job wants it: JSON columns as JSON values, not text
    (a load job stores a JSON string as a string)."""
    out = dict(row)
    for name in json_columns:
        if isinstance(out.get(name), str):
            out[name] = json.loads(out[name])
    return out


def _file_loads(pcoll, table: str, table_schema: dict):
    columns = _json_columns(table_schema)
    return (
        pcoll
        | "LoadRow" >> beam.Map(load_row, columns)
        | "FileLoads" >> WriteToBigQuery(
            table,
            schema=table_schema,
            method=WriteToBigQuery.Method.FILE_LOADS,
            create_disposition=BigQueryDisposition.CREATE_NEVER,
            write_disposition=BigQueryDisposition.WRITE_APPEND,
        )
    )


class BackfillPipeline(beam.PTransform):
    """Files -> ProcessEvents -> the two staging tables (FILE_LOADS)."""

    def __init__(self, options: EventPipelineOptions, pattern: str, staging: Staging):
        super().__init__()
        self._options, self._pattern, self._staging = options, pattern, staging

    def expand(self, pbegin):
        o = self._options
        messages = pbegin | "Read" >> ReadNumberedLines(self._pattern)
        references = None
        if o.reference_table or o.reference_file:
            references = pbegin | "Reference" >> LoadReference(o.reference_table, o.reference_file)
        rows, dead_letters = messages | "Process" >> ProcessEvents(references, o.max_event_bytes)
        _ = (
            rows
            | "Count" >> beam.Map(_counted, metrics.written)
            | "WriteEvents" >> _Stage(self._staging.events, schema.events_table_schema())
        )
        _ = (
            dead_letters
            | "ToRow" >> beam.Map(DeadLetter.to_row)
            | "CountDeadLetters" >> beam.Map(_counted, metrics.dead_lettered)
            | "WriteDeadLetters" >> _Stage(self._staging.dead_letters,
                                          schema.dead_letter_table_schema())  # fmt: skip
        )
        return None


class _Stage(beam.PTransform):
    def __init__(self, table: str, table_schema: dict):
        super().__init__()
        self._table, self._schema = table, table_schema

    def expand(self, pcoll):
        return _file_loads(pcoll, self._table, self._schema)


def _counted(element, counter):
    counter.inc()
    return element


# -- staging and merging ---------------------------------------------------------------------


def _dotted(table: str) -> str:
    return table.replace(":", ".")


@dataclass(frozen=True)
class Staging:
    """The staging tables of one run, next to the targets (``<table>__backfill_<run>``)."""

    events: str
    dead_letters: str

    @classmethod
    def for_run(cls, output_table: str, dead_letter_table: str, run_id: str) -> Staging:
        return cls(
            f"{_dotted(output_table)}__backfill_{run_id}",
            f"{_dotted(dead_letter_table)}__backfill_{run_id}",
        )


def _create(client, table: str, table_schema: dict, extra: dict | None, expires: bool) -> None:
    from google.api_core.exceptions import Conflict
    from google.cloud import bigquery

    resource = {
        "tableReference": dict(zip(("projectId", "datasetId", "tableId"),
                                   _dotted(table).split("."), strict=True)),  # fmt: skip
        "schema": table_schema,
        **(extra or {}),
    }
    if expires:
        resource["expirationTime"] = str(int(time.time() * 1000) + STAGING_EXPIRATION_MS)
    try:
        client.create_table(bigquery.Table.from_api_repr(resource))
    except Conflict:
        pass


def merge_sql(target: str, staging: str, table_schema: dict, keys: tuple[str, ...],
              order_by: str) -> str:  # fmt: skip
    """``MERGE`` inserting the staging rows whose key the target lacks, each key once."""
    columns = [f["name"] for f in table_schema["fields"]]
    names = ", ".join(f"`{c}`" for c in columns)
    values = ", ".join(f"S.`{c}`" for c in columns)
    on = " AND ".join(f"T.`{k}` = S.`{k}`" for k in keys)
    partition = ", ".join(f"`{k}`" for k in keys)
    return (
        f"MERGE `{_dotted(target)}` AS T\n"
        f"USING (SELECT * FROM `{_dotted(staging)}` WHERE TRUE\n"
        f"       QUALIFY ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY `{order_by}`) = 1)"
        " AS S\n"
        f"ON {on}\n"
        f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
    )


EVENT_KEYS = ("event_id",)
DEAD_LETTER_KEYS = ("message_id", "failed_step")


def _count(client, table: str) -> int:
    return next(iter(client.query_and_wait(f"SELECT COUNT(*) AS n FROM `{_dotted(table)}`"))).n


def _merge(client, target: str, staging: str, table_schema: dict, keys) -> int:
    job = client.query(merge_sql(target, staging, table_schema, keys, "processing_time"))
    job.result()
    return int(job.num_dml_affected_rows or 0)


# -- running ---------------------------------------------------------------------------------


def run(argv: list[str] | None = None) -> dict:
    """Run a backfill from command-line style arguments; returns its summary."""
    from pipeline.endpoints import bigquery_client, use_emulators_from_env

    use_emulators_from_env()
    options = PipelineOptions(argv)
    options.view_as(StandardOptions).streaming = False
    missing = missing_options(options)
    if missing:
        raise ValueError(f"missing required option(s): {', '.join(missing)}")
    o = options.view_as(EventPipelineOptions)
    pattern = options.view_as(BackfillOptions).input
    project = options.view_as(GoogleCloudOptions).project or _dotted(o.output_table).split(".")[0]
    client = bigquery_client(project)
    if o.create_tables == "if_needed":
        _create(client, o.output_table, schema.events_table_schema(), EVENTS_TABLE_PARAMETERS,
                expires=False)  # fmt: skip
        _create(client, o.dead_letter_table, schema.dead_letter_table_schema(), None, False)
    staging = Staging.for_run(o.output_table, o.dead_letter_table, uuid.uuid4().hex[:12])
    _create(client, staging.events, schema.events_table_schema(), None, expires=True)
    _create(client, staging.dead_letters, schema.dead_letter_table_schema(), None, expires=True)
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | "Backfill" >> BackfillPipeline(o, pattern, staging)
    started = time.monotonic()
    result = pipeline.run()
    result.wait_until_finish()
    ran = time.monotonic()
    staged_rows, staged_dead = _count(client, staging.events), _count(client, staging.dead_letters)
    new_rows = _merge(client, o.output_table, staging.events, schema.events_table_schema(),
                      EVENT_KEYS)  # fmt: skip
    new_dead = _merge(client, o.dead_letter_table, staging.dead_letters,
                      schema.dead_letter_table_schema(), DEAD_LETTER_KEYS)  # fmt: skip
    for table in (staging.events, staging.dead_letters):
        client.delete_table(_dotted(table), not_found_ok=True)
    summary = {
        "pipeline_seconds": round(ran - started, 2),
        "merge_seconds": round(time.monotonic() - ran, 2),
        "lines": staged_rows + staged_dead,
        "rows": staged_rows,
        "dead_letters": staged_dead,
        "rows_added": new_rows,
        "rows_already_there": staged_rows - new_rows,
        "dead_letters_added": new_dead,
        "metrics": metrics.summary(result),
    }
    logging.info("backfill done", extra={"backfill": summary})
    return summary


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.backfill``; a missing option is one sentence and exit code 2."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    from pipeline import logs

    argv = sys.argv[1:] if argv is None else argv
    parser = _BeamArgumentParser(
        prog="python -m pipeline.backfill",
        usage="%(prog)s --input FILES --output_table TABLE --dead_letter_table TABLE "
        "--temp_location gs://BUCKET/tmp [options]",
        description=__doc__.split("\n\n")[0],
        epilog="Any other Apache Beam pipeline option is accepted and passed to the runner.",
    )
    for options_class in (BackfillOptions, EventPipelineOptions, GoogleCloudOptions):
        options_class._add_argparse_args(parser)
    known, _ = parser.parse_known_args(argv)
    missing = [f"--{name}" for name in REQUIRED if not getattr(known, name)]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    if not (known.temp_location or "").startswith("gs://"):
        parser.error("--temp_location gs://BUCKET/PATH is required: FILE_LOADS stages files there")
    logs.configure("INFO", json_lines=known.log_format == "json")
    summary = run(argv)
    print(json.dumps({k: v for k, v in summary.items() if k != "metrics"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
