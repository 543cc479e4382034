"""BigQuery Standard SQL -> DuckDB SQL for the emulator (parse, resolve, rewrite, render)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ErrorLevel, ParseError, TokenError

from . import statements as st
from .errors import SqlError, unsupported
from .functions import rewrite_functions
from .params import bind_parameters
from .statements import Statement

ResolveTable = Callable[[str, str, str], str]

# sqlglot notes these while rendering but the output is still right for a UTC session.
_BENIGN_NOTES = ("EXTRACT from TIMESTAMPTZ",)


class _ResolveFailure(Exception):
    """Carries the core's own error out of the translator untouched."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


def translate(
    sql: str,
    *,
    default_project: str,
    default_dataset: str | None,
    resolve_table: ResolveTable,
    params: list | dict | None = None,
    param_types: list | dict | None = None,
) -> Statement:
    """Translate one BigQuery statement. Raises SqlError for anything it cannot translate;
    errors raised by ``resolve_table`` (e.g. the core's NotFound) propagate unchanged.

    ``param_types`` is optional: the REST ``parameterType`` dicts in the shape of ``params``;
    given, parameters keep their declared BigQuery types (typed NULLs, empty arrays, JSON)."""
    try:
        translator = _Translator(default_project, default_dataset, resolve_table, param_types)
        return translator.run(sql, params)
    except _ResolveFailure as failure:
        raise failure.original from None
    except SqlError:
        raise
    except RecursionError:
        raise unsupported("expression nesting too deep") from None
    except Exception as error:  # sqlglot internals on odd input: still a query error
        raise unsupported(f"{type(error).__name__}: {error}") from None


