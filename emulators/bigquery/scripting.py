"""Multi-statement queries (scripts) and procedures, run as BigQuery runs them.

``sql.script`` parses the text into statements; a ``Runner`` executes them in order in one
query context (one DuckDB connection, so a script's temporary tables are TEMP tables of that
connection, dropped when it ends). SQL statements go through the query engine one at a time,
each recorded as a child job (``parentJobId``, ``scriptStatistics``); procedural statements
are executed here. Expressions (conditions, DEFAULT, SET, arguments) are evaluated as
``SELECT <expression>`` through the translator, so they obey every rule a query does; their
values come back as Python values and are bound as typed query parameters wherever a variable
is named (``Session.variable``): a value never becomes SQL text.

A query made only of ``CREATE TEMP FUNCTION`` statements followed by one statement is not a
script (as in BigQuery): it runs the same way without child jobs, and its statement type is
that of its last statement.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any, Protocol

from .catalog import Table, now_ms
from .errors import BigQueryError, Duplicate, InvalidQuery, NotFound
from .identifiers import columns as column_list
from .identifiers import ident
from .query import QueryContext, QueryEngine, QueryOutcome, Stop
from .scope import SYSTEM_TYPES, Scope
from .storage import Column

MAX_CALL_DEPTH = 50  # BigQuery's limit on nested procedure calls
_SETTABLE = {"dataset_id", "dataset_project_id", "query_label", "time_zone", "location",
             "reservation"}  # fmt: skip
_TEMP_FUNCTION = re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?TEMP(ORARY)?\s+FUNCTION\b", re.I)
_DML = ("INSERT", "UPDATE", "DELETE", "MERGE")


class ChildJobs(Protocol):
    """How a script records its child jobs (the job manager implements it)."""

    def start(self) -> str:
        """A new child job's id."""

    def finish(self, job_id: str, statement: dict, outcome: QueryOutcome | None,
               error: BigQueryError | None) -> None:  # fmt: skip
        """Record a child job: ``statement`` holds its text, ``evaluationKind``, stack frames
        and start time."""


@functools.lru_cache(maxsize=256)
def _parse(sql: str) -> tuple:
    from .sql.script import parse

    return tuple(parse(sql))


def plan(sql: Any) -> tuple | None:
    """The statements of a query that needs the runner (a script, or TEMP functions before
    a statement), or None for one plain statement. Raises InvalidQuery for syntax errors."""
    from .sql import SqlError
    from .sql.script import Sql, maybe_script

    if not isinstance(sql, str) or not maybe_script(sql):
        return None
    try:
        nodes = _parse(sql)
    except SqlError as error:
        raise InvalidQuery(error.message, location="query") from None
    if not nodes:  # only semicolons and comments
        raise InvalidQuery("Syntax error: Unexpected end of script at [1:1]", location="query")
    if len(nodes) == 1 and isinstance(nodes[0], Sql):
        return None
    return nodes


def is_script(nodes: tuple) -> bool:
    """False for TEMP function definitions followed by one statement (not a script)."""
    from .sql.script import Sql

    *head, last = nodes
    return not (
        isinstance(last, Sql)
        and not _TEMP_FUNCTION.match(last.text)
        and all(isinstance(n, Sql) and _TEMP_FUNCTION.match(n.text) for n in head)
    )


# ------------------------------------------------------------------ control flow


class _Break(Exception):
    def __init__(self, label: str | None) -> None:
        self.label = label


class _Continue(Exception):
    def __init__(self, label: str | None) -> None:
        self.label = label


class _Return(Exception):
    pass


class ScriptError(Exception):
    """A statement's error, with where it happened (for @@error.* and the job's error)."""

    def __init__(self, error: BigQueryError, statement_text: str, frames: list[dict]) -> None:
        super().__init__(error.message)
        self.error = error
        self.statement_text = statement_text
        self.frames = frames  # innermost first: {line, column, filename, location}


@dataclasses.dataclass
class Variable:
    value: Any
    type: dict  # StandardSqlDataType


# ------------------------------------------------------------------ the session (a Scope)


