"""CAST(... AS ... FORMAT '...') for dates and times to and from STRING, and BYTES <-> STRING.

BigQuery's format elements (YYYY, MON, DD, HH24, MI, SS, FF3, A.M., TZH, ...) are read here
into strftime/strptime pieces; textual elements follow the element's case (MON -> JAN, Mon ->
Jan). Numeric format models ('999.99', '$', 'S') are not implemented.
"""

from __future__ import annotations

import re

from sqlglot import exp

from .bqtypes import is_type
from .errors import unsupported
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
_FRACTION = re.compile(r"FF([1-9])", re.IGNORECASE)


def _tokens(template: str) -> list[tuple[str, str]]:
    """('element', text) and ('literal', text) pieces of a format model."""
    pieces: list[tuple[str, str]] = []
    i = 0
    while i < len(template):
        fraction = _FRACTION.match(template, i)
        if fraction:
            pieces.append(("element", fraction.group(0).upper()))
            i = fraction.end()
            continue
        for name, _, _ in _ELEMENTS:
            if template[i : i + len(name)].upper() == name:
                pieces.append(("element", template[i : i + len(name)]))
                i += len(name)
                break
        else:
            if template[i] == '"':
                end = template.find('"', i + 1)
                end = len(template) if end < 0 else end
                pieces.append(("literal", template[i + 1 : end]))
                i = end + 1
            else:
                pieces.append(("literal", template[i]))
                i += 1
    return pieces


def _code(element: str) -> tuple[str | None, bool]:
    for name, code, textual in _ELEMENTS:
        if element.upper() == name:
            return code, textual
    return None, False


def _format_value(value: exp.Expr, template: str, is_time: bool) -> exp.Expr:
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
        code, textual = _code(text)
        if code is None:
            raise unsupported(f"format element {text} in CAST ... FORMAT")
        piece: exp.Expr = fn("strftime", value, exp.Literal.string(code))
        if code == "%z":  # +0000 -> +00 (TZM gives the minutes)
            piece = fn("left", piece, exp.Literal.number(3))
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


def _parse_format(template: str) -> str:
    out = ""
    for kind, text in _tokens(template):
        if kind == "literal":
            out += text.replace("%", "%%")
        elif _FRACTION.fullmatch(text):
            out += "%f"
        else:
            code, _ = _code(text)
            if code is None:
                raise unsupported(f"format element {text} in CAST ... FORMAT")
            out += code
    return out


def cast_with_format(node: exp.Expr) -> exp.Expr:
    """The DuckDB form of a CAST with a FORMAT clause."""
    fmt = node.args.get("format")
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
        temporal = (T.DATE, T.DATETIME, T.TIMESTAMP, T.TIMESTAMPTZ, T.TIME)
        typed_literal = isinstance(value, exp.Cast) and value.to.this in temporal
        if not (is_type(value, "DATE", "DATETIME", "TIMESTAMP", "TIME") or typed_literal):
            raise unsupported("CAST ... FORMAT of a number")
        zone = node.args.get("zone") or node.args.get("timezone")
        if zone is not None:
            value = exp.AtTimeZone(this=cast(value, "TIMESTAMPTZ"), zone=zone)
        return _format_value(value, template, is_type(value, "TIME"))
    duck = {T.DATE: "DATE", T.TIME: "TIME", T.TIMESTAMP: "TIMESTAMP",
            T.TIMESTAMPTZ: "TIMESTAMPTZ"}.get(target)  # fmt: skip
    if duck is None:
        raise unsupported("CAST ... FORMAT to this type")
    parsed = fn("strptime", value, exp.Literal.string(_parse_format(template)))
    return cast(parsed if duck != "TIME" else cast(parsed, "TIMESTAMP"), duck)


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
