"""Date and time rewrites: BigQuery's week starts, units, formats and result types."""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp

from .errors import unsupported
from .nodes import cast, fn, unit_name


def _extract(node: exp.Extract) -> exp.Expr:
    part = node.this
    value = node.expression
    name = part.name.upper() if not isinstance(part, exp.WeekStart) else "WEEK(X)"
    if name in ("MILLISECOND", "MICROSECOND"):
        # the fraction of the second only (DuckDB counts the seconds in too)
        modulus = 1000 if name == "MILLISECOND" else 1_000_000
        return exp.Mod(this=node, expression=exp.Literal.number(modulus))
    if name == "DAYOFWEEK":  # BigQuery: 1 = Sunday .. 7; DuckDB: 0 = Sunday
        return exp.Paren(
            this=exp.Add(this=fn("dayofweek", value), expression=exp.Literal.number(1))
        )
    if name == "WEEK":  # Sunday-based week number, 0 before the first Sunday
        return cast(fn("strftime", value, exp.Literal.string("%U")), "BIGINT")
    if name == "WEEK(X)":
        start = part.name.upper()
        if start == "SUNDAY":
            return cast(fn("strftime", value, exp.Literal.string("%U")), "BIGINT")
        if start == "MONDAY":
            return cast(fn("strftime", value, exp.Literal.string("%W")), "BIGINT")
        raise unsupported(f"EXTRACT(WEEK({start}))")
    if name == "ISOWEEK":
        return fn("week", value)
    if name == "ISOYEAR":
        return fn("isoyear", value)
    if name == "DATE":
        return cast(value, "DATE")
    if name == "TIME":
        return cast(value, "TIME")
    if name == "DATETIME":
        return cast(value, "TIMESTAMP")
    return node


_BUCKETS = {
    "DAY": "1 day",
    "MONTH": "1 month",
    "QUARTER": "3 months",
    "YEAR": "1 year",
}
# time_bucket's origin picks the week start; 2000-01-02 is a Sunday.
_WEEK_ORIGINS = {
    "WEEK": "2000-01-02",
    "WEEK(SUNDAY)": "2000-01-02",
    "WEEK(MONDAY)": "2000-01-03",
    "WEEK(TUESDAY)": "2000-01-04",
    "WEEK(WEDNESDAY)": "2000-01-05",
    "WEEK(THURSDAY)": "2000-01-06",
    "WEEK(FRIDAY)": "2000-01-07",
    "WEEK(SATURDAY)": "2000-01-08",
    "ISOWEEK": "2000-01-03",
}


def _date_trunc(node: exp.DateTrunc) -> exp.Expr:
    # time_bucket keeps the argument's type (DATE stays DATE), unlike DuckDB's date_trunc.
    unit = unit_name(node)
    value = node.this
    if unit in _BUCKETS:
        return fn("time_bucket", exp.Interval(this=exp.Literal.string(_BUCKETS[unit])), value)
    if unit in _WEEK_ORIGINS:
        origin = exp.Literal.string(_WEEK_ORIGINS[unit])
        return fn(
            "time_bucket",
            exp.Interval(this=exp.Literal.string("7 days")),
            value,
            cast(origin, "DATE"),
        )
    if unit == "ISOYEAR":  # the Monday of ISO week 1: the week holding January 4th
        if isinstance(value, exp.Literal) and value.is_string:
            value = cast(value, "DATE")
        year = cast(fn("isoyear", value), "INTEGER")
        fourth = fn("make_date", year, exp.Literal.number(1), exp.Literal.number(4))
        return cast(fn("date_trunc", exp.Literal.string("week"), fourth), "DATE")
    return node


def _date_arith(node: exp.Expr) -> exp.Expr:
    # DuckDB's DATE + INTERVAL yields TIMESTAMP; BigQuery's DATE_ADD/DATE_SUB return DATE.
    if node.parent is not None and isinstance(node.parent, exp.Cast):
        return node
    return cast(node, "DATE")


def _date_from_unix_date(node: exp.DateFromUnixDate) -> exp.Expr:
    return cast(
        exp.Add(this=cast(exp.Literal.string("1970-01-01"), "DATE"), expression=node.this),
        "DATE",
    )


_MICROS_PER = {
    "MICROSECOND": 1,
    "MILLISECOND": 1_000,
    "SECOND": 1_000_000,
    "MINUTE": 60_000_000,
    "HOUR": 3_600_000_000,
    "DAY": 86_400_000_000,
}


def _timestamp_diff(node: exp.TimestampDiff) -> exp.Expr:
    """Whole elapsed units, truncated toward zero, at microsecond precision.

    DuckDB's date_sub drops sub-second parts for coarse units and date_diff counts crossed
    boundaries; both differ from BigQuery. DuckDB's // truncates toward zero like BigQuery."""
    unit = unit_name(node)
    if unit not in _MICROS_PER:
        return fn("date_sub", exp.Literal.string(unit.lower()), node.expression, node.this)
    later, earlier = (
        cast(v, "TIMESTAMPTZ") if isinstance(v, exp.Literal) and v.is_string else v
        for v in (node.this, node.expression)
    )
    micros = exp.Sub(this=fn("epoch_us", later), expression=fn("epoch_us", earlier))
    if unit == "MICROSECOND":
        return exp.Paren(this=micros)
    return exp.IntDiv(this=exp.Paren(this=micros), expression=exp.Literal.number(_MICROS_PER[unit]))


