"""Query execution: the engine that translates BigQuery statements, resolves their tables and
runs them on DuckDB, each on a connection of its own.

``QueryEngine(catalog, storage)`` owns table resolution for the translator, view description and
the translation cache. Every statement runs in a ``QueryContext``: its own DuckDB cursor, the
tables it read, its temporary objects (views, INFORMATION_SCHEMA snapshots, staged results, all
TEMP objects of that cursor, so concurrent queries never see each other's), the ``Stop``
through which jobs.cancel or the time cap interrupt it, and its ``Scope`` (routines, system
variables; a script's variables and temporary tables). Reads run concurrently; DML and
INSERT ... SELECT hold the target table's write lock while they run. A script runs all its
statements in one context (``scripting.py``, through ``run_in``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from . import clones, information_schema
from .alter import ALTER_TABLE, run_alter
from .catalog import Catalog, Table
from .destinations import existing_destination, new_destination
from .errors import BigQueryError, Duplicate, Invalid, InvalidQuery, NotFound, expect_dict
from .external import read_external
from .gcs import CloudStorage
from .identifiers import columns as column_list
from .identifiers import ident
from .params import parameter_types, query_parameters
from .scope import Scope
from .storage import Column, Storage, execute, executemany, registered, relation
from .types import duckdb_to_bq_field

MAX_QUERY_CHARS = 1024 * 1024  # BigQuery's limit on the text of a GoogleSQL query
_CACHE_SIZE = 256
_MAX_VIEW_DEPTH = 16


@dataclasses.dataclass
class QueryOutcome:
    """What a query job produced, for job statistics and result reads."""

    statement_type: str
    schema: list[dict] = dataclasses.field(default_factory=list)
    arrow: Any = None  # anonymous results, held in memory as a pyarrow Table
    result_name: str | None = None
    total_rows: int = 0
    total_bytes: int = 0
    dml_affected: int | None = None
    dml_stats: dict | None = None
    ddl_operation: str | None = None
    ddl_target: dict | None = None
    destination: dict | None = None
    num_child_jobs: int | None = None  # a script's


class Stop:
    """How another thread stops a running statement (jobs.cancel, the time cap): the reason is
    recorded and the statement's connection interrupted. Safe to call repeatedly."""

    def __init__(self) -> None:
        self.reason: BigQueryError | None = None
        self._cursor: Any = None
        self._lock = threading.Lock()

    def attach(self, cursor: Any) -> None:
        with self._lock:
            self._cursor = cursor

    def detach(self) -> None:
        with self._lock:
            self._cursor = None

    def stop(self, reason: BigQueryError) -> None:
        with self._lock:  # held while interrupting: a detached cursor may serve another query
            if self.reason is None:
                self.reason = reason
            if self._cursor is not None:
                self._cursor.interrupt()

    def check(self) -> None:
        """Raise the reason if the work was stopped (checked between statements)."""
        if self.reason is not None:
            raise self.reason


# ------------------------------------------------------------------ DuckDB errors


_OVERFLOW = re.compile(r"^Overflow in \w+ of INT64 \((.*)\)!$")
_UDF_ERROR = re.compile(r"^Python exception occurred while executing the UDF: \w+: ")
_UNRECOGNIZED = re.compile(
    r'^Referenced column "([^"]+)" (?:not found in FROM clause!|was not found because the FROM '
    r"clause is missing)"
)


def duckdb_message(exc: Exception) -> str:
    """DuckDB's error text without its class prefix and source excerpt, in BigQuery's words
    where the meaning is the same."""
    text = str(exc)
    for prefix in ("Binder Error: ", "Parser Error: ", "Catalog Error: ", "Conversion Error: ",
                   "Invalid Input Error: ", "Constraint Error: ", "Out of Range Error: ",
                   "Not implemented Error: ", "Type Error: ", "TransactionContext Error: ",
                   "Permission Error: "):  # fmt: skip
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.split("\n\nLINE", 1)[0]
    # a Python function of the translator (sql/udfs.py) raising BigQuery's message
    text = _UDF_ERROR.sub("", text)
    overflow = _OVERFLOW.match(text)
    if overflow:  # BigQuery's words for INT64 overflow
        return f"int64 overflow: {overflow.group(1)}"
    unrecognized = _UNRECOGNIZED.match(text)
    if unrecognized:
        return f"Unrecognized name: {unrecognized.group(1)}"
    return text.split("\nCandidate bindings", 1)[0].strip()


