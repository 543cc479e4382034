"""DuckDB storage: one connection guarded by a lock; table data, catalog rows and scratch results.

Table data lives in the main database (a file under --data-dir, or memory) under generated
names, so BigQuery's case-sensitive table names never clash in DuckDB's case-insensitive
catalog. Query results and INFORMATION_SCHEMA snapshots live in an attached in-memory database
`scratch` that is never persisted. Every write commits before the caller answers the request.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

from .sql.udfs import register as register_bigquery_functions
from .types import bq_to_duckdb_type, quote_ident

SCRATCH = "scratch"


class Storage:
    """The DuckDB database of the emulator."""

    def __init__(self, data_dir: str | None = None):
        import duckdb

        config = {"autoinstall_known_extensions": False, "autoload_known_extensions": True}
        if data_dir:
            os.makedirs(data_dir, exist_ok=True)
            path = os.path.join(data_dir, "bigquery.duckdb")
        else:
            path = ":memory:"
        self.con = duckdb.connect(path, config=config)
        register_bigquery_functions(self.con)  # the Python functions translated SQL calls
        self.lock = threading.RLock()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"ATTACH ':memory:' AS {SCRATCH}")
        self.con.execute("CREATE SCHEMA IF NOT EXISTS _emulator")
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS _emulator.catalog ("
            "key VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, resource VARCHAR NOT NULL)"
        )
        self._seq = 0
        self.persistent = bool(data_dir)
        if self.persistent:  # insertIds outlive a restart, like the rows they guard
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS _emulator.insert_ids ("
                "table_key VARCHAR, insert_id VARCHAR, expires DOUBLE)"
            )

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """Run statements atomically; the commit happens before the block returns."""
        with self.lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def execute(self, sql: str, params: Any = None) -> Any:
        with self.lock:
            return self.con.execute(sql, params) if params is not None else self.con.execute(sql)

    def fetchall(self, sql: str, params: Any = None) -> list[tuple]:
        with self.lock:
            return self.execute(sql, params).fetchall()

    def new_name(self, prefix: str) -> str:
        with self.lock:
            self._seq += 1
            return f"{prefix}_{os.urandom(6).hex()}{self._seq}"

    # ------------------------------------------------------------------ catalog rows

    def load_catalog(self) -> list[tuple[str, str, dict]]:
        rows = self.fetchall("SELECT key, kind, resource FROM _emulator.catalog")
        return [(key, kind, json.loads(resource)) for key, kind, resource in rows]

    @staticmethod
    def put_record(con: Any, key: str, kind: str, resource: dict) -> None:
        con.execute(
            "INSERT OR REPLACE INTO _emulator.catalog VALUES (?, ?, ?)",
            [key, kind, json.dumps(resource)],
        )

    @staticmethod
    def delete_record(con: Any, key: str) -> None:
        con.execute("DELETE FROM _emulator.catalog WHERE key = ?", [key])

    # ------------------------------------------------------------------ tables

    @staticmethod
    def column_defs(schema: list[dict]) -> str:
        return ", ".join(
            f"{quote_ident(f['name'])} {bq_to_duckdb_type(f)} {f.get('_sql_suffix', '')}".rstrip()
            for f in schema
        )

    @staticmethod
    def create_table(con: Any, name: str, schema: list[dict]) -> None:
        cols = Storage.column_defs(schema)
        if not cols:  # DuckDB needs a column; a schemaless BigQuery table gets a hidden one
            cols = '"_emulator_no_columns" BOOLEAN'
        con.execute(f"CREATE TABLE {quote_ident(name)} ({cols})")

    @staticmethod
    def drop_table(con: Any, name: str) -> None:
        """Drop a table or view by its storage name (a no-op when absent)."""
        found = con.execute(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = ? AND table_catalog = current_database()",
            [name],
        ).fetchall()
        if found:
            kind = "VIEW" if found[0][0] == "VIEW" else "TABLE"
            con.execute(f"DROP {kind} {quote_ident(name)}")

    @staticmethod
    def add_column(con: Any, name: str, field: dict) -> None:
        con.execute(
            f"ALTER TABLE {quote_ident(name)} ADD COLUMN "
            f"{quote_ident(field['name'])} {bq_to_duckdb_type(field)}"
        )

    def append_arrow(
        self,
        name: str,
        columns: list[str],
        arrow_table: Any,
        insert_ids: tuple[str, list[str], float] | None = None,
    ) -> None:
        """Bulk-append an Arrow table (columns named like the target's); with `insert_ids`
        (table key, ids, expiry) on a persistent store, record them in the same transaction."""
        cols = ", ".join(quote_ident(c) for c in columns)
        record_ids = self.persistent and insert_ids is not None and insert_ids[1]
        with self.lock:
            view = f"_append_{threading.get_ident()}"
            self.con.register(view, arrow_table)
            try:
                if record_ids:
                    self.con.execute("BEGIN TRANSACTION")
                try:
                    self.con.execute(
                        f"INSERT INTO {quote_ident(name)} ({cols}) SELECT {cols} FROM {view}"
                    )
                    if record_ids:
                        self._record_insert_ids(*insert_ids)
                        self.con.execute("COMMIT")
                except BaseException:
                    if record_ids:
                        self.con.execute("ROLLBACK")
                    raise
            finally:
                self.con.unregister(view)

    def _record_insert_ids(self, table_key: str, ids: list[str], expires: float) -> None:
        import pyarrow as pa

        batch = pa.table(
            {
                "table_key": pa.array([table_key] * len(ids), pa.string()),
                "insert_id": pa.array(ids, pa.string()),
                "expires": pa.array([expires] * len(ids), pa.float64()),
            }
        )
        view = f"_ids_{threading.get_ident()}"
        self.con.register(view, batch)
        try:
            self.con.execute(f"INSERT INTO _emulator.insert_ids SELECT * FROM {view}")
        finally:
            self.con.unregister(view)

    def live_insert_ids(self, now: float) -> list[tuple[str, str, float]]:
        """Persisted insertIds still inside their window (expired ones are deleted)."""
        if not self.persistent:
            return []
        with self.lock:
            self.con.execute("DELETE FROM _emulator.insert_ids WHERE expires <= ?", [now])
            return self.con.execute(
                "SELECT table_key, insert_id, expires FROM _emulator.insert_ids ORDER BY expires"
            ).fetchall()

    def forget_insert_ids(self, table_key: str | None, now: float) -> None:
        """Drop persisted insertIds of a table (None: only the expired ones)."""
        if not self.persistent:
            return
        with self.lock:
            if table_key is None:
                self.con.execute("DELETE FROM _emulator.insert_ids WHERE expires <= ?", [now])
            else:
                self.con.execute(
                    "DELETE FROM _emulator.insert_ids WHERE table_key = ?", [table_key]
                )

    def count_rows(self, name: str) -> int:
        return self.fetchall(f"SELECT count(*) FROM {quote_ident(name)}")[0][0]

    def estimated_bytes(self, name: str) -> int:
        """A cheap size estimate: DuckDB's estimated in-memory size of the table's columns."""
        rows = self.fetchall(
            "SELECT estimated_size, column_count FROM duckdb_tables() WHERE table_name = ? "
            "AND schema_name = 'main'",
            [name],
        )
        if not rows:
            return 0
        estimated, columns = rows[0]
        return int((estimated or 0) * max(columns or 1, 1) * 8)

    def read_rows(
        self, name: str, columns: list[str], offset: int, limit: int, database: str = ""
    ) -> list[tuple]:
        cols = ", ".join(quote_ident(c) for c in columns) or "NULL"
        target = f"{database}.{quote_ident(name)}" if database else quote_ident(name)
        return self.fetchall(f"SELECT {cols} FROM {target} LIMIT {int(limit)} OFFSET {int(offset)}")

    def close(self) -> None:
        with self.lock:
            with contextlib.suppress(Exception):
                self.con.execute("CHECKPOINT")
            self.con.close()
