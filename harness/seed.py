"""Seed rows for the BigQuery emulator from YAML, JSON or NDJSON files (``up --seed FILE``).

YAML and JSON files use the layout of goccy's bigquery-emulator (``--data-from-yaml``), so a
seed file written for it works here unchanged::

    projects:
      - id: local-project
        datasets:
          - id: analytics
            tables:
              - id: sources
                columns:
                  - {name: source, type: STRING, mode: REQUIRED}
                  - {name: team, type: STRING}
                data:
                  - {source: checkout, team: payments}

``columns`` may be left out for a table that exists already (the harness file defines it). An
NDJSON file (``.ndjson`` / ``.jsonl``) named ``DATASET.TABLE.ndjson`` holds rows for that table
of the harness project. Rows go in only while a table is empty, so a second ``up`` on a
persistent ``--data-dir`` does not load them twice. Data addressed to the harness file's own
project goes to the project actually provisioned (the pytest plugin uses one per test).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.config import ConfigError

YAML_SUFFIXES = (".yaml", ".yml")
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
SUFFIXES = (*YAML_SUFFIXES, ".json", *NDJSON_SUFFIXES)
_CHUNK = 500


@dataclass(frozen=True)
class SeedTable:
    """Rows (and optionally the columns) of one table, from one seed file."""

    project: str | None  # None: the harness project
    dataset: str
    table: str
    columns: list[dict] | None
    rows: list[dict]
    source: str


def read(path: str | Path) -> list[SeedTable]:
    """The tables of a seed file; :class:`ConfigError` (file and what is wrong) otherwise."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"{path}: a seed file must be {', '.join(SUFFIXES)}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such seed file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    if path.suffix in NDJSON_SUFFIXES:
        return [_ndjson(path, text)]
    if path.suffix in YAML_SUFFIXES:
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:  # says the line and column
            raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    else:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    return list(_layout(path, document))


def _ndjson(path: Path, text: str) -> SeedTable:
    name = path.name[: -len(path.suffix)]
    dataset, dot, table = name.partition(".")
    if not dot or "." in table:
        raise ConfigError(f"{path}: an NDJSON seed file must be named DATASET.TABLE{path.suffix}")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: not a JSON object: {exc}") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{number}: each line must be a JSON object (one row)")
        rows.append(row)
    return SeedTable(None, dataset, table, None, rows, str(path))


def _layout(path: Path, document) -> list[SeedTable]:
    def need(value, kind, what):
        if not isinstance(value, kind):
            raise ConfigError(f"{path}: {what} must be a {'list' if kind is list else 'mapping'}"
                              f" (goccy's layout: projects > datasets > tables)")
        return value

    need(document, dict, "the document")
    out = []
    for project in need(document.get("projects"), list, "'projects'"):
        need(project, dict, "each project")
        for dataset in need(project.get("datasets", []), list, "'datasets'"):
            need(dataset, dict, "each dataset")
            for table in need(dataset.get("tables", []), list, "'tables'"):
                need(table, dict, "each table")
                ids = (project.get("id"), dataset.get("id"), table.get("id"))
                if not all(isinstance(i, str) and i for i in ids):
                    raise ConfigError(f"{path}: every project, dataset and table needs an 'id'")
                columns = table.get("columns")
                if columns is not None:
                    for column in need(columns, list, "'columns'"):
                        if not isinstance(column, dict) or not {"name", "type"} <= set(column):
                            raise ConfigError(f"{path}: each column of {'.'.join(ids)} needs "
                                              f"'name' and 'type', not {column!r}")
                rows = table.get("data") or []
                for row in need(rows, list, "'data'"):
                    need(row, dict, f"each row of {'.'.join(ids)}")
                out.append(SeedTable(ids[0], ids[1], ids[2], columns, rows, str(path)))
    return out


def _fields(columns: list[dict]) -> list:
    from google.cloud import bigquery

    def api(column: dict) -> dict:
        out = {"name": column["name"], "type": str(column["type"]).upper(),
               "mode": str(column.get("mode", "NULLABLE")).upper()}
        if column.get("fields"):
            out["fields"] = [api(f) for f in column["fields"]]
        return out

    return [bigquery.SchemaField.from_api_repr(api(c)) for c in columns]


def load(seeds: list[SeedTable], client, file_project: str, project: str) -> list[str]:
    """Create what the seeds define and insert their rows into empty tables; returns one line
    per table loaded. Raises :class:`ConfigError` when BigQuery rejects rows."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    done = []
    for seed in seeds:
        target = project if seed.project in (None, file_project) else seed.project
        ref = f"{target}.{seed.dataset}.{seed.table}"
        try:
            existing = client.get_table(ref)
        except NotFound:
            existing = None
        if existing is None:
            if seed.columns is None:
                raise ConfigError(f"{seed.source}: table {ref} does not exist and the seed gives "
                                  "no columns; define it in the harness file or add 'columns'")
            client.create_dataset(f"{target}.{seed.dataset}", exists_ok=True)
            client.create_table(bigquery.Table(ref, schema=_fields(seed.columns)))
        elif existing.num_rows:
            continue
        for start in range(0, len(seed.rows), _CHUNK):
            errors = client.insert_rows_json(ref, seed.rows[start:start + _CHUNK])
            if errors:
                first = errors[0]
                raise ConfigError(f"{seed.source}: row {start + first['index'] + 1} for {ref} was "
                                  f"rejected: {first['errors'][0].get('message')}")
        done.append(f"{ref}: {len(seed.rows)} rows from {seed.source}")
    return done