class _Translator:
    def __init__(
        self,
        project: str,
        dataset: str | None,
        resolve: ResolveTable,
        param_types: list | dict | None = None,
    ) -> None:
        self.project = project
        self.dataset = dataset
        self.resolve = resolve
        self.param_types = param_types

    def run(self, sql: str, params: list | dict | None) -> Statement:
        tree = _parse(sql)
        kind = st.classify(tree)
        if isinstance(tree, exp.TruncateTable):
            tree = _truncate_as_delete(tree)
        _reject_unsupported(tree)
        if kind in st.DDL_KINDS:
            return self._ddl(kind, tree, params)
        stmt = Statement(kind=kind)
        if kind in st.DML_KINDS:
            stmt.target = self._table_ids(_dml_target(tree))
        _normalize_dml(tree)
        if kind == st.SELECT:
            name_output_columns(tree)
        stmt.duckdb_params = bind_parameters(tree, params, self.param_types)
        stmt.duckdb_sql = self._render(tree)
        return stmt

    def _ddl(self, kind: str, tree: exp.Expr, params: list | dict | None) -> Statement:
        stmt = Statement(kind=kind)
        if isinstance(tree, exp.Drop):
            tables = tree.args.get("tables") or [tree.this]
            if len(tables) != 1:
                raise unsupported("DROP of several tables in one statement")
            stmt.target = self._table_ids(tables[0])
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
            target = target.this
        elif isinstance(target, exp.Schema):
            stmt.schema = st.schema_from_columns(target.expressions) or None
            target = target.this
        stmt.target = self._table_ids(target)
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
            name_output_columns(query)
            if view_columns:  # CREATE VIEW v (a, b) AS ...: rename the query's columns
                columns = [exp.to_identifier(c, quoted=True) for c in view_columns]
                renamed = exp.TableAlias(this=exp.to_identifier("_view"), columns=columns)
                query = exp.select(exp.Star()).from_(query.subquery(renamed))
            stmt.duckdb_params = bind_parameters(query, params, self.param_types)
            stmt.query_sql = self._render(query)
        return stmt

    # --- tables ------------------------------------------------------------------------------

    def _render(self, tree: exp.Expr) -> str:
        self._resolve_tables(tree)
        tree = rewrite_functions(tree)
        generator = DuckDB().generator(unsupported_level=ErrorLevel.IGNORE)
        sql = generator.generate(tree, copy=False)
        problems = [m for m in generator.unsupported_messages if not m.startswith(_BENIGN_NOTES)]
        if problems:
            raise unsupported(problems[0])
        return sql

    def _resolve_tables(self, tree: exp.Expr) -> None:
        cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            if not isinstance(table.this, exp.Identifier):
                raise unsupported(f"table function {table.this.sql('bigquery')}")
            if not table.args.get("db") and table.name.lower() in cte_names:
                continue
            if _is_correlated_array(table):
                _to_unnest(table)
                continue
            if table.args.get("version") is not None:
                raise unsupported("FOR SYSTEM_TIME AS OF")
            ids = self._table_ids(table)
            try:
                resolved = self.resolve(*ids)
            except Exception as error:
                raise _ResolveFailure(error) from error
            new = exp.to_table(resolved, dialect="duckdb")
            alias = table.args.get("alias")
            if alias is not None and "." in alias.name:  # `ds.INFORMATION_SCHEMA.X` -> X
                alias = None
            if alias is None and not _is_insert_target(table):
                implicit = ids[2].rsplit(".", 1)[-1]
                table.set("alias", exp.TableAlias(this=exp.to_identifier(implicit, quoted=True)))
            for part in ("catalog", "db", "this"):
                table.set(part, new.args.get(part))

    def _table_ids(self, table: exp.Expr) -> tuple[str, str, str]:
        if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
            raise unsupported(f"table reference {table.sql('bigquery')}")
        names = [part.name for part in table.parts]
        if len(names) >= 2 and names[-2].upper() == "INFORMATION_SCHEMA":
            names = [*names[:-2], f"INFORMATION_SCHEMA.{names[-1].upper()}"]
        if names[-1].upper().startswith("INFORMATION_SCHEMA."):
            return self._information_schema_ids(names)
        if any(not n for n in names) or len(names) > 3:
            raise SqlError(f"Invalid table name: {table.sql('bigquery')}")
        if names[-1].endswith("*"):
            raise unsupported("wildcard table")
        if len(names) == 3:
            return names[0], names[1], names[2]
        if len(names) == 2:
            return self.project, names[0], names[1]
        if self.dataset:
            return self.project, self.dataset, names[0]
        raise SqlError(f'Table "{names[0]}" must be qualified with a dataset (e.g. dataset.table).')

    def _information_schema_ids(self, names: list[str]) -> tuple[str, str, str]:
        """Dataset-level views -> (project, dataset, "INFORMATION_SCHEMA.X"); project-level ones
        (SCHEMATA, or region-qualified) -> (project, "INFORMATION_SCHEMA", "X")."""
        view = names[-1].upper()
        qualifiers = names[:-1]
        if len(qualifiers) > 2:
            raise SqlError(f"Invalid INFORMATION_SCHEMA reference: {'.'.join(names)}")
        if qualifiers and qualifiers[-1].lower().startswith("region-"):
            project = qualifiers[0] if len(qualifiers) == 2 else self.project
            return project, "INFORMATION_SCHEMA", view.split(".", 1)[1]
        if view.endswith(".SCHEMATA") or view.endswith(".SCHEMATA_OPTIONS"):
            if len(qualifiers) > 1:
                raise SqlError(f"Invalid INFORMATION_SCHEMA reference: {'.'.join(names)}")
            project = qualifiers[0] if qualifiers else self.project
            return project, "INFORMATION_SCHEMA", view.split(".", 1)[1]
        if len(qualifiers) == 2:
            return qualifiers[0], qualifiers[1], view
        if len(qualifiers) == 1:
            return self.project, qualifiers[0], view
        if self.dataset:
            return self.project, self.dataset, view
        return self.project, "INFORMATION_SCHEMA", view.split(".", 1)[1]


def name_output_columns(query: exp.Expr) -> None:
    """Give result columns BigQuery's names: ``f0_, f1_, ...`` for anonymous expressions and
    the field name for ``expr.field`` (DuckDB would name them after the expression text)."""
    select = query
    while isinstance(select, (exp.SetOperation, exp.Subquery)):
        select = select.this
    if not isinstance(select, exp.Select) or select.args.get("kind"):
        return
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


