"""DuckDB storage: the locked-down database, the one way SQL reaches it, and the connections.

Table data lives in the main database (a file under --data-dir, or memory) under generated
names, so BigQuery's case-sensitive table names never clash in DuckDB's case-insensitive
catalog. Anonymous query results are Arrow tables in memory; what a query stages (its views,
INFORMATION_SCHEMA snapshots, results on their way to a destination) are TEMP objects of its own
connection, never persisted. Every write commits before the caller answers the request.

Lock-down: DuckDB is opened with external access off (no file, URL or extension access from
SQL), extension autoloading and autoinstalling off, and its configuration locked once set up,
so no statement can turn any of that back on. Every statement goes through ``execute`` (or
``relation``/``executemany``), which refuses text holding more than one statement: stacked
statements are impossible by construction.

Connections: the main connection (``con``, guarded by ``lock``) writes catalog rows and runs
DDL. Reads, queries and appends run on cursors of their own (``cursor()``), so they run
concurrently; ``append_lock``/``write_lock`` serialise appends and DML per table. Lock order:
``lock`` may be taken before an ``append_lock``, a ``write_lock`` before ``lock``; an append
never takes ``lock``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .errors import InvalidQuery
from .identifiers import columns as column_list
from .identifiers import ident
from .sql.udfs import register as register_bigquery_functions
from .types import bq_to_duckdb_type

_POOL_SIZE = 16  # idle cursors kept for reuse

# Settings of every database the emulator opens. The configuration is locked after set-up.
LOCKED_DOWN = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


def _one_statement(con: Any, sql: str) -> Any:
    statements = con.extract_statements(sql)
    if len(statements) != 1:
        raise InvalidQuery("Unsupported construct: multi-statement script")
    return statements[0]


def execute(con: Any, sql: str, params: Any = None) -> Any:
    """Run exactly one statement on ``con`` (a connection or cursor); returns the cursor."""
    statement = _one_statement(con, sql)
    return con.execute(statement, params) if params else con.execute(statement)


def executemany(con: Any, sql: str, rows: list) -> None:
    statement = _one_statement(con, sql)
    con.abort()  # refused while a result of execute() is unread
    con.executemany(statement, rows)


def relation(con: Any, sql: str, params: Any = None) -> Any:
    """One SELECT as a DuckDB relation (its Arrow result needs no extra copy)."""
    import duckdb

    statement = _one_statement(con, sql)
    if statement.type != duckdb.StatementType.SELECT:
        raise InvalidQuery("Unsupported construct: a query must be one SELECT statement")
    con.abort()  # refused while a result of execute() is unread
    return con.sql(statement, params=params or None)


@contextlib.contextmanager
def registered(cur: Any, name: str, arrow_table: Any) -> Iterator[None]:
    """Expose an Arrow table to SQL on ``cur`` under ``name`` while the block runs (not SQL:
    no statement runs; this is how rows from Python reach DuckDB)."""
    cur.abort()  # registering is refused while a result of execute() is unread
    cur.register(name, arrow_table)
    try:
        yield
    finally:
        cur.unregister(name)


@dataclasses.dataclass(frozen=True)
class Column:
    """A stored column as the core defines it. ``default``/``generated`` hold SQL written by
    the core itself (pseudo-columns), never anything from a request."""

    name: str
    type: str
    default: str | None = None
    generated: str | None = None

    @classmethod
    def of(cls, field: dict) -> Column:
        return cls(field["name"], bq_to_duckdb_type(field))

    def sql(self) -> str:
        text = f"{ident(self.name)} {self.type}"
        if self.default is not None:
            text += f" DEFAULT {self.default}"
        if self.generated is not None:
            text += f" AS ({self.generated})"
        return text


class Storage:
    """The DuckDB database of the emulator."""

    def __init__(self, data_dir: str | None = None):
        import duckdb

        config = dict(LOCKED_DOWN)
        if data_dir:
            os.makedirs(data_dir, exist_ok=True)
            path = os.path.join(data_dir, "bigquery.duckdb")  # spills to bigquery.duckdb.tmp
        else:
            path = ":memory:"
            config["temp_directory"] = ""  # in memory means in memory: never spill to disk
        self.con = duckdb.connect(path, config=config)
        register_bigquery_functions(self.con)  # the Python functions translated SQL calls
        self.lock = threading.RLock()
        for sql in (
            "SET GLOBAL TimeZone = 'UTC'",
            "CREATE SCHEMA IF NOT EXISTS _emulator",
            "CREATE TABLE IF NOT EXISTS _emulator.catalog ("
            "key VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, resource VARCHAR NOT NULL)",
            "CREATE TABLE IF NOT EXISTS _emulator.insert_ids ("
            "table_key VARCHAR, insert_id VARCHAR, expires DOUBLE)",
            "SET lock_configuration = true",
        ):
            execute(self.con, sql)
        self.persistent = bool(data_dir)  # insertIds outlive a restart, like the rows they guard
        self.data_dir = data_dir
        # (cursor, table, rows appended) inside the append's transaction: set by timetravel.py
        self.on_append: Callable[[Any, str, int], None] | None = None
        self._seq = 0
        self._pool: list[Any] = []
        self._pool_lock = threading.Lock()
        self._table_locks: dict[tuple[str, str], threading.RLock] = {}
        self._closed = False

    # ------------------------------------------------------------------ connections and locks

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        """A connection of its own for one read, query or append (reused afterwards)."""
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("storage is closed")
            cur = self._pool.pop() if self._pool else self.con.cursor()
        cur.abort()  # a result its last user did not read to the end would block other calls
        healthy = False
        try:
            yield cur
            healthy = True
        finally:
            with self._pool_lock:
                if healthy and not self._closed and len(self._pool) < _POOL_SIZE:
                    self._pool.append(cur)
                    cur = None
            if cur is not None:  # failed or interrupted: it may hold an aborted transaction
                with contextlib.suppress(Exception):
                    cur.close()

    def _table_lock(self, kind: str, name: str) -> threading.RLock:
        with self._pool_lock:
            return self._table_locks.setdefault((kind, name), threading.RLock())

    def append_lock(self, name: str) -> threading.RLock:
        """Held briefly by appends to a table, and by DDL changing it."""
        return self._table_lock("append", name)

    def write_lock(self, name: str) -> threading.RLock:
        """Held by DML and INSERT ... SELECT into a table for as long as they run."""
        return self._table_lock("write", name)

    @contextlib.contextmanager
    def rewrite_lock(self, name: str) -> Iterator[None]:
        """What DML, INSERT ... SELECT and a clone's fill hold on their table while they run:
        its write lock, then its append lock (always in this order), so no append lands
        between the statement and the time-travel history's record of it."""
        with self.write_lock(name), self.append_lock(name):
            yield

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """Run statements atomically on the main connection; commits before the block returns."""
        with self.lock:
            execute(self.con, "BEGIN TRANSACTION")
            try:
                yield self.con
            except BaseException:
                execute(self.con, "ROLLBACK")
                raise
            execute(self.con, "COMMIT")

    def new_name(self, prefix: str) -> str:
        with self.lock:
            self._seq += 1
            return f"{prefix}_{os.urandom(6).hex()}{self._seq}"

    # ------------------------------------------------------------------ catalog rows

    def load_catalog(self) -> list[tuple[str, str, dict]]:
        with self.lock:
            rows = execute(self.con, "SELECT key, kind, resource FROM _emulator.catalog").fetchall()
        return [(key, kind, json.loads(resource)) for key, kind, resource in rows]

    @staticmethod
    def put_record(con: Any, key: str, kind: str, resource: dict) -> None:
        execute(
            con,
            "INSERT OR REPLACE INTO _emulator.catalog VALUES (?, ?, ?)",
            [key, kind, json.dumps(resource)],
        )

    @staticmethod
    def delete_record(con: Any, key: str) -> None:
        execute(con, "DELETE FROM _emulator.catalog WHERE key = ?", [key])

    # ------------------------------------------------------------------ DDL (main connection)

    @staticmethod
    def create_table(con: Any, name: str, columns: list[Column]) -> None:
        if not columns:  # DuckDB needs a column; a schemaless BigQuery table gets a hidden one
            columns = [Column("_emulator_no_columns", "BOOLEAN")]
        execute(con, f"CREATE TABLE {ident(name)} ({', '.join(c.sql() for c in columns)})")

    @staticmethod
    def drop_table(con: Any, name: str) -> None:
        """Drop a table or view by its storage name (a no-op when absent)."""
        found = execute(
            con,
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = ? AND table_catalog = current_database()",
            [name],
        ).fetchall()
        if found:
            kind = "VIEW" if found[0][0] == "VIEW" else "TABLE"
            execute(con, f"DROP {kind} {ident(name)}")

    @staticmethod
    def add_column(con: Any, name: str, column: Column) -> None:
        execute(con, f"ALTER TABLE {ident(name)} ADD COLUMN {column.sql()}")

    @staticmethod
    def drop_column(con: Any, name: str, column: str) -> None:
        execute(con, f"ALTER TABLE {ident(name)} DROP COLUMN {ident(column)}")

    @staticmethod
    def rename_column(con: Any, name: str, old: str, new: str) -> None:
        execute(con, f"ALTER TABLE {ident(name)} RENAME COLUMN {ident(old)} TO {ident(new)}")

    def create_view(self, name: str, select_sql: str, columns: list[str] | None = None) -> None:
        """(Re)define a view over translated SQL; ``columns`` rename the query's columns."""
        if columns:
            select_sql = f"SELECT * FROM ({select_sql}) AS _view({column_list(columns)})"
        with self.lock:
            execute(self.con, f"CREATE OR REPLACE VIEW {ident(name)} AS {select_sql}")

    # ------------------------------------------------------------------ appends (own cursor)

    def append_arrow(
        self,
        name: str,
        columns: list[str],
        arrow_table: Any,
        insert_ids: tuple[str, list[str], float] | None = None,
    ) -> None:
        """Bulk-append an Arrow table (columns named like the target's); with `insert_ids`
        (table key, ids, expiry) on a persistent store, record them in the same transaction."""
        cols = column_list(columns)
        record_ids = self.persistent and insert_ids is not None and insert_ids[1]
        # the time-travel history notes the append in the same transaction (timetravel.py)
        transaction = record_ids or (self.persistent and self.on_append is not None)
        view = f"_append_{threading.get_ident()}"
        with self.append_lock(name), self.cursor() as cur, registered(cur, view, arrow_table):
            if transaction:
                execute(cur, "BEGIN TRANSACTION")
            try:
                execute(cur, f"INSERT INTO {ident(name)} ({cols}) SELECT {cols} FROM {ident(view)}")
                if record_ids:
                    self._record_insert_ids(cur, *insert_ids)
                if self.on_append is not None:
                    self.on_append(cur, name, arrow_table.num_rows)
                if transaction:
                    execute(cur, "COMMIT")
            except BaseException:
                if transaction:
                    execute(cur, "ROLLBACK")
                raise

    @staticmethod
    def _record_insert_ids(cur: Any, table_key: str, ids: list[str], expires: float) -> None:
        import pyarrow as pa

        batch = pa.table(
            {
                "table_key": pa.array([table_key] * len(ids), pa.string()),
                "insert_id": pa.array(ids, pa.string()),
                "expires": pa.array([expires] * len(ids), pa.float64()),
            }
        )
        view = f"_ids_{threading.get_ident()}"
        with registered(cur, view, batch):
            execute(cur, f"INSERT INTO _emulator.insert_ids SELECT * FROM {ident(view)}")

    def live_insert_ids(self, now: float) -> list[tuple[str, str, float]]:
        """Persisted insertIds still inside their window (expired ones are deleted)."""
        if not self.persistent:
            return []
        with self.lock:
            execute(self.con, "DELETE FROM _emulator.insert_ids WHERE expires <= ?", [now])
            return execute(
                self.con,
                "SELECT table_key, insert_id, expires FROM _emulator.insert_ids ORDER BY expires",
            ).fetchall()

    def forget_insert_ids(self, table_key: str | None, now: float) -> None:
        """Drop persisted insertIds of a table (None: only the expired ones)."""
        if not self.persistent:
            return
        with self.lock:
            if table_key is None:
                execute(self.con, "DELETE FROM _emulator.insert_ids WHERE expires <= ?", [now])
            else:
                execute(
                    self.con, "DELETE FROM _emulator.insert_ids WHERE table_key = ?", [table_key]
                )

    # ------------------------------------------------------------------ reads (own cursor)

    def count_rows(self, name: str, cur: Any = None) -> int:
        if cur is None:
            with self.cursor() as own:
                return self.count_rows(name, own)
        return execute(cur, f"SELECT count(*) FROM {ident(name)}").fetchone()[0]

    def read_rows(self, name: str, columns: list[str], offset: int, limit: int) -> list[tuple]:
        cols = column_list(columns) or "NULL"
        with self.cursor() as cur:
            return execute(
                cur, f"SELECT {cols} FROM {ident(name)} LIMIT {int(limit)} OFFSET {int(offset)}"
            ).fetchall()

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
            pool, self._pool = self._pool, []
        for cur in pool:
            with contextlib.suppress(Exception):
                cur.close()
        with self.lock:
            with contextlib.suppress(Exception):
                execute(self.con, "CHECKPOINT")
            self.con.close()
