"""AST rewrites for BigQuery constructs sqlglot does not translate to DuckDB faithfully.

Each rewrite works on the parsed BigQuery tree and produces nodes whose DuckDB rendering has
BigQuery's semantics (0-based offsets, Sunday weeks, INT64/FLOAT64 literal types, ...).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from sqlglot import exp

from . import (
    arrays,
    castformat,
    datetimes,
    formatting,
    intervals,
    jsonfns,
    ranges,
    scalars,
    setops,
)
from .bqtypes import NEEDS_TYPES, inherit, is_type, type_of
from .errors import SqlError, unsupported
from .nodes import cast, fn, storage_type

# SESSION_USER() has no meaning locally; a fixed, documented identity keeps queries stable.
SESSION_USER = "bigquery-emulator@localhost"

_Rewrite = Callable[[exp.Expr], exp.Expr]


def rewrite_functions(tree: exp.Expr, sql: str | None = None) -> exp.Expr:
    """Apply every rewrite (children before parents) and return the new tree. ``sql`` (the
    query text) lets a rewrite skip a walk the text shows it has nothing to do in."""
    _reject_unknown_functions(tree)
    if sql is None or "RESPECT" in sql.upper():
        scalars.percentiles_respecting_nulls(tree)
    jsonfns.lift_json_literals(tree, sql)
    tree = arrays.reorder_unpivots(tree)
    tree = arrays.using_columns_first(tree)
    tree = arrays.rewrite_unnest_offsets(tree)
    tree = arrays.rewrite_unnest_structs(tree)
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
    if new is not node:
        inherit(node, new)
        if parent is not None and arg_key:
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
}


def _reject_unknown_functions(tree: exp.Expr) -> None:
    known = _duckdb_functions()
    for node in tree.find_all(exp.Func):
        name = _NO_DUCKDB_EQUIVALENT.get(type(node).__name__)
        if name:
            raise unsupported(f"function {name}")
        if isinstance(node, exp.Anonymous) and not isinstance(node.parent, exp.NetFunc):
            fname = node.name
            if isinstance(node.parent, exp.Dot) and node.parent.expression is node:
                prefix = node.parent.this.sql("bigquery")
                if prefix.upper() != "HLL_COUNT":
                    raise unsupported(f"function {prefix}.{fname}")
                continue
            if fname.lower() not in known and fname.upper() not in _OWN_FUNCTIONS:
                raise unsupported(f"function {fname.upper()}")


_OWN_FUNCTIONS = {"IEEE_DIVIDE", "CURRENT_DATETIME", "NULLIFZERO", "ZEROIFNULL", "DATE_BUCKET",
                  "DATETIME_BUCKET", "TIMESTAMP_BUCKET", "RANGE", "RANGE_START", "RANGE_END",
                  "RANGE_CONTAINS", "RANGE_OVERLAPS", "RANGE_INTERSECT",
                  "GENERATE_RANGE_ARRAY"}  # fmt: skip

# --- literals and types --------------------------------------------------------------------

_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.IntDiv, exp.Mod)


def _literal(node: exp.Literal) -> exp.Expr:
    if node.is_string or isinstance(node.parent, (exp.DataTypeParam, exp.Interval)):
        return node
    if node.find_ancestor(exp.TableSample):  # TABLESAMPLE SYSTEM (10.5 PERCENT) takes a number
        return node
    text = node.this
    if re.search(r"[.eE]", text):
        # BigQuery's 2.5 is FLOAT64; DuckDB would type it DECIMAL.
        return cast(node, "DOUBLE")
    operand: exp.Expr = node
    while isinstance(operand.parent, (exp.Neg, exp.Paren)):  # -5, (5)
        operand = operand.parent
    parent = operand.parent
    if isinstance(parent, _ARITHMETIC):
        other = parent.expression if parent.this is operand else parent.this
        if not isinstance(other, exp.Column):
            # INT64 arithmetic: DuckDB types small literals INTEGER and would overflow at 2^31.
            return cast(node, "BIGINT")
    return node


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
    if t == T.STRUCT and any(isinstance(e, exp.DataType) for e in node.expressions):
        # STRUCT<INT64, STRING>: DuckDB needs field names; BigQuery's anonymous fields are
        # reached by position, so any names do
        node.set("expressions", [
            exp.ColumnDef(this=exp.to_identifier(f"_field_{i}"), kind=e)
            if isinstance(e, exp.DataType) else e
            for i, e in enumerate(node.expressions, 1)
        ])  # fmt: skip
        return node
    if t == T.RANGE:
        return ranges.struct_type(node)
    if t == T.INTERVAL and node.expressions:
        raise unsupported("INTERVAL type with fields")
    return node


# --- scalar functions ----------------------------------------------------------------------


def _farm_fingerprint(node: exp.FarmFingerprint) -> exp.Expr:
    # Not FarmHash: DuckDB's 64-bit hash(), shifted into the signed INT64 range. Stable for a
    # given DuckDB version, which is what tests comparing fingerprints need.
    arg = node.expressions[0] if node.expressions else node.this
    shifted = exp.Sub(
        this=cast(fn("hash", arg), "HUGEINT"),
        expression=exp.Literal.number(9223372036854775808),
    )
    return cast(exp.Paren(this=shifted), "BIGINT")


def _session_user(_node: exp.Expr) -> exp.Expr:
    return exp.Literal.string(SESSION_USER)


def _safe_func(node: exp.SafeFunc) -> exp.Expr:
    return fn("try", node.this)


def _safe_binary(op: type) -> _Rewrite:
    def rewrite(node: exp.Expr) -> exp.Expr:
        return fn("try", op(this=node.this, expression=node.expression))

    return rewrite


def _safe_negate(node: exp.Expr) -> exp.Expr:
    return fn("try", exp.Neg(this=node.this))


def _division(node: exp.Div) -> exp.Expr:
    # BigQuery raises on x / 0 (DuckDB would return inf/NaN); SAFE_DIVIDE is the NULL form.
    divisor = node.expression
    guarded = (
        exp.case()
        .when(
            exp.EQ(this=divisor.copy(), expression=exp.Literal.number(0)),
            fn("error", exp.Literal.string("division by zero")),
        )
        .else_(divisor)
    )
    node.set("expression", guarded)
    numeric = [k for k in ("BIGNUMERIC", "NUMERIC") if is_type(node.this, k)
               or is_type(divisor, k)]  # fmt: skip
    if numeric and not (is_type(node.this, "FLOAT64") or is_type(divisor, "FLOAT64")):
        return cast(node, storage_type(numeric[0]))  # NUMERIC / NUMERIC stays NUMERIC
    return node


def _anonymous(node: exp.Anonymous) -> exp.Expr:
    name = node.name.upper()
    args = node.expressions
    if name == "IEEE_DIVIDE" and len(args) == 2:
        return exp.Div(this=cast(args[0], "DOUBLE"), expression=cast(args[1], "DOUBLE"))
    if name in ("DATE_BUCKET", "DATETIME_BUCKET", "TIMESTAMP_BUCKET") and len(args) in (2, 3):
        # buckets of bucket_width from an origin (default 1950-01-01, as in BigQuery)
        origin = args[2] if len(args) == 3 else cast(exp.Literal.string("1950-01-01"), "DATE")
        kind = {"DATE_BUCKET": "DATE", "DATETIME_BUCKET": "TIMESTAMP"}.get(name, "TIMESTAMPTZ")
        bucket = fn("time_bucket", args[1], args[0], cast(origin, kind))
        return cast(bucket, kind)
    if name == "NULLIFZERO" and len(args) == 1:
        return exp.Nullif(this=args[0], expression=exp.Literal.number(0))
    if name == "ZEROIFNULL" and len(args) == 1:
        return exp.Coalesce(this=args[0], expressions=[exp.Literal.number(0)])
    converted = ranges.rewrite_call(name, args)
    if converted is not None:
        return converted
    if name == "CURRENT_DATETIME":
        zone = args[0] if args else None
        node = exp.CurrentDatetime(this=zone) if zone is not None else exp.CurrentDatetime()
        return datetimes.current_datetime(node)
    return node


def _substring(node: exp.Substring) -> exp.Expr:
    """BigQuery SUBSTR: position 0 means 1, and a negative position before the start means 1.

    DuckDB counts position 0 (and far-negative positions) as outside the string."""
    start = node.args.get("start")
    if start is None:
        return node
    length = node.args.get("length")
    if length is not None and not (isinstance(length, exp.Literal) and length.is_int):
        negative = exp.LT(this=length.copy(), expression=exp.Literal.number(0))
        message = exp.Literal.string("Third argument in SUBSTR() cannot be negative")
        node.set("length", exp.case().when(negative, cast(fn("bq_fail", message), "BIGINT"))
                 .else_(length))  # fmt: skip
    elif _int_value(length) is not None and _int_value(length) < 0:
        message = exp.Literal.string(f"Third argument in SUBSTR() cannot be negative: {length}")
        node.set("length", cast(fn("bq_fail", message), "BIGINT"))
    if is_type(node.this, "BYTES"):
        length = node.args.get("length") or fn("octet_length", node.this.copy())
        return fn("bq_bytes_substr", node.this, start, length)
    literal = _int_value(start)
    if literal is not None and literal > 0:
        return node
    if literal == 0:
        node.set("start", exp.Literal.number(1))
        return node
    too_far = exp.LT(this=start.copy(), expression=exp.Neg(this=fn("length", node.this.copy())))
    fixed = exp.case()
    if literal is None:
        fixed = fixed.when(
            exp.EQ(this=start.copy(), expression=exp.Literal.number(0)), exp.Literal.number(1)
        )
    fixed = fixed.when(too_far, exp.Literal.number(1)).else_(start.copy())
    node.set("start", fixed)
    return node


def _int_value(node: exp.Expr) -> int | None:
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_int:
        return -int(node.this.this)
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.BIGINT:
        return _int_value(node.this)
    return None


def _byte_length(node: exp.Expr) -> exp.Expr:
    # strlen counts UTF-8 bytes of a STRING; octet_length counts BYTES. TRY_CAST keeps the branch
    # that does not apply from failing (e.g. 'é' as BLOB) when DuckDB folds constants.
    value = node.this
    is_blob = exp.EQ(this=fn("typeof", value.copy()), expression=exp.Literal.string("BLOB"))
    blob_length = fn("octet_length", exp.TryCast(this=value.copy(), to=exp.DataType.build("BLOB")))
    text = exp.TryCast(this=value.copy(), to=exp.DataType.build("VARCHAR"))
    return exp.case().when(is_blob, blob_length).else_(fn("strlen", text))


def _int32_args(*keys: str) -> Callable[[exp.Expr], exp.Expr]:
    """DuckDB declares some counts as INTEGER and will not narrow an INT64 argument to it."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        for key in keys:
            values = node.args.get(key)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, exp.Expr) and not (
                    isinstance(value, exp.Literal) and value.is_int
                ):
                    value.replace(cast(value.copy(), "INTEGER"))
        return node

    return rewrite


