"""BigQuery Standard SQL -> DuckDB SQL for the emulator (parse, resolve, rewrite, render)."""

from __future__ import annotations

from typing import Protocol

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ErrorLevel

from . import bqtypes, routines, variables
from . import statements as st
from .bqtypes import TableSchema
from .dml import dml_target, normalize_dml, truncate_as_delete
from .errors import SqlError, unsupported
from .functions import rewrite_functions
from .params import bind_parameters
from .statements import Statement
from .surface import check_names
from .syntax import RESERVED_KEYWORDS, parse
from .tables import ResolveFailure, ResolveTable, TableResolver, is_insert_target

# sqlglot notes these while rendering but the output is still right for a UTC session.
_BENIGN_NOTES = ("EXTRACT from TIMESTAMPTZ",)


def translate(
    sql: str,
    *,
    default_project: str,
    default_dataset: str | None,
    resolve_table: ResolveTable,
    params: list | dict | None = None,
    param_types: list | dict | None = None,
    table_schema: TableSchema | None = None,
    scope: Scope | None = None,
) -> Statement:
    """Translate one BigQuery statement. Raises SqlError for anything it cannot translate;
    errors raised by ``resolve_table`` (e.g. the core's NotFound) propagate unchanged.

    ``param_types`` is optional: the REST ``parameterType`` dicts in the shape of ``params``;
    given, parameters keep their declared BigQuery types (typed NULLs, empty arrays, JSON).
    ``table_schema(project, dataset, table)`` is optional too: a table's REST schema fields (or
    None); with it, expressions over columns get BigQuery's typing (NUMERIC division, BYTES
    overloads, JSON subscripts).
    ``scope`` is optional too: a script's variables, system variables, temporary tables and
    the routines a statement may call (see ``Scope``)."""
    try:
        translator = _Translator(
            default_project, default_dataset, resolve_table, param_types, table_schema, scope
        )
        return translator.run(sql, params)
    except ResolveFailure as failure:
        raise failure.original from None
    except SqlError:
        raise
    except RecursionError:
        raise unsupported("expression nesting too deep") from None
    except Exception as error:  # sqlglot internals on odd input: still a query error
        raise unsupported(f"{type(error).__name__}: {error}") from None


class Scope(variables.VariableScope, routines.RoutineLookup, Protocol):
    """What a statement can name beyond the catalog: script and system variables, routines
    (``routine(parts, table)``, ``js_handle(routine)``) and temporary tables."""

    def is_temp_table(self, name: str) -> bool: ...


