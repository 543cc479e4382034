"""A read session's row restriction (a GoogleSQL boolean expression) as a DuckDB query.

The text is parsed alone first and must be one expression over the table's columns: no
statements, subqueries or table references, so it cannot reach anything but the table read.
The expression is then re-rendered and translated by the emulator's SQL translator inside
`SELECT * FROM <table> WHERE (...)`, like any query (same functions, types and errors).
"""

from __future__ import annotations

from typing import Any

from .errors import invalid


def _checked(restriction: str) -> str:
    """The restriction re-rendered from its parse tree, if it is a plain expression."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(restriction, read="bigquery")
    except (sqlglot.errors.SqlglotError, RecursionError) as exc:
        raise invalid(f"Invalid row restriction: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - sqlglot internals on odd input: still bad input
        raise invalid(f"Invalid row restriction: {type(exc).__name__}: {exc}") from None
    if tree is None:
        raise invalid("Invalid row restriction: it is empty.")
    forbidden = (exp.Query, exp.Subquery, exp.Table, exp.Block, exp.Command, exp.DDL, exp.DML,
                 exp.Placeholder, exp.Parameter, exp.Lambda)  # fmt: skip
    for node in tree.walk():
        if isinstance(node, forbidden):
            raise invalid(
                "Invalid row restriction: it must be an expression over the table's columns "
                f"(found {type(node).__name__.upper()})"
            )
    try:
        return tree.sql(dialect="bigquery")
    except (RecursionError, ValueError) as exc:
        raise invalid(f"Invalid row restriction: {_first_line(exc)}") from None


def translate_restriction(
    restriction: str, ref: tuple[str, str, str], relation: str, schema: list[dict]
) -> tuple[str, list[Any]]:
    """DuckDB `SELECT * FROM <relation> WHERE ...` and its parameters; `relation` stands for
    the table `ref` (a CTE or registered Arrow table of the caller), whose REST schema is
    `schema` (for the translator's typing)."""
    from ..identifiers import ident
    from ..query import MAX_QUERY_CHARS
    from ..sql import SqlError, translate

    if len(restriction) > MAX_QUERY_CHARS:
        raise invalid(
            f"Invalid row restriction: longer than {MAX_QUERY_CHARS} characters, the limit of "
            "a query's text."
        )
    condition = _checked(restriction)
    project, dataset, table = ref
    bq_name = ".".join("`" + part.replace("`", "\\`") + "`" for part in ref)

    def resolve(p: str, d: str, t: str) -> str:
        if (p, d, t) != (project, dataset, table):  # unreachable after _checked; kept as a guard
            raise invalid("A row restriction can only read the session's table.")
        return ident(relation)

    def table_schema(p: str, d: str, t: str) -> list[dict] | None:
        return schema if (p, d, t) == (project, dataset, table) else None

    try:
        statement = translate(
            f"SELECT * FROM {bq_name} WHERE ({condition})",
            default_project=project,
            default_dataset=dataset,
            resolve_table=resolve,
            table_schema=table_schema,
        )
    except SqlError as exc:
        raise invalid(f"Invalid row restriction: {getattr(exc, 'message', exc)}") from None
    if statement.kind != "SELECT":
        raise invalid("Invalid row restriction.")
    return statement.duckdb_sql, list(statement.duckdb_params or [])


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n", 1)[0]