def _like(node: exp.Like) -> exp.Expr:
    quantified = node.expression
    if isinstance(quantified, (exp.Any, exp.All)) and isinstance(quantified.this,
                                                                 (exp.Subquery, exp.Unnest)):  # fmt: skip
        return _like_quantified(node, quantified)
    # BigQuery's LIKE treats backslash as the escape character; DuckDB's has none by default.
    if is_type(node.this, "BYTES"):  # BYTES LIKE BYTES: compare their escaped text
        node.set("this", cast(node.this, "VARCHAR"))
        node.set("expression", cast(node.expression, "VARCHAR"))
    pattern = node.expression
    if isinstance(node.parent, exp.Escape):
        return node
    if isinstance(pattern, exp.Literal) and pattern.is_string and "\\" not in pattern.this:
        return node
    return exp.Escape(this=node, expression=exp.Literal.string("\\"))


def _like_quantified(node: exp.Like, quantified: exp.Any | exp.All) -> exp.Expr:
    """``x LIKE ANY|ALL (subquery)`` / ``UNNEST(array)``: the patterns as a list, each tested
    with BigQuery's LIKE; NULL when x is NULL (DuckDB knows only pattern lists)."""
    source = quantified.this
    if isinstance(source, exp.Unnest):
        patterns = source.expressions[0]
    else:
        patterns = exp.Array(expressions=[source.this])
    test = _like(exp.Like(this=node.this.copy(), expression=exp.column("__bq_pattern")))
    tested = fn("list_transform", patterns,
                exp.Lambda(this=test, expressions=[exp.to_identifier("__bq_pattern")]))  # fmt: skip
    combined = fn("list_bool_or" if isinstance(quantified, exp.Any) else "list_bool_and", tested)
    empty = exp.Literal.string("FALSE" if isinstance(quantified, exp.Any) else "TRUE")
    answer = exp.case().when(exp.EQ(this=fn("len", tested.copy()), expression=exp.Literal.number(0)),
                             cast(empty.copy(), "BOOLEAN")).else_(combined)  # fmt: skip
    return exp.case().when(exp.Is(this=node.this.copy(), expression=exp.null()),
                           exp.null()).else_(answer)  # fmt: skip