class QueryContext:
    """One statement's state: its connection, the tables it read, its temporary objects."""

    def __init__(self, engine: QueryEngine, cursor: Any, stop: Stop, scope: Scope):
        self.engine = engine
        self.cursor = cursor
        self.stop = stop
        self.scope = scope
        self.referenced: list[Table] = []
        self.cacheable = True
        self.view_depth = 0
        self._temp: dict[str, str] = {}  # name -> VIEW | TABLE, dropped when the context ends
        self._names = itertools.count(1)
        self.in_transaction = False  # a script's BEGIN TRANSACTION ... COMMIT, on this cursor
        self._transaction_lost = False  # DuckDB rolled it back after a failed statement
        # the statement's defaults and parameters (a FOR SYSTEM_TIME AS OF is evaluated with them)
        self.defaults: tuple[str, str | None] = ("", None)
        self.params: Any = None
        self.param_types: Any = None

    def resolve_table(
        self, project: str, dataset_id: str, table_id: str, as_of: str | None = None
    ) -> str:
        """The translator's hook: DuckDB identifier of a table, view or INFORMATION_SCHEMA view;
        with ``as_of`` (the BigQuery text of a FOR SYSTEM_TIME AS OF timestamp), of the table as
        it was then."""
        return self.engine.resolve_table(self, project, dataset_id, table_id, as_of)

    @contextlib.contextmanager
    def _statement(self) -> Iterator[None]:
        """Around one statement: DuckDB errors become invalidQuery, an interruption the reason
        the work was stopped (checked before the statement starts, too)."""
        import duckdb

        self.stop.check()
        try:
            yield
        except duckdb.InterruptException:
            self.stop.check()
            raise
        except duckdb.Error as exc:
            self.stop.check()
            message = duckdb_message(exc)
            # a JavaScript UDF over its time or memory limit (sql/jsudf.py)
            reason = "resourcesExceeded" if message.startswith("Resources exceeded") else None
            raise InvalidQuery(message, reason=reason) from None

    def execute(self, sql: str, params: list | None = None) -> Any:
        """Run one statement on this context's connection."""
        with self._statement():
            return execute(self.cursor, sql, params or None)

    def fetch_arrow(self, sql: str, params: list | None) -> tuple[list[dict], Any]:
        """Result schema and rows (a pyarrow Table) of one SELECT."""
        with self._statement():
            rel = relation(self.cursor, sql, params)
            schema = [duckdb_to_bq_field(n, t) for n, t in zip(rel.columns, rel.types, strict=True)]
            return schema, rel.to_arrow_table()

    def result_schema(self, sql: str, params: list | None) -> list[dict]:
        cursor = self.execute(f"SELECT * FROM ({sql}) AS _emulator_q LIMIT 0", params)
        return [duckdb_to_bq_field(col[0], col[1]) for col in cursor.description]

    def temp_name(self, prefix: str) -> str:
        return f"{prefix}_{next(self._names)}"

    def temp_view(self, name: str, select_sql: str, columns: list[str] | None = None) -> None:
        if columns:  # CREATE VIEW v (a, b): names for the query's columns
            select_sql = f"SELECT * FROM ({select_sql}) AS _view({column_list(columns)})"
        self.execute(f"CREATE OR REPLACE TEMP VIEW {ident(name)} AS {select_sql}")
        self._temp[name] = "VIEW"

    def temp_table(self, name: str, select_sql: str, params: list | None = None) -> None:
        self.execute(f"CREATE OR REPLACE TEMP TABLE {ident(name)} AS {select_sql}", params)
        self._temp[name] = "TABLE"

    def expose(self, name: str, arrow_table: Any) -> contextlib.AbstractContextManager[None]:
        """Make an in-memory Arrow table readable by this context's statements as ``name``
        while the returned context manager's block runs; no statement runs."""
        ident(name)  # the same naming rule as every name the core writes into SQL
        return registered(self.cursor, name, arrow_table)

    def _temp_columns(self, name: str, columns: list[Column]) -> None:
        defs = ", ".join(c.sql() for c in columns)
        self.execute(f"CREATE OR REPLACE TEMP TABLE {ident(name)} ({defs})")
        self._temp[name] = "TABLE"

    def temp_rows(self, name: str, schema: list[dict], arrow: Any) -> None:
        """A temporary table of ``schema`` holding the rows of an Arrow table (an external
        table's objects), converted to the columns' DuckDB types on the way in."""
        self._temp_columns(name, [Column.of(f) for f in schema])
        cols = column_list(f["name"] for f in schema)
        source = f"{name}_rows"
        with self._statement(), registered(self.cursor, source, arrow):
            execute(self.cursor,
                    f"INSERT INTO {ident(name)} ({cols}) SELECT {cols} FROM {ident(source)}")  # fmt: skip

    def temp_snapshot(self, name: str, columns: list, rows: list[tuple]) -> None:
        """A temporary table of given columns and rows (an INFORMATION_SCHEMA snapshot)."""
        self._temp_columns(name, columns)
        if rows:
            marks = ", ".join("?" for _ in columns)
            with self._statement():
                executemany(self.cursor, f"INSERT INTO {ident(name)} VALUES ({marks})", rows)

    def drop_temp(self, name: str) -> None:
        """Drop one temporary object of this context now."""
        kind = self._temp.pop(name, None)
        if kind is not None:
            self.execute(f"DROP {kind} IF EXISTS temp.main.{ident(name)}")

    # A script's multi-statement transaction is DuckDB's transaction on the context's cursor:
    # snapshot isolation, its changes visible to its own statements only until COMMIT, and a
    # concurrent conflicting change aborts it, as in BigQuery.

    def begin(self) -> None:
        self.execute("BEGIN TRANSACTION")
        self.in_transaction, self._transaction_lost = True, False

    def end(self, commit: bool) -> None:
        """COMMIT or ROLLBACK the open transaction."""
        self.in_transaction = False
        if self._transaction_lost:
            self._transaction_lost = False
            if commit:
                raise InvalidQuery(
                    "Transaction was rolled back: a statement in it failed, and this emulator "
                    "cannot keep the changes of a transaction after an error (ROLLBACK it in the "
                    "exception handler instead)"
                )
            return
        try:
            self.execute("COMMIT" if commit else "ROLLBACK")
        except BigQueryError as error:
            with contextlib.suppress(Exception):
                self.cursor.execute("ROLLBACK")
            if "conflict" in error.message.lower():
                raise InvalidQuery(
                    "Transaction is aborted due to concurrent update against a table it changed"
                ) from None
            raise

    def salvage(self) -> None:
        """After a failed statement, before an exception handler runs: DuckDB refuses every
        statement of a transaction an error aborted, so it is rolled back now (and a later
        COMMIT says so)."""
        if not self.in_transaction:
            return
        try:
            self.cursor.execute("SELECT 1").fetchall()
        except Exception:
            with contextlib.suppress(Exception):
                self.cursor.execute("ROLLBACK")
            self._transaction_lost = True

    def close(self) -> None:
        """Drop the temporary objects, so the connection goes back to the pool clean (an open
        transaction is rolled back, as BigQuery does when a script ends inside one)."""
        self.stop.detach()  # the work is done: a late time cap must not interrupt the cleanup
        if self.in_transaction:
            self.end(commit=False)
        self.scope.close()
        for name, kind in reversed(list(self._temp.items())):
            execute(self.cursor, f"DROP {kind} IF EXISTS temp.main.{ident(name)}")
        self._temp.clear()


