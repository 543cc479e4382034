"""A job's destination table (load, query, copy) under its create and write dispositions."""

from __future__ import annotations

from .catalog import Catalog, Table
from .errors import Duplicate, Invalid, NotFound

CREATE_DISPOSITIONS = ("CREATE_IF_NEEDED", "CREATE_NEVER")
WRITE_DISPOSITIONS = ("WRITE_APPEND", "WRITE_TRUNCATE", "WRITE_EMPTY")


def existing_destination(
    catalog: Catalog, dest: dict, create: str, write: str, verb: str
) -> Table | None:
    """The destination table if it exists and the dispositions let the job ``verb`` it; None
    when the job is to create it.

    Invalid for an unknown disposition or a destination that is not a table, NotFound under
    CREATE_NEVER, Duplicate when WRITE_EMPTY finds rows.
    """
    if create not in CREATE_DISPOSITIONS:
        raise Invalid(f"Invalid value for createDisposition: {create}")
    if write not in WRITE_DISPOSITIONS:
        raise Invalid(f"Invalid value for writeDisposition: {write}")
    project, dataset_id, table_id = dest["projectId"], dest["datasetId"], dest["tableId"]
    table = catalog.find_table(project, dataset_id, table_id)
    if table is None:
        if create == "CREATE_NEVER":
            catalog.get_dataset(project, dataset_id)
            raise NotFound(f"Not found: Table {project}:{dataset_id}.{table_id}")
        return None
    if table.type != "TABLE":
        raise Invalid(f"Cannot {verb} {project}:{dataset_id}.{table_id}: it is a {table.type}.")
    if write == "WRITE_EMPTY" and catalog.storage.count_rows(table.storage_name):
        raise Duplicate(f"Already Exists: Table {project}:{dataset_id}.{table_id}")
    return table


def new_destination(
    catalog: Catalog, dest: dict, table: Table | None, fields: list[dict], write: str
) -> Table | None:
    """The empty table the job's rows go into when it has to make one: created when missing,
    replaced under WRITE_TRUNCATE (its other properties kept); None to write into ``table``."""
    resource = {"tableReference": dest, "schema": {"fields": fields}}
    if table is not None:
        if write != "WRITE_TRUNCATE":
            return None
        resource = {**table.properties, **resource}
    return catalog.create_table(
        dest["projectId"], dest["datasetId"], resource, replace=table is not None
    )


def load_destination(
    catalog: Catalog,
    config: dict,
    dest: dict,
    table: Table | None,
    schema: list[dict] | None,
    effective: list[dict],
) -> Table:
    """The table a load job appends to (call with the storage lock held, after
    ``existing_destination``): created or truncated per the write disposition, or with the job
    schema's new fields added under `schemaUpdateOptions: ALLOW_FIELD_ADDITION`."""
    write = config.get("writeDisposition") or "WRITE_APPEND"
    fresh = new_destination(catalog, dest, table, effective, write)
    if fresh is not None:
        return fresh
    added = _new_field(table.schema, schema) if schema is not None else None
    if added is None:
        return table
    if "ALLOW_FIELD_ADDITION" not in (config.get("schemaUpdateOptions") or []):
        raise Invalid(
            f"Provided Schema does not match Table {table.project}:{table.dataset_id}."
            f"{table.table_id}. Cannot add fields (field: {added})"
        )
    return catalog.update_table(table, {"schema": {"fields": schema}}, replace=False)


def _new_field(old: list[dict], new: list[dict]) -> str | None:
    names = {f["name"].lower() for f in old}
    return next((f["name"] for f in new if f["name"].lower() not in names), None)
