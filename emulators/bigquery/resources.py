"""REST representations of catalog objects (the wire edge of datasets and tables)."""

from __future__ import annotations

import copy

from .catalog import Dataset, Table


def dataset_resource(ds: Dataset, base_url: str = "") -> dict:
    resource = copy.deepcopy(ds.properties)
    resource.update(
        {
            "kind": "bigquery#dataset",
            "id": f"{ds.project}:{ds.dataset_id}",
            "selfLink": f"{base_url}/bigquery/v2/projects/{ds.project}/datasets/{ds.dataset_id}",
            "datasetReference": {"projectId": ds.project, "datasetId": ds.dataset_id},
            "etag": ds.etag,
            "creationTime": str(ds.creation_time),
            "lastModifiedTime": str(ds.last_modified),
            "location": ds.location,
            "type": "DEFAULT",
        }
    )
    return resource


def dataset_list_entry(ds: Dataset) -> dict:
    entry = {
        "kind": "bigquery#dataset",
        "id": f"{ds.project}:{ds.dataset_id}",
        "datasetReference": {"projectId": ds.project, "datasetId": ds.dataset_id},
        "location": ds.location,
    }
    for key in ("labels", "friendlyName"):
        if key in ds.properties:
            entry[key] = ds.properties[key]
    return entry


def table_reference(table: Table) -> dict:
    return {"projectId": table.project, "datasetId": table.dataset_id, "tableId": table.table_id}


def table_resource(
    table: Table, num_rows: int, num_bytes: int, base_url: str = "", schema: list | None = None
) -> dict:
    resource = copy.deepcopy(table.properties)
    ref = table_reference(table)
    resource.update(
        {
            "kind": "bigquery#table",
            "id": f"{table.project}:{table.dataset_id}.{table.table_id}",
            "selfLink": (
                f"{base_url}/bigquery/v2/projects/{table.project}/datasets/"
                f"{table.dataset_id}/tables/{table.table_id}"
            ),
            "tableReference": ref,
            "etag": table.etag,
            "creationTime": str(table.creation_time),
            "lastModifiedTime": str(table.last_modified),
            "type": table.type,
            "location": table.location,
            "schema": {"fields": copy.deepcopy(schema if schema is not None else table.schema)},
        }
    )
    if table.type in ("TABLE", "SNAPSHOT"):
        resource["numRows"] = str(num_rows)
        resource["numBytes"] = str(num_bytes)
        resource["numLongTermBytes"] = "0"
    elif "view" in resource:
        resource["view"].setdefault("useLegacySql", False)
    return resource


def table_list_entry(table: Table) -> dict:
    entry = {
        "kind": "bigquery#table",
        "id": f"{table.project}:{table.dataset_id}.{table.table_id}",
        "tableReference": table_reference(table),
        "type": table.type,
        "creationTime": str(table.creation_time),
    }
    for key in ("labels", "friendlyName", "timePartitioning", "clustering", "expirationTime"):
        if key in table.properties:
            entry[key] = table.properties[key]
    if table.type == "VIEW":
        entry["view"] = {"useLegacySql": False}
    return entry