class QueryEngine:
    """Translates and runs BigQuery statements against the catalog and storage; external
    tables are read through ``gcs`` (None: naming one is an error saying so)."""

    def __init__(
        self,
        catalog: Catalog,
        storage: Storage,
        gcs: CloudStorage | None = None,
        routines: Any = None,
    ):
        self.catalog = catalog
        self.storage = storage
        self.gcs = gcs
        self.routines = routines  # the RoutineStore (persistent functions and procedures)
        self._cache: OrderedDict[tuple, tuple[Any, list[Table]]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @contextlib.contextmanager
    def context(self, stop: Stop | None = None, scope: Scope | None = None) -> Iterator[QueryContext]:
        """A context on a connection of its own; ``stop`` can interrupt it meanwhile."""
        stop = stop or Stop()
        scope = scope or self.scope("", "", None)
        scope.stopped = lambda: stop.reason
        with self.storage.cursor() as cursor:
            ctx = QueryContext(self, cursor, stop, scope)
            stop.attach(cursor)
            try:
                yield ctx
                ctx.close()
            finally:
                stop.detach()
                scope.close()

    def scope(self, project: str, default_project: str, default_dataset: str | None,
              job_id: str | None = None) -> Scope:  # fmt: skip
        """The names a query of a job may use besides tables (routines, system variables)."""
        return Scope(self.routines, project, default_project, default_dataset, job_id)

    # -------------------------------------------------------------- translation

    def translate(
        self,
        ctx: QueryContext,
        sql: str,
        default_project: str,
        default_dataset: str | None,
        params: list | dict | None = None,
        param_types: list | dict | None = None,
    ) -> Any:
        from .sql import SqlError, translate  # sqlglot is slow to load: on the first query

        try:
            return translate(
                sql,
                default_project=default_project,
                default_dataset=default_dataset,
                resolve_table=ctx.resolve_table,
                params=params,
                param_types=param_types,
                table_schema=lambda p, d, t: self._table_schema(ctx, p, d, t),
                scope=ctx.scope,
            )
        except SqlError as exc:
            location = exc.location
            message = exc.message
            if isinstance(location, tuple) and not message.rstrip().endswith("]"):
                message = f"{message} at [{location[0]}:{location[1]}]"
            raise InvalidQuery(message, location="query") from None

    def _table_schema(
        self, ctx: QueryContext, project: str, dataset: str, table_id: str
    ) -> list[dict] | None:
        """REST schema fields of a catalog table or view, for the translator's typing (or None)."""
        if dataset.upper() == "_SESSION":
            table = ctx.scope.temp_table(table_id)
        else:
            table = self.catalog.find_table(project, dataset, table_id)
        return table.schema if table is not None else None

    def resolve_table(
        self, ctx: QueryContext, project: str, dataset_id: str, table_id: str,
        as_of: str | None = None,
    ) -> str:
        if as_of is not None:
            return self._time_travel(ctx, (project, dataset_id, table_id), as_of)
        if dataset_id.upper() == "_SESSION":  # a script's temporary table
            temp = ctx.scope.temp_table(table_id)
            if temp is None:
                raise NotFound(f"Not found: Table {project}:_SESSION.{table_id} was not found "
                               "(no temporary table of that name in this script)")  # fmt: skip
            return ident(temp.storage_name)
        if table_id.upper().startswith("INFORMATION_SCHEMA."):
            return self._information_schema(ctx, project, dataset_id, table_id.split(".", 1)[1])
        if dataset_id.upper() == "INFORMATION_SCHEMA":
            return self._information_schema(ctx, project, None, table_id)
        table = self.catalog.find_table(project, dataset_id, table_id)
        if table is None:
            self.catalog.get_dataset(project, dataset_id)
            raise NotFound(
                f"Not found: Table {project}:{dataset_id}.{table_id} was not found in location US"
            )
        ctx.referenced.append(table)
        if table.type == "VIEW":
            self._view(ctx, table)
        elif table.type == "EXTERNAL":
            return self._external(ctx, table)
        return ident(table.storage_name)

    def _time_travel(self, ctx: QueryContext, ref: tuple, as_of: str) -> str:
        """The table as it was at ``as_of``: a TEMP view of the version's first rows."""
        table = self.catalog.find_table(*ref)
        if table is None:
            self.catalog.get_dataset(ref[0], ref[1])
            raise NotFound(
                f"Not found: Table {ref[0]}:{ref[1]}.{ref[2]} was not found in location US"
            )
        if table.type in ("VIEW", "EXTERNAL"):
            kind = "view" if table.type == "VIEW" else "external table"
            raise InvalidQuery(f"FOR SYSTEM_TIME AS OF cannot be used with {kind} {ref[2]}")
        ctx.cacheable = False  # "now" moves: resolve anew every time
        at_ms = self.timestamp_ms(ctx, as_of)
        _, select = clones.source_rows(self.catalog, ref, at_ms, current_only=True)
        name = ctx.temp_name("_emulator_as_of")
        ctx.temp_view(name, select)
        ctx.referenced.append(table)
        return ident(name)

    def timestamp_ms(self, ctx: QueryContext, expression: str) -> int:
        """A constant TIMESTAMP expression of the statement (BigQuery text, translated like any
        query, with the statement's parameters) -> milliseconds since the epoch."""
        if isinstance(ctx.params, list) and "?" in expression:
            raise InvalidQuery("Positional parameters are not supported in FOR SYSTEM_TIME AS OF;"
                               " use a named parameter")
        statement = self.translate(
            ctx, f"SELECT CAST(({expression}) AS TIMESTAMP) AS t", ctx.defaults[0],
            ctx.defaults[1], ctx.params, ctx.param_types,
        )
        value = ctx.execute(statement.duckdb_sql, list(statement.duckdb_params or [])).fetchone()
        if not value or value[0] is None:
            raise InvalidQuery("FOR SYSTEM_TIME AS OF needs a TIMESTAMP, got NULL")
        return int(value[0].timestamp() * 1000)

    def fill(self, ctx: QueryContext, table: Table, select_sql: str) -> None:
        """Append a SELECT's rows to a table the engine just made (clones, snapshots)."""
        cols = column_list(f["name"] for f in table.schema)
        with self.storage.rewrite_lock(table.storage_name):
            ctx.execute(f"INSERT INTO {ident(table.storage_name)} ({cols}) "
                        f"SELECT * FROM ({select_sql}) AS _emulator_q")
            self.catalog.history.recount(table, ctx.cursor)


    def _external(self, ctx: QueryContext, table: Table) -> str:
        """An external table's objects as they are now, in a temporary table of the context."""
        ctx.cacheable = False  # read anew by every statement
        schema, rows = read_external(self.gcs, table)
        if not table.schema:  # detected on the first query; kept, so tables.get shows it
            self.catalog.update_table(table, {"schema": {"fields": schema}}, replace=False)
        name = ctx.temp_name("_emulator_external")
        ctx.temp_rows(name, schema, rows)
        return ident(name)

    def _information_schema(
        self, ctx: QueryContext, project: str, dataset_id: str | None, view: str
    ) -> str:
        ctx.cacheable = False  # a snapshot: the statement must resolve it anew every time
        routines = self.routines.resources(project, dataset_id) if self.routines else []
        columns, rows = information_schema.snapshot(
            self.catalog, project, dataset_id, view, routines
        )
        name = ctx.temp_name(f"_emulator_info_{view.lower()}")
        ctx.temp_snapshot(name, columns, rows)
        return ident(name)

    def _view(self, ctx: QueryContext, table: Table) -> None:
        """Define the view as a TEMP view of the context's connection, under its storage name.
        The BigQuery text is translated anew each time, so the view follows tables that were
        dropped and re-created; a DDL view falls back to its own translation."""
        if ctx.view_depth >= _MAX_VIEW_DEPTH:
            raise InvalidQuery(f"View {table.table_id} references itself")
        ctx.view_depth += 1
        try:
            sql, params = table.view_duckdb_sql, []
            try:
                statement = self.translate(ctx, table.view_query or "", table.project,
                                           table.dataset_id)  # fmt: skip
            except BigQueryError:
                if sql is None:
                    raise
                columns = None  # the DDL translation has the column list applied already
            else:
                if statement.kind != "SELECT":
                    raise InvalidQuery("A view query must be a SELECT statement")
                sql, params = statement.duckdb_sql, list(statement.duckdb_params or [])
                columns = table.view_columns
            if params:
                raise InvalidQuery("Query parameters cannot be used in views")
            ctx.temp_view(table.storage_name, sql, columns)
        finally:
            ctx.view_depth -= 1

    def describe_view(self, table: Table) -> list[dict]:
        """Schema of a view, from its translated query."""
        with self.context(scope=self.scope(table.project, table.project, None)) as ctx:
            name = self.resolve_table(ctx, table.project, table.dataset_id, table.table_id)
            return ctx.result_schema(f"SELECT * FROM {name}", None)

    def _cached(self, key: tuple) -> tuple[Any, list[Table]] | None:
        """A translation made before, if every table it resolved is still the same object
        (tables are replaced, never edited in place, when their schema or storage changes)."""
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._cache.move_to_end(key)
        if entry is None:
            return None
        statement, referenced = entry
        if all(self.catalog.find_table(*t.ref) is t for t in referenced):
            return statement, referenced
        return None

    def _remember(self, key: tuple, statement: Any, referenced: list[Table]) -> None:
        with self._cache_lock:
            self._cache[key] = (statement, referenced)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)

    # -------------------------------------------------------------- execution

    def run(
        self,
        project: str,
        config: dict,
        *,
        dry_run: bool = False,
        stop: Stop | None = None,
        job_id: str | None = None,
    ) -> QueryOutcome:
        """Run one BigQuery statement from a query job configuration."""
        sql, default_project, default_dataset = self.prepare(project, config)
        scope = self.scope(project, default_project, default_dataset, job_id)
        with self.context(stop, scope) as ctx:
            return self.run_in(ctx, sql, config, default_project, default_dataset, dry_run)

    def prepare(self, project: str, config: dict) -> tuple[str, str, str | None]:
        """The query text and default project and dataset of a query job configuration,
        checked (BigQuery's limits on the text; no legacy SQL)."""
        sql = config.get("query")
        if not isinstance(sql, str) or not sql.strip():
            raise Invalid("Query text is required.", reason="invalid")
        if len(sql) > MAX_QUERY_CHARS:
            raise InvalidQuery(
                "The query is too large. The maximum standard SQL query length is 1024.00K "
                "characters, including comments and white space characters."
            )
        if config.get("useLegacySql") is True:
            raise InvalidQuery("Legacy SQL is not supported by this emulator; use standard SQL.")
        default = expect_dict(config.get("defaultDataset"), "defaultDataset")
        return sql, default.get("projectId") or project, default.get("datasetId")

    def run_in(
        self,
        ctx: QueryContext,
        sql: str,
        config: dict,
        default_project: str,
        default_dataset: str | None,
        dry_run: bool = False,
        params: list | dict | None = None,
        types: list | dict | None = None,
    ) -> QueryOutcome:
        """Run one statement in an open context (a query's, or a script's for each of its
        statements). ``params``/``types`` default to the configuration's query parameters."""
        if params is None:
            params = query_parameters(config.get("queryParameters"), config.get("parameterMode"))
            # Declared types keep NULL and JSON parameters typed (a bare NULL would be DuckDB's).
            types = parameter_types(config.get("queryParameters"), config.get("parameterMode"))
        if ALTER_TABLE.match(sql):  # the core runs ALTER TABLE itself, on the catalog
            if ctx.in_transaction:
                raise InvalidQuery(_DDL_IN_TRANSACTION)
            if dry_run:
                return QueryOutcome("ALTER_TABLE")
            operation, ref = run_alter(self.catalog, sql, default_project, default_dataset)
            return QueryOutcome("ALTER_TABLE", ddl_operation=operation, ddl_target=ref)
        # snapshots and clones (clones.py) are run by the core, like ALTER TABLE
        clone = clones.parse(sql, default_project, default_dataset) \
            if clones.MAYBE.match(sql) else None
        ctx.defaults, ctx.params, ctx.param_types = (
            (default_project, default_dataset), params, types
        )
        if clone is not None:
            if ctx.in_transaction:
                raise InvalidQuery(_DDL_IN_TRANSACTION)
            kind = {"CREATE_TABLE_CLONE": "CREATE_TABLE"}.get(clone.kind, clone.kind)
            if dry_run:
                return QueryOutcome(kind)
            operation, ref = clones.run(self, ctx, clone)
            return QueryOutcome(kind, ddl_operation=operation, ddl_target=ref)
        key = (sql, default_project, default_dataset, repr(params), repr(types))
        cached = self._cached(key) if ctx.scope.cacheable else None
        if cached is not None:
            statement, referenced = cached
            for table in referenced:  # the views live on the context's connection
                if table.type == "VIEW":
                    self._view(ctx, table)
            ctx.referenced = list(referenced)
        else:
            ctx.scope.dynamic = False
            ctx.cacheable, ctx.referenced = True, []
            statement = self.translate(
                ctx, sql, default_project, default_dataset, params, types
            )
            if ctx.cacheable and not ctx.scope.dynamic:
                self._remember(key, statement, list(ctx.referenced))
        for table in ctx.referenced:  # a table dropped or replaced meanwhile
            current = self.catalog.find_table(*table.ref)
            if current is None or current.storage_name != table.storage_name:
                raise NotFound(
                    f"Not found: Table {table.project}:{table.dataset_id}.{table.table_id}"
                )
        with ctx._statement():  # a statement too: the time cap may interrupt it
            total_bytes = sum(
                self.storage.count_rows(t.storage_name, ctx.cursor) * max(len(t.schema), 1) * 8
                for t in {id(t): t for t in ctx.referenced}.values()
                if t.type == "TABLE"
            )
        outcome = self._execute(ctx, statement, sql, config, dry_run)
        outcome.total_bytes = total_bytes
        return outcome

    def _execute(
        self, ctx: QueryContext, st: Any, sql: str, config: dict, dry_run: bool
    ) -> QueryOutcome:
        kind = st.kind
        params = list(st.duckdb_params or [])
        if ctx.in_transaction and not _transactional(st):
            raise InvalidQuery(_DDL_IN_TRANSACTION)
        if st.routine is not None or kind in _DROP_ROUTINE:
            return self._routine_ddl(ctx, st, dry_run)
        if st.temporary or (kind in ("DROP_TABLE", "DROP_VIEW") and st.target[1] == "_SESSION"):
            if dry_run:
                return QueryOutcome(kind)
            return ctx.scope.temp_table_ddl(ctx, st, params)
        if kind == "SELECT":
            if dry_run:
                return QueryOutcome("SELECT", schema=ctx.result_schema(st.duckdb_sql, params))
            return self._select(ctx, st.duckdb_sql, params, config)
        if kind in ("INSERT", "UPDATE", "DELETE", "MERGE"):
            if dry_run:
                return QueryOutcome(kind)
            table = self.catalog.find_table(*st.target) if st.target else None
            if table is not None and table.type == "SNAPSHOT":
                raise InvalidQuery(f"{table.table_id} is a table snapshot; snapshots are "
                                   "read-only (restore it with CREATE TABLE ... CLONE)")
            if table is not None and table.type == "EXTERNAL":
                raise InvalidQuery(
                    f"{kind} over table {table.project}.{table.dataset_id}.{table.table_id} is "
                    "not supported: it is an external table (its rows live in Cloud Storage)."
                )
            with self._writing(ctx, table, kind):
                affected = ctx.execute(st.duckdb_sql, params).fetchone()
            count = int(affected[0]) if affected else 0
            if table is not None and self.catalog.find_table(*st.target) is table:
                self.catalog.save_table(table)
            stats_key = {
                "INSERT": "insertedRowCount",
                "UPDATE": "updatedRowCount",
                "DELETE": "deletedRowCount",
                "MERGE": "updatedRowCount",
            }[kind]
            return QueryOutcome(kind, dml_affected=count, dml_stats={stats_key: str(count)})
        if dry_run:
            return QueryOutcome(kind)
        return self._ddl(ctx, st, sql, params)

    @contextlib.contextmanager
    def _writing(self, ctx: QueryContext, table: Table | None, kind: str) -> Iterator[None]:
        """Around DML on ``table``: no appends meanwhile, and the time-travel history told
        (INSERT adds rows; the others rewrite them: the rows before are kept), in one
        transaction with the statement."""
        if table is None:
            yield
            return
        if ctx.in_transaction:
            # Inside a script's transaction the history is not told: a ROLLBACK would undo
            # the statement but not the history's own record (a known difference).
            with self.storage.rewrite_lock(table.storage_name):
                yield
            return
        history = self.catalog.history
        with self.storage.rewrite_lock(table.storage_name):
            ctx.execute("BEGIN TRANSACTION")
            try:
                if kind == "INSERT":
                    yield
                    history.recount(table, ctx.cursor)
                else:
                    with history.rewriting(table, ctx.cursor):
                        yield
                ctx.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    ctx.cursor.execute("ROLLBACK")
                raise

    def _stage(self, ctx: QueryContext, sql: str, params: list) -> tuple[str, list[dict]]:
        """Run a SELECT once into a temporary table; returns its name and schema."""
        name = ctx.temp_name("_emulator_staged")
        ctx.temp_table(name, sql, params)
        schema = ctx.result_schema(f"SELECT * FROM {ident(name)}", None)
        return name, schema

    def _select(self, ctx: QueryContext, sql: str, params: list, config: dict) -> QueryOutcome:
        dest = expect_dict(config.get("destinationTable"), "destinationTable")
        if not dest:
            schema, arrow = ctx.fetch_arrow(sql, params)
            _refuse_null_elements(arrow)
            return QueryOutcome("SELECT", schema=schema, arrow=arrow, total_rows=arrow.num_rows)
        staged, schema = self._stage(ctx, sql, params)
        table = self.write_into_table(
            ctx,
            dest,
            schema,
            f"SELECT * FROM {ident(staged)}",
            [],
            config.get("writeDisposition") or "WRITE_EMPTY",
            config.get("createDisposition") or "CREATE_IF_NEEDED",
        )
        with ctx._statement():
            total_rows = self.storage.count_rows(table.storage_name, ctx.cursor)
        return QueryOutcome(
            "SELECT",
            schema=table.schema,
            result_name=table.storage_name,
            total_rows=total_rows,
            destination={
                "projectId": table.project,
                "datasetId": table.dataset_id,
                "tableId": table.table_id,
            },
        )

    def write_into_table(
        self,
        ctx: QueryContext,
        dest: dict,
        schema: list[dict],
        sql: str,
        params: list,
        write_disposition: str,
        create_disposition: str,
    ) -> Table:
        """Write a DuckDB query's rows into a BigQuery table with the job's dispositions."""
        parts = (dest.get("projectId"), dest.get("datasetId"), dest.get("tableId"))
        if not all(isinstance(p, str) and p for p in parts):
            raise Invalid("destinationTable needs projectId, datasetId and tableId.")
        with self.storage.lock:  # the dispositions' checks and the table's creation together
            table = existing_destination(
                self.catalog, dest, create_disposition, write_disposition, "write to"
            )
            table = new_destination(self.catalog, dest, table, schema, write_disposition) or table
        target_names = {f["name"].lower() for f in table.schema}
        extra = [f["name"] for f in schema if f["name"].lower() not in target_names]
        if extra:
            raise Invalid(
                f"Invalid schema update. Field {extra[0]} is not in the destination table."
            )
        cols = column_list(f["name"] for f in schema)
        with self.storage.rewrite_lock(table.storage_name):
            ctx.execute(
                f"INSERT INTO {ident(table.storage_name)} ({cols}) "
                f"SELECT * FROM ({sql}) AS _emulator_q",
                params,
            )
            self.catalog.history.recount(table, ctx.cursor)
        if self.catalog.find_table(*table.ref) is table:
            self.catalog.save_table(table)
        return table

    def _ddl(self, ctx: QueryContext, st: Any, sql: str, params: list) -> QueryOutcome:
        catalog = self.catalog
        kind = st.kind
        project, dataset_id, table_id = st.target
        ref = {"projectId": project, "datasetId": dataset_id, "tableId": table_id}
        existing = catalog.find_table(project, dataset_id, table_id)
        if kind in ("DROP_TABLE", "DROP_VIEW"):
            if existing is None:
                if st.if_exists:
                    return QueryOutcome(kind, ddl_operation="SKIP", ddl_target=ref)
                catalog.get_dataset(project, dataset_id)
                noun = "Table" if kind == "DROP_TABLE" else "View"
                raise NotFound(f"Not found: {noun} {project}:{dataset_id}.{table_id}")
            catalog.delete_table(project, dataset_id, table_id)
            return QueryOutcome(kind, ddl_operation="DROP", ddl_target=ref)
        if existing is not None and not st.or_replace:
            if st.if_not_exists:
                return QueryOutcome(kind, ddl_operation="SKIP", ddl_target=ref)
            raise Duplicate(f"Already Exists: Table {project}:{dataset_id}.{table_id}")
        operation = "REPLACE" if existing is not None else "CREATE"
        resource = _create_resource(st, ref)
        if kind == "CREATE_TABLE":
            resource["schema"] = {"fields": st.schema or []}
            catalog.create_table(project, dataset_id, resource, replace=existing is not None)
        elif kind == "CREATE_TABLE_AS_SELECT":
            staged, schema = self._stage(ctx, st.query_sql, params)
            schema = st.schema or schema
            resource["schema"] = {"fields": schema}
            table = catalog.create_table(
                project, dataset_id, resource, replace=existing is not None
            )
            self.fill(ctx, table, f"SELECT * FROM {ident(staged)}")
        elif kind == "CREATE_VIEW":
            if params:
                raise InvalidQuery("Query parameters cannot be used in views")
            body = _VIEW_BODY.search(sql)
            resource["view"] = {
                "query": body.group(1).strip() if body else sql,
                "useLegacySql": False,
            }
            columns = st.view_columns
            try:
                schema = ctx.result_schema(st.query_sql, [])
            except InvalidQuery as exc:  # DuckDB's words for a column list longer than the query
                more = _TOO_MANY_NAMES.search(exc.message) if columns else None
                if more is None:
                    raise
                schema = [{}] * int(more.group(1))
            if columns and len(columns) != len(schema):
                raise InvalidQuery(
                    f"The view column list has {len(columns)} names but the query returns "
                    f"{len(schema)} columns"
                )
            resource["schema"] = {"fields": schema}
            catalog.create_table(
                project,
                dataset_id,
                resource,
                replace=existing is not None,
                view_duckdb_sql=st.query_sql,
                view_columns=columns,
            )
        else:
            raise InvalidQuery(f"Unsupported statement: {kind}")
        return QueryOutcome(kind, ddl_operation=operation, ddl_target=ref)


    def _routine_ddl(self, ctx: QueryContext, st: Any, dry_run: bool) -> QueryOutcome:
        """CREATE/DROP of a function, table function or procedure (persistent or TEMP)."""
        project, dataset_id, routine_id = st.target
        if project is None:  # a temporary routine of this query or script (dry runs too)
            operation = ctx.scope.temp_routine_ddl(st)
            return QueryOutcome(st.kind, ddl_operation=operation)
        if dry_run:
            return QueryOutcome(st.kind)
        if self.routines is None:
            raise InvalidQuery("Unsupported construct: routines")
        ref = {"projectId": project, "datasetId": dataset_id, "routineId": routine_id}
        if st.routine is None:  # DROP [TABLE] FUNCTION / PROCEDURE
            existing = self.routines.find(project, dataset_id, routine_id)
            if existing is not None and existing["routineType"] != _DROP_ROUTINE[st.kind]:
                existing = None  # DROP FUNCTION of a procedure: not found
            elif existing is not None:
                self.routines.delete(project, dataset_id, routine_id)
            if existing is None and not st.if_exists:
                self.catalog.get_dataset(project, dataset_id)
                raise NotFound(f"Not found: {_ROUTINE_NOUN[st.kind]} "
                               f"{project}:{dataset_id}.{routine_id}")  # fmt: skip
            operation = "DROP" if existing is not None else "SKIP"
        else:
            _, operation = self.routines.insert(
                project, dataset_id, {**st.routine, "routineReference": ref},
                replace=st.or_replace, if_not_exists=st.if_not_exists, statement=True,
            )  # fmt: skip
        return QueryOutcome(st.kind, ddl_operation=operation, ddl_target=ref)


