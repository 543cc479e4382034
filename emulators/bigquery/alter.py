"""ALTER TABLE statements, run by the core on the catalog (the translator only maps queries).

Supported actions: ADD COLUMN [IF NOT EXISTS], DROP COLUMN [IF EXISTS], RENAME COLUMN,
RENAME TO, SET OPTIONS (description, friendly_name, labels), ALTER COLUMN ... DROP NOT NULL.
"""

from __future__ import annotations

import re
from typing import Any

from .catalog import Catalog
from .errors import BigQueryError, Invalid, InvalidQuery, NotFound

ALTER_TABLE = re.compile(r"^\s*ALTER\s+TABLE\b", re.IGNORECASE)


def run_alter(
    catalog: Catalog, sql: str, default_project: str, default_dataset: str | None
) -> tuple[str, dict]:
    """Run one ALTER TABLE statement; returns (ddlOperationPerformed, ddlTargetTable)."""
    import sqlglot  # sqlglot and the translator load on the first statement that needs them
    from sqlglot import exp

    from .sql import SqlError
    from .sql.statements import options_dict, schema_from_columns

    try:
        tree = sqlglot.parse_one(sql, read="bigquery")
    except sqlglot.errors.ParseError as exc:
        raise InvalidQuery(f"Syntax error: {str(exc).splitlines()[0]}") from None
    if not isinstance(tree, exp.Alter) or (tree.args.get("kind") or "").upper() != "TABLE":
        raise InvalidQuery("Only ALTER TABLE is supported")
    project, dataset_id, table_id = _target(tree.this, default_project, default_dataset)
    ref = {"projectId": project, "datasetId": dataset_id, "tableId": table_id}
    with catalog.storage.lock:
        table = catalog.find_table(project, dataset_id, table_id)
        if table is None:
            if tree.args.get("exists"):
                return "SKIP", ref
            catalog.get_dataset(project, dataset_id)
            raise NotFound(f"Not found: Table {project}:{dataset_id}.{table_id}")
        if table.type != "TABLE":
            raise InvalidQuery(f"{table_id} is a {table.type}; ALTER TABLE needs a table")
        names = {f["name"].lower() for f in table.schema}
        for action in tree.args.get("actions") or []:
            try:
                if isinstance(action, exp.ColumnDef):
                    if action.name.lower() in names:
                        if action.args.get("exists"):
                            continue
                        raise InvalidQuery(f"Column already exists: {action.name}")
                    field = schema_from_columns([action])[0]
                    if field["mode"] == "REQUIRED":
                        raise InvalidQuery(f"Cannot add a REQUIRED column: {action.name}")
                    table = catalog.update_table(
                        table, {"schema": {"fields": [*table.schema, field]}}, replace=False
                    )
                    names.add(action.name.lower())
                elif isinstance(action, exp.Drop) and (action.args.get("kind") or "") == "COLUMN":
                    for column in action.args.get("tables") or []:
                        if column.name.lower() not in names and action.args.get("exists"):
                            continue
                        table = catalog.drop_column(table, column.name)
                        names.discard(column.name.lower())
                elif isinstance(action, exp.RenameColumn):
                    old, new = action.this.name, action.args["to"].name
                    if old.lower() not in names and action.args.get("exists"):
                        continue
                    table = catalog.rename_column(table, old, new)
                    names = {f["name"].lower() for f in table.schema}
                elif isinstance(action, exp.AlterRename):
                    table = catalog.rename_table(table, action.this.name)
                elif isinstance(action, exp.AlterSet):
                    patch = _set_options(action, options_dict)
                    if "labels" in patch:  # SET OPTIONS(labels=...) replaces all labels
                        table = catalog.update_table(table, {"labels": None}, replace=False)
                    table = catalog.update_table(table, patch, replace=False)
                elif isinstance(action, exp.AlterColumn) and action.args.get("allow_null"):
                    schema = [
                        dict(f, mode="NULLABLE")
                        if f["name"].lower() == action.name.lower() and f["mode"] == "REQUIRED"
                        else f
                        for f in table.schema
                    ]
                    table = catalog.update_table(
                        table, {"schema": {"fields": schema}}, replace=False
                    )
                else:
                    raise InvalidQuery(f"Unsupported ALTER TABLE action: {action.sql('bigquery')}")
            except SqlError as exc:
                raise InvalidQuery(exc.message) from None
            except BigQueryError as exc:
                if isinstance(exc, Invalid) and exc.reason == "invalid":
                    raise InvalidQuery(exc.message) from None
                raise
    return "ALTER", ref


def _target(node: Any, default_project: str, default_dataset: str | None) -> tuple[str, str, str]:
    parts = [p for p in (node.catalog, node.db, node.name) if p]
    if len(parts) == 1 and "." in parts[0]:
        parts = parts[0].split(".")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return default_project, parts[0], parts[1]
    if default_dataset:
        return default_project, default_dataset, parts[0]
    raise InvalidQuery(f'Table "{parts[0]}" must be qualified with a dataset (e.g. dataset.table).')


def _set_options(action: Any, options_dict: Any) -> dict:
    from sqlglot import exp

    options: dict[str, Any] = {}
    for node in action.expressions:
        if isinstance(node, exp.Properties):
            options.update(options_dict(node.expressions))
    patch: dict[str, Any] = {}
    if "description" in options:
        patch["description"] = options["description"]
    if "friendly_name" in options:
        patch["friendlyName"] = options["friendly_name"]
    if "labels" in options:
        labels = options["labels"] or []
        patch["labels"] = {str(k): v for k, v in labels} if labels else None
    unknown = set(options) - {"description", "friendly_name", "labels"}
    if unknown:
        raise InvalidQuery(f"Unsupported table option: {sorted(unknown)[0]}")
    return patch