def _struct(node: exp.Struct) -> exp.Expr:
    # An anonymous STRUCT(x, y) written into a table must fill a named STRUCT column by
    # position, as BigQuery coerces it; DuckDB only does that for ROW(...).
    named = (exp.PropertyEQ, exp.Alias, exp.Slice, exp.EQ)
    if any(isinstance(e, named) for e in node.expressions):
        return node
    if node.find_ancestor(exp.Values, exp.Update, exp.Merge) is None:
        return node
    return fn("row", *node.expressions)


# Expressions that are FLOAT64 whatever their input (DuckDB's DOUBLE).
_FLOAT_RESULTS = (exp.Div, exp.Avg, exp.Sqrt, exp.Pow, exp.Ln, exp.Log, exp.Exp, exp.Stddev,
                  exp.StddevPop, exp.StddevSamp, exp.Variance, exp.VariancePop, exp.Rand)  # fmt: skip


def _is_float(node: exp.Expr) -> bool:
    if isinstance(node, (exp.Paren, exp.Neg)):
        return _is_float(node.this)
    if isinstance(node, exp.Cast):
        return node.to.this in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT)
    return isinstance(node, _FLOAT_RESULTS)


def _is_safe(node: exp.Expr) -> bool:
    """SAFE_CAST (sqlglot's TryCast, or a Cast marked safe)."""
    return isinstance(node, exp.TryCast) or bool(node.args.get("safe"))


