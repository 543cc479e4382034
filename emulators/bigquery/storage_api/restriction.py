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
    forbidden = (exp.Query, exp.Subquery, exp.Table, exp.Block, exp.Command, exp.DDL, exp.DML,
                 exp.Placeholder, exp.Parameter, exp.Lambda)  # fmt: skip
    for node in tree.walk():
        if isinstance(node, forbidden):
            raise invalid(
                "Invalid row restriction: it must be an expression over the table's columns "
                f"(found {type(node).__name__.upper()})"
            )
    return tree.sql(dialect="bigquery")


def translate_restriction(
    restriction: str, ref: tuple[str, str, str], relation: str
) -> tuple[str, list[Any]]:
    """DuckDB `SELECT * FROM <relation> WHERE ...` and its parameters; `relation` stands for
    the table `ref` (a CTE or registered Arrow table of the caller)."""
    from ..sql import SqlError, translate
    from ..types import quote_ident

    condition = _checked(restriction)
    project, dataset, table = ref
    bq_name = ".".join("`" + part.replace("`", "\\`") + "`" for part in ref)

    def resolve(p: str, d: str, t: str) -> str:
        if (p, d, t) != (project, dataset, table):  # unreachable after _checked; kept as a guard
            raise invalid("A row restriction can only read the session's table.")
        return quote_ident(relation)

    try:
        statement = translate(
            f"SELECT * FROM {bq_name} WHERE ({condition})",
            default_project=project,
            default_dataset=dataset,
            resolve_table=resolve,
        )
    except SqlError as exc:
        raise invalid(f"Invalid row restriction: {getattr(exc, 'message', exc)}") from None
    if statement.kind != "SELECT":
        raise invalid("Invalid row restriction.")
    return statement.duckdb_sql, list(statement.duckdb_params or [])


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n", 1)[0]
