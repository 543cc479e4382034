"""Appends into tables: tabledata.insertAll (validation with BigQuery's per-row errors, insertId
de-duplication), the rows of load jobs and of the Storage Write API, as Arrow batches on
connections of their own. Each append is recorded in the tables' append history (snapshot reads
of the Storage Read API)."""

from __future__ import annotations

import threading
from typing import Any

from .catalog import Catalog, Table
from .errors import Invalid, NotFound
from .history import AppendHistory
from .insert import STOPPED, InsertIdCache, RowValidator, error_entries
from .monitoring import Usage
from .storage import Storage
from .types import arrow_schema

MAX_INSERT_ROWS = 50_000  # rows per insertAll request, as BigQuery limits them


class _Writer:
    """Cached per-table insert machinery (validator and Arrow schema), rebuilt on schema change."""

    def __init__(self, table: Table):
        self.table = table
        self.schema = table.schema
        self.validator = RowValidator(table.schema, lenient_json=True)
        self.strict_validator = RowValidator(table.schema)
        self.columns = [f["name"] for f in table.schema]
        self.arrow_schema = arrow_schema(table.schema)


class Appender:
    """Appends rows to tables; owns the insertId memory and the per-table insert machinery."""

    def __init__(self, catalog: Catalog, storage: Storage, insert_id_window: float = 600.0):
        self.catalog = catalog
        self.storage = storage
        self.insert_ids = InsertIdCache(insert_id_window)
        self.insert_ids.load(storage.live_insert_ids(self.insert_ids.clock()))
        # Row counts after streaming appends, for Storage Read API snapshot times.
        self.history = AppendHistory(self.insert_ids.clock)
        catalog.on_table_dropped = self._forget_table
        self._appends = 0
        self._writers: dict[tuple[str, str, str], _Writer] = {}
        self._writers_lock = threading.Lock()
        self.usage = Usage()  # rows written and refused, for /_emulator/metrics

    def _forget_table(self, table_key: str) -> None:
        """A dropped or replaced table starts with a clean de-duplication memory and history."""
        self.insert_ids.forget_table(table_key)
        self.storage.forget_insert_ids(table_key, self.insert_ids.clock())
        self.history.forget(table_key)

    def _writer(self, table: Table) -> _Writer:
        with self._writers_lock:
            writer = self._writers.get(table.ref)
            # Schema changes always produce a new Table (or schema list) object.
            if writer is None or writer.table is not table or writer.schema is not table.schema:
                writer = _Writer(table)
                self._writers[table.ref] = writer
            return writer

    def insert_all(self, table: Table, body: dict) -> dict:
        """tabledata.insertAll; returns the response body (insertErrors only when rows failed)."""
        if body.get("templateSuffix"):
            raise Invalid("templateSuffix is not supported by this emulator.")
        rows = body.get("rows")
        if rows is None:
            rows = []
        if not isinstance(rows, list):
            raise Invalid("Invalid value for rows: expected a list.")
        if len(rows) > MAX_INSERT_ROWS:
            raise Invalid(
                f"too many rows present in the request, limit: {MAX_INSERT_ROWS} "
                f"row count: {len(rows)}."
            )
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
            self.usage.refused(table.ref, merged)
            return {"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": merged}
        dedup_key = f"{project}:{dataset_id}.{table_id}"
        arrow_table = self._to_arrow(writer, converted) if converted else None
        # check, store and remember ids atomically per table
        with self.storage.append_lock(table.storage_name):
            keep = self.insert_ids.filter_new(dedup_key, insert_ids)
            if keep:
                if len(keep) != len(converted):
                    arrow_table = arrow_table.take(keep)
                new_ids = [insert_ids[i] for i in keep if insert_ids[i]]
                expiry = self.insert_ids.expiry()
                remembered = (dedup_key, new_ids, expiry) if self.insert_ids.window > 0 else None
                self._append(table, writer, arrow_table, remembered)
                self.insert_ids.remember(dedup_key, new_ids, expiry)
                self.usage.uploaded(table.ref, "streaming", len(keep), arrow_table.nbytes)
        response: dict[str, Any] = {"kind": "bigquery#tableDataInsertAllResponse"}
        if failures:
            self.usage.refused(table.ref, failures)
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

        with self.storage.append_lock(table.storage_name):  # DDL on the table waits for it
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
        with self._writers_lock:
            self._appends += 1
            sweep = self._appends % 1000 == 0
        if sweep:
            self.storage.forget_insert_ids(None, self.insert_ids.clock())

    def append_rows(self, table: Table, rows: list[dict]) -> None:
        """Append already converted rows (load jobs)."""
        if rows and table.schema:
            writer = self._writer(table)
            arrow_table = self._to_arrow(writer, rows)
            self._append(table, writer, arrow_table)
            self.usage.uploaded(table.ref, "load", len(rows), arrow_table.nbytes)

    def append_table(self, table: Table, arrow_table: Any) -> None:
        """Append an Arrow table whose columns are the table's schema, in order (the Storage
        Write API); committed before it returns. Invalid when DuckDB refuses a value
        (e.g. malformed JSON text), NotFound when the table was dropped meanwhile."""
        try:
            self._append(table, self._writer(table), arrow_table)
        except _BulkConversionError as exc:
            raise Invalid(f"Cannot store the rows: {exc}") from None

    # ------------------------------------------------------------------ tabledata.list


class _BulkConversionError(Exception):
    """DuckDB refused a batch (a value only DuckDB validates, such as JSON text)."""
