"""The RANGE type: RANGE<DATE|DATETIME|TIMESTAMP> values, CASTs and the RANGE functions.

A RANGE is a DuckDB ``STRUCT("$range_start" T, "$range_end" T)``; a NULL bound is UNBOUNDED and
a NULL RANGE is a NULL STRUCT. BigQuery field names cannot hold ``$``, so no STRUCT a user
writes is ever taken for a RANGE: the core (``types.py``) reports such a column as type
``RANGE`` with its ``rangeElementType`` and sends each value as ``[start, end)`` text, as
BigQuery does. Rewritten RANGE expressions carry their element type in ``meta`` so functions
taking a RANGE or an element (RANGE_CONTAINS) and GENERATE_RANGE_ARRAY know what they hold.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from sqlglot import exp

from .bqtypes import type_of
from .errors import SqlError
from .nodes import RANGE_END, RANGE_START, cast, fn

META = "bq_range"  # meta key: the element type (DuckDB spelling) of a RANGE expression

_ELEMENTS = {
    exp.DataType.Type.DATE: "DATE",
    exp.DataType.Type.TIMESTAMP: "TIMESTAMP",  # BigQuery's DATETIME
    exp.DataType.Type.DATETIME: "TIMESTAMP",
    exp.DataType.Type.TIMESTAMPTZ: "TIMESTAMPTZ",
}


def struct_type(range_type: exp.DataType) -> exp.DataType:
    """The DuckDB type of ``RANGE<T>``."""
    inner = range_type.expressions[0] if range_type.expressions else None
    element = _ELEMENTS.get(inner.this) if isinstance(inner, exp.DataType) else None
    if element is None:
        raise SqlError("RANGE<T> is only supported for T = DATE, DATETIME or TIMESTAMP")
    built = exp.DataType.build(
        f'STRUCT("{RANGE_START}" {element}, "{RANGE_END}" {element})', dialect="duckdb"
    )
    built.meta[META] = element
    return built


def element_of(node: exp.Expr) -> str | None:
    """The element type of a RANGE-typed DuckDB type or expression, or None."""
    if isinstance(node, exp.DataType):
        names = [e.name for e in node.expressions if isinstance(e, exp.ColumnDef)]
        if node.this == exp.DataType.Type.STRUCT and names == [RANGE_START, RANGE_END]:
            return node.expressions[0].args["kind"].sql("duckdb")
        return None
    if isinstance(node, exp.Cast) and node.to is not None and META not in node.meta:
        return element_of(node.to)
    return node.meta.get(META)


_names = itertools.count(1)


def _let(value: exp.Expr, body: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
    """``body(v)`` with ``value`` computed once (a one-element list_transform: DuckDB has no
    LET), so nested RANGE functions do not repeat their arguments."""
    name = f"__bq_range_{next(_names)}"
    inner = body(exp.column(name))
    mapped = fn("list_transform", fn("list_value", value),
                exp.Lambda(this=inner, expressions=[exp.to_identifier(name)]))  # fmt: skip
    return fn("list_extract", mapped, exp.Literal.number(1))


def _bound(value: exp.Expr, which: str) -> exp.Expr:
    return fn("struct_extract", value, exp.Literal.string(which))


def _mark(node: exp.Expr, element: str | None) -> exp.Expr:
    node.meta[META] = element or "?"
    return node


def _is_null(node: exp.Expr) -> exp.Expr:
    return exp.Is(this=node.copy(), expression=exp.null())


def _struct(start: exp.Expr, end: exp.Expr, element: str | None) -> exp.Expr:
    value: exp.Expr = exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier(RANGE_START, quoted=True), expression=start),
        exp.PropertyEQ(this=exp.to_identifier(RANGE_END, quoted=True), expression=end),
    ])  # fmt: skip
    if element is not None:
        value = cast(value, f'STRUCT("{RANGE_START}" {element}, "{RANGE_END}" {element})')
    return value


def make(start: exp.Expr, end: exp.Expr, element: str | None, safe: bool = False) -> exp.Expr:
    """A RANGE of two bounds (NULL = UNBOUNDED) with a common type; an error (NULL if
    ``safe``) unless start < end."""
    message = exp.Literal.string("Range start element must be less than the end element")

    def body(both: exp.Expr) -> exp.Expr:
        lower = fn("list_extract", both, exp.Literal.number(1))
        upper = fn("list_extract", both.copy(), exp.Literal.number(2))
        wrong = exp.GTE(this=lower.copy(), expression=upper.copy())
        return exp.case().when(wrong, exp.null() if safe else fn("error", message)).else_(
            _struct(lower, upper, element))

    return _mark(_let(fn("list_value", start, end), body), element)


def from_string(text: exp.Expr, element: str, safe: bool = False) -> exp.Expr:
    """``CAST(text AS RANGE<T>)``: ``[start, end)`` with UNBOUNDED or NULL bounds; with
    ``safe`` (SAFE_CAST) NULL instead of any error."""

    def body(parts: exp.Expr) -> exp.Expr:
        start = cast(fn("list_extract", parts, exp.Literal.number(1)), element)
        end = cast(fn("list_extract", parts.copy(), exp.Literal.number(2)), element)
        if safe:
            start, end = fn("try", start), fn("try", end)
        value = make(start, end, element, safe)
        return exp.case().when(_is_null(parts), exp.null()).else_(value)

    parts = fn("bq_range_parts", cast(text, "VARCHAR"))
    return _mark(_let(fn("try", parts) if safe else parts, body), element)


def _duck_element(node: exp.Expr) -> str | None:
    kind = type_of(node)
    if kind is None and isinstance(node, exp.Cast):
        kind = node.to
    if kind is None:
        return None
    return _ELEMENTS.get(kind.this)


def _null_if_any(args: list[exp.Expr], value: exp.Expr) -> exp.Expr:
    missing = exp.or_(*[_is_null(a) for a in args])
    return exp.case().when(missing, exp.null()).else_(value)


def _unbounded_or(bound: exp.Expr, test: exp.Expr) -> exp.Expr:
    return exp.paren(exp.or_(_is_null(bound), test))


def _contains(r: exp.Expr, x: exp.Expr) -> exp.Expr:
    inner_range = element_of(x) is not None

    def body(outer: exp.Expr, item: exp.Expr) -> exp.Expr:
        start, end = _bound(outer, RANGE_START), _bound(outer.copy(), RANGE_END)
        if inner_range:
            x_start, x_end = _bound(item, RANGE_START), _bound(item.copy(), RANGE_END)
            lower = _unbounded_or(start, exp.and_(exp.not_(_is_null(x_start)),
                                                  exp.LTE(this=start.copy(), expression=x_start)))  # fmt: skip
            upper = _unbounded_or(end, exp.and_(exp.not_(_is_null(x_end)),
                                                exp.LTE(this=x_end, expression=end.copy())))  # fmt: skip
        else:
            lower = _unbounded_or(start, exp.LTE(this=start.copy(), expression=item))
            upper = _unbounded_or(end, exp.LT(this=item.copy(), expression=end.copy()))
        return _null_if_any([outer, item], exp.and_(lower, upper))

    return _let(r, lambda outer: _let(x, lambda item: body(outer, item)))


def _overlap_test(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    a_start, a_end = _bound(a, RANGE_START), _bound(a.copy(), RANGE_END)
    b_start, b_end = _bound(b, RANGE_START), _bound(b.copy(), RANGE_END)
    first = exp.or_(_is_null(a_start), _is_null(b_end), exp.LT(this=a_start, expression=b_end))
    second = exp.or_(_is_null(b_start), _is_null(a_end), exp.LT(this=b_start, expression=a_end))
    return exp.and_(exp.paren(first), exp.paren(second))


def _overlaps(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return _let(a, lambda ra: _let(b, lambda rb: _null_if_any([ra, rb], _overlap_test(ra, rb))))


def _intersect(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    element = next((e for e in (element_of(a), element_of(b)) if e not in (None, "?")), None)
    message = exp.Literal.string("Provided RANGE inputs do not overlap")

    def body(ra: exp.Expr, rb: exp.Expr) -> exp.Expr:
        # DuckDB's greatest/least skip NULLs: an UNBOUNDED side takes the other's bound
        start = fn("greatest", _bound(ra, RANGE_START), _bound(rb, RANGE_START))
        end = fn("least", _bound(ra.copy(), RANGE_END), _bound(rb.copy(), RANGE_END))
        value = exp.case().when(exp.not_(exp.paren(_overlap_test(ra.copy(), rb.copy()))),
                                fn("error", message)).else_(_struct(start, end, element))  # fmt: skip
        return _null_if_any([ra, rb], value)

    return _mark(_let(a, lambda ra: _let(b, lambda rb: body(ra, rb))), element)


def _generate_range_array(args: list[exp.Expr]) -> exp.Expr:
    step = args[1]
    last_partial = args[2] if len(args) > 2 else exp.true()
    element = element_of(args[0])
    element = None if element in (None, "?") else element
    as_ts = "TIMESTAMPTZ" if element == "TIMESTAMPTZ" else "TIMESTAMP"
    message = exp.Literal.string("GENERATE_RANGE_ARRAY does not support UNBOUNDED ranges")

    def body(r: exp.Expr) -> exp.Expr:
        start, end = _bound(r, RANGE_START), _bound(r.copy(), RANGE_END)
        last = cast(end.copy(), as_ts)
        series = fn("generate_series", cast(start.copy(), as_ts), last.copy(), step)
        s = exp.column("__bq_step")
        stop = exp.Add(this=s.copy(), expression=step.copy())
        keep = exp.and_(exp.LT(this=s.copy(), expression=last.copy()),
                        exp.paren(exp.or_(exp.paren(last_partial.copy()),
                                          exp.LTE(this=stop.copy(), expression=last.copy()))))  # fmt: skip
        kept = fn("list_filter", series, exp.Lambda(this=keep, expressions=[s.this.copy()]))
        bound_type = element or as_ts
        one = _struct(cast(s.copy(), bound_type), cast(fn("least", stop, last.copy()), bound_type),
                      element)  # fmt: skip
        ranges = fn("list_transform", kept, exp.Lambda(this=one, expressions=[s.this.copy()]))
        unbounded = exp.or_(_is_null(start), _is_null(end))
        return _null_if_any([r, step], exp.case().when(unbounded, fn("error", message)).else_(ranges))

    return _let(args[0], body)


def rewrite_call(name: str, args: list[exp.Expr]) -> exp.Expr | None:
    """The DuckDB form of a RANGE function call, or None when ``name`` is not one."""
    if name == "RANGE" and len(args) == 2:
        element = _duck_element(args[0]) or _duck_element(args[1])
        return make(args[0], args[1], element)
    if name in ("RANGE_START", "RANGE_END") and len(args) == 1:
        return _bound(args[0], RANGE_START if name == "RANGE_START" else RANGE_END)
    if name == "RANGE_CONTAINS" and len(args) == 2:
        return _contains(args[0], args[1])
    if name == "RANGE_OVERLAPS" and len(args) == 2:
        return _overlaps(args[0], args[1])
    if name == "RANGE_INTERSECT" and len(args) == 2:
        return _intersect(args[0], args[1])
    if name == "GENERATE_RANGE_ARRAY" and len(args) in (2, 3):
        return _generate_range_array(args)
    return None
