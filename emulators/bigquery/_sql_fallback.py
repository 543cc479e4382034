"""A tiny stand-in for the `sql` translator package: sqlglot BigQuery -> DuckDB with table names
resolved. Only used when `emulators.bigquery.sql` cannot be imported."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


class SqlError(ValueError):
    def __init__(self, message: str, location: tuple[int, int] | None = None):
        super().__init__(message)
        self.message = message
        self.location = location


@dataclasses.dataclass
class Statement:
    kind: str
    duckdb_sql: str | None = None
    duckdb_params: list = dataclasses.field(default_factory=list)
    target: tuple[str, str, str] | None = None
    or_replace: bool = False
    if_not_exists: bool = False
    if_exists: bool = False
    schema: list | None = None
    query_sql: str | None = None
    time_partitioning: dict | None = None
    cluster_by: list | None = None
    options: dict = dataclasses.field(default_factory=dict)
    description: str | None = None


def translate(
    sql: str,
    *,
    default_project: str,
    default_dataset: str | None,
    resolve_table: Callable[[str, str, str], str],
    params: list | dict | None = None,
) -> Statement:
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="bigquery")
    except sqlglot.errors.ParseError as exc:
        raise SqlError(f"Syntax error: {exc}") from None
    kinds = {exp.Select: "SELECT", exp.Union: "SELECT", exp.Insert: "INSERT",
             exp.Update: "UPDATE", exp.Delete: "DELETE"}  # fmt: skip
    kind = next((k for cls, k in kinds.items() if isinstance(tree, cls)), None)
    if kind is None:
        raise SqlError("Unsupported statement (translator package not installed)")
    target = None
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if not table.name or (not table.db and table.name in ctes):
            continue
        parts = [p for p in (table.catalog, table.db, table.name) if p]
        if len(parts) == 1:
            parts = [p for p in ".".join(parts).split(".") if p]
        if len(parts) == 3:
            project, dataset, name = parts
        elif len(parts) == 2:
            project, (dataset, name) = default_project, parts
        elif default_dataset:
            project, dataset, name = default_project, default_dataset, parts[0]
        else:
            raise SqlError(f'Table "{parts[0]}" must be qualified with a dataset')
        resolved = resolve_table(project, dataset, name)
        if kind != "SELECT" and target is None:
            target = (project, dataset, name)
        alias = table.alias or name
        replacement = (
            sqlglot.parse_one(f"SELECT * FROM {resolved}", read="duckdb").args["from_"].this
        )
        replacement.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
        table.replace(replacement)
    values: list[Any] = []
    if isinstance(params, dict):
        for node in list(tree.find_all(exp.Parameter)):
            name = node.name
            if name not in params:
                raise SqlError(f"Query parameter '{name}' not found")
            values.append(params[name])
            node.replace(exp.var(f"${len(values)}"))
    duck = tree.sql(dialect="duckdb")
    if isinstance(params, list):
        values = list(params)
    return Statement(kind=kind, duckdb_sql=duck, duckdb_params=values, target=target)
