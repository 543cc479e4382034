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
