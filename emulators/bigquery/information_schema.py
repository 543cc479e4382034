"""INFORMATION_SCHEMA views (TABLES, COLUMNS, SCHEMATA, ROUTINES, PARAMETERS): snapshots of the
catalog and the routines, which the query engine loads into a temporary table each time a query
names one."""

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
    "ROUTINES": [
        ("specific_catalog", "VARCHAR"), ("specific_schema", "VARCHAR"),
        ("specific_name", "VARCHAR"), ("routine_catalog", "VARCHAR"),
        ("routine_schema", "VARCHAR"), ("routine_name", "VARCHAR"), ("routine_type", "VARCHAR"),
        ("data_type", "VARCHAR"), ("routine_body", "VARCHAR"), ("routine_definition", "VARCHAR"),
        ("external_language", "VARCHAR"), ("is_deterministic", "VARCHAR"),
        ("security_type", "VARCHAR"), ("created", "TIMESTAMPTZ"), ("last_altered", "TIMESTAMPTZ"),
        ("ddl", "VARCHAR"), ("connection", "VARCHAR"),
    ],
    "PARAMETERS": [
        ("specific_catalog", "VARCHAR"), ("specific_schema", "VARCHAR"),
        ("specific_name", "VARCHAR"), ("ordinal_position", "BIGINT"),
        ("parameter_mode", "VARCHAR"), ("is_result", "VARCHAR"), ("parameter_name", "VARCHAR"),
        ("data_type", "VARCHAR"), ("parameter_default", "VARCHAR"), ("is_aggregate", "VARCHAR"),
    ],
}  # fmt: skip
_ROUTINE_TYPES = {"SCALAR_FUNCTION": "FUNCTION", "TABLE_VALUED_FUNCTION": "TABLE FUNCTION",
                  "PROCEDURE": "PROCEDURE"}  # fmt: skip


def _sql_type(field: dict) -> str:
    if field["type"] == "RECORD":
        inner = ", ".join(f"{f['name']} {_sql_type(f)}" for f in field["fields"])
        base = f"STRUCT<{inner}>"
    elif field["type"] == "RANGE":
        base = f"RANGE<{field['rangeElementType']['type']}>"
    else:
        base = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}.get(
            field["type"], field["type"]
        )
        # parameterized types as BigQuery prints them: NUMERIC(10, 2), STRING(20)
        if base in ("NUMERIC", "BIGNUMERIC") and field.get("precision") is not None:
            scale = f", {field['scale']}" if field.get("scale") is not None else ""
            base = f"{base}({field['precision']}{scale})"
        elif base in ("STRING", "BYTES") and field.get("maxLength") is not None:
            base = f"{base}({field['maxLength']})"
    return f"ARRAY<{base}>" if field.get("mode") == "REPEATED" else base


def snapshot(
    catalog: Catalog,
    project: str,
    dataset_id: str | None,
    view: str,
    routines: list[dict] = (),
) -> tuple[list[Column], list[tuple]]:
    """Columns and rows of INFORMATION_SCHEMA.<view> of a dataset (or the whole project);
    ``routines`` are the REST resources of the routines in that scope."""
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
    elif view in ("ROUTINES", "PARAMETERS"):
        for r in sorted(routines, key=lambda r: tuple(r["routineReference"].values())):
            rows.extend(_routine_rows(r, view, ts))
    else:
        for (p, d), ds in sorted(list(catalog.datasets.items())):
            if p == project:
                rows.append((p, d, ds.location, ts(ds.creation_time)))
    return [Column(name, sql_type) for name, sql_type in _INFO_COLUMNS[view]], rows


def _routine_rows(r: dict, view: str, ts) -> list[tuple]:
    """One ROUTINES row, or the PARAMETERS rows (a function's result first), of a routine."""
    from .sql.standard_types import to_text

    ref = r["routineReference"]
    where = (ref["projectId"], ref["datasetId"], ref["routineId"])
    kind = r["routineType"]
    returns = to_text(r["returnType"]) if r.get("returnType") else None
    if kind == "TABLE_VALUED_FUNCTION" and r.get("returnTableType"):
        columns = ", ".join(f"{c['name']} {to_text(c['type'])}"
                            for c in r["returnTableType"].get("columns", []))  # fmt: skip
        returns = f"TABLE<{columns}>"
    args = r.get("arguments") or []

    def arg_type(a: dict) -> str | None:
        if a.get("argumentKind") == "ANY_TYPE":
            return "ANY TYPE"
        return to_text(a["dataType"]) if a.get("dataType") else None

    if view == "PARAMETERS":
        rows = []
        if kind != "PROCEDURE":
            rows.append((*where, 0, None, "YES", None, returns, None, "NO"))
        for position, a in enumerate(args, 1):
            rows.append((*where, position, a.get("mode") or "IN", "NO", a.get("name"),
                         arg_type(a), None, "NO"))  # fmt: skip
        return rows
    javascript = r.get("language") == "JAVASCRIPT"
    body = r.get("definitionBody", "")
    signature = ", ".join(
        " ".join(x for x in ((a.get("mode") if kind == "PROCEDURE" else None), a.get("name"),
                             arg_type(a)) if x)
        for a in args
    )  # fmt: skip
    noun = {"SCALAR_FUNCTION": "FUNCTION"}.get(kind, _ROUTINE_TYPES[kind])
    ddl = f"CREATE {noun} `{'.'.join(where)}`({signature})"
    if returns:
        ddl += f"\nRETURNS {returns}"
    if javascript:
        ddl += f'\nLANGUAGE js AS r"""{body}"""'
    elif kind == "PROCEDURE":
        ddl += f"\n{body}"
    else:
        ddl += f"\nAS ({body})"
    deterministic = {"DETERMINISTIC": "YES", "NOT_DETERMINISTIC": "NO"}.get(
        r.get("determinismLevel", ""))
    return [(*where, *where, _ROUTINE_TYPES[kind], returns,
             "EXTERNAL" if javascript else "SQL", body, "JAVASCRIPT" if javascript else None,
             deterministic, "INVOKER" if kind != "PROCEDURE" else None,
             ts(int(r["creationTime"])), ts(int(r["lastModifiedTime"])), ddl, None)]  # fmt: skip