def _cast_check(node: exp.Cast) -> exp.Expr:
    if node.args.get("format") is not None:
        converted = castformat.cast_with_format(node)
        return fn("try", converted) if _is_safe(node) else converted
    interval = intervals.CAST(node)
    if interval is not None:
        return interval
    element = ranges.element_of(node.to)
    if element is not None:
        source = node.this.this if isinstance(node.this, exp.Paren) else node.this
        if ranges.element_of(node.this) is not None or isinstance(source, exp.Placeholder):
            return node  # already a RANGE (a RANGE query parameter is bound as the STRUCT)
        return ranges.from_string(node.this, element, safe=_is_safe(node))
    target = node.to.this
    from_string = _is_string(node.this) or is_type(node.this, "STRING")
    if from_string and target in (exp.DataType.Type.BIGINT, exp.DataType.Type.BOOLEAN):
        name = "bq_string_to_int64" if target == exp.DataType.Type.BIGINT else "bq_string_to_bool"
        call = fn(name, node.this)
        return fn("try", call) if _is_safe(node) else call
    if target == exp.DataType.Type.TIME and is_type(node.this, "TIMESTAMP"):
        node.set("this", cast(node.this, "TIMESTAMP"))
    # FLOAT64 -> INT64 rounds half away from zero in BigQuery; DuckDB rounds half to even.
    if target == exp.DataType.Type.BIGINT and _is_float(node.this):
        node.set("this", fn("round", node.this))
    if target in (exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR):
        kind = type_of(node.this)
        if kind is None and _is_float(node.this):
            kind = exp.DataType.build("DOUBLE")
        text = formatting.to_string(node.this, kind)
        if text is not None:
            return fn("try", text) if _is_safe(node) else text
    if target in (exp.DataType.Type.VARBINARY, exp.DataType.Type.BINARY, exp.DataType.Type.BLOB):
        if is_type(node.this, "STRING") or _is_string(node.this):
            return fn("encode", node.this)
    return node


def _is_string(node: exp.Expr) -> bool:
    if isinstance(node, exp.Literal):
        return node.is_string
    if isinstance(node, exp.Cast):
        return node.to.this in (exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR)
    return False