class _Translator:
    def __init__(
        self,
        project: str,
        dataset: str | None,
        resolve: ResolveTable,
        param_types: list | dict | None = None,
        table_schema: TableSchema | None = None,
        scope: Scope | None = None,
    ) -> None:
        temp = scope.is_temp_table if scope is not None else None
        self.tables = TableResolver(project, dataset, resolve, temp)
        self.param_types = param_types
        self.table_schema = table_schema
        self.scope = scope
        self.sql: str | None = None

    def run(self, sql: str, params: list | dict | None) -> Statement:
        self.sql = sql
        if routines.is_routine_ddl(sql):
            return self._routine_ddl(sql)
        tree = parse(sql)
        if self.scope is not None:
            tree = routines.expand(tree, self.scope)
            variables.mark(tree, self.scope, self._column_names)
        check_names(tree, sql)
        kind = st.classify(tree)
        if isinstance(tree, exp.TruncateTable):
            tree = truncate_as_delete(tree)
        _reject_unsupported(tree)
        if kind in st.DDL_KINDS:
            return self._ddl(kind, tree, params)
        stmt = Statement(kind=kind)
        if kind in st.DML_KINDS:
            stmt.target = self.tables.ids(dml_target(tree))
        normalize_dml(tree)
        if kind == st.SELECT:
            tree = name_output_columns(tree)
        stmt.duckdb_params = self._bind(tree, params)
        stmt.duckdb_sql = self._render(tree)
        return stmt

    def _bind(self, tree: exp.Expr, params: list | dict | None) -> list:
        """Query parameters, then script and system variables, as ``$n`` placeholders."""
        values = bind_parameters(tree, params, self.param_types)
        return values + variables.bind(tree, len(values))

    def _routine_ddl(self, sql: str) -> Statement:
        ddl = routines.parse_ddl(sql, self.tables.project, self.tables.dataset)
        stmt = Statement(kind=ddl.kind, target=ddl.target, temporary=ddl.temporary)  # type: ignore[arg-type]
        stmt.or_replace, stmt.if_not_exists = ddl.or_replace, ddl.if_not_exists
        stmt.if_exists, stmt.routine = ddl.if_exists, ddl.resource
        return stmt

    def _column_names(self, tree: exp.Expr) -> set[str]:
        """Names a bare identifier of ``tree`` may mean as a column (or a table alias): they
        take precedence over script variables of the same name."""
        names: set[str] = set()
        for table in tree.find_all(exp.Table):
            if is_insert_target(table):  # INSERT's columns are not in scope of its VALUES
                continue
            ids = self.tables.catalog_ids(table)
            if ids is not None and self.table_schema is not None:
                try:
                    names.update(f["name"] for f in self.table_schema(*ids) or [])
                except Exception:  # noqa: BLE001 - unknown tables are reported later
                    pass
            if isinstance(table.this, exp.Identifier):
                names.add(table.name)
        for alias in tree.find_all(exp.TableAlias):
            names.add(alias.name)
            names.update(c.name for c in alias.columns)
        for alias in tree.find_all(exp.Alias):
            if alias.find_ancestor(exp.Subquery, exp.CTE) is not None:
                names.add(alias.alias)
        return {n for n in names if n}
    def _ddl(self, kind: str, tree: exp.Expr, params: list | dict | None) -> Statement:
        stmt = Statement(kind=kind)
        if isinstance(tree, exp.Drop):
            tables = tree.args.get("tables") or [tree.this]
            if len(tables) != 1:
                raise unsupported("DROP of several tables in one statement")
            stmt.target = self.tables.ids(tables[0])
            stmt.if_exists = bool(tree.args.get("exists"))
            return stmt
        if not isinstance(tree, exp.Create):
            raise unsupported(f"{kind} statement")
        stmt.or_replace = bool(tree.args.get("replace"))
        stmt.if_not_exists = bool(tree.args.get("exists"))
        if stmt.or_replace and stmt.if_not_exists:
            raise SqlError("CREATE OR REPLACE and IF NOT EXISTS cannot both be present")
        target = tree.this
        view_columns: list[str] = []
        if isinstance(target, exp.Schema) and kind == st.CREATE_VIEW:
            view_columns = [e.name for e in target.expressions]
            stmt.view_columns = view_columns or None
            target = target.this
        elif isinstance(target, exp.Schema):
            stmt.schema = st.schema_from_columns(target.expressions) or None
            target = target.this
        stmt.temporary = st.is_temporary(tree)
        stmt.target = self._temp_target(target) if stmt.temporary else self.tables.ids(target)
        if kind in (st.CREATE_TABLE, st.CREATE_TABLE_AS_SELECT, st.CREATE_VIEW) and (
            not stmt.temporary and stmt.target[1].upper() == "_SESSION"
        ):
            raise SqlError("_SESSION can only qualify temporary tables (CREATE TEMP TABLE)")
        if kind == st.CREATE_TABLE and not stmt.schema:
            raise SqlError("Syntax error: CREATE TABLE needs column definitions or AS SELECT")
        st.apply_create_properties(stmt, tree)
        if kind == st.CREATE_VIEW and (stmt.partition_by or stmt.cluster_by):
            raise SqlError("PARTITION BY and CLUSTER BY are not allowed in CREATE VIEW")
        query = tree.expression
        if query is not None:
            if kind == st.CREATE_VIEW and (
                list(query.find_all(exp.Parameter)) or list(query.find_all(exp.Placeholder))
            ):
                raise unsupported("query parameters in CREATE VIEW")
            query = name_output_columns(query)
            if view_columns:  # CREATE VIEW v (a, b) AS ...: rename the query's columns
                columns = [exp.to_identifier(c, quoted=True) for c in view_columns]
                renamed = exp.TableAlias(this=exp.to_identifier("_view"), columns=columns)
                query = exp.select(exp.Star()).from_(query.subquery(renamed))
            stmt.duckdb_params = self._bind(query, params)
            stmt.query_sql = self._render(query)
        return stmt

    def _temp_target(self, target: exp.Expr) -> tuple[str, str, str]:
        parts = [p.name for p in target.parts] if isinstance(target, exp.Table) else []
        if len(parts) == 2 and parts[0].upper() == "_SESSION":
            parts = parts[1:]
        if len(parts) != 1:
            raise SqlError("A temporary table's name cannot be qualified with a project or "
                           f"dataset: {target.sql('bigquery')}")  # fmt: skip
        return self.tables.project, "_SESSION", parts[0]

    def _render(self, tree: exp.Expr) -> str:
        bqtypes.annotate(tree, self.tables.catalog_ids, self.table_schema)
        self.tables.resolve_all(tree)
        tree = rewrite_functions(tree, self.sql)
        generator = DuckDB().generator(unsupported_level=ErrorLevel.IGNORE)
        sql = generator.generate(tree, copy=False)
        problems = [m for m in generator.unsupported_messages if not m.startswith(_BENIGN_NOTES)]
        if problems:
            raise unsupported(problems[0])
        return sql