def _date_diff(node: exp.DateDiff) -> exp.Expr:
    unit = unit_name(node)
    if unit == "DAY" or unit not in _WEEK_ORIGINS:
        return node
    origin = cast(exp.Literal.string(_WEEK_ORIGINS[unit]), "DATE")
    week = exp.Interval(this=exp.Literal.string("7 days"))

    def bucket(v: exp.Expr) -> exp.Expr:
        return cast(fn("time_bucket", week, v, origin), "DATE")

    days = fn("date_diff", exp.Literal.string("day"), bucket(node.expression), bucket(node.this))
    return exp.IntDiv(this=days, expression=exp.Literal.number(7))


def _unix_to_time(node: exp.UnixToTime) -> exp.Expr:
    scale = node.args.get("scale")
    if scale is None or scale.name in ("0", ""):
        return node
    if scale.name == "3":
        return cast(fn("epoch_ms", node.this), "TIMESTAMPTZ")
    if scale.name == "6":
        return cast(fn("make_timestamp", node.this), "TIMESTAMPTZ")
    return node


# BigQuery format elements DuckDB's strftime/strptime lack. Space-padded numbers (%e, %k, %l)
# and %Ez's colon are written between sentinels and finished by _finish_format, since
# strftime has no such elements.
_PAD, _ZONE = "\x01", "\x02"
_FORMAT_ELEMENTS = [
    (r"%E\*S", "%S.%f"),
    (r"%E6S", "%S.%f"),
    (r"%E3S", "%S.%g"),
    (r"%E([1-9])S", "%S.%f"),
    (r"%E4Y", "%Y"),
    (r"%Ez", _ZONE + "%z" + _ZONE),
    (r"%Q", ""),
    (r"%R", "%H:%M"),
    (r"%T", "%H:%M:%S"),
    (r"%D", "%m/%d/%y"),
    (r"%F", "%Y-%m-%d"),
    (r"%r", "%I:%M:%S %p"),
    (r"%h", "%b"),
    (r"%-d", _PAD + "%-d" + _PAD),  # sqlglot reads BigQuery's %e as %-d
    (r"%k", _PAD + "%-H" + _PAD),
    (r"%l", _PAD + "%-I" + _PAD),
    (r"%e", _PAD + "%-d" + _PAD),
]
_PARSE_ELEMENTS = [(r"%Ez", "%z"), (r"%k", "%H"), (r"%l", "%I"), (r"%e", "%d"), (r"%-d", "%d")]


def _format_string(node: exp.Expr | None, parsing: bool = False) -> exp.Expr | None:
    if isinstance(node, exp.Literal) and node.is_string:
        text = node.this
        for pattern, repl in (_PARSE_ELEMENTS if parsing else []) + _FORMAT_ELEMENTS:
            text = re.sub(pattern, repl.replace("\\", "\\\\"), text)
        return exp.Literal.string(text)
    return node


def _finish_format(formatted: exp.Expr, fmt: exp.Expr | None) -> exp.Expr:
    """Space-pad %e/%k/%l and put the colon into %Ez after strftime has run."""
    text = fmt.this if isinstance(fmt, exp.Literal) else ""
    if _PAD in text:
        for pattern, repl in ((_PAD + r"(\d)" + _PAD, r" \1"), (_PAD + r"(\d+)" + _PAD, r"\1")):
            formatted = fn("regexp_replace", formatted, exp.Literal.string(pattern),
                           exp.Literal.string(repl), exp.Literal.string("g"))  # fmt: skip
    if _ZONE in text:
        for pattern, repl in ((_ZONE + r"([+-]\d\d)" + _ZONE, r"\1:00"),
                              (_ZONE + r"([^" + _ZONE + r"]*)" + _ZONE, r"\1")):  # fmt: skip
            formatted = fn("regexp_replace", formatted, exp.Literal.string(pattern),
                           exp.Literal.string(repl), exp.Literal.string("g"))  # fmt: skip
    return formatted


_EPOCH, _OFFSET, _COLON_OFFSET = "\x03", "\x04", "\x05"


def _offset_text(offset: exp.Expr, colon: bool) -> exp.Expr:
    """``+0530`` / ``+05:30`` of an offset in seconds."""
    sql = ("printf('%s%02d" + (":" if colon else "") + "%02d', CASE WHEN _o < 0 THEN '-' ELSE '+' "
           "END, abs(_o) // 3600, abs(_o) % 3600 // 60)")  # fmt: skip
    text = sqlglot.parse_one(sql, read="duckdb")
    for column in list(text.find_all(exp.Column)):
        column.replace(offset.copy())
    return text


