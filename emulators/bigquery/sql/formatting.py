"""Values as text the way BigQuery writes them: CAST(... AS STRING) and FORMAT's specifiers.

DuckDB prints ``1.500000000`` for a NUMERIC, ``1e+20``-or-shortest for a FLOAT64, ``BLOB``
escapes for BYTES and has no ``%t``/``%T``; BigQuery's text comes from the value's type, so
these rewrites use the annotated BigQuery types (``bqtypes``).
"""

from __future__ import annotations

import re

from sqlglot import exp

from .bqtypes import NEEDS_TYPES, type_name, type_of
from .nodes import cast, fn


def _s(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def _concat(*parts: exp.Expr) -> exp.Expr:
    """Text pieces joined; NULL if any is NULL (DuckDB's concat() would skip it)."""
    joined = parts[0]
    for part in parts[1:]:
        joined = exp.DPipe(this=joined, expression=part)
    return exp.Paren(this=joined)


def _lambda(param: str, body: exp.Expr) -> exp.Expr:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(param)])


def to_string(value: exp.Expr, kind: exp.DataType | None) -> exp.Expr | None:
    """BigQuery's CAST(value AS STRING) for a value of type ``kind``; None where DuckDB's own
    cast already writes the same text."""
    name = type_name(kind) if kind is not None else ""
    if name == "FLOAT64":
        return fn("bq_float_to_string", value)
    if name in ("NUMERIC", "BIGNUMERIC"):
        return fn("bq_decimal_to_string", cast(value, "VARCHAR"))
    if name == "BOOL":
        return fn("lower", cast(value, "VARCHAR"))
    if name == "BYTES":
        return fn("decode", value)
    if name == "INTERVAL":
        return fn("bq_interval_to_string", cast(value, "VARCHAR"))
    if name == "JSON":
        return cast(value, "VARCHAR")
    return None


def _text(value: exp.Expr, kind: exp.DataType | None, literal: bool) -> exp.Expr:
    """``%t`` (``literal`` False) or ``%T`` (True) text of a value; NULL stays NULL."""
    name = type_name(kind) if kind is not None else ""
    if name == "STRING":
        if not literal:
            return value
        escaped = fn("replace", fn("replace", value, _s("\\"), _s("\\\\")), _s('"'), _s('\\"'))
        return _concat(_s('"'), escaped, _s('"'))
    if name == "BYTES":
        body = fn("bq_bytes_literal_body", value)
        return _concat(_s('b"'), body, _s('"')) if literal else body
    if name == "ARRAY" and kind.expressions:
        element = kind.expressions[0]
        each = _lambda("e", fn("coalesce", _text(exp.column("e"), element, literal), _s("NULL")))
        joined = fn("array_to_string", fn("list_transform", value, each), _s(", "))
        return _concat(_s("["), joined, _s("]"))
    if name == "STRUCT" and kind.expressions:
        parts: list[exp.Expr] = []
        for i, field in enumerate(kind.expressions, 1):
            field_type = field.args.get("kind") if isinstance(field, exp.ColumnDef) else field
            item = fn("struct_extract_at", value, exp.Literal.number(i))
            if parts:
                parts.append(_s(", "))
            parts.append(fn("coalesce", _text(item, field_type, literal), _s("NULL")))
        return _concat(_s("("), *parts, _s(")"))
    if name == "FLOAT64":
        text = fn("bq_float_to_string", value)
        return fn("bq_float_literal", text) if literal else text
    plain = to_string(value, kind) or cast(value, "VARCHAR")
    if literal and name in ("NUMERIC", "BIGNUMERIC", "DATE", "DATETIME", "TIME", "TIMESTAMP",
                            "JSON", "INTERVAL"):  # fmt: skip
        quote = "'" if name == "JSON" else '"'
        return _concat(_s(f"{name} {quote}"), plain, _s(quote))
    return plain


_SPEC = re.compile(r"%([-+ #0']*)(\d+)?(?:\.(\d+))?([diuoxXfFeEgGsStTcp%])")


def format_call(node: exp.Format) -> exp.Expr:
    """FORMAT with a literal format string -> concat of its pieces, each argument written by
    its specifier and BigQuery type (``%'d`` groups with commas, ``%T`` as a literal)."""
    template = node.this
    args = list(node.expressions)
    if not (isinstance(template, exp.Literal) and template.is_string):
        return fn("printf", template, *args)
    text = template.this
    pieces: list[exp.Expr] = []
    position = used = 0
    for match in _SPEC.finditer(text):
        if match.start() > position:
            pieces.append(_s(text[position : match.start()]))
        position = match.end()
        flags, width, precision, spec = match.groups()
        if spec == "%":
            pieces.append(_s("%"))
            continue
        if used >= len(args):
            break
        value = args[used]
        used += 1
        if spec in "tT":
            piece = _text(value, type_of(value), spec == "T")
        else:
            piece = _printf(value, flags, width, precision, spec)
        pieces.append(fn("coalesce", piece, _s("NULL")))
    if position < len(text):
        pieces.append(_s(text[position:]))
    return fn("concat", *pieces) if pieces else _s("")


def _printf(value: exp.Expr, flags: str, width: str | None, precision: str | None,
            spec: str) -> exp.Expr:  # fmt: skip
    grouping = "'" in flags
    spec_text = "%" + flags.replace("'", "") + (width or "")
    spec_text += f".{precision}" if precision is not None else ""
    kind = type_of(value)
    if spec in "sS":
        text = _text(value, kind, False)
        return fn("printf", _s(spec_text + "s"), text) if (width or precision) else text
    if spec in "diuoxXc":
        value = cast(value, "BIGINT")
        spec = "d" if spec in "iu" else spec
    elif spec in "fFeEgG":
        value = cast(value, "DOUBLE")
    if grouping:
        grouped = fn("printf", _s(spec_text.replace("%", "%'", 1) + spec), value)
        return fn("replace", grouped, _s("'"), _s(","))
    return fn("printf", _s(spec_text + spec), value)


NEEDS_TYPES.update({exp.Format})