_DDL_IN_TRANSACTION = (
    "DDL statements that create or drop permanent entities (datasets, tables, views, functions, "
    "procedures) are not supported inside a transaction; only SELECT, DML and TEMP tables and "
    "functions are"
)


def _transactional(st: Any) -> bool:
    """Whether a statement may run inside a multi-statement transaction (BigQuery's list:
    queries, DML, and DDL of temporary tables and functions)."""
    if st.kind in ("SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"):
        return True
    if st.temporary or (st.target and st.target[1] == "_SESSION"):
        return True
    return (st.routine is not None or st.kind in _DROP_ROUTINE) and st.target[0] is None


_DROP_ROUTINE = {"DROP_FUNCTION": "SCALAR_FUNCTION", "DROP_TABLE_FUNCTION": "TABLE_VALUED_FUNCTION",
                 "DROP_PROCEDURE": "PROCEDURE"}  # fmt: skip
_ROUTINE_NOUN = {"DROP_FUNCTION": "Function", "DROP_TABLE_FUNCTION": "Table function",
                 "DROP_PROCEDURE": "Procedure"}  # fmt: skip
_TOO_MANY_NAMES = re.compile(r"has (\d+) columns available but \d+ columns specified")
_VIEW_BODY = re.compile(r"\bAS\s*(\(?\s*(?:SELECT|WITH)\b.*)$", re.IGNORECASE | re.DOTALL)