def _epoch_and_zone(node: exp.TimeToStr, fmt: exp.Expr | None) -> exp.Expr:
    """%s (seconds since the epoch) and, with a time zone argument, %z/%Ez of that zone's
    offset: DuckDB's strftime has no %s and formats the converted local time as UTC."""
    text = fmt.this if isinstance(fmt, exp.Literal) else ""
    zone = node.args.get("zone")
    if "%s" not in text and not (zone is not None and "%z" in text):
        return _time_to_str_plain(node, fmt)
    value = node.this.this if isinstance(node.this, exp.TsOrDsToTimestamp) else node.this
    instant = cast(value.copy(), "TIMESTAMPTZ")
    text = text.replace("%s", _EPOCH)
    if zone is not None:
        text = text.replace(_ZONE + "%z" + _ZONE, _COLON_OFFSET).replace("%z", _OFFSET)
    new_fmt = exp.Literal.string(text)
    node.set("format", new_fmt)
    formatted = _time_to_str_plain(node, new_fmt)
    if _EPOCH in text:
        seconds = cast(cast(fn("floor", fn("epoch", instant.copy())), "BIGINT"), "VARCHAR")
        formatted = fn("replace", formatted, exp.Literal.string(_EPOCH), seconds)
    if zone is not None and (_OFFSET in text or _COLON_OFFSET in text):
        local = exp.AtTimeZone(this=instant.copy(), zone=zone.copy())
        offset = cast(exp.Sub(this=fn("epoch", local), expression=fn("epoch", instant.copy())),
                      "BIGINT")  # fmt: skip
        formatted = fn("replace", formatted, exp.Literal.string(_COLON_OFFSET),
                       _offset_text(offset, colon=True))  # fmt: skip
        formatted = fn("replace", formatted, exp.Literal.string(_OFFSET),
                       _offset_text(offset, colon=False))  # fmt: skip
    return formatted


def _time_to_str(node: exp.TimeToStr) -> exp.Expr:
    return _epoch_and_zone(node, _format_string(node.args.get("format")))


def _time_to_str_plain(node: exp.TimeToStr, fmt: exp.Expr | None) -> exp.Expr:
    value = node.this
    if isinstance(value, exp.TsOrDsToTime):  # FORMAT_TIME: DuckDB's strftime needs a timestamp
        epoch = cast(exp.Literal.string("1970-01-01"), "DATE")
        return _finish_format(fn("strftime", exp.Add(this=epoch, expression=value.this), fmt), fmt)
    zone = node.args.get("zone")
    if zone is not None:
        if isinstance(value, exp.TsOrDsToTimestamp):
            value = value.this
        value = exp.AtTimeZone(this=cast(value, "TIMESTAMPTZ"), zone=zone)
        return _finish_format(fn("strftime", value, fmt), fmt)
    node.set("format", fmt)
    return _finish_format(node, fmt)


def _str_to_time(node: exp.StrToTime) -> exp.Expr:
    node.set("format", _format_string(node.args.get("format"), parsing=True))
    if isinstance(node.parent, exp.Cast):
        return node
    # PARSE_TIMESTAMP yields TIMESTAMP (UTC) - DuckDB's TIMESTAMPTZ, not a naive timestamp.
    zone = node.args.get("zone")
    if zone is not None:
        node.set("zone", None)
        return exp.AtTimeZone(this=node, zone=zone)
    return cast(node, "TIMESTAMPTZ")


def _parse_datetime(node: exp.Expr) -> exp.Expr:
    node.set("format", _format_string(node.args.get("format"), parsing=True))
    return node


def current_datetime(node: exp.Expr) -> exp.Expr:
    zone = node.this if isinstance(node, exp.CurrentDatetime) else None
    now = exp.CurrentTimestamp()
    if zone is not None:
        return exp.AtTimeZone(this=now, zone=zone)
    return cast(now, "TIMESTAMP")


def _time_trunc(node: exp.TimeTrunc) -> exp.Expr:
    # DuckDB cannot truncate a TIME; truncate it as a timestamp on 1970-01-01.
    on_epoch = exp.Add(this=cast(exp.Literal.string("1970-01-01"), "DATE"), expression=node.this)
    trunc = fn("date_trunc", exp.Literal.string(unit_name(node).lower()), on_epoch)
    return cast(trunc, "TIME")


REWRITES: dict[type, Callable[[exp.Expr], exp.Expr]] = {
    exp.Extract: _extract,
    exp.DateTrunc: _date_trunc,
    exp.DateAdd: _date_arith,
    exp.DateSub: _date_arith,
    exp.DateFromUnixDate: _date_from_unix_date,
    exp.TimestampDiff: _timestamp_diff,
    exp.DateDiff: _date_diff,
    exp.UnixToTime: _unix_to_time,
    exp.TimeToStr: _time_to_str,
    exp.StrToTime: _str_to_time,
    exp.ParseDatetime: _parse_datetime,
    exp.CurrentDatetime: current_datetime,
    exp.TimeTrunc: _time_trunc,
}