def _parse(sql: Any) -> exp.Expr:
    if not isinstance(sql, str):
        raise SqlError("Syntax error: query must be a string")
    try:
        trees = [t for t in sqlglot.parse(sql, read="bigquery") if t is not None]
    except ParseError as error:
        raise _syntax_error(error, sql) from None
    except TokenError as error:
        raise SqlError(f"Syntax error: {_first_line(str(error))}") from None
    if not trees or (isinstance(trees[0], exp.Select) and not trees[0].expressions):
        raise SqlError("Syntax error: Unexpected end of script", (1, 1))
    if len(trees) > 1:
        raise unsupported("multi-statement script")
    return trees[0]


def _syntax_error(error: ParseError, sql: str) -> SqlError:
    details = error.errors[0] if error.errors else {}
    line, col = details.get("line"), details.get("col")
    highlight = (details.get("highlight") or "").strip()
    description = details.get("description") or _first_line(str(error))
    missing = description.startswith(("Expecting", "Required keyword", "Expected"))
    if missing and line and col and _at_end(sql, line, col):
        end = _end_position(sql)
        return SqlError(f"Syntax error: Unexpected end of script at [{end[0]}:{end[1]}]", end)
    if highlight:
        start = max(1, (col or 1) - len(highlight) + 1)
        message = f"Syntax error: Unexpected {_describe_token(highlight)} at [{line}:{start}]"
        return SqlError(message, (line, start))
    if line:
        return SqlError(f"Syntax error: {description} at [{line}:{col}]", (line, col))
    return SqlError(f"Syntax error: {description}")


def _describe_token(token: str) -> str:
    if re.fullmatch(r"\d+", token):
        return f'integer literal "{token}"'
    if re.fullmatch(r"(\d+\.\d*|\.\d+)([eE][-+]?\d+)?|\d+[eE][-+]?\d+", token):
        return f'floating point literal "{token}"'
    if token.upper() in RESERVED_KEYWORDS:
        return f"keyword {token.upper()}"
    if re.fullmatch(r"\w+", token):
        return f'identifier "{token}"'
    if token[:1] in "'\"":
        return "string literal"
    return f'"{token}"'


def _at_end(sql: str, line: int, col: int) -> bool:
    lines = sql.splitlines() or [""]
    if line < len(lines):
        return not "\n".join(lines[line:]).strip() and not lines[line - 1][col:].strip()
    return line == len(lines) and not lines[-1][col:].strip()


def _end_position(sql: str) -> tuple[int, int]:
    lines = sql.rstrip().splitlines() or [""]
    return len(lines), len(lines[-1]) + 1


# GoogleSQL reserved keywords (they cannot be unquoted identifiers or aliases).
RESERVED_KEYWORDS = frozenset(
    """ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE CAST COLLATE CONTAINS
    CREATE CROSS CUBE CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM ESCAPE EXCEPT EXCLUDE
    EXISTS EXTRACT FALSE FETCH FOLLOWING FOR FROM FULL GROUP GROUPING GROUPS HASH HAVING IF
    IGNORE IN INNER INTERSECT INTERVAL INTO IS JOIN LATERAL LEFT LIKE LIMIT LOOKUP MERGE NATURAL
    NEW NO NOT NULL NULLS OF ON OR ORDER OUTER OVER PARTITION PRECEDING PROTO QUALIFY RANGE
    RECURSIVE RESPECT RIGHT ROLLUP ROWS SELECT SET SOME STRUCT TABLESAMPLE THEN TO TREAT TRUE
    UNBOUNDED UNION UNNEST USING WHEN WHERE WINDOW WITH WITHIN""".split()
)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid query"


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


def _dml_target(tree: exp.Expr) -> exp.Expr:
    if isinstance(tree, exp.Delete) and not tree.this:
        tables = tree.args.get("tables") or []
        return tables[0] if tables else tree
    target = tree.this
    return target.this if isinstance(target, exp.Schema) else target


