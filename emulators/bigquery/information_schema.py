"""INFORMATION_SCHEMA views (TABLES, COLUMNS, SCHEMATA): snapshots of the catalog, which the
query engine loads into a temporary table each time a query names one."""

from __future__ import annotations

import datetime as dt

from .catalog import Catalog
from .errors import InvalidQuery
from .storage import Column

_INFO_COLUMNS = {
    "TABLES": [
        ("table_catalog", "VARCHAR"), ("table_schema", "VARCHAR"), ("table_name", "VARCHAR"),
        ("table_type", "VARCHAR"), ("is_insertable_into", "VARCHAR"), ("is_typed", "VARCHAR"),
        ("creation_time", "TIMESTAMPTZ"), ("ddl", "VARCHAR"),
    ],
    "COLUMNS": [
        ("table_catalog", "VARCHAR"), ("table_schema", "VARCHAR"), ("table_name", "VARCHAR"),
        ("column_name", "VARCHAR"), ("ordinal_position", "BIGINT"), ("is_nullable", "VARCHAR"),
        ("data_type", "VARCHAR"), ("is_generated", "VARCHAR"), ("is_hidden", "VARCHAR"),
        ("is_partitioning_column", "VARCHAR"), ("clustering_ordinal_position", "BIGINT"),
    ],
    "SCHEMATA": [
        ("catalog_name", "VARCHAR"), ("schema_name", "VARCHAR"), ("location", "VARCHAR"),
        ("creation_time", "TIMESTAMPTZ"),
    ],
}  # fmt: skip


def _sql_type(field: dict) -> str:
    if field["type"] == "RECORD":
        inner = ", ".join(f"{f['name']} {_sql_type(f)}" for f in field["fields"])
        base = f"STRUCT<{inner}>"
    else:
        base = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}.get(
            field["type"], field["type"]
        )
    return f"ARRAY<{base}>" if field.get("mode") == "REPEATED" else base


def snapshot(
    catalog: Catalog, project: str, dataset_id: str | None, view: str
) -> tuple[list[Column], list[tuple]]:
    """Columns and rows of INFORMATION_SCHEMA.<view> of a dataset (or the whole project)."""
    view = view.upper()
    if view not in _INFO_COLUMNS:
        raise InvalidQuery(f"INFORMATION_SCHEMA.{view} is not supported by this emulator")
    if dataset_id is not None:
        catalog.get_dataset(project, dataset_id)
    tables = [
        t
        for (p, d, _), t in sorted(list(catalog.tables.items()))
        if p == project and (dataset_id is None or d == dataset_id)
    ]
    rows: list[tuple] = []

    def ts(ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)

    if view == "TABLES":
        for t in tables:
            kind = t.type if t.type in ("VIEW", "EXTERNAL") else "BASE TABLE"
            insertable = "YES" if t.type == "TABLE" else "NO"
            rows.append(
                (
                    t.project,
                    t.dataset_id,
                    t.table_id,
                    kind,
                    insertable,
                    "NO",
                    ts(t.creation_time),
                    None,
                )
            )
    elif view == "COLUMNS":
        for t in tables:
            part = (t.properties.get("timePartitioning") or {}).get("field", "")
            clustering = [
                c.lower() for c in (t.properties.get("clustering") or {}).get("fields", [])
            ]
            for position, f in enumerate(t.schema, 1):
                name = f["name"]
                cluster_pos = (
                    clustering.index(name.lower()) + 1 if name.lower() in clustering else None
                )
                rows.append(
                    (
                        t.project, t.dataset_id, t.table_id, name, position,
                        "NO" if f.get("mode") in ("REQUIRED", "REPEATED") else "YES",
                        _sql_type(f), "NEVER", "NO", "YES" if name.lower() == part.lower() else "NO",
                        cluster_pos,
                    )
                )  # fmt: skip
    else:
        for (p, d), ds in sorted(list(catalog.datasets.items())):
            if p == project:
                rows.append((p, d, ds.location, ts(ds.creation_time)))
    return [Column(name, sql_type) for name, sql_type in _INFO_COLUMNS[view]], rows
