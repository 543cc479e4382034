"""Reference data for enrichment: a small table keyed by ``metadata.source``.

Loaded at run time on the workers, from a BigQuery table (``project:dataset.table`` or
``project.dataset.table``) or from a file (JSON array, NDJSON or CSV; any Beam filesystem, so
``gs://`` works on Dataflow). Each row must have a ``source`` column.
"""

from __future__ import annotations

import csv
import io
import json

import apache_beam as beam

KEY = "source"


def parse_reference_file(name: str, text: str) -> list[dict]:
    """Rows of a reference file; the format is chosen by the file name's extension."""
    if name.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(text)))
    stripped = text.lstrip()
    if stripped.startswith("["):
        return json.loads(stripped)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_reference_file(path: str) -> list[dict]:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as handle:
        return parse_reference_file(path, handle.read().decode("utf-8"))


def read_reference_table(table: str) -> list[dict]:
    from pipeline.endpoints import bigquery_client

    ref = table.replace(":", ".")
    client = bigquery_client(project=ref.split(".")[0])
    return [dict(row.items()) for row in client.list_rows(ref)]


def keyed(rows: list[dict]) -> list[tuple[str, dict]]:
    """``(source, row)`` pairs; rows without a source are a configuration error."""
    pairs = []
    for row in rows:
        if not row.get(KEY):
            raise ValueError(f"reference row without a {KEY!r} column: {row!r}")
        pairs.append((str(row[KEY]), _jsonable(row)))
    return pairs


def _jsonable(row: dict) -> dict:
    return json.loads(json.dumps(row, default=str))


class LoadReference(beam.PTransform):
    """A PCollection of ``(source, row)`` for ``beam.pvalue.AsDict``; empty with no source."""

    def __init__(self, table: str | None = None, path: str | None = None):
        super().__init__()
        if table and path:
            raise ValueError("give a reference table or a reference file, not both")
        self._table, self._path = table, path

    def expand(self, pbegin):
        table, path = self._table, self._path

        def load(_):
            if table:
                return keyed(read_reference_table(table))
            if path:
                return keyed(read_reference_file(path))
            return []

        return pbegin | beam.Impulse() | "Load" >> beam.FlatMap(load)