def _normalize_dml(tree: exp.Expr) -> None:
    """BigQuery's optional keywords -> the forms DuckDB needs; enforce mandatory WHERE."""
    if isinstance(tree, exp.Delete):
        if not tree.this and tree.args.get("tables"):
            tree.set("this", tree.args["tables"][0])
            tree.set("tables", None)
        if not tree.args.get("where"):
            raise SqlError("DELETE must have a WHERE clause")
    if isinstance(tree, exp.Update) and not tree.args.get("where"):
        raise SqlError("UPDATE must have a WHERE clause")
    if isinstance(tree, exp.Update):
        _unqualify_set_targets(tree.expressions)
    if isinstance(tree, exp.Merge):
        whens = tree.args.get("whens")
        for when in whens.expressions if whens else []:
            action = when.args.get("then")
            if isinstance(action, exp.Update):
                _unqualify_set_targets(action.expressions)
            elif isinstance(action, exp.Insert):
                _normalize_merge_insert(action)


def _normalize_merge_insert(action: exp.Insert) -> None:
    target = action.this
    if isinstance(target, exp.Var) and target.name.upper() == "ROW":
        action.set("this", exp.Star())  # INSERT ROW -> DuckDB's INSERT *
        return
    # INSERT VALUES (...) without a column list parses as a tuple holding a VALUES() call
    values = target.expressions[0] if isinstance(target, exp.Tuple) else None
    if (
        isinstance(values, exp.Anonymous)
        and values.name.upper() == "VALUES"
        and len(target.expressions) == 1
    ):
        action.set("this", None)
        action.set("expression", exp.Tuple(expressions=list(values.expressions)))


def _unqualify_set_targets(assignments: list[exp.Expr]) -> None:
    # BigQuery accepts SET T.col = ...; DuckDB wants the bare column name.
    for assignment in assignments:
        column = assignment.this if isinstance(assignment, exp.EQ) else None
        if isinstance(column, exp.Column) and column.table:
            assignment.set("this", exp.column(column.name, quoted=column.this.quoted))
        value = assignment.expression if isinstance(assignment, exp.EQ) else None
        if isinstance(value, exp.Column) and not value.table and not value.this.quoted:
            if value.name.upper() == "DEFAULT":  # SET col = DEFAULT, not a column "DEFAULT"
                assignment.set("expression", exp.var("DEFAULT"))


def _is_correlated_array(table: exp.Table) -> bool:
    """``JOIN e.arr AS x`` where ``e`` is an earlier FROM item of the same SELECT."""
    if table.args.get("catalog") or not table.args.get("db"):
        return False
    join = table.parent
    select = join.parent if isinstance(join, exp.Join) else None
    if not isinstance(select, exp.Select):
        return False
    earlier = [select.args["from_"].this] if select.args.get("from_") else []
    for other in select.args.get("joins") or []:
        if other is join:
            break
        earlier.append(other.this)
    names = {item.alias_or_name.lower() for item in earlier if item.alias_or_name}
    return table.db.lower() in names


def _to_unnest(table: exp.Table) -> None:
    alias = table.alias or table.name
    unnest = exp.Unnest(
        expressions=[exp.column(table.name, table.db)],
        alias=exp.TableAlias(columns=[exp.to_identifier(alias)]),
    )
    table.replace(unnest)


def _truncate_as_delete(tree: exp.TruncateTable) -> exp.Delete:
    """TRUNCATE TABLE t -> DELETE FROM t WHERE TRUE (so the core reports deleted rows)."""
    tables = tree.expressions
    if len(tables) != 1:
        raise unsupported("TRUNCATE of several tables")
    return exp.Delete(this=tables[0], where=exp.Where(this=exp.true()))


def _is_insert_target(table: exp.Table) -> bool:
    parent = table.parent
    if isinstance(parent, exp.Schema):
        parent = parent.parent
    return isinstance(parent, exp.Insert) and parent.this in (table, table.parent)
