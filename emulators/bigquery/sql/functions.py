"""AST rewrites for BigQuery constructs sqlglot does not translate to DuckDB faithfully.

Each rewrite works on the parsed BigQuery tree and produces nodes whose DuckDB rendering has
BigQuery's semantics (0-based offsets, Sunday weeks, INT64/FLOAT64 literal types, ...).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from sqlglot import exp

from .errors import unsupported

# SESSION_USER() has no meaning locally; a fixed, documented identity keeps queries stable.
SESSION_USER = "bigquery-emulator@localhost"

_Rewrite = Callable[[exp.Expr], exp.Expr]


def rewrite_functions(tree: exp.Expr) -> exp.Expr:
    """Apply every rewrite (children before parents) and return the new tree."""
    _reject_unknown_functions(tree)
    tree = _rewrite_unnest_offsets(tree)
    return _rewrite_bottom_up(tree)


def _rewrite_bottom_up(node: exp.Expr) -> exp.Expr:
    # sqlglot's transform() is top-down and skips the inside of replaced nodes; rewrites here
    # wrap their input (e.g. CAST(DATE_ADD(...) AS DATE)), so children must be done first.
    for child in list(node.iter_expressions()):
        _rewrite_bottom_up(child)
    rewrite = _REWRITES.get(type(node))
    if rewrite is None:
        return node
    parent, arg_key, index = node.parent, node.arg_key, node.index
    new = rewrite(node)
    if new is not node and parent is not None and arg_key:
        parent.set(arg_key, new, index)
    return new


@functools.cache
def _duckdb_functions() -> frozenset[str]:
    import duckdb

    with duckdb.connect() as con:
        names = con.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()
    return frozenset(name.lower() for (name,) in names)


# BigQuery functions sqlglot knows but renders as calls DuckDB does not have.
_NO_DUCKDB_EQUIVALENT: dict[str, str] = {
    "RangeBucket": "RANGE_BUCKET",
    "NetFunc": "NET.*",
    "LaxBool": "LAX_BOOL",
    "LaxInt64": "LAX_INT64",
    "LaxFloat64": "LAX_FLOAT64",
    "LaxString": "LAX_STRING",
    "CodePointsToString": "CODE_POINTS_TO_STRING",
    "ToCodePoints": "TO_CODE_POINTS",
    "Normalize": "NORMALIZE",
    "Soundex": "SOUNDEX",
}


def _reject_unknown_functions(tree: exp.Expr) -> None:
    known = _duckdb_functions()
    for node in tree.find_all(exp.Func):
        name = _NO_DUCKDB_EQUIVALENT.get(type(node).__name__)
        if name:
            raise unsupported(f"function {name}")
        if isinstance(node, exp.Anonymous):
            fname = node.name
            if isinstance(node.parent, exp.Dot) and node.parent.expression is node:
                raise unsupported(f"function {node.parent.this.sql('bigquery')}.{fname}")
            if fname.lower() not in known and fname.upper() not in _OWN_FUNCTIONS:
                raise unsupported(f"function {fname.upper()}")


_OWN_FUNCTIONS = {"IEEE_DIVIDE", "CURRENT_DATETIME"}


def _fn(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast(node: exp.Expr, type_sql: str) -> exp.Cast:
    return exp.Cast(this=node, to=exp.DataType.build(type_sql, dialect="duckdb"))


def _unit_name(node: exp.Expr) -> str:
    unit = node.args.get("unit")
    if unit is None:
        return "DAY"
    if isinstance(unit, exp.WeekStart):
        return f"WEEK({unit.name.upper()})"
    return unit.name.upper()


# --- literals and types --------------------------------------------------------------------

_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.IntDiv, exp.Mod)


def _literal(node: exp.Literal) -> exp.Expr:
    if node.is_string or isinstance(node.parent, (exp.DataTypeParam, exp.Interval)):
        return node
    text = node.this
    if re.search(r"[.eE]", text):
        # BigQuery's 2.5 is FLOAT64; DuckDB would type it DECIMAL.
        return _cast(node, "DOUBLE")
    parent = node.parent
    if isinstance(parent, _ARITHMETIC):
        other = parent.expression if parent.this is node else parent.this
        if not isinstance(other, exp.Column):
            # INT64 arithmetic: DuckDB types small literals INTEGER and would overflow at 2^31.
            return _cast(node, "BIGINT")
    return node


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


_INT_TYPES = {
    exp.DataType.Type.INT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.BIGINT,
}


def _data_type(node: exp.DataType) -> exp.Expr:
    t = node.this
    T = exp.DataType.Type
    if t in _INT_TYPES and t != T.BIGINT:
        return exp.DataType.build("BIGINT")
    if t == T.DECIMAL and not node.expressions:
        return exp.DataType.build(storage_type("NUMERIC"), dialect="duckdb")
    if t == T.BIGDECIMAL:
        return exp.DataType.build(storage_type("BIGNUMERIC"), dialect="duckdb")
    if t == T.GEOGRAPHY:
        return exp.DataType.build(storage_type("GEOGRAPHY"), dialect="duckdb")
    if t in (T.TEXT, T.VARCHAR, T.BINARY, T.VARBINARY) and node.expressions:
        return exp.DataType(this=t)
    if t == T.RANGE:
        raise unsupported("RANGE type")
    if t == T.INTERVAL and node.expressions:
        raise unsupported("INTERVAL type with fields")
    return node


# --- aggregates ----------------------------------------------------------------------------


def _array_agg(node: exp.ArrayAgg) -> exp.Expr:
    limit = node.this
    if not isinstance(limit, exp.Limit) or isinstance(node.parent, exp.IgnoreNulls):
        return node
    # DuckDB has no LIMIT inside aggregates: aggregate everything, then slice.
    node.set("this", limit.this)
    return _fn("list_slice", node, exp.Literal.number(1), limit.expression)


def _ignore_nulls(node: exp.IgnoreNulls) -> exp.Expr:
    inner = node.this
    if isinstance(inner, exp.ArrayAgg) and isinstance(inner.this, exp.Limit):
        limit = inner.this
        inner.set("this", limit.this)
        return _fn("list_slice", node, exp.Literal.number(1), limit.expression)
    return node


def _group_concat(node: exp.GroupConcat) -> exp.Expr:
    limit = node.this
    if not isinstance(limit, exp.Limit):
        return node
    sep = node.args.get("separator") or exp.Literal.string(",")
    agg = exp.ArrayAgg(this=limit.this)
    sliced = _fn("list_slice", agg, exp.Literal.number(1), limit.expression)
    return _fn("array_to_string", sliced, sep)


# --- scalar functions ----------------------------------------------------------------------


def _farm_fingerprint(node: exp.FarmFingerprint) -> exp.Expr:
    # Not FarmHash: DuckDB's 64-bit hash(), shifted into the signed INT64 range. Stable for a
    # given DuckDB version, which is what tests comparing fingerprints need.
    arg = node.expressions[0] if node.expressions else node.this
    shifted = exp.Sub(
        this=_cast(_fn("hash", arg), "HUGEINT"),
        expression=exp.Literal.number(9223372036854775808),
    )
    return _cast(exp.Paren(this=shifted), "BIGINT")


def _session_user(_node: exp.Expr) -> exp.Expr:
    return exp.Literal.string(SESSION_USER)


def _format(node: exp.Format) -> exp.Expr:
    fmt = node.this
    if isinstance(fmt, exp.Literal) and fmt.is_string:
        # %t/%T (SQL text of a value) have no printf equivalent; %s is the closest.
        fmt = exp.Literal.string(re.sub(r"%([tT])", "%s", fmt.this))
    return _fn("printf", fmt, *node.expressions)


def _safe_func(node: exp.SafeFunc) -> exp.Expr:
    return _fn("try", node.this)


def _safe_binary(op: type) -> _Rewrite:
    def rewrite(node: exp.Expr) -> exp.Expr:
        return _fn("try", op(this=node.this, expression=node.expression))

    return rewrite


def _safe_negate(node: exp.Expr) -> exp.Expr:
    return _fn("try", exp.Neg(this=node.this))


# --- dates and times -----------------------------------------------------------------------

_DAY_PARTS = {"DAYOFWEEK": "dayofweek", "DAYOFYEAR": "dayofyear"}


def _extract(node: exp.Extract) -> exp.Expr:
    part = node.this
    value = node.expression
    name = part.name.upper() if not isinstance(part, exp.WeekStart) else "WEEK(X)"
    if name == "DAYOFWEEK":  # BigQuery: 1 = Sunday .. 7; DuckDB: 0 = Sunday
        return exp.Paren(
            this=exp.Add(this=_fn("dayofweek", value), expression=exp.Literal.number(1))
        )
    if name == "WEEK":  # Sunday-based week number, 0 before the first Sunday
        return _cast(_fn("strftime", value, exp.Literal.string("%U")), "BIGINT")
    if name == "WEEK(X)":
        start = part.name.upper()
        if start == "SUNDAY":
            return _cast(_fn("strftime", value, exp.Literal.string("%U")), "BIGINT")
        if start == "MONDAY":
            return _cast(_fn("strftime", value, exp.Literal.string("%W")), "BIGINT")
        raise unsupported(f"EXTRACT(WEEK({start}))")
    if name == "ISOWEEK":
        return _fn("week", value)
    if name == "ISOYEAR":
        return _fn("isoyear", value)
    if name == "DATE":
        return _cast(value, "DATE")
    if name == "TIME":
        return _cast(value, "TIME")
    if name == "DATETIME":
        return _cast(value, "TIMESTAMP")
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
    unit = _unit_name(node)
    value = node.this
    if unit in _BUCKETS:
        return _fn("time_bucket", exp.Interval(this=exp.Literal.string(_BUCKETS[unit])), value)
    if unit in _WEEK_ORIGINS:
        origin = exp.Literal.string(_WEEK_ORIGINS[unit])
        return _fn(
            "time_bucket",
            exp.Interval(this=exp.Literal.string("7 days")),
            value,
            _cast(origin, "DATE"),
        )
    if unit == "ISOYEAR":
        raise unsupported("DATE_TRUNC(..., ISOYEAR)")
    return node


def _date_arith(node: exp.Expr) -> exp.Expr:
    # DuckDB's DATE + INTERVAL yields TIMESTAMP; BigQuery's DATE_ADD/DATE_SUB return DATE.
    if node.parent is not None and isinstance(node.parent, exp.Cast):
        return node
    return _cast(node, "DATE")


def _date_from_unix_date(node: exp.DateFromUnixDate) -> exp.Expr:
    return _cast(
        exp.Add(this=_cast(exp.Literal.string("1970-01-01"), "DATE"), expression=node.this),
        "DATE",
    )


def _timestamp_diff(node: exp.TimestampDiff) -> exp.Expr:
    # BigQuery counts whole elapsed units (DuckDB date_sub), not crossed boundaries.
    unit = _unit_name(node)
    return _fn("date_sub", exp.Literal.string(unit.lower()), node.expression, node.this)


def _date_diff(node: exp.DateDiff) -> exp.Expr:
    unit = _unit_name(node)
    if unit == "DAY" or unit not in _WEEK_ORIGINS:
        return node
    origin = _cast(exp.Literal.string(_WEEK_ORIGINS[unit]), "DATE")
    week = exp.Interval(this=exp.Literal.string("7 days"))

    def bucket(v: exp.Expr) -> exp.Expr:
        return _cast(_fn("time_bucket", week, v, origin), "DATE")

    days = _fn("date_diff", exp.Literal.string("day"), bucket(node.expression), bucket(node.this))
    return exp.IntDiv(this=days, expression=exp.Literal.number(7))


def _unix_to_time(node: exp.UnixToTime) -> exp.Expr:
    scale = node.args.get("scale")
    if scale is None or scale.name in ("0", ""):
        return node
    if scale.name == "3":
        return _cast(_fn("epoch_ms", node.this), "TIMESTAMPTZ")
    if scale.name == "6":
        return _cast(_fn("make_timestamp", node.this), "TIMESTAMPTZ")
    return node


# BigQuery format elements DuckDB's strftime/strptime lack.
_FORMAT_ELEMENTS = [
    (r"%E\*S", "%S.%f"),
    (r"%E6S", "%S.%f"),
    (r"%E3S", "%S.%g"),
    (r"%E([1-9])S", "%S.%f"),
    (r"%Ez", "%z"),
    (r"%Q", ""),
    (r"%k", "%-H"),
    (r"%l", "%-I"),
    (r"%e", "%-d"),
]


def _format_string(node: exp.Expr | None) -> exp.Expr | None:
    if isinstance(node, exp.Literal) and node.is_string:
        text = node.this
        for pattern, repl in _FORMAT_ELEMENTS:
            text = re.sub(pattern, repl, text)
        return exp.Literal.string(text)
    return node


def _time_to_str(node: exp.TimeToStr) -> exp.Expr:
    fmt = _format_string(node.args.get("format"))
    value = node.this
    if isinstance(value, exp.TsOrDsToTime):  # FORMAT_TIME: DuckDB's strftime needs a timestamp
        epoch = _cast(exp.Literal.string("1970-01-01"), "DATE")
        return _fn("strftime", exp.Add(this=epoch, expression=value.this), fmt)
    zone = node.args.get("zone")
    if zone is not None:
        if isinstance(value, exp.TsOrDsToTimestamp):
            value = value.this
        value = exp.AtTimeZone(this=_cast(value, "TIMESTAMPTZ"), zone=zone)
        return _fn("strftime", value, fmt)
    node.set("format", fmt)
    return node


def _str_to_time(node: exp.StrToTime) -> exp.Expr:
    node.set("format", _format_string(node.args.get("format")))
    if isinstance(node.parent, exp.Cast):
        return node
    # PARSE_TIMESTAMP yields TIMESTAMP (UTC) - DuckDB's TIMESTAMPTZ, not a naive timestamp.
    zone = node.args.get("zone")
    if zone is not None:
        node.set("zone", None)
        return exp.AtTimeZone(this=node, zone=zone)
    return _cast(node, "TIMESTAMPTZ")


def _parse_datetime(node: exp.Expr) -> exp.Expr:
    node.set("format", _format_string(node.args.get("format")))
    return node


def _current_datetime(node: exp.Expr) -> exp.Expr:
    zone = node.this if isinstance(node, exp.CurrentDatetime) else None
    now = exp.CurrentTimestamp()
    if zone is not None:
        return exp.AtTimeZone(this=now, zone=zone)
    return _cast(now, "TIMESTAMP")


def _time_trunc(node: exp.TimeTrunc) -> exp.Expr:
    # DuckDB cannot truncate a TIME; truncate it as a timestamp on 1970-01-01.
    on_epoch = exp.Add(this=_cast(exp.Literal.string("1970-01-01"), "DATE"), expression=node.this)
    trunc = _fn("date_trunc", exp.Literal.string(_unit_name(node).lower()), on_epoch)
    return _cast(trunc, "TIME")


def _division(node: exp.Div) -> exp.Expr:
    # BigQuery raises on x / 0 (DuckDB would return inf/NaN); SAFE_DIVIDE is the NULL form.
    divisor = node.expression
    guarded = (
        exp.case()
        .when(
            exp.EQ(this=divisor.copy(), expression=exp.Literal.number(0)),
            _fn("error", exp.Literal.string("division by zero")),
        )
        .else_(divisor)
    )
    node.set("expression", guarded)
    return node


def _anonymous(node: exp.Anonymous) -> exp.Expr:
    name = node.name.upper()
    args = node.expressions
    if name == "IEEE_DIVIDE" and len(args) == 2:
        return exp.Div(this=_cast(args[0], "DOUBLE"), expression=_cast(args[1], "DOUBLE"))
    if name == "CURRENT_DATETIME":
        zone = args[0] if args else None
        node = exp.CurrentDatetime(this=zone) if zone is not None else exp.CurrentDatetime()
        return _current_datetime(node)
    return node


def _bracket(node: exp.Bracket) -> exp.Expr:
    """arr[OFFSET(i)] / [ORDINAL(i)] / [SAFE_...] / arr[i] with BigQuery's semantics.

    sqlglot shifts only literal indexes to DuckDB's 1-based lists (``arr[OFFSET(i)]`` would
    become ``arr[i]``), and DuckDB returns NULL out of range and counts negative indexes from
    the end, where BigQuery raises (or returns NULL for SAFE_)."""
    if node.args.get("json_access") or len(node.expressions) != 1:
        return node
    index = node.expressions[0]
    if isinstance(index, exp.Literal) and index.is_string:
        return node  # JSON / map key access
    base = node.args.get("offset") or 0
    if isinstance(index, exp.Literal) and index.is_int:
        position: exp.Expr = exp.Literal.number(int(index.this) + 1 - base)
    elif base == 1:
        position = index
    else:
        position = exp.Paren(this=exp.Add(this=index, expression=exp.Literal.number(1)))
    array = node.this
    access = exp.Bracket(this=array.copy(), expressions=[position.copy()], offset=1)
    if isinstance(position, exp.Literal) and int(position.this) >= 1 and node.args.get("safe"):
        return access
    in_range = exp.Between(
        this=position.copy(), low=exp.Literal.number(1), high=_fn("len", array.copy())
    )
    if node.args.get("safe"):
        return exp.case().when(in_range, access)
    message = exp.DPipe(
        this=exp.DPipe(
            this=exp.Literal.string("Array index "),
            expression=_cast(index.copy(), "VARCHAR"),
        ),
        expression=exp.Literal.string(" is out of bounds"),
    )
    is_null = exp.Or(
        this=exp.Is(this=array.copy(), expression=exp.Null()),
        expression=exp.Is(this=position.copy(), expression=exp.Null()),
    )
    return exp.case().when(is_null, exp.Null()).when(in_range, access).else_(_fn("error", message))


def _like(node: exp.Like) -> exp.Expr:
    # BigQuery's LIKE treats backslash as the escape character; DuckDB's has none by default.
    pattern = node.expression
    if isinstance(node.parent, exp.Escape):
        return node
    if isinstance(pattern, exp.Literal) and pattern.is_string and "\\" not in pattern.this:
        return node
    return exp.Escape(this=node, expression=exp.Literal.string("\\"))


def _struct(node: exp.Struct) -> exp.Expr:
    # An anonymous STRUCT(x, y) written into a table must fill a named STRUCT column by
    # position, as BigQuery coerces it; DuckDB only does that for ROW(...).
    named = (exp.PropertyEQ, exp.Alias, exp.Slice, exp.EQ)
    if any(isinstance(e, named) for e in node.expressions):
        return node
    if node.find_ancestor(exp.Values, exp.Update, exp.Merge) is None:
        return node
    return _fn("row", *node.expressions)


def _cast_check(node: exp.Cast) -> exp.Expr:
    if node.args.get("format") is not None:
        raise unsupported("CAST ... FORMAT")
    return node


# --- UNNEST ... WITH OFFSET ----------------------------------------------------------------


def _rewrite_unnest_offsets(tree: exp.Expr) -> exp.Expr:
    """UNNEST(a) AS x WITH OFFSET AS o -> lateral subquery with a 0-based ``o``.

    DuckDB only has 1-based WITH ORDINALITY, so the ordinality column is shifted.
    """
    counter = 0
    for unnest in list(tree.find_all(exp.Unnest)):
        offset = unnest.args.get("offset")
        if not offset or not isinstance(unnest.parent, (exp.From, exp.Join)):
            continue
        counter += 1
        alias = unnest.args.get("alias")
        columns = alias.columns if alias else []
        if not columns and unnest.args.get("explode_array"):
            raise unsupported("UNNEST of a STRUCT array WITH OFFSET without an alias")
        value_name = columns[0].name if columns else "_value"
        offset_name = offset.name if isinstance(offset, exp.Expr) else "offset"
        inner_alias = f"_u{counter}"
        inner = exp.Unnest(
            expressions=[e.copy() for e in unnest.expressions],
            alias=exp.TableAlias(
                this=exp.to_identifier(inner_alias),
                columns=[exp.to_identifier(value_name, quoted=True)],
            ),
            offset=exp.to_identifier(offset_name, quoted=True),
        )
        select = exp.select(
            exp.alias_(exp.column(value_name, inner_alias, quoted=True), value_name, quoted=True),
            exp.alias_(
                exp.Sub(
                    this=exp.column(offset_name, inner_alias, quoted=True),
                    expression=exp.Literal.number(1),
                ),
                offset_name,
                quoted=True,
            ),
        ).from_(inner)
        unnest.replace(select.subquery(f"_unnest{counter}"))
    return tree


_REWRITES: dict[type, _Rewrite] = {
    exp.Literal: _literal,
    exp.DataType: _data_type,
    exp.ArrayAgg: _array_agg,
    exp.IgnoreNulls: _ignore_nulls,
    exp.GroupConcat: _group_concat,
    exp.FarmFingerprint: _farm_fingerprint,
    exp.SessionUser: _session_user,
    exp.Format: _format,
    exp.SafeFunc: _safe_func,
    exp.SafeAdd: _safe_binary(exp.Add),
    exp.SafeSubtract: _safe_binary(exp.Sub),
    exp.SafeMultiply: _safe_binary(exp.Mul),
    exp.SafeNegate: _safe_negate,
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
    exp.CurrentDatetime: _current_datetime,
    exp.TimeTrunc: _time_trunc,
    exp.Div: _division,
    exp.Anonymous: _anonymous,
    exp.Struct: _struct,
    exp.Bracket: _bracket,
    exp.Like: _like,
    exp.Cast: _cast_check,
    exp.TryCast: _cast_check,
}