class Session(Scope):
    """A script's names: variables in nested frames, temporary tables and routines, system
    variables. Translations made in it are never shared with other queries."""

    cacheable = False

    def __init__(self, engine: QueryEngine, project: str, default_project: str,
                 default_dataset: str | None, job_id: str | None) -> None:  # fmt: skip
        super().__init__(engine.routines, project, default_project, default_dataset, job_id)
        self.frames: list[dict[str, Variable]] = [{}]
        self.hide_variables = False  # EXECUTE IMMEDIATE sees no variables
        self.temp_tables: dict[str, Table] = {}
        self.system.update({
            "script.job_id": job_id, "script.creation_time": self.now(),
            "script.num_child_jobs": 0, "script.bytes_processed": 0, "script.bytes_billed": 0,
            "script.slot_ms": 0,
        })  # fmt: skip

    def variable(self, name: str) -> tuple[Any, dict] | None:
        found = None if self.hide_variables else self.lookup(name)
        if found is None:
            return None
        self.dynamic = True
        return found.value, found.type

    def lookup(self, name: str) -> Variable | None:
        for frame in reversed(self.frames):
            if name.lower() in frame:
                return frame[name.lower()]
        return None

    def is_temp_table(self, name: str) -> bool:
        return self.temp_table(name) is not None

    def temp_table(self, name: str) -> Table | None:
        found = self.temp_tables.get(name.lower())
        if found is not None:
            self.dynamic = True
        return found

    def temp_table_ddl(self, ctx: QueryContext, st: Any, params: list) -> QueryOutcome:
        name = st.target[2]
        key = name.lower()
        existing = self.temp_tables.get(key)
        ref = {"projectId": st.target[0], "datasetId": "_SESSION", "tableId": name}
        if st.kind in ("DROP_TABLE", "DROP_VIEW"):
            if existing is None:
                if st.if_exists:
                    return QueryOutcome(st.kind, ddl_operation="SKIP", ddl_target=ref)
                raise NotFound(f"Not found: Table {st.target[0]}:_SESSION.{name}")
            ctx.drop_temp(existing.storage_name)
            del self.temp_tables[key]
            return QueryOutcome(st.kind, ddl_operation="DROP", ddl_target=ref)
        if existing is not None and not st.or_replace:
            if st.if_not_exists:
                return QueryOutcome(st.kind, ddl_operation="SKIP", ddl_target=ref)
            raise Duplicate(f"Already Exists: Table {name}")
        storage_name = ctx.temp_name("_emulator_script_table")
        if st.kind == "CREATE_TABLE_AS_SELECT":
            staged = ctx.temp_name("_emulator_staged")
            ctx.temp_table(staged, st.query_sql, params)
            schema = st.schema or ctx.result_schema(f"SELECT * FROM {ident(staged)}", None)
            ctx.temp_snapshot(storage_name, [Column.of(f) for f in schema], [])
            ctx.execute(f"INSERT INTO {ident(storage_name)} "
                        f"({column_list(f['name'] for f in schema)}) "
                        f"SELECT * FROM {ident(staged)}")  # fmt: skip
            ctx.drop_temp(staged)
        else:
            schema = st.schema or []
            ctx.temp_snapshot(storage_name, [Column.of(f) for f in schema], [])
        if existing is not None:
            ctx.drop_temp(existing.storage_name)
        self.temp_tables[key] = Table(st.target[0], "_SESSION", name, storage_name, schema)
        operation = "REPLACE" if existing is not None else "CREATE"
        return QueryOutcome(st.kind, ddl_operation=operation, ddl_target=ref)


# ------------------------------------------------------------------ the runner


class _NoChildren:
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def start(self) -> str:
        return self.job_id

    def finish(self, *args: Any) -> None:
        pass


@dataclasses.dataclass
class _Frame:
    """A procedure being run (for stack traces): its name and the CALL that entered it."""

    procedure: str | None
    call_line: int = 0
    call_column: int = 0


def run(engine: QueryEngine, project: str, config: dict, nodes: tuple, *, job_id: str,
        stop: Stop | None = None, children: ChildJobs | None = None,
        dry_run: bool = False) -> QueryOutcome:  # fmt: skip
    """Run a script (or TEMP functions and a statement) from a query job configuration."""
    script = is_script(nodes)
    if script and expect_destination(config):
        raise InvalidQuery("configuration.query.destinationTable cannot be set for scripts")
    sql, default_project, default_dataset = engine.prepare(project, config)
    if dry_run and script:
        return QueryOutcome("SCRIPT")
    session = Session(engine, project, default_project, default_dataset, job_id)
    with engine.context(stop, session) as ctx:
        runner = Runner(engine, ctx, session, config, children if script else _NoChildren(job_id),
                        default_project)  # fmt: skip
        runner.dry_run = dry_run
        outcome = runner.run(list(nodes))
    if not script:
        return outcome
    result = dataclasses.replace(outcome, statement_type="SCRIPT", dml_affected=None,
                                 dml_stats=None, ddl_operation=None, ddl_target=None,
                                 destination=None)  # fmt: skip
    result.num_child_jobs = runner.child_count
    result.total_bytes = runner.total_bytes
    return result


