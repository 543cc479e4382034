"""Query parameters: BigQuery ``@name`` / ``?`` become DuckDB ``$n`` placeholders.

Numbered placeholders (not ``?``) are used because sqlglot may repeat an expression when it
rewrites a construct (``x IN UNNEST(@arr)`` mentions ``@arr`` several times); ``$n`` lets the
same value be referenced again without listing it twice. DuckDB infers a placeholder's type
from the bound Python value, so ints are cast to BIGINT (INT64, not DuckDB's 32-bit INTEGER)
and Decimals to DECIMAL(38,9) (NUMERIC) to keep BigQuery's types. DuckDB cannot prepare
CREATE VIEW, and BigQuery forbids parameters in views anyway, so that raises SqlError.
"""

from __future__ import annotations

import decimal
from typing import Any

from sqlglot import exp

from .errors import SqlError
from .nodes import storage_type


def bind_parameters(tree: exp.Expr, params: list | dict | None) -> list[Any]:
    """Replace parameter nodes in ``tree`` in place; return the DuckDB parameter list."""
    named = [p for p in tree.find_all(exp.Parameter) if not _is_system_variable(p)]
    positional = list(tree.find_all(exp.Placeholder, bfs=False))  # text order
    if named and positional:
        raise SqlError("Query cannot mix named (@name) and positional (?) query parameters")
    if named:
        return _bind_named(named, params)
    if positional:
        return _bind_positional(positional, params)
    return []


def _is_system_variable(node: exp.Parameter) -> bool:
    # @@dataset_id etc. parse as a Parameter wrapping another Parameter
    return isinstance(node.this, exp.Parameter) or isinstance(node.parent, exp.Parameter)


def _bind_named(nodes: list[exp.Parameter], params: list | dict | None) -> list[Any]:
    if params is not None and not isinstance(params, dict):
        raise SqlError("Named query parameters (@name) need named queryParameters")
    lookup = {str(k).lower(): v for k, v in (params or {}).items()}
    numbers: dict[str, int] = {}
    values: list[Any] = []
    for node in nodes:
        name = node.name.lower()
        if name not in lookup:
            raise SqlError(f"Query parameter '{node.name}' not found")
        if name not in numbers:
            values.append(lookup[name])
            numbers[name] = len(values)
        node.replace(_placeholder(numbers[name], lookup[name]))
    return values


def _bind_positional(nodes: list[exp.Placeholder], params: list | dict | None) -> list[Any]:
    if params is not None and not isinstance(params, (list, tuple)):
        raise SqlError("Positional query parameters (?) need positional queryParameters")
    values = list(params or [])
    if len(values) != len(nodes):
        raise SqlError(
            f"Query has {len(nodes)} positional parameter(s) but {len(values)} were supplied"
        )
    for i, node in enumerate(nodes):
        node.replace(_placeholder(i + 1, values[i]))
    return values


def _placeholder(number: int, value: Any) -> exp.Expr:
    # Parenthesised so that field access (@s.name) renders as ($1).name
    node: exp.Expr = exp.Paren(this=exp.Placeholder(this=str(number)))
    if isinstance(value, bool):
        return node
    if isinstance(value, int):
        return exp.cast(node, exp.DataType.build("BIGINT"))
    if isinstance(value, decimal.Decimal):
        return exp.cast(node, exp.DataType.build(storage_type("NUMERIC"), dialect="duckdb"))
    return node
