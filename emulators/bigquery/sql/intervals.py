"""INTERVAL as BigQuery has it: literals with ranges, CAST from text, JUSTIFY_*, MAKE_INTERVAL,
DATE - DATE.

An INTERVAL is months, days and microseconds in both systems; literals are read here at
translation time into DuckDB's ``'<m> months <d> days <us> microseconds'`` form, text at run
time by ``bq_interval_from_string``. The wire format is written by the core (``types.py``)
with ``udfs.interval_text``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from .bqtypes import NEEDS_TYPES, is_type
from .errors import SqlError
from .nodes import cast, fn

_Rewrite = Callable[[exp.Expr], exp.Expr]

_PARTS = ["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"]
_MICROS = {"HOUR": 3_600_000_000, "MINUTE": 60_000_000, "SECOND": 1_000_000}
# the text shape of each part in a range literal: Y-M D H:M:S
_SEPARATORS = {("YEAR", "MONTH"): "-", ("MONTH", "DAY"): " ", ("DAY", "HOUR"): " ",
               ("HOUR", "MINUTE"): ":", ("MINUTE", "SECOND"): ":"}  # fmt: skip


def parse_range(text: str, first: str, last: str) -> tuple[int, int, int]:
    """``'10 -12:30'`` DAY TO MINUTE -> (months, days, microseconds)."""
    names = _PARTS[_PARTS.index(first) : _PARTS.index(last) + 1]
    pattern = ""
    for i, name in enumerate(names):
        if i:
            separator = _SEPARATORS[(names[i - 1], name)]
            pattern += r"\s+" if separator == " " else re.escape(separator)
        value = r"[-+]?\d+(?:\.\d{1,9})?" if name == "SECOND" else r"[-+]?\d+"
        if name in ("MONTH",) and i:
            value = r"\d+"
        pattern += f"({value})"
    match = re.fullmatch(r"\s*" + pattern + r"\s*", text)
    if not match:
        raise SqlError(f"Invalid interval literal: '{text}'")
    values = dict(zip(names, match.groups(), strict=True))
    return _combine(values)


def _combine(values: dict[str, str]) -> tuple[int, int, int]:
    months = days = micros = 0
    year_sign = -1 if values.get("YEAR", "").startswith("-") else 1
    if "YEAR" in values:
        months += int(values["YEAR"]) * 12
    if "MONTH" in values:
        months += year_sign * int(values["MONTH"]) if "YEAR" in values else int(values["MONTH"])
    if "DAY" in values:
        days = int(values["DAY"])
    time_sign = 1
    for name in ("HOUR", "MINUTE", "SECOND"):
        if name not in values:
            continue
        raw = values[name]
        if raw.startswith("-") and not micros and name == next(
            n for n in ("HOUR", "MINUTE", "SECOND") if n in values
        ):
            time_sign = -1
        amount = abs(float(raw)) if name == "SECOND" else abs(int(raw))
        micros += round(amount * _MICROS[name])
    return months, days, time_sign * micros


def duckdb_interval(months: int, days: int, micros: int) -> exp.Expr:
    text = f"{months} months {days} days {micros} microseconds"
    return exp.Interval(this=exp.Literal.string(text))


def _interval(node: exp.Interval) -> exp.Expr:
    unit = node.args.get("unit")
    value = node.this
    if isinstance(unit, exp.IntervalSpan) and isinstance(value, exp.Literal):
        first, last = unit.this.name.upper(), unit.expression.name.upper()
        if first not in _PARTS or last not in _PARTS:
            return node
        return duckdb_interval(*parse_range(value.this, first, last))
    return node


def _cast_interval(node: exp.Expr) -> exp.Expr | None:
    if not isinstance(node, (exp.Cast, exp.TryCast)) or node.to.this != exp.DType.INTERVAL:
        return None
    if is_type(node.this, "INTERVAL"):
        return node.this
    return cast(fn("bq_interval_from_string", node.this), "INTERVAL")


def _justify(name: str) -> _Rewrite:
    def rewrite(node: exp.Expr) -> exp.Expr:
        text = fn("bq_justify", cast(node.this, "VARCHAR"), exp.Literal.string(name))
        return cast(text, "INTERVAL")

    return rewrite


def _make_interval(node: exp.MakeInterval) -> exp.Expr:
    parts = {"year": "to_years", "month": "to_months", "day": "to_days", "hour": "to_hours",
             "minute": "to_minutes", "second": "to_seconds"}  # fmt: skip
    total: exp.Expr | None = None
    for key, duck in parts.items():
        value = node.args.get(key)
        if value is None:
            continue
        value = value.expression if isinstance(value, exp.Kwarg) else value
        kind = "DOUBLE" if key == "second" else "INTEGER"
        term = fn(duck, cast(value, kind))
        total = term if total is None else exp.Add(this=total, expression=term)
    return total if total is not None else duckdb_interval(0, 0, 0)


def _date_minus(node: exp.Sub) -> exp.Expr:
    """DATE - DATE is an INTERVAL of days; DATE +/- INT64 is a DATE."""
    if is_type(node.this, "DATE") and is_type(node.expression, "DATE"):
        return fn("to_days", cast(exp.Sub(this=node.this, expression=node.expression), "INTEGER"))
    return _date_plus_days(node)


def _date_plus_days(node: exp.Expr) -> exp.Expr:
    if is_type(node.this, "DATE") and is_type(node.expression, "INT64"):
        op = type(node)
        return cast(op(this=node.this, expression=cast(node.expression, "INTEGER")), "DATE")
    if isinstance(node, exp.Add) and is_type(node.expression, "DATE") and is_type(
        node.this, "INT64"
    ):
        return cast(exp.Add(this=node.expression, expression=cast(node.this, "INTEGER")), "DATE")
    return node


REWRITES: dict[type, _Rewrite] = {
    exp.Interval: _interval,
    exp.JustifyDays: _justify("days"),
    exp.JustifyHours: _justify("hours"),
    exp.JustifyInterval: _justify("interval"),
    exp.MakeInterval: _make_interval,
    exp.Sub: _date_minus,
    exp.Add: _date_plus_days,
}

CAST = _cast_interval
NEEDS_TYPES.update({exp.Sub, exp.Add})
