"""Small builders for the DuckDB-bound nodes the rewrites produce."""

from __future__ import annotations

import functools

from sqlglot import exp

# A RANGE is a DuckDB STRUCT of these two fields (see ranges.py; the core's types.py reads them).
RANGE_START, RANGE_END = "$range_start", "$range_end"


def fn(name: str, *args: exp.Expr) -> exp.Anonymous:
    """A DuckDB function call, rendered verbatim."""
    return exp.Anonymous(this=name, expressions=list(args))


def cast(node: exp.Expr, type_sql: str) -> exp.Cast:
    """CAST(node AS <DuckDB type>)."""
    return exp.Cast(this=node, to=exp.DataType.build(type_sql, dialect="duckdb"))


def unit_name(node: exp.Expr) -> str:
    """A date part argument as text: DAY, MONTH, WEEK(MONDAY), ..."""
    unit = node.args.get("unit")
    if unit is None:
        return "DAY"
    if isinstance(unit, exp.WeekStart):
        return f"WEEK({unit.name.upper()})"
    return unit.name.upper()


# Used when the core's emulators/bigquery/types.py is not importable.
_FALLBACK_STORAGE = {
    "NUMERIC": "DECIMAL(38,9)",
    "BIGNUMERIC": "DECIMAL(38,18)",
    "GEOGRAPHY": "VARCHAR",
}


@functools.cache
def storage_type(bq_type: str) -> str:
    """The DuckDB type the core stores a BigQuery scalar type as (CASTs must agree with it)."""
    try:
        from ..types import bq_to_duckdb_type
    except ImportError:
        return _FALLBACK_STORAGE[bq_type]
    return bq_to_duckdb_type({"name": "x", "type": bq_type, "mode": "NULLABLE"})
