"""Projects, datasets and tables metadata, kept in memory and persisted as catalog rows in DuckDB."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Any

from . import ids
from .errors import Duplicate, Invalid, NotFound, expect_dict, expect_list
from .storage import Column, Storage
from .types import normalize_schema

# Resource keys the server computes; user input for them is ignored.
_COMPUTED = {
    "kind", "id", "selfLink", "etag", "creationTime", "lastModifiedTime", "numRows",
    "numBytes", "numLongTermBytes", "type", "location", "tableReference", "datasetReference",
    "schema", "streamingBuffer", "numPhysicalBytes",
}  # fmt: skip


def now_ms() -> int:
    return int(time.time() * 1000)


def _etag(resource: dict) -> str:
    return hashlib.md5(json.dumps(resource, sort_keys=True).encode()).hexdigest()[:16]


@dataclasses.dataclass
class Dataset:
    project: str
    dataset_id: str
    location: str = "US"
    properties: dict = dataclasses.field(default_factory=dict)
    creation_time: int = dataclasses.field(default_factory=now_ms)
    last_modified: int = dataclasses.field(default_factory=now_ms)

    @property
    def key(self) -> str:
        return f"dataset:{self.project}:{self.dataset_id}"

    def to_record(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def etag(self) -> str:
        return _etag(self.to_record())


@dataclasses.dataclass
class Table:
    project: str
    dataset_id: str
    table_id: str
    storage_name: str
    schema: list = dataclasses.field(default_factory=list)
    type: str = "TABLE"  # TABLE | VIEW
    properties: dict = dataclasses.field(default_factory=dict)
    creation_time: int = dataclasses.field(default_factory=now_ms)
    last_modified: int = dataclasses.field(default_factory=now_ms)
    location: str = "US"
    view_duckdb_sql: str | None = None  # a view created by DDL keeps its translated query
    view_columns: list[str] | None = None  # CREATE VIEW v (a, b): names for the query's columns

    @property
    def key(self) -> str:
        return f"table:{self.project}:{self.dataset_id}:{self.table_id}"

    @property
    def ref(self) -> tuple[str, str, str]:
        return (self.project, self.dataset_id, self.table_id)

    def to_record(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def etag(self) -> str:
        return _etag(self.to_record())

    @property
    def ingestion_partitioned(self) -> bool:
        tp = self.properties.get("timePartitioning") or {}
        return bool(tp) and not tp.get("field") and self.type == "TABLE"

    @property
    def view_query(self) -> str | None:
        return (self.properties.get("view") or {}).get("query")


_LABEL = re.compile(r"^[\w-]{0,63}$", re.UNICODE)
_STRING_PROPERTIES = ("description", "friendlyName", "location")
_OBJECT_PROPERTIES = ("timePartitioning", "rangePartitioning", "clustering", "view",
                      "encryptionConfiguration", "externalDataConfiguration")  # fmt: skip


def settable_properties(resource: dict) -> dict:
    """The user-settable part of a dataset/table resource, with the common fields type-checked."""
    props = {k: copy.deepcopy(v) for k, v in resource.items() if k not in _COMPUTED}
    for key in _STRING_PROPERTIES:
        if props.get(key) is not None and not isinstance(props[key], str):
            raise Invalid(f"Invalid value for {key}: expected a string.")
    for key in _OBJECT_PROPERTIES:
        if props.get(key) is not None and not isinstance(props[key], dict):
            raise Invalid(f"Invalid value for {key}: expected an object.")
    labels = props.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            raise Invalid("Invalid value for labels: expected a map of strings.")
        for key, value in labels.items():
            if not key or not _LABEL.match(key) or key != key.lower():
                raise Invalid(f"Invalid label key: {key!r}")
            if value is not None and (not isinstance(value, str) or not _LABEL.match(value)):
                raise Invalid(f"Invalid label value for {key!r}: {value!r}")
    clustering = props.get("clustering")
    if clustering is not None:
        fields = clustering.get("fields")
        if fields is not None and (
            not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
        ):
            raise Invalid("Invalid value for clustering.fields: expected a list of names.")
    view = props.get("view")
    if view is not None and view.get("query") is not None and not isinstance(view["query"], str):
        raise Invalid("Invalid value for view.query: expected a string.")
    return props


def _table_type(props: dict) -> str:
    """TABLE, or EXTERNAL for a table over Cloud Storage objects (read by each query)."""
    return "EXTERNAL" if props.get("externalDataConfiguration") else "TABLE"


def _location(value: Any) -> str:
    if value is not None and not isinstance(value, str):
        raise Invalid("Invalid value for location: expected a string.")
    return value or "US"


def _merge_properties(current: dict, changes: dict) -> dict:
    """patch semantics: null removes a property; labels merge key by key (null removes one)."""
    props = dict(current)
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        elif key == "labels":
            labels = dict(props.get("labels") or {})
            for label, label_value in value.items():
                if label_value is None:
                    labels.pop(label, None)
                else:
                    labels[label] = label_value
            props["labels"] = labels
        else:
            props[key] = value
    return props


class Catalog:
    """Datasets and tables of every project; each change commits with its DuckDB DDL."""

    def __init__(self, storage: Storage, default_project: str):
        self.storage = storage
        self.default_project = default_project
        self.projects: set[str] = {default_project}
        self.datasets: dict[tuple[str, str], Dataset] = {}
        self.tables: dict[tuple[str, str, str], Table] = {}
        self.jobs: dict[tuple[str, str], dict] = {}
        # Told "project:dataset.table" whenever a table's data is dropped or replaced.
        self.on_table_dropped: Callable[[str], None] = lambda key: None
        # Other members of datasets (routines): whether a dataset has any, and how to drop
        # them in the transaction that deletes the dataset.
        self.has_members: Callable[[str, str], bool] = lambda project, dataset_id: False
        self.drop_members: Callable[[Any, str, str], None] = lambda con, project, ds_id: None
        for _key, kind, record in storage.load_catalog():
            if kind == "dataset":
                ds = Dataset(**record)
                self.datasets[(ds.project, ds.dataset_id)] = ds
                self.projects.add(ds.project)
            elif kind == "table":
                table = Table(**record)
                self.tables[table.ref] = table
            elif kind == "job":
                self.jobs[
                    (record["jobReference"]["projectId"], record["jobReference"]["jobId"])
                ] = record

    # ------------------------------------------------------------------ datasets

    def get_dataset(self, project: str, dataset_id: str) -> Dataset:
        ds = self.datasets.get((project, dataset_id))
        if ds is None:
            raise NotFound(f"Not found: Dataset {project}:{dataset_id}")
        return ds

    def list_datasets(self, project: str) -> list[Dataset]:
        return sorted(
            (d for (p, _), d in list(self.datasets.items()) if p == project),
            key=lambda d: d.dataset_id,
        )

    def create_dataset(self, project: str, resource: dict) -> Dataset:
        ref = expect_dict(resource.get("datasetReference"), "datasetReference")
        dataset_id = ids.dataset_id(ref.get("datasetId") or "")
        if ref.get("projectId") and ref["projectId"] != project:
            raise Invalid("The project ID in the dataset reference does not match the request.")
        with self.storage.lock:
            if (project, dataset_id) in self.datasets:
                raise Duplicate(f"Already Exists: Dataset {project}:{dataset_id}")
            ds = Dataset(
                project=project,
                dataset_id=dataset_id,
                location=_location(resource.get("location")),
                properties=settable_properties(resource),
            )
            with self.storage.transaction() as con:
                Storage.put_record(con, ds.key, "dataset", ds.to_record())
            self.datasets[(project, dataset_id)] = ds
            self.projects.add(project)
            return ds

    def update_dataset(self, ds: Dataset, resource: dict, *, replace: bool) -> Dataset:
        with self.storage.lock:
            changes = settable_properties(resource)
            props = changes if replace else _merge_properties(ds.properties, changes)
            updated = dataclasses.replace(ds, properties=props, last_modified=now_ms())
            with self.storage.transaction() as con:
                Storage.put_record(con, updated.key, "dataset", updated.to_record())
            self.datasets[(ds.project, ds.dataset_id)] = updated
            return updated

    def delete_dataset(self, project: str, dataset_id: str, *, delete_contents: bool) -> None:
        with self.storage.lock:
            ds = self.get_dataset(project, dataset_id)
            tables = self.list_tables(project, dataset_id)
            in_use = tables or self.has_members(project, dataset_id)
            if in_use and not delete_contents:
                raise Invalid(
                    f"Dataset {project}:{dataset_id} is still in use", reason="resourceInUse"
                )
            with contextlib.ExitStack() as held, self.storage.transaction() as con:
                for table in tables:
                    held.enter_context(self.storage.append_lock(table.storage_name))
                    Storage.drop_table(con, table.storage_name)
                    Storage.delete_record(con, table.key)
                self.drop_members(con, project, dataset_id)
                Storage.delete_record(con, ds.key)
            for table in tables:
                self.tables.pop(table.ref, None)
                self.on_table_dropped(_ref_key(table))
            self.datasets.pop((project, dataset_id), None)

    # ------------------------------------------------------------------ tables

    def get_table(self, project: str, dataset_id: str, table_id: str) -> Table:
        table = self.tables.get((project, dataset_id, table_id))
        if table is None:
            self.get_dataset(project, dataset_id)
            raise NotFound(f"Not found: Table {project}:{dataset_id}.{table_id}")
        return table

    def find_table(self, project: str, dataset_id: str, table_id: str) -> Table | None:
        return self.tables.get((project, dataset_id, table_id))

    def list_tables(self, project: str, dataset_id: str) -> list[Table]:
        return sorted(
            (t for (p, d, _), t in list(self.tables.items()) if p == project and d == dataset_id),
            key=lambda t: t.table_id,
        )

    def create_table(
        self,
        project: str,
        dataset_id: str,
        resource: dict,
        *,
        replace: bool = False,
        view_duckdb_sql: str | None = None,
        view_columns: list[str] | None = None,
    ) -> Table:
        """Create (or with `replace`, re-create) a table or view from a REST resource."""
        ref = expect_dict(resource.get("tableReference"), "tableReference")
        table_id = ids.table_id(ref.get("tableId") or "")
        try:
            schema = normalize_schema(
                expect_list(expect_dict(resource.get("schema"), "schema").get("fields"), "fields")
            )
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        props = settable_properties(resource)
        is_view = bool((props.get("view") or {}).get("query")) or view_duckdb_sql is not None
        tp = props.get("timePartitioning")
        if tp:
            field = tp.get("field")
            if field and not any(f["name"].lower() == field.lower() for f in schema):
                raise Invalid(
                    f"The field specified for time partitioning can only be of type TIMESTAMP, "
                    f"DATE or DATETIME. The type found is: UNKNOWN for field {field}."
                )
            tp.setdefault("type", "DAY")
        with self.storage.lock:
            ds = self.get_dataset(project, dataset_id)
            old = self.tables.get((project, dataset_id, table_id))
            if old is not None and not replace:
                raise Duplicate(f"Already Exists: Table {project}:{dataset_id}.{table_id}")
            table = Table(
                project=project,
                dataset_id=dataset_id,
                table_id=table_id,
                storage_name=self.storage.new_name("v" if is_view else "t"),
                schema=schema,
                type="VIEW" if is_view else _table_type(props),
                properties=props,
                location=ds.location,
                view_duckdb_sql=view_duckdb_sql,
                view_columns=list(view_columns) if view_columns and is_view else None,
            )
            with contextlib.ExitStack() as held, self.storage.transaction() as con:
                if old is not None:
                    held.enter_context(self.storage.append_lock(old.storage_name))
                    Storage.drop_table(con, old.storage_name)
                    self.on_table_dropped(_ref_key(old))
                if table.type == "TABLE":  # views and external tables store no rows
                    Storage.create_table(con, table.storage_name, self.physical_columns(table))
                Storage.put_record(con, table.key, "table", table.to_record())
            self.tables[table.ref] = table
            return table

    @staticmethod
    def physical_columns(table: Table) -> list[Column]:
        """Stored columns: the schema plus pseudo-columns of ingestion-time partitioned tables."""
        columns = [Column.of(f) for f in table.schema]
        if table.ingestion_partitioned:
            columns += _PARTITION_COLUMNS
        return columns

    def save_table(self, table: Table, con: Any = None) -> None:
        """Persist changed metadata (call with the storage lock held)."""
        table.last_modified = now_ms()
        if con is None:
            with self.storage.transaction() as tx:
                Storage.put_record(tx, table.key, "table", table.to_record())
        else:
            Storage.put_record(con, table.key, "table", table.to_record())
        self.tables[table.ref] = table

    def update_table(self, table: Table, resource: dict, *, replace: bool) -> Table:
        """tables.patch / tables.update: properties, and schema changes that add columns."""
        with self.storage.lock:
            changes = settable_properties(resource)
            props = changes if replace else _merge_properties(table.properties, changes)
            updated = dataclasses.replace(table, properties=props)
            if updated.view_query != table.view_query:  # a new query has its own columns
                updated.view_columns = None
            new_fields: list[dict] = []
            if "schema" in resource and resource["schema"] is not None:
                try:
                    fields = expect_dict(resource["schema"], "schema").get("fields")
                    schema = normalize_schema(expect_list(fields, "schema.fields"))
                except ValueError as exc:
                    raise Invalid(str(exc)) from None
                if table.type == "TABLE":
                    new_fields = _schema_additions(table.schema, schema)
                updated.schema = schema
            with (
                self.storage.append_lock(table.storage_name),
                self.storage.transaction() as con,
            ):
                if table.type == "TABLE" and not table.schema and new_fields:
                    Storage.drop_table(con, table.storage_name)
                    Storage.create_table(con, table.storage_name, self.physical_columns(updated))
                else:
                    for field in new_fields:
                        Storage.add_column(con, table.storage_name, Column.of(field))
                self.save_table(updated, con)
            return updated

    def delete_table(self, project: str, dataset_id: str, table_id: str) -> None:
        with self.storage.lock:
            table = self.get_table(project, dataset_id, table_id)
            with (
                self.storage.append_lock(table.storage_name),
                self.storage.transaction() as con,
            ):
                Storage.drop_table(con, table.storage_name)
                Storage.delete_record(con, table.key)
            self.tables.pop(table.ref, None)
            self.on_table_dropped(_ref_key(table))

    def drop_column(self, table: Table, name: str) -> Table:
        """ALTER TABLE DROP COLUMN (top-level columns)."""
        with self.storage.lock:
            field = _field_named(table, name)
            schema = [f for f in table.schema if f is not field]
            return self._alter(
                table,
                schema,
                lambda con: Storage.drop_column(con, table.storage_name, field["name"]),
            )

    def rename_column(self, table: Table, old: str, new: str) -> Table:
        """ALTER TABLE RENAME COLUMN."""
        with self.storage.lock:
            field = _field_named(table, old)
            if any(f["name"].lower() == new.lower() for f in table.schema if f is not field):
                raise Invalid(f"Column already exists: {new}")
            schema = normalize_schema(
                [dict(f, name=new) if f is field else f for f in table.schema]
            )
            return self._alter(
                table,
                schema,
                lambda con: Storage.rename_column(con, table.storage_name, field["name"], new),
            )

    def _alter(self, table: Table, schema: list[dict], change: Callable[[Any], None]) -> Table:
        """``change`` (an ALTER TABLE on the main connection) and the table saved with
        ``schema``, in one transaction (the caller holds the storage lock)."""
        updated = dataclasses.replace(table, schema=schema)
        with self.storage.append_lock(table.storage_name), self.storage.transaction() as con:
            change(con)
            self.save_table(updated, con)
        return updated

    def rename_table(self, table: Table, new_id: str) -> Table:
        """ALTER TABLE RENAME TO (same dataset; the data stays where it is)."""
        ids.table_id(new_id)
        with self.storage.lock:
            if (table.project, table.dataset_id, new_id) in self.tables:
                raise Duplicate(
                    f"Already Exists: Table {table.project}:{table.dataset_id}.{new_id}"
                )
            renamed = dataclasses.replace(table, table_id=new_id)
            with self.storage.transaction() as con:
                Storage.delete_record(con, table.key)
                self.save_table(renamed, con)
            self.tables.pop(table.ref, None)
            self.on_table_dropped(_ref_key(table))
            return renamed

    # ------------------------------------------------------------------ jobs

    def find_job(self, project: str, job_id: str) -> dict | None:
        return self.jobs.get((project, job_id))

    def list_jobs(self, project: str) -> list[dict]:
        return [job for (p, _), job in list(self.jobs.items()) if p == project]

    def add_job(self, resource: dict) -> None:
        """Register a new job (persisted by ``save_job`` when it ends)."""
        ref = resource["jobReference"]
        key = (ref["projectId"], ref["jobId"])
        if key in self.jobs:
            raise Duplicate(
                f"Already Exists: Job {ref['projectId']}:{ref['location']}.{ref['jobId']}"
            )
        self.jobs[key] = resource

    def save_job(self, resource: dict) -> None:
        ref = resource["jobReference"]
        with self.storage.transaction() as con:
            Storage.put_record(con, _job_key(ref["projectId"], ref["jobId"]), "job", resource)
        self.jobs[(ref["projectId"], ref["jobId"])] = resource

    def delete_job(self, project: str, job_id: str) -> None:
        """Forget a job, persistently (jobs.delete)."""
        with self.storage.transaction() as con:
            Storage.delete_record(con, _job_key(project, job_id))
            self.jobs.pop((project, job_id), None)


def _job_key(project: str, job_id: str) -> str:
    return f"job:{project}:{job_id}"


# Pseudo-columns of ingestion-time partitioned tables; their SQL is the core's own text.
_PARTITION_COLUMNS = [
    Column("_PARTITIONTIME", "TIMESTAMPTZ", default="date_trunc('day', current_timestamp)"),
    Column("_PARTITIONDATE", "DATE", generated='CAST("_PARTITIONTIME" AS DATE)'),
]


def _field_named(table: Table, name: str) -> dict:
    for field in table.schema:
        if field["name"].lower() == name.lower():
            return field
    raise Invalid(f"Column not found: {name}")


def _ref_key(table: Table) -> str:
    return f"{table.project}:{table.dataset_id}.{table.table_id}"


def _schema_additions(old: list[dict], new: list[dict], path: str = "") -> list[dict]:
    """Top-level fields to add; rejects anything but adding NULLABLE/REPEATED columns."""
    old_by_name = {f["name"].lower(): f for f in old}
    new_names = {f["name"].lower() for f in new}
    for name, field in old_by_name.items():
        if name not in new_names:
            raise Invalid(
                f"Provided Schema does not match Table. Field {path}{field['name']} is missing in new schema"
            )
    additions = []
    for field in new:
        before = old_by_name.get(field["name"].lower())
        if before is None:
            if field["mode"] == "REQUIRED":
                raise Invalid(
                    f"Provided Schema does not match Table. Cannot add required field "
                    f"{path}{field['name']}."
                )
            additions.append(field)
            continue
        if before["type"] != field["type"]:
            raise Invalid(
                f"Provided Schema does not match Table. Field {path}{field['name']} has changed "
                f"type from {before['type']} to {field['type']}"
            )
        if before["mode"] != field["mode"] and not (
            before["mode"] == "REQUIRED" and field["mode"] == "NULLABLE"
        ):
            raise Invalid(
                f"Provided Schema does not match Table. Field {path}{field['name']} has changed "
                f"mode from {before['mode']} to {field['mode']}"
            )
        if field["type"] == "RECORD":
            nested = _schema_additions(before["fields"], field["fields"], f"{path}{field['name']}.")
            if nested:
                raise Invalid(
                    "Adding fields inside an existing RECORD is not supported by this emulator."
                )
    return additions