def _refuse_null_elements(arrow: Any) -> None:
    """BigQuery refuses a result holding an ARRAY with a NULL element (the client could not
    read it): ``Array cannot have a null element; error in writing field NAME``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def has_null_element(values: Any) -> bool:
        kind = values.type
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            flat = pc.list_flatten(values)
            return flat.null_count > 0 or has_null_element(flat)
        if pa.types.is_struct(kind):
            return any(has_null_element(values.field(i)) for i in range(kind.num_fields))
        return False

    for name, column in zip(arrow.column_names, arrow.columns, strict=True):
        if any(has_null_element(chunk) for chunk in column.chunks):
            raise InvalidQuery(f"Array cannot have a null element; error in writing field {name}")


def _create_resource(st: Any, ref: dict) -> dict:
    """The REST table resource a CREATE statement describes (without schema or view)."""
    resource: dict[str, Any] = {"tableReference": ref}
    if st.description:
        resource["description"] = st.description
    options = st.options or {}
    if isinstance(options.get("labels"), list):
        resource["labels"] = {k: v for k, v in options["labels"] if isinstance(k, str)}
    if options.get("friendly_name"):
        resource["friendlyName"] = options["friendly_name"]
    if st.time_partitioning:
        resource["timePartitioning"] = dict(st.time_partitioning)
    if st.cluster_by:
        resource["clustering"] = {"fields": list(st.cluster_by)}
    return resource
