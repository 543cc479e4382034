"""CAST(... AS ... FORMAT '...'): dates and times to and from STRING, numbers to STRING, and
BYTES <-> STRING.

Dates and times are formatted by DuckDB's strftime: BigQuery's format elements (YYYY, MON, DD,
HH24, MI, SS, FF3, A.M., TZH, ...) are read here into strftime pieces; textual elements follow
the element's case (MON -> JAN, Mon -> Jan). Parsing a STRING into a date/time and formatting a
number (format models '999.99', '$', 'S', ...) call ``format_udfs.py``; the format model is
checked here, when the query is translated.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from . import format_udfs
from .bqtypes import is_type
from .errors import SqlError, unsupported
from .nodes import cast, fn

# element -> (strftime/strptime code, case-sensitive text element)
_ELEMENTS = [
    ("YYYY", "%Y", False), ("YYY", "%Y", False), ("RRRR", "%Y", False), ("YY", "%y", False),
    ("RR", "%y", False), ("MONTH", "%B", True), ("MON", "%b", True), ("MM", "%m", False),
    ("DDD", "%j", False), ("DAY", "%A", True), ("DY", "%a", True), ("DD", "%d", False),
    ("HH24", "%H", False), ("HH12", "%I", False), ("HH", "%I", False), ("MI", "%M", False),
    ("SSSSS", None, False), ("SS", "%S", False), ("A.M.", "%p", True), ("P.M.", "%p", True),
    ("AM", "%p", True), ("PM", "%p", True), ("TZH", "%z", False), ("TZM", "", False),
]  # fmt: skip
_FRACTION = format_udfs.FRACTION


def _tokens(template: str) -> list[tuple[str, str]]:
    """('element', text) and ('literal', text) pieces of a format model."""
    return format_udfs.split_model(template, [name for name, _, _ in _ELEMENTS], strict=False)


def _code(element: str) -> tuple[str | None, bool]:
    for name, code, textual in _ELEMENTS:
        if element.upper() == name:
            return code, textual
    return None, False


def _offset_piece(offset: exp.Expr | None, element: str) -> exp.Expr:
    """TZH (``+05``) or TZM (``30``) of an offset in seconds (0 without a time zone)."""
    if offset is None:
        return exp.Literal.string("+00" if element == "TZH" else "00")
    sql = ("printf('%s%02d', CASE WHEN _o < 0 THEN '-' ELSE '+' END, abs(_o) // 3600)"
           if element == "TZH" else "printf('%02d', abs(_o) % 3600 // 60)")  # fmt: skip
    piece = sqlglot.parse_one(sql, read="duckdb")
    for column in list(piece.find_all(exp.Column)):
        if column.name == "_o":
            column.replace(offset.copy())
    return piece


def _format_value(value: exp.Expr, template: str, is_time: bool,
                  offset: exp.Expr | None = None) -> exp.Expr:  # fmt: skip
    if is_time:  # strftime needs a date part
        value = exp.Add(this=cast(exp.Literal.string("1970-01-01"), "DATE"), expression=value)
    parts: list[exp.Expr] = []
    for kind, text in _tokens(template):
        if kind == "literal":
            parts.append(exp.Literal.string(text))
            continue
        fraction = _FRACTION.fullmatch(text)
        if fraction:
            digits = int(fraction.group(1))
            micros = fn("strftime", value, exp.Literal.string("%f"))
            padded = fn("rpad", micros, exp.Literal.number(9), exp.Literal.string("0"))
            parts.append(fn("left", padded, exp.Literal.number(digits)))
            continue
        if text.upper() in ("TZH", "TZM"):
            parts.append(_offset_piece(offset, text.upper()))
            continue
        code, textual = _code(text)
        if code is None:
            raise unsupported(f"format element {text} in CAST ... FORMAT")
        piece: exp.Expr = fn("strftime", value, exp.Literal.string(code))
        if textual:
            if text.isupper():
                piece = fn("upper", piece)
            elif text.islower():
                piece = fn("lower", piece)
            if "." in text:  # A.M. / P.M.
                piece = fn("concat", fn("left", piece, exp.Literal.number(1)),
                           exp.Literal.string("."), fn("right", piece, exp.Literal.number(1)),
                           exp.Literal.string("."))  # fmt: skip
        parts.append(piece)
    return fn("concat", *parts) if parts else exp.Literal.string("")


def cast_with_format(node: exp.Expr) -> exp.Expr:
    """The DuckDB form of a CAST with a FORMAT clause."""
    fmt = node.args.get("format")
    zone = None
    if isinstance(fmt, exp.AtTimeZone):
        fmt, zone = fmt.this, fmt.args.get("zone")
    template = fmt.this if isinstance(fmt, exp.Literal) and fmt.is_string else None
    target = node.to.this
    T = exp.DataType.Type
    value = node.this
    if template is None:
        raise unsupported("CAST ... FORMAT with a format that is not a string literal")
    upper = template.upper()
    if target in (T.TEXT, T.VARCHAR) and (is_type(value, "BYTES") or upper in _BYTES_FORMATS):
        return _bytes_to_string(value, upper)
    if target in (T.VARBINARY, T.BINARY, T.BLOB):
        return _string_to_bytes(value, upper)
    if target in (T.TEXT, T.VARCHAR):
        return _to_string(value, template, zone)
    bq_target = {T.DATE: "DATE", T.TIME: "TIME", T.TIMESTAMP: "DATETIME",
                 T.DATETIME: "DATETIME", T.TIMESTAMPTZ: "TIMESTAMP"}.get(target)  # fmt: skip
    if bq_target is None:
        raise unsupported("CAST ... FORMAT to this type")
    try:
        format_udfs.datetime_model(template, bq_target)
    except ValueError as error:
        raise SqlError(f"Invalid format string for CAST to {bq_target}: {error}") from None
    parsed = fn("bq_parse_with_format", cast(value, "VARCHAR"), exp.Literal.string(template),
                exp.Literal.string(bq_target),
                cast(zone, "VARCHAR") if zone is not None else exp.Literal.string("UTC"))  # fmt: skip
    duck = {"DATE": "DATE", "TIME": "TIME", "DATETIME": "TIMESTAMP",
            "TIMESTAMP": "TIMESTAMPTZ"}[bq_target]  # fmt: skip
    return cast(parsed, duck)


_NUMBER_TYPES = ("INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC")


def _to_string(value: exp.Expr, template: str, zone: exp.Expr | None) -> exp.Expr:
    T = exp.DataType.Type
    temporal = (T.DATE, T.DATETIME, T.TIMESTAMP, T.TIMESTAMPTZ, T.TIME)
    typed_literal = isinstance(value, exp.Cast) and value.to.this in temporal
    is_temporal = is_type(value, "DATE", "DATETIME", "TIMESTAMP", "TIME") or typed_literal
    if not is_temporal:
        number = is_type(value, *_NUMBER_TYPES) or (isinstance(value, exp.Literal)
                                                    and not value.is_string)  # fmt: skip
        try:
            format_udfs.numeric_model(template)
        except ValueError as error:
            if number:
                raise SqlError(f"Invalid format string for CAST to STRING: {error}") from None
        else:
            return fn("bq_format_number", cast(value, "VARCHAR"), exp.Literal.string(template))
    is_time = is_type(value, "TIME")
    offset = None
    if zone is not None:
        instant = cast(value, "TIMESTAMPTZ")
        value = exp.AtTimeZone(this=instant, zone=zone)
        offset = cast(exp.Sub(this=fn("epoch", value.copy()),
                              expression=fn("epoch", instant.copy())), "BIGINT")  # fmt: skip
    return _format_value(value, template, is_time, offset)


_BYTES_FORMATS = {"ASCII", "UTF-8", "UTF8", "BASE64", "HEX", "BASE2", "BASE8"}


def _bytes_to_string(value: exp.Expr, form: str) -> exp.Expr:
    if form in ("ASCII", "UTF-8", "UTF8"):
        return fn("decode", value)
    if form == "BASE64":
        return fn("to_base64", value)
    if form == "HEX":
        return fn("lower", fn("hex", value))
    raise unsupported(f"CAST ... FORMAT '{form}'")


def _string_to_bytes(value: exp.Expr, form: str) -> exp.Expr:
    if form in ("ASCII", "UTF-8", "UTF8"):
        return fn("encode", value)
    if form == "BASE64":
        return fn("from_base64", value)
    if form == "HEX":
        return fn("unhex", value)
    raise unsupported(f"CAST ... FORMAT '{form}'")
