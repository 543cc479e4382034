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
from .nodes import RANGE_END, RANGE_START, storage_type


def bind_parameters(
    tree: exp.Expr, params: list | dict | None, types: list | dict | None = None
) -> list[Any]:
    """Replace parameter nodes in ``tree`` in place; return the DuckDB parameter list.

    ``types`` (optional, same shape as ``params``) holds the REST ``parameterType`` dicts; with
    it every placeholder is cast to its declared type, so NULLs, empty arrays and JSON values
    keep their BigQuery type."""
    named = [p for p in tree.find_all(exp.Parameter) if not _is_system_variable(p)]
    positional = list(tree.find_all(exp.Placeholder, bfs=False))  # text order
    if named and positional:
        raise SqlError("Query cannot mix named (@name) and positional (?) query parameters")
    if named:
        return _bind_named(named, params, types if isinstance(types, dict) else None)
    if positional:
        return _bind_positional(positional, params, types if isinstance(types, list) else None)
    return []


def _is_system_variable(node: exp.Parameter) -> bool:
    # @@dataset_id etc. parse as a Parameter wrapping another Parameter
    return isinstance(node.this, exp.Parameter) or isinstance(node.parent, exp.Parameter)


def _bind_named(
    nodes: list[exp.Parameter], params: list | dict | None, types: dict | None
) -> list[Any]:
    if params is not None and not isinstance(params, dict):
        raise SqlError("Named query parameters (@name) need named queryParameters")
    lookup = {str(k).lower(): v for k, v in (params or {}).items()}
    type_lookup = {str(k).lower(): v for k, v in (types or {}).items()}
    numbers: dict[str, int] = {}
    values: list[Any] = []
    for node in nodes:
        name = node.name.lower()
        if name not in lookup:
            raise SqlError(f"Query parameter '{node.name}' not found")
        if name not in numbers:
            values.append(lookup[name])
            numbers[name] = len(values)
        node.replace(_placeholder(numbers[name], lookup[name], type_lookup.get(name)))
    return values


def _bind_positional(
    nodes: list[exp.Placeholder], params: list | dict | None, types: list | None
) -> list[Any]:
    if params is not None and not isinstance(params, (list, tuple)):
        raise SqlError("Positional query parameters (?) need positional queryParameters")
    values = list(params or [])
    if len(values) != len(nodes):
        raise SqlError(
            f"Query has {len(nodes)} positional parameter(s) but {len(values)} were supplied"
        )
    declared = list(types or [])
    for i, node in enumerate(nodes):
        ptype = declared[i] if i < len(declared) else None
        node.replace(_placeholder(i + 1, values[i], ptype))
    return values


def _placeholder(number: int, value: Any, ptype: Any = None) -> exp.Expr:
    # Parenthesised so that field access (@s.name) renders as ($1).name
    node: exp.Expr = exp.Paren(this=exp.Placeholder(this=str(number)))
    declared = duckdb_type(ptype) if isinstance(ptype, dict) else None
    if declared:
        return exp.cast(node, exp.DataType.build(declared, dialect="duckdb"))
    if isinstance(value, bool):
        return node
    if isinstance(value, int):
        return exp.cast(node, exp.DataType.build("BIGINT"))
    if isinstance(value, decimal.Decimal):
        return exp.cast(node, exp.DataType.build(storage_type("NUMERIC"), dialect="duckdb"))
    return node


_SCALARS = {
    "INT64": "BIGINT",
    "INTEGER": "BIGINT",
    "FLOAT64": "DOUBLE",
    "FLOAT": "DOUBLE",
    "BOOL": "BOOLEAN",
    "BOOLEAN": "BOOLEAN",
    "STRING": "VARCHAR",
    "BYTES": "BLOB",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATETIME": "TIMESTAMP",
    "DATE": "DATE",
    "TIME": "TIME",
    "JSON": "JSON",
    "INTERVAL": "INTERVAL",
}


def duckdb_type(ptype: dict) -> str | None:
    """DuckDB type for a REST parameterType ({"type": ..., "arrayType"/"structTypes": ...})."""
    name = str(ptype.get("type") or "").upper()
    if name == "ARRAY":
        inner = ptype.get("arrayType")
        element = duckdb_type(inner) if isinstance(inner, dict) else None
        return f"{element}[]" if element else None
    if name == "STRUCT":
        fields = []
        for i, field in enumerate(ptype.get("structTypes") or []):
            if not isinstance(field, dict) or not isinstance(field.get("type"), dict):
                return None
            field_type = duckdb_type(field["type"])
            if field_type is None:
                return None
            field_name = str(field.get("name") or f"_field_{i + 1}").replace('"', '""')
            fields.append(f'"{field_name}" {field_type}')
        return f"STRUCT({', '.join(fields)})" if fields else None
    if name in ("NUMERIC", "BIGNUMERIC", "GEOGRAPHY"):
        return storage_type(name)
    if name == "RANGE":
        inner = ptype.get("rangeElementType")
        element = str(inner.get("type") or "").upper() if isinstance(inner, dict) else ""
        if element not in ("DATE", "DATETIME", "TIMESTAMP"):
            return None
        duck = _SCALARS[element]
        return f'STRUCT("{RANGE_START}" {duck}, "{RANGE_END}" {duck})'
    return _SCALARS.get(name)