def expect_destination(config: dict) -> bool:
    return isinstance(config.get("destinationTable"), dict) and bool(config["destinationTable"])


class Runner:
    """Executes the statements of one script (and the procedures it calls)."""

    def __init__(self, engine: QueryEngine, ctx: QueryContext, session: Session, config: dict,
                 children: ChildJobs, default_project: str) -> None:  # fmt: skip
        self.engine = engine
        self.ctx = ctx
        self.session = session
        self.config = {k: v for k, v in config.items() if k != "destinationTable"}
        self.children = children
        self.default_project = default_project
        self.last: QueryOutcome = QueryOutcome("SCRIPT")
        self.child_count = 0
        self.total_bytes = 0
        self.frames: list[_Frame] = [_Frame(None)]
        self.handling: list[ScriptError] = []  # errors whose EXCEPTION handler is running
        self.dry_run = False

    def run(self, nodes: list) -> QueryOutcome:
        check_structure(nodes)
        try:
            self.statements(nodes)
        except _Return:
            pass
        except ScriptError as failure:
            raise failure.error from None
        return self.last

    # -------------------------------------------------------------- statement lists

    def statements(self, nodes: list) -> None:
        for node in nodes:
            self.ctx.stop.check()
            self.statement(node)

    def statement(self, node: Any) -> None:
        from .sql import script as s

        handler = {
            s.Sql: self.sql, s.Declare: self.declare, s.Set: self.set, s.If: self.if_,
            s.Case: self.case, s.Block: self.block, s.Loop: self.loop, s.While: self.while_,
            s.Repeat: self.repeat, s.For: self.for_, s.Break: self.break_,
            s.Continue: self.continue_, s.Raise: self.raise_, s.Return: self.return_,
            s.Call: self.call, s.ExecuteImmediate: self.execute_immediate,
            s.Assert: self.assert_, s.Transaction: self.transaction,
        }[type(node)]  # fmt: skip
        handler(node)

    # -------------------------------------------------------------- SQL

    def sql(self, node: Any, text: str | None = None, kind: str = "STATEMENT",
            params: list | dict | None = None, types: list | dict | None = None) -> QueryOutcome:  # fmt: skip
        """Run one SQL statement as a child job; it becomes the script's last result."""
        text = node.text if text is None else text
        job_id = self.children.start()
        self.session.system["current_job_id"] = job_id
        record = {"text": text, "evaluationKind": kind, "frames": self.stack_frames(node, text),
                  "startTime": now_ms()}  # fmt: skip
        try:
            outcome = self.engine.run_in(self.ctx, text, self.config, *self.defaults(),
                                         dry_run=self.dry_run, params=params, types=types)  # fmt: skip
        except BigQueryError as error:
            self.children.finish(job_id, record, None, error)
            self.finished(job_id)
            raise self.failure(error, node, text) from None
        self.children.finish(job_id, record, outcome, None)
        self.finished(job_id)
        self.total_bytes += outcome.total_bytes
        self.session.system["row_count"] = (
            outcome.dml_affected if outcome.statement_type in _DML else None
        )
        self.last = outcome
        return outcome

    def finished(self, job_id: str) -> None:
        if job_id != self.session.job_id:
            self.child_count += 1
        system = self.session.system
        system["last_job_id"] = job_id
        system["script.num_child_jobs"] = self.child_count
        system["script.bytes_processed"] = system["script.bytes_billed"] = self.total_bytes

    def defaults(self) -> tuple[str, str | None]:
        system = self.session.system
        project = system.get("dataset_project_id") or self.default_project
        self.session.default_project = project
        self.session.default_dataset = system.get("dataset_id")
        return project, system.get("dataset_id")

    # -------------------------------------------------------------- expressions

    def evaluate(self, expr: Any, node: Any, to: dict | None = None) -> tuple[Any, dict]:
        """The value and type of an expression (CAST to ``to`` when given)."""
        from .sql.standard_types import from_field, to_text

        text = expr.text if to is None else f"CAST(({expr.text}) AS {to_text(to)})"
        values, schema = self.query(f"SELECT {text}", node)
        return (values[0][0] if values else None), from_field(schema[0])

    def query(self, sql: str, node: Any) -> tuple[list[tuple], list[dict]]:
        """Rows and schema of a SELECT the script runs for itself (an expression, a FOR
        query); one that reads tables is recorded as an EXPRESSION child job."""
        reads = _reads_tables(sql)
        try:
            if reads:
                outcome = self.sql(node, sql, "EXPRESSION")
            else:
                outcome = self.engine.run_in(self.ctx, sql, self.config, *self.defaults())
        except ScriptError:
            raise
        except BigQueryError as error:
            raise self.failure(error, node, node.text) from None
        if outcome.arrow is None:
            raise self.failure(InvalidQuery("Expected a query"), node, node.text)
        rows = [tuple(_python(v) for v in row) for row in zip(
            *(col.to_pylist() for col in outcome.arrow.columns), strict=True)]  # fmt: skip
        return rows, outcome.schema

    def truth(self, expr: Any, node: Any) -> bool:
        value, _ = self.evaluate(expr, node, {"typeKind": "BOOL"})
        return value is True

    # -------------------------------------------------------------- variables

    def declare(self, node: Any) -> None:
        from .sql import SqlError
        from .sql.standard_types import from_text

        frame = self.session.frames[-1]
        for name in node.names:
            if self.session.lookup(name) is not None:
                raise self.failure(InvalidQuery(f"Variable '{name}' is already declared"), node)
        try:
            kind = from_text(node.type_text) if node.type_text else None
        except SqlError as error:
            raise self.failure(InvalidQuery(error.message), node) from None
        value = None
        if node.default is not None:
            value, found = self.evaluate(node.default, node, kind)
            kind = kind or found
        for name in node.names:
            frame[name.lower()] = Variable(value, kind)

    def set(self, node: Any) -> None:
        if node.multiple:
            values = self.tuple_value(node)
        else:
            values = [self.evaluate(node.value, node, self.target_type(node, node.names[0]))[0]]
        if len(values) != len(node.names):
            raise self.failure(InvalidQuery(
                f"SET assigns {len(values)} value(s) to {len(node.names)} variable(s)"), node)
        for name, value in zip(node.names, values, strict=True):
            self.assign(node, name, value)

    def target_type(self, node: Any, name: str) -> dict | None:
        if name.startswith("@@"):
            return SYSTEM_TYPES.get(name[2:].lower()) or {"typeKind": "STRING"}
        variable = self.session.lookup(name)
        if variable is None:
            raise self.failure(InvalidQuery(f"Undeclared variable: {name}"), node)
        return variable.type

    def tuple_value(self, node: Any) -> list:
        """``(e1, e2)`` or a STRUCT-valued expression, as a list of values."""
        from .sql.script import tokenize
        from .sql.standard_types import to_text

        text = node.value.text.strip()
        parts = _top_level_items(text, tokenize) if text.startswith("(") else None
        if parts and len(parts) > 1:
            casts = [self.target_type(node, n) for n in node.names]
            items = [f"CAST(({p}) AS {to_text(t)})" if t else p
                     for p, t in zip(parts, casts + [None] * len(parts), strict=False)]  # fmt: skip
            rows, _ = self.query(f"SELECT {', '.join(items)}", node)
            return list(rows[0])
        value, kind = self.evaluate(node.value, node)
        if kind["typeKind"] != "STRUCT" or not isinstance(value, dict):
            if value is None and kind["typeKind"] == "STRUCT":
                return [None] * len(node.names)
            raise self.failure(InvalidQuery("SET of several variables needs a STRUCT value"), node)
        return list(value.values())

    def assign(self, node: Any, name: str, value: Any) -> None:
        if name.startswith("@@"):
            self.set_system(node, name[2:].lower(), value)
            return
        variable = self.session.lookup(name)
        if variable is None:
            raise self.failure(InvalidQuery(f"Undeclared variable: {name}"), node)
        variable.value = value

    def set_system(self, node: Any, name: str, value: Any) -> None:
        if name not in SYSTEM_TYPES:
            raise self.failure(InvalidQuery(f"Unrecognized system variable @@{name}"), node)
        if name not in _SETTABLE:
            raise self.failure(InvalidQuery(f"System variable @@{name} is read-only"), node)
        if name == "time_zone" and value not in (None, "UTC", "Etc/UTC"):
            raise self.failure(InvalidQuery(
                "Unsupported construct: @@time_zone other than UTC (the emulator's functions "
                "always use UTC)"), node)  # fmt: skip
        if name in ("dataset_id", "dataset_project_id") and value is not None:
            from . import ids

            try:
                (ids.dataset_id if name == "dataset_id" else ids.project_id)(value)
            except BigQueryError as error:
                raise self.failure(InvalidQuery(error.message), node) from None
        self.session.system[name] = value if value is not None or name != "time_zone" else "UTC"

    # -------------------------------------------------------------- control flow

    def if_(self, node: Any) -> None:
        for condition, body in node.branches:
            if self.truth(condition, node):
                self.statements(body)
                return
        if node.otherwise is not None:
            self.statements(node.otherwise)

    def case(self, node: Any) -> None:
        from .sql.script import Expr

        for when, body in node.branches:
            if node.subject is None:
                matched = self.truth(when, node)
            else:
                condition = Expr(f"({node.subject.text}) = ({when.text})", when.line, when.column)
                matched = self.truth(condition, node)
            if matched:
                self.statements(body)
                return
        if node.otherwise is not None:
            self.statements(node.otherwise)

    def block(self, node: Any) -> None:
        self.session.frames.append({})
        try:
            self.statements(node.body)
        except ScriptError as failure:
            if node.handler is None or failure.error.reason == "stopped":
                raise
            self.ctx.salvage()  # the handler runs on a usable connection
            self.session.frames.pop()
            self.session.frames.append({})
            self.handle(node, failure)
        except _Break as jump:
            if node.label is None or jump.label != node.label:
                raise
        finally:
            self.session.frames.pop()

    def handle(self, node: Any, failure: ScriptError) -> None:
        system = self.session.system
        saved = {k: system.get(k) for k in SYSTEM_TYPES if k.startswith("error.")}
        system.update({
            "error.message": failure.error.message,
            "error.statement_text": failure.statement_text,
            "error.stack_trace": failure.frames,
            "error.formatted_stack_trace": "\n".join(
                f"At {f['location'] or ''}[{f['line']}:{f['column']}]" for f in failure.frames),
        })  # fmt: skip
        self.handling.append(failure)
        try:
            self.statements(node.handler)
        except _Break as jump:
            if node.label is None or jump.label != node.label:
                raise
        finally:
            self.handling.pop()
            system.update(saved)

    def loop_body(self, node: Any, body: list) -> bool:
        """Run a loop's body once; False when the loop must end (BREAK)."""
        self.ctx.stop.check()
        self.session.frames.append({})
        try:
            self.statements(body)
        except _Break as jump:
            if jump.label is None or jump.label == node.label:
                return False
            raise
        except _Continue as jump:
            if jump.label is not None and jump.label != node.label:
                raise
        finally:
            self.session.frames.pop()
        return True

    def loop(self, node: Any) -> None:
        while self.loop_body(node, node.body):
            pass

    def while_(self, node: Any) -> None:
        while self.truth(node.condition, node) and self.loop_body(node, node.body):
            pass

    def repeat(self, node: Any) -> None:
        while self.loop_body(node, node.body) and not self.truth(node.until, node):
            pass

    def for_(self, node: Any) -> None:
        from .sql.standard_types import from_field

        rows, schema = self.query(node.query.text, node)
        kind = {"typeKind": "STRUCT", "structType": {"fields": [
            {"name": f["name"], "type": from_field(f)} for f in schema]}}  # fmt: skip
        for row in rows:
            value = {f["name"]: v for f, v in zip(schema, row, strict=True)}
            self.session.frames.append({node.variable.lower(): Variable(value, kind)})
            try:
                if not self.loop_body(node, node.body):
                    break
            finally:
                self.session.frames.pop()

    def break_(self, node: Any) -> None:
        raise _Break(node.label)

    def continue_(self, node: Any) -> None:
        raise _Continue(node.label)

    def return_(self, node: Any) -> None:
        raise _Return()

    def raise_(self, node: Any) -> None:
        if node.message is None:
            if not self.handling:
                raise self.failure(InvalidQuery(
                    "RAISE without a message can only be used in an exception handler"), node)
            raise self.handling[-1]
        message, _ = self.evaluate(node.message, node, {"typeKind": "STRING"})
        raise self.failure(InvalidQuery(message if message is not None else "NULL"), node,
                           located=False)  # fmt: skip

    def assert_(self, node: Any) -> None:
        if self.truth(node.condition, node):
            return
        if node.description is not None:
            text, _ = self.evaluate(node.description, node, {"typeKind": "STRING"})
        else:
            text = node.condition.text
        raise self.failure(InvalidQuery(f"Assertion failed: {text}"), node, located=False)

    def transaction(self, node: Any) -> None:
        """BEGIN / COMMIT / ROLLBACK TRANSACTION: not nested; one left open when the script
        ends, or that an unhandled error leaves, is rolled back (``QueryContext``)."""
        verb = node.verb.upper()
        try:
            if verb == "BEGIN":
                if self.ctx.in_transaction:
                    raise InvalidQuery("Nested transactions are not supported: a transaction "
                                       "is already active")  # fmt: skip
                self.ctx.begin()
            elif not self.ctx.in_transaction:
                raise InvalidQuery(f"{verb} TRANSACTION without an active transaction")
            else:
                self.ctx.end(commit=verb == "COMMIT")
        except BigQueryError as error:
            raise self.failure(error, node) from None

    # -------------------------------------------------------------- EXECUTE IMMEDIATE, CALL

    def execute_immediate(self, node: Any) -> None:
        from .sql import SqlError
        from .sql.script import Sql, parse
        from .sql.standard_types import to_parameter_type

        text, _ = self.evaluate(node.sql, node, {"typeKind": "STRING"})
        if text is None:
            raise self.failure(InvalidQuery("EXECUTE IMMEDIATE of a NULL statement"), node)
        try:
            inner = parse(text)
        except SqlError as error:
            raise self.failure(InvalidQuery(error.message), node) from None
        if len(inner) != 1:
            raise self.failure(InvalidQuery(
                "EXECUTE IMMEDIATE takes exactly one statement"), node)  # fmt: skip
        if not isinstance(inner[0], Sql):
            raise self.failure(InvalidQuery(
                f"{type(inner[0]).__name__.upper()} cannot be executed dynamically (EXECUTE "
                "IMMEDIATE runs one SQL statement)"), node)  # fmt: skip
        values = [(alias, *self.evaluate(expr, node)) for expr, alias in node.using]
        named = [v for v in values if v[0]]
        if named and len(named) != len(values):
            raise self.failure(InvalidQuery(
                "EXECUTE IMMEDIATE ... USING cannot mix named and positional values"), node)
        if named:
            params: list | dict = {a: v for a, v, _ in values}
            types: list | dict = {a: to_parameter_type(k) for a, _, k in values}
        else:
            params = [v for _, v, _ in values]
            types = [to_parameter_type(k) for _, _, k in values]
        self.session.hide_variables = True
        try:
            outcome = self.sql(node, text, params=params, types=types)
        finally:
            self.session.hide_variables = False
        if node.into:
            rows = []
            if outcome.arrow is not None:
                rows = [tuple(_python(v) for v in row) for row in zip(
                    *(c.to_pylist() for c in outcome.arrow.columns), strict=True)]  # fmt: skip
            if len(rows) > 1:
                raise self.failure(InvalidQuery(
                    "EXECUTE IMMEDIATE ... INTO: the query returned more than one row"), node)
            row = rows[0] if rows else (None,) * len(node.into)
            if len(row) < len(node.into):
                raise self.failure(InvalidQuery(
                    f"EXECUTE IMMEDIATE ... INTO has {len(node.into)} variables but the query "
                    f"returns {len(row)} columns"), node)  # fmt: skip
            for name, value in zip(node.into, row, strict=False):
                self.assign(node, name, value)

    def call(self, node: Any) -> None:
        from .sql import SqlError
        from .sql.routines import PROCEDURE, from_resource

        resource = self.procedure(node)
        if resource.get("routineType") != PROCEDURE:
            raise self.failure(InvalidQuery(f"{'.'.join(node.name)} is not a procedure"), node)
        routine = from_resource(resource, ".".join(node.name))
        if len(node.args) != len(routine.arguments):
            raise self.failure(InvalidQuery(
                f"Procedure {routine.name} takes {len(routine.arguments)} argument(s), "
                f"{len(node.args)} given"), node)  # fmt: skip
        if len(self.frames) >= MAX_CALL_DEPTH:
            raise self.failure(InvalidQuery(
                f"Procedure calls are nested more than {MAX_CALL_DEPTH} deep"), node)
        frame: dict[str, Variable] = {}
        outputs: list[tuple[str, str]] = []
        for argument, expr in zip(routine.arguments, node.args, strict=True):
            if argument.mode == "IN":
                value, kind = self.evaluate(expr, node, argument.type)
            else:
                target = expr.text.strip()
                variable = self.session.lookup(target)
                if variable is None or not re.fullmatch(r"`?\w+`?", target):
                    raise self.failure(InvalidQuery(
                        f"The {argument.mode} argument {argument.name} of {routine.name} must "
                        "be a variable"), node)  # fmt: skip
                value = variable.value if argument.mode == "INOUT" else None
                kind = argument.type or variable.type
                outputs.append((argument.name.lower(), target.strip("`")))
            frame[argument.name.lower()] = Variable(value, kind)
        try:
            body = _parse(_procedure_body(routine.body))
        except SqlError as error:
            raise self.failure(InvalidQuery(error.message), node) from None
        ref = resource.get("routineReference") or {}
        location = ".".join(p for p in (ref.get("projectId"), ref.get("datasetId"),
                                        ref.get("routineId")) if p)  # fmt: skip
        saved = self.session.frames
        self.session.frames = [frame]
        self.frames.append(_Frame(location, node.line, node.column))
        try:
            self.run_procedure(list(body))
        finally:
            self.frames.pop()
            self.session.frames = saved
        for name, target in outputs:
            self.assign(node, target, frame[name].value)

    def run_procedure(self, nodes: list) -> None:
        check_structure(nodes)
        try:
            self.statements(nodes)
        except _Return:
            pass

    def procedure(self, node: Any) -> dict:
        parts = node.name
        session = self.session
        resource = None
        if len(parts) == 1:
            resource = session.temp_routines.get(parts[0].lower())
        elif len(parts) in (2, 3) and self.engine.routines is not None:
            project, dataset_id, routine_id = parts if len(parts) == 3 else [
                self.defaults()[0], *parts]  # fmt: skip
            resource = self.engine.routines.find(project, dataset_id, routine_id)
        if resource is None:
            raise self.failure(NotFound(f"Not found: Procedure {'.'.join(parts)}"), node)
        return resource

    # -------------------------------------------------------------- errors

    def stack_frames(self, node: Any, text: str) -> list[dict]:
        """The child job's stack frames (leaf first), as scriptStatistics shows them."""
        lines = text.splitlines() or [""]
        end_line = node.line + len(lines) - 1
        end_column = (node.column if len(lines) == 1 else 1) + len(lines[-1]) - 1
        leaf = {"startLine": node.line, "startColumn": node.column, "endLine": end_line,
                "endColumn": max(end_column, 1), "text": text}  # fmt: skip
        frames = [leaf]
        for inner, outer in zip(reversed(self.frames), reversed(self.frames[:-1]), strict=False):
            if inner.procedure:
                frames[-1]["procedureId"] = inner.procedure
            frames.append({"startLine": inner.call_line, "startColumn": inner.call_column,
                           "endLine": inner.call_line, "endColumn": inner.call_column,
                           **({"procedureId": outer.procedure} if outer.procedure else {})})  # fmt: skip
        return frames

    def failure(self, error: BigQueryError, node: Any, text: str | None = None, *,
                located: bool = True) -> ScriptError:  # fmt: skip
        """A statement's error as the script reports it: ``Query error: ... at [l:c]``,
        positions counted in the script (or the procedure's body)."""
        text = text if text is not None else node.text
        if error.reason == "stopped":  # cancelled or timed out: the job's own words
            return ScriptError(error, text, [])
        line, column = node.line, node.column
        message = error.message
        inner = _AT.search(message)
        if inner:
            l_, c_ = int(inner.group(1)), int(inner.group(2))
            line, column = line + l_ - 1, (column + c_ - 1 if l_ == 1 else c_)
            message = message[: inner.start()]
        where = self.frames[-1].procedure
        if located:
            place = f"{where}:{line}:{column}" if where else f"{line}:{column}"
            prefix = "" if message.startswith("Query error: ") else "Query error: "
            message = f"{prefix}{message} at [{place}]"
        error = type(error)(message, location=error.location, reason=error.reason)
        stack = [{"line": line, "column": column, "filename": None, "location":
                  f"{where}:{line}:{column}" if where else None}]  # fmt: skip
        for inner_frame, outer in zip(reversed(self.frames), reversed(self.frames[:-1]),
                                      strict=False):  # fmt: skip
            loc = outer.procedure
            stack.append({"line": inner_frame.call_line, "column": inner_frame.call_column,
                          "filename": None, "location":
                          f"{loc}:{inner_frame.call_line}:{inner_frame.call_column}"
                          if loc else None})  # fmt: skip
        return ScriptError(error, text, stack)


