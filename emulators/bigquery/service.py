"""The emulator's operations on plain Python objects; the HTTP layer only parses and encodes."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

from . import resources
from .catalog import Catalog, Table
from .errors import Invalid, NotFound, expect_dict
from .history import AppendHistory
from .insert import STOPPED, InsertIdCache, RowValidator, error_entries
from .storage import SCRATCH, Storage
from .types import TS_FLOAT, TS_INT64, TS_ISO, arrow_type, quote_ident, row_encoder

DEFAULT_PAGE_ROWS = 100_000
MAX_PAGE_BYTES_HINT = 10 * 1024 * 1024


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_page_token(token: str | None) -> int | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if text.startswith("o:"):
            return int(text[2:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise Invalid(f"Invalid page token: {token}")


def ts_format_from(params: dict) -> str:
    """Timestamp wire format requested by formatOptions (the client asks for int64 micros)."""
    fmt = params.get("formatOptions.timestampOutputFormat") or ""
    if fmt == "ISO8601_STRING":
        return TS_ISO
    value = params.get("formatOptions.useInt64Timestamp")
    if value in (True, "true", "True", "1"):
        return TS_INT64
    return TS_FLOAT


class _Writer:
    """Cached per-table insert machinery (validator and Arrow schema), rebuilt on schema change."""

    def __init__(self, table: Table):
        import pyarrow as pa

        self.table = table
        self.schema = table.schema
        self.validator = RowValidator(table.schema, lenient_json=True)
        self.strict_validator = RowValidator(table.schema)
        self.columns = [f["name"] for f in table.schema]
        self.arrow_schema = pa.schema([pa.field(f["name"], arrow_type(f)) for f in table.schema])


class BigQueryService:
    """Datasets, tables, streaming inserts, row reads, and the hook the SQL translator uses."""

    def __init__(
        self,
        data_dir: str | None = None,
        default_project: str = "local-project",
        insert_id_window: float = 600.0,
    ):
        self.storage = Storage(data_dir)
        self.catalog = Catalog(self.storage, default_project)
        self.insert_ids = InsertIdCache(insert_id_window)
        self.insert_ids.load(self.storage.live_insert_ids(self.insert_ids.clock()))
        self.catalog.on_table_dropped = self._forget_insert_ids
        self._appends = 0
        self._writers: dict[tuple[str, str, str], _Writer] = {}
        self._writers_lock = threading.Lock()
        self.base_url = ""
        # Row counts after streaming appends, for Storage Read API snapshot times.
        self.history = AppendHistory(self.insert_ids.clock)
        # Query results readable as anonymous tables; the job manager answers (see jobs.py).
        self.anonymous_result: Callable[[str, str, str], Any] = lambda p, d, t: None

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
        if table.type == "TABLE":
            num_rows = self.storage.count_rows(table.storage_name)
            columns = max(len(self.catalog.physical_schema(table)), 1)
            num_bytes = num_rows * columns * 8
        else:
            num_rows = num_bytes = 0
        schema = table.schema
        if table.type == "VIEW" and not schema:
            schema = self.view_schema(table)
        return resources.table_resource(table, num_rows, num_bytes, self.base_url, schema)

    def view_schema(self, table: Table) -> list[dict]:
        from .query import describe_view

        try:
            return describe_view(self, table)
        except Exception:  # a broken view still lists; querying it reports the error
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
            schema = self.view_schema(table)
            if not schema:
                from .query import describe_view

                self.catalog.delete_table(project, dataset_id, table.table_id)
                describe_view(self, table)  # raises the translation error
            table.schema = schema
            with self.storage.lock:
                self.catalog.save_table(table)
        return table

    def delete_table(self, project: str, dataset_id: str, table_id: str) -> None:
        self.catalog.delete_table(project, dataset_id, table_id)

    def _forget_insert_ids(self, table_key: str) -> None:
        """A dropped or replaced table starts with a clean de-duplication memory and history."""
        self.insert_ids.forget_table(table_key)
        self.storage.forget_insert_ids(table_key, self.insert_ids.clock())
        self.history.forget(table_key)

    # ------------------------------------------------------------------ tabledata.insertAll

    def _writer(self, table: Table) -> _Writer:
        with self._writers_lock:
            writer = self._writers.get(table.ref)
            # Schema changes always produce a new Table (or schema list) object.
            if writer is None or writer.table is not table or writer.schema is not table.schema:
                writer = _Writer(table)
                self._writers[table.ref] = writer
            return writer

    def insert_all(self, project: str, dataset_id: str, table_id: str, body: dict) -> dict:
        """tabledata.insertAll; returns the response body (insertErrors only when rows failed)."""
        if body.get("templateSuffix"):
            raise Invalid("templateSuffix is not supported by this emulator.")
        rows = body.get("rows")
        if rows is None:
            rows = []
        if not isinstance(rows, list):
            raise Invalid("Invalid value for rows: expected a list.")
        table = self.catalog.get_table(project, dataset_id, table_id)
        if table.type != "TABLE":
            raise Invalid(f"Cannot add rows to a table of type {table.type}.")
        if not table.schema:
            raise Invalid("The destination table has no schema.")
        writer = self._writer(table)
        try:
            return self._insert_rows(table, writer, writer.validator, rows, body)
        except _BulkConversionError:
            # DuckDB rejected a value the lenient validator let through (JSON text):
            # nothing was written; validate strictly to report the offending rows.
            try:
                return self._insert_rows(table, writer, writer.strict_validator, rows, body)
            except _BulkConversionError as exc:
                raise Invalid(f"Cannot store the rows: {exc}") from None

    def _insert_rows(
        self, table: Table, writer: _Writer, validator: RowValidator, rows: list, body: dict
    ) -> dict:
        project, dataset_id, table_id = table.ref
        skip_invalid = bool(body.get("skipInvalidRows"))
        ignore_unknown = bool(body.get("ignoreUnknownValues"))
        converted: list[dict] = []
        insert_ids: list[str | None] = []
        failures: list[dict] = []
        for index, entry in enumerate(rows):
            if not isinstance(entry, dict):
                failures.append(
                    {"index": index, "errors": error_entries([("invalid", "", "Invalid row.")])}
                )
                continue
            values, errors = validator.convert(entry.get("json"), ignore_unknown=ignore_unknown)
            if errors:
                failures.append({"index": index, "errors": error_entries(errors)})
                continue
            converted.append(values)
            insert_id = entry.get("insertId")
            insert_ids.append(str(insert_id) if insert_id not in (None, "") else None)
        if failures and not skip_invalid:
            failed = {f["index"] for f in failures}
            stopped = [
                {"index": i, "errors": [dict(STOPPED)]} for i in range(len(rows)) if i not in failed
            ]
            merged = sorted(failures + stopped, key=lambda f: f["index"])
            return {"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": merged}
        dedup_key = f"{project}:{dataset_id}.{table_id}"
        arrow_table = self._to_arrow(writer, converted) if converted else None
        with self.storage.lock:  # check, store and remember ids atomically per request
            keep = self.insert_ids.filter_new(dedup_key, insert_ids)
            if keep:
                if len(keep) != len(converted):
                    arrow_table = arrow_table.take(keep)
                new_ids = [insert_ids[i] for i in keep if insert_ids[i]]
                expiry = self.insert_ids.expiry()
                remembered = (dedup_key, new_ids, expiry) if self.insert_ids.window > 0 else None
                self._append(table, writer, arrow_table, remembered)
                self.insert_ids.remember(dedup_key, new_ids, expiry)
        response: dict[str, Any] = {"kind": "bigquery#tableDataInsertAllResponse"}
        if failures:
            response["insertErrors"] = failures
        return response

    @staticmethod
    def _to_arrow(writer: _Writer, rows: list[dict]) -> Any:
        import pyarrow as pa

        return pa.Table.from_pylist(rows, schema=writer.arrow_schema)

    def _append(
        self,
        table: Table,
        writer: _Writer,
        arrow_table: Any,
        insert_ids: tuple[str, list[str], float] | None = None,
    ) -> None:
        import duckdb

        with self.storage.lock:
            current = self.catalog.find_table(*table.ref)
            if current is None or current.storage_name != table.storage_name:
                raise NotFound(
                    f"Not found: Table {table.project}:{table.dataset_id}.{table.table_id}"
                )
            try:
                self.storage.append_arrow(
                    table.storage_name, writer.columns, arrow_table, insert_ids
                )
            except duckdb.ConversionException as exc:
                raise _BulkConversionError(str(exc)) from None
            appended = arrow_table.num_rows
            self.history.record(
                current, lambda: self.storage.count_rows(table.storage_name) - appended, appended
            )
            self._appends += 1
            if self._appends % 1000 == 0:
                self.storage.forget_insert_ids(None, self.insert_ids.clock())

    def append_rows(self, table: Table, rows: list[dict]) -> None:
        """Append already converted rows (load jobs)."""
        if rows and table.schema:
            writer = self._writer(table)
            self._append(table, writer, self._to_arrow(writer, rows))

    def append_table(self, table: Table, arrow_table: Any) -> None:
        """Append an Arrow table whose columns are the table's schema, in order (Storage Write
        API, Parquet loads). Invalid when DuckDB refuses a value (e.g. malformed JSON)."""
        try:
            self._append(table, self._writer(table), arrow_table)
        except _BulkConversionError as exc:
            raise Invalid(f"Cannot store the rows: {exc}") from None

    # ------------------------------------------------------------------ tabledata.list

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
            arrow = outcome.arrow
            page = self.read_page(
                arrow_rows(arrow), outcome.schema, arrow.num_rows, params, ts_format_from(params)
            )
            return {"kind": "bigquery#tableDataList", **page}
        table = self.catalog.get_table(project, dataset_id, table_id)
        if table.type != "TABLE":
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

        page = self.read_page(fetch, schema, total, params, ts_format_from(params))
        page["kind"] = "bigquery#tableDataList"
        page["etag"] = table.etag
        return page

    def read_page(
        self,
        fetch: Callable[[int, int], list[tuple]],
        schema: list[dict],
        total: int,
        params: dict,
        ts_format: str,
    ) -> dict:
        """One page of rows with totalRows and pageToken (shared by tabledata.list and queries)."""
        offset = decode_page_token(params.get("pageToken"))
        if offset is None:
            offset = _int_param(params, "startIndex", 0)
        max_results = _int_param(params, "maxResults", DEFAULT_PAGE_ROWS)
        limit = max(0, min(max_results, DEFAULT_PAGE_ROWS))
        rows = fetch(offset, limit) if limit and schema and offset < total else []
        page: dict[str, Any] = {"totalRows": str(total)}
        if rows:  # like BigQuery, no `rows` key on an empty page (maxResults=0 probes rely on it)
            encode = row_encoder(schema, ts_format)
            page["rows"] = [encode(row) for row in rows]
        if offset + len(rows) < total and limit:
            page["pageToken"] = encode_page_token(offset + len(rows))
        return page

    # ------------------------------------------------------------------ SQL hook

    def resolve_table(self, project: str, dataset_id: str, table_id: str) -> str:
        """DuckDB name of a BigQuery table (the SQL translator's resolve_table)."""
        from .query import resolve_table

        return resolve_table(self, project, dataset_id, table_id)


def arrow_rows(arrow: Any) -> Callable[[int, int], list[tuple]]:
    """A `read_page` fetch function over an in-memory Arrow table."""

    def fetch(offset: int, limit: int) -> list[tuple]:
        part = arrow.slice(offset, limit)
        return list(zip(*(col.to_pylist() for col in part.columns), strict=True))

    return fetch


class _BulkConversionError(Exception):
    """DuckDB refused a batch (a value only DuckDB validates, such as JSON text)."""


def _int_param(params: dict, name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"Invalid value for {name}: {value}") from None
    if number < 0:
        raise Invalid(f"Invalid value for {name}: {value}")
    return number


__all__ = ["BigQueryService", "SCRATCH", "quote_ident"]