def _json_extract(node: exp.Expr) -> exp.Expr:
    # JSON_QUERY/JSON_EXTRACT of a STRING is a STRING in BigQuery (JSON only for JSON input),
    # and a JSON null found in a STRING is SQL NULL.
    if (_is_string(node.this) or is_type(node.this, "STRING")) and not isinstance(
        node.parent, exp.Cast
    ):
        return exp.Nullif(this=cast(node, "VARCHAR"), expression=exp.Literal.string("null"))
    return node


_REWRITES: dict[type, Callable[[exp.Expr], exp.Expr]] = {
    exp.Literal: _literal,
    exp.DataType: _data_type,
    exp.FarmFingerprint: _farm_fingerprint,
    exp.SessionUser: _session_user,
    exp.Format: formatting.format_call,
    exp.SafeFunc: _safe_func,
    exp.SafeAdd: _safe_binary(exp.Add),
    exp.SafeSubtract: _safe_binary(exp.Sub),
    exp.SafeMultiply: _safe_binary(exp.Mul),
    exp.SafeNegate: _safe_negate,
    exp.Div: _division,
    exp.Anonymous: _anonymous,
    exp.Struct: _struct,
    exp.Like: _like,
    exp.ByteLength: _byte_length,
    exp.Substring: _substring,
    exp.Pad: _int32_args("expression"),
    exp.Round: _int32_args("decimals"),
    exp.Trunc: _int32_args("decimals"),
    exp.Chr: _int32_args("expressions"),
    exp.Cast: _cast_check,
    exp.JSONExtract: _json_extract,
    exp.TryCast: _cast_check,
}
_REWRITES.update(datetimes.REWRITES)
_REWRITES.update(arrays.REWRITES)
_REWRITES.update(scalars.REWRITES)
_REWRITES.update(jsonfns.REWRITES)
_REWRITES.update(intervals.REWRITES)
_REWRITES.update(setops.REWRITES)


def _bracket(node: exp.Bracket) -> exp.Expr:
    return (jsonfns.json_subscript(node) or _struct_subscript(node)
            or arrays.REWRITES[exp.Bracket](node))  # fmt: skip


def _is_struct(node: exp.Expr) -> bool:
    if isinstance(node, exp.Struct):
        return True
    if isinstance(node, exp.Cast):
        return node.to.this == exp.DataType.Type.STRUCT and ranges.element_of(node.to) is None
    return False


def _struct_subscript(node: exp.Bracket) -> exp.Expr | None:
    """``s[0]`` / ``s[OFFSET(0)]`` / ``s[ORDINAL(1)]`` of a STRUCT: its field at that position
    (BigQuery takes only constant positions there)."""
    if not _is_struct(node.this) or len(node.expressions) != 1:
        return None
    index = node.expressions[0]
    if not (isinstance(index, exp.Literal) and index.is_int):
        raise SqlError("A STRUCT field subscript must be a constant integer")
    position = int(index.this) + 1 - (node.args.get("offset") or 0)
    width = len(node.this.expressions) if isinstance(node.this, exp.Struct) else len(
        node.this.to.expressions)  # fmt: skip
    if not 1 <= position <= width:
        if node.args.get("safe"):
            return exp.null()
        raise SqlError(f"Field index {index.this} is out of bounds for a STRUCT of {width} fields")
    return fn("struct_extract_at", node.this, exp.Literal.number(position))


def _column(node: exp.Column) -> exp.Expr:
    return jsonfns.json_field(node) or node


def _dot(node: exp.Dot) -> exp.Expr:
    return jsonfns.json_dot(node) or scalars.REWRITES[exp.Dot](node)


_REWRITES[exp.Bracket] = _bracket
_REWRITES[exp.Column] = _column
_REWRITES[exp.Dot] = _dot


def _pad_or_bytes(node: exp.Pad) -> exp.Expr:
    new = scalars.REWRITES[exp.Pad](node)
    return _int32_args("expression")(node) if new is node else new


_REWRITES[exp.Pad] = _pad_or_bytes
NEEDS_TYPES.update({exp.Substring, exp.Cast, exp.TryCast, exp.JSONExtract, exp.Div, exp.Like})