_AT = re.compile(r"\s+at \[(\d+):(\d+)\]\s*$")


def _reads_tables(sql: str) -> bool:
    """Whether an expression's SELECT holds a subquery (it may read tables)."""
    from sqlglot.tokens import TokenType

    from .sql.script import tokenize

    return sum(t.token_type == TokenType.SELECT for t in tokenize(sql)) > 1


def _procedure_body(body: str) -> str:
    return body if body.lstrip().upper().startswith("BEGIN") else f"BEGIN\n{body}\nEND"


def _top_level_items(text: str, tokenize: Callable) -> list[str] | None:
    """The comma-separated items of ``(a, b, c)`` (None if the parentheses do not enclose
    the whole text)."""
    from sqlglot.tokens import TokenType

    tokens = tokenize(text)
    if not tokens or tokens[0].token_type != TokenType.L_PAREN or (
        len(tokens) > 1 and tokens[1].token_type in (TokenType.SELECT, TokenType.WITH)
    ):  # not a tuple: a subquery
        return None
    depth = 0
    items, start = [], tokens[0].end + 1
    for index, token in enumerate(tokens):
        kind = token.token_type
        if kind in (TokenType.L_PAREN, TokenType.L_BRACKET):
            depth += 1
        elif kind in (TokenType.R_PAREN, TokenType.R_BRACKET):
            depth -= 1
            if depth == 0:
                if index != len(tokens) - 1:
                    return None
                items.append(text[start : token.start].strip())
        elif kind == TokenType.COMMA and depth == 1:
            items.append(text[start : token.start].strip())
            start = token.end + 1
    return items