def name_output_columns(query: exp.Expr) -> exp.Expr:
    """Give result columns BigQuery's names: ``f0_, f1_, ...`` for anonymous expressions and
    the field name for ``expr.field`` (DuckDB would name them after the expression text)."""
    select = query
    while isinstance(select, (exp.SetOperation, exp.Subquery)):
        select = select.this
    if not isinstance(select, exp.Select):
        return query
    if select.args.get("kind"):  # SELECT AS STRUCT / AS VALUE: one anonymous column
        renamed = exp.TableAlias(
            this=exp.to_identifier("_value_table"), columns=[exp.to_identifier("f0_", quoted=True)]
        )
        return exp.select(exp.Star()).from_(query.subquery(renamed))
    anonymous = 0
    seen: dict[str, str] = {}
    for expression in list(select.expressions):
        if isinstance(expression, (exp.Alias, exp.Column)) and expression.alias_or_name:
            name = expression.alias_or_name
            if name.lower() in seen and not isinstance(expression.this, exp.Star):
                raise SqlError(
                    "Duplicate column names in the result are not supported. "
                    f"Found duplicate(s): {name}"
                )
            seen[name.lower()] = name
        if isinstance(expression, (exp.Alias, exp.Column, exp.Star)):
            continue
        if isinstance(expression, exp.Dot) and expression.name:
            name = expression.name
        else:
            name = f"f{anonymous}_"
            anonymous += 1
        expression.replace(exp.alias_(expression.copy(), name, quoted=True))
    return query


def _reject_unsupported(tree: exp.Expr) -> None:
    for param in tree.find_all(exp.Parameter):
        if isinstance(param.this, exp.Parameter):
            raise unsupported(f"system variable @@{param.this.name}")
    # sqlglot reads `FROM t GROUP` as the alias GROUP. Only table aliases are checked: column
    # aliases such as `AS at` are lenient here (BigQuery would want backticks).
    for alias in tree.find_all(exp.TableAlias):
        name = alias.this
        if isinstance(name, exp.Identifier) and not name.quoted:
            if name.name.upper() in RESERVED_KEYWORDS:
                raise SqlError(f"Syntax error: Unexpected keyword {name.name.upper()}")
