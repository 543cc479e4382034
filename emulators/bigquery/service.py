"""The emulator's state and its dataset, table and row operations on plain Python objects; the
HTTP layer only parses and encodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import resources
from .appends import Appender
from .catalog import Catalog, Table
from .errors import BigQueryError, Invalid, expect_dict
from .gcs import CloudStorage
from .pages import arrow_rows, read_page, ts_format_from
from .query import QueryEngine, QueryOutcome
from .routines import RoutineStore
from .storage import Storage


class BigQueryService:
    """Owns the storage, catalog, query engine and appender, and the Cloud Storage client
    (``storage_endpoint``: gs:// loads, extracts, external tables); datasets, tables and row
    reads."""

    def __init__(
        self,
        data_dir: str | None = None,
        default_project: str = "local-project",
        insert_id_window: float = 600.0,
        storage_endpoint: str | None = None,
    ):
        self.gcs = CloudStorage(storage_endpoint) if storage_endpoint else None
        self.storage = Storage(data_dir)
        self.catalog = Catalog(self.storage, default_project)
        self.routines = RoutineStore(self.catalog)
        self.engine = QueryEngine(self.catalog, self.storage, self.gcs, self.routines)
        self.appender = Appender(self.catalog, self.storage, insert_id_window)
        self.base_url = ""
        # Query results readable as anonymous tables (tables.get, tabledata.list, the Storage
        # Read API); the job manager, which keeps the results, answers (see jobs.py).
        self.anonymous_result: Callable[[str, str, str], QueryOutcome | None] = (
            lambda project, dataset_id, table_id: None
        )

    def close(self) -> None:
        self.storage.close()

    # ------------------------------------------------------------------ projects & datasets

    def list_projects(self) -> list[str]:
        projects = set(self.catalog.projects)
        projects.update(p for p, _ in list(self.catalog.datasets))
        return sorted(projects)

    def dataset_resource(self, project: str, dataset_id: str) -> dict:
        return resources.dataset_resource(
            self.catalog.get_dataset(project, dataset_id), self.base_url
        )

    # ------------------------------------------------------------------ tables

    def table_resource(self, table: Table) -> dict:
        if table.type in ("TABLE", "SNAPSHOT"):
            num_rows = self.storage.count_rows(table.storage_name)
            columns = max(len(self.catalog.physical_columns(table)), 1)
            num_bytes = num_rows * columns * 8
        else:
            num_rows = num_bytes = 0
        schema = table.schema
        if table.type == "VIEW" and not schema:
            schema = self.view_schema(table)
        return resources.table_resource(table, num_rows, num_bytes, self.base_url, schema)

    def view_schema(self, table: Table) -> list[dict]:
        try:
            return self.engine.describe_view(table)
        except BigQueryError:  # a broken view still lists; querying it reports the error
            return []

    def create_table(self, project: str, dataset_id: str, resource: dict) -> Table:
        ref = expect_dict(resource.get("tableReference"), "tableReference")
        resource["tableReference"] = ref
        if ref.get("projectId") not in (None, project) or ref.get("datasetId") not in (
            None,
            dataset_id,
        ):
            raise Invalid("The table reference does not match the request path.")
        table = self.catalog.create_table(project, dataset_id, resource)
        if table.type == "VIEW" and not table.schema:
            try:
                schema = self.engine.describe_view(table)
            except BigQueryError:
                self.catalog.delete_table(project, dataset_id, table.table_id)
                raise
            table.schema = schema
            with self.storage.lock:
                self.catalog.save_table(table)
        return table

    def delete_table(self, project: str, dataset_id: str, table_id: str) -> None:
        self.catalog.delete_table(project, dataset_id, table_id)

    def insert_all(self, project: str, dataset_id: str, table_id: str, body: dict) -> dict:
        """tabledata.insertAll."""
        return self.appender.insert_all(self.catalog.get_table(project, dataset_id, table_id), body)

    def anonymous_table(self, project: str, dataset_id: str, table_id: str) -> dict | None:
        """tables.get of a query's anonymous destination table (None if it is not one)."""
        outcome = self.anonymous_result(project, dataset_id, table_id)
        if outcome is None:
            return None
        table = Table(project, dataset_id, table_id, "", schema=outcome.schema)
        return resources.table_resource(
            table, outcome.arrow.num_rows, outcome.arrow.nbytes, self.base_url
        )

    def list_rows(self, project: str, dataset_id: str, table_id: str, params: dict) -> dict:
        outcome = self.anonymous_result(project, dataset_id, table_id)
        if outcome is not None:  # a query's anonymous destination table
            arrow: Any = outcome.arrow
            page = read_page(
                arrow_rows(arrow), outcome.schema, arrow.num_rows, params, ts_format_from(params)
            )
            return {"kind": "bigquery#tableDataList", **page}
        table = self.catalog.get_table(project, dataset_id, table_id)
        if table.type not in ("TABLE", "SNAPSHOT"):
            raise Invalid(f"Cannot list a table of type {table.type}.")
        schema = table.schema
        selected = params.get("selectedFields")
        if selected:
            wanted = [s.strip().split(".")[0].lower() for s in selected.split(",") if s.strip()]
            by_name = {f["name"].lower(): f for f in schema}
            unknown = [w for w in wanted if w not in by_name]
            if unknown:
                raise Invalid(f"Field {unknown[0]} not found in table schema.")
            schema = [by_name[w] for w in dict.fromkeys(wanted)]
        total = self.storage.count_rows(table.storage_name)
        names = [f["name"] for f in schema]

        def fetch(offset: int, limit: int) -> list[tuple]:
            return self.storage.read_rows(table.storage_name, names, offset, limit)

        page = read_page(fetch, schema, total, params, ts_format_from(params))
        page["kind"] = "bigquery#tableDataList"
        page["etag"] = table.etag
        return page