def _python(value: Any) -> Any:
    """A value read from a result, as it is bound again (INTERVAL as DuckDB interval text)."""
    months = getattr(value, "months", None)
    if months is not None and hasattr(value, "nanoseconds"):
        return f"{months} months {value.days} days {value.nanoseconds // 1000} microseconds"
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_python(v) for v in value]
    return value


def check_structure(nodes: list) -> None:
    """What BigQuery checks before running: DECLARE only at the start of a block or script,
    BREAK/CONTINUE inside a loop or with a label in scope. Raises InvalidQuery."""
    from .sql import script as s

    def walk(body: list, labels: list[tuple[str | None, bool]], declarations: bool) -> None:
        leading = declarations
        for node in body:
            if isinstance(node, s.Declare):
                if not leading:
                    _fail(node, "Variable declarations are allowed only at the start of a "
                                "block or script")  # fmt: skip
                continue
            leading = False
            if isinstance(node, (s.Break, s.Continue)):
                loop = isinstance(node, s.Continue)
                word = "CONTINUE" if loop else "BREAK"
                if node.label is None:
                    if not any(is_loop for _, is_loop in labels):
                        _fail(node, f"{word} is only allowed inside a loop")
                else:
                    match = [is_loop for name, is_loop in labels if name == node.label]
                    if not match:
                        _fail(node, f"Label {node.label} is not defined")
                    if loop and not match[-1]:
                        _fail(node, f"CONTINUE cannot be used with the block label {node.label}")
            elif isinstance(node, s.Block):
                walk(node.body, [*labels, (node.label, False)], True)
                if node.handler is not None:
                    walk(node.handler, [*labels, (node.label, False)], False)
            elif isinstance(node, (s.Loop, s.While, s.Repeat, s.For)):
                walk(node.body, [*labels, (node.label, True)], False)
            elif isinstance(node, (s.If, s.Case)):
                for _, branch in node.branches:
                    walk(branch, labels, False)
                if node.otherwise is not None:
                    walk(node.otherwise, labels, False)

    walk(nodes, [], True)


def _fail(node: Any, message: str) -> None:
    raise InvalidQuery(f"{message} at [{node.line}:{node.column}]", location="query")

