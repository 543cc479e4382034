"""Rewrites of BigQuery functions whose DuckDB form needs a type, a Python function or a fix.

Each rewrite is a small pure function from the parsed BigQuery node to its DuckDB form, looked
up by node class in ``REWRITES`` (sqlglot's style). Calls to ``bq_*`` are the Python functions
of ``udfs.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from .bqtypes import NEEDS_TYPES, is_type
from .errors import unsupported
from .nodes import cast, fn, storage_type

_Rewrite = Callable[[exp.Expr], exp.Expr]


def _bytes(node: exp.Expr | None) -> bool:
    return is_type(node, "BYTES")


def _null() -> exp.Expr:
    return exp.Null()


def _udf(name: str) -> _Rewrite:
    """``F(x, ...)`` -> ``bq_<name>(x, ...)``, arguments in the node's argument order."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        return fn(name, *node.iter_expressions())

    return rewrite


def _unicode(node: exp.Unicode) -> exp.Expr:
    # BigQuery: UNICODE('') is 0 (DuckDB: -1)
    value = node.this
    return exp.case().when(exp.EQ(this=value.copy(), expression=exp.Literal.string("")),
                           exp.Literal.number(0)).else_(fn("unicode", value))  # fmt: skip


def _case_mapping(upper: bool) -> _Rewrite:
    """UPPER/LOWER: BYTES map ASCII letters only; STRINGs use Unicode's full case mapping
    (``straße`` -> ``STRASSE``), which DuckDB lacks, so non-ASCII text goes to Python."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        value = node.this
        if _bytes(value):
            return fn("bq_bytes_upper" if upper else "bq_bytes_lower", value)
        non_ascii = fn("regexp_matches", value.copy(), exp.Literal.string("[^\\x00-\\x7F]"))
        full = fn("bq_upper" if upper else "bq_lower", value.copy())
        return exp.case().when(non_ascii, full).else_(node)

    return rewrite


def _is_sparse(vector: exp.Expr) -> bool:
    """An ARRAY<STRUCT<key, value>> vector written as tuples or STRUCTs (columns: dense)."""
    if isinstance(vector, exp.Array) and vector.expressions:
        return all(isinstance(e, (exp.Tuple, exp.Struct)) for e in vector.expressions)
    return False


def _vector_distance(kind: str) -> _Rewrite:
    """COSINE_DISTANCE / EUCLIDEAN_DISTANCE of sparse vectors (key -> value; a missing key is
    0): keys and values are handed to Python, since DuckDB's list distances are dense."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        left, right = node.this, node.expression
        if not (_is_sparse(left) and _is_sparse(right)):
            return node
        parts = []
        for vector in (left, right):
            element = exp.column("__bq_e")
            keys = _lambda("__bq_e", cast(fn("struct_extract_at", element, exp.Literal.number(1)),
                                          "VARCHAR"))  # fmt: skip
            values = _lambda("__bq_e", cast(fn("struct_extract_at", element.copy(),
                                               exp.Literal.number(2)), "DOUBLE"))  # fmt: skip
            parts += [fn("list_transform", vector, keys),
                      fn("list_transform", vector.copy(), values)]  # fmt: skip
        return fn("bq_sparse_distance", *parts, exp.Literal.string(kind))

    return rewrite


def _chr(node: exp.Chr) -> exp.Expr:
    return fn("bq_chr", node.expressions[0])


def _farm_fingerprint(node: exp.FarmFingerprint) -> exp.Expr:
    arg = node.expressions[0] if node.expressions else node.this
    return fn("bq_farm_fingerprint_bytes" if _bytes(arg) else "bq_farm_fingerprint", arg)


def _to_code_points(node: exp.ToCodePoints) -> exp.Expr:
    return fn("bq_to_code_points_bytes" if _bytes(node.this) else "bq_to_code_points", node.this)


def _normalize(node: exp.Normalize) -> exp.Expr:
    form = node.args.get("form")
    name = form.name.upper() if isinstance(form, (exp.Var, exp.Column, exp.Identifier)) else "NFC"
    target = "bq_normalize_and_casefold" if node.args.get("is_casefold") else "bq_normalize"
    return fn(target, node.this, exp.Literal.string(name))


def _length(node: exp.Length) -> exp.Expr:
    return fn("octet_length", node.this) if _bytes(node.this) else node


def _left_right(name: str) -> _Rewrite:
    def rewrite(node: exp.Expr) -> exp.Expr:
        if _bytes(node.this):
            return fn(f"bq_bytes_{name}", node.this, node.expression)
        # BigQuery refuses a negative length (DuckDB counts it from the other end); bq_fail,
        # unlike DuckDB's own errors, is caught by SAFE.
        length = node.expression
        if isinstance(length, exp.Literal) and not isinstance(length.parent, exp.Neg):
            return node
        message = exp.Literal.string(f"{name.upper()} length must be non-negative")
        negative = exp.LT(this=length.copy(), expression=exp.Literal.number(0))
        return exp.case().when(negative, fn("bq_fail", message)).else_(node)

    return rewrite


def _pad(node: exp.Pad) -> exp.Expr:
    if not _bytes(node.this):
        return node
    name = "bq_bytes_lpad" if node.args.get("is_left") else "bq_bytes_rpad"
    pattern = node.args.get("fill_pattern") or exp.Literal.string(" ")
    if not _bytes(pattern):
        pattern = fn("encode", pattern)
    return fn(name, node.this, node.expression, pattern)


def _reverse(node: exp.Reverse) -> exp.Expr:
    return fn("bq_bytes_reverse", node.this) if _bytes(node.this) else node


def _trim(node: exp.Trim) -> exp.Expr:
    if not _bytes(node.this):
        return node
    chars = node.expression
    if chars is None:
        raise unsupported("TRIM of BYTES needs the bytes to trim")
    position = str(node.args.get("position") or "").upper()
    where = {"LEADING": "left", "TRAILING": "right"}.get(position, "both")
    return fn("bq_bytes_trim", node.this, chars, exp.Literal.string(where))


def _split(node: exp.Split) -> exp.Expr:
    if _bytes(node.this):
        return fn("bq_bytes_split", node.this, node.expression)
    return node


def _repeat(node: exp.Repeat) -> exp.Expr:
    if _bytes(node.this):
        return fn("bq_bytes_repeat", node.this, node.args["times"])
    return node


def _replace(node: exp.Replace) -> exp.Expr:
    if _bytes(node.this):
        return fn("bq_bytes_replace", node.this, node.expression, node.args["replacement"])
    return node


def _str_position(node: exp.StrPosition) -> exp.Expr:
    value, search = node.this, node.args.get("substr")
    if _bytes(value):
        return fn("bq_bytes_strpos", value, search)
    position, occurrence = node.args.get("position"), node.args.get("occurrence")
    if position is None and occurrence is None:
        return node
    return fn("bq_instr", value, search, position or exp.Literal.number(1),
              occurrence or exp.Literal.number(1))  # fmt: skip


def _bit_count(node: exp.BitwiseCount) -> exp.Expr:
    if _bytes(node.this):
        return fn("bq_bytes_bit_count", node.this)
    return cast(fn("bit_count", cast(node.this, "BIGINT")), "BIGINT")


def _bitwise(name: str, duckdb_op: type) -> _Rewrite:
    def rewrite(node: exp.Expr) -> exp.Expr:
        if _bytes(node.this) or _bytes(node.expression):
            return fn(f"bq_bytes_{name}", node.this, node.expression)
        return node

    return rewrite


def _bitwise_not(node: exp.BitwiseNot) -> exp.Expr:
    return fn("bq_bytes_not", node.this) if _bytes(node.this) else node


def _shift(direction: str) -> _Rewrite:
    # INT64 shifts are logical (no sign extension) and give 0 from 64 bits on, as in BigQuery
    def rewrite(node: exp.Expr) -> exp.Expr:
        if _bytes(node.this):
            return fn(f"bq_bytes_shift_{direction}", node.this, node.expression)
        return fn(f"bq_shift_{direction}", node.this, node.expression)

    return rewrite


def _dpipe(node: exp.DPipe) -> exp.Expr:
    if is_type(node.this, "ARRAY") or is_type(node.expression, "ARRAY"):
        return fn("list_concat", node.this, node.expression)
    typed = "BLOB" if _bytes(node.this) or _bytes(node.expression) else "VARCHAR"
    for side in (node.this, node.expression):
        if isinstance(side, exp.Null):  # 'a' || NULL is a NULL STRING
            side.replace(cast(exp.Null(), typed))
    return node


def _unix_floor(divisor: int) -> _Rewrite:
    # UNIX_MILLIS/UNIX_SECONDS drop finer precision rounding down (DuckDB would round)
    def rewrite(node: exp.Expr) -> exp.Expr:
        micros = fn("epoch_us", cast(node.this, "TIMESTAMPTZ"))
        return cast(fn("floor", exp.Div(this=micros, expression=exp.Literal.number(divisor))),
                    "BIGINT")  # fmt: skip

    return rewrite


def _count_if(node: exp.CountIf) -> exp.Expr:
    # COUNTIF counts TRUE rows and is 0 (not NULL) when there are none
    return exp.Count(this=exp.case().when(node.this, exp.Literal.number(1)))


def _net(node: exp.NetFunc) -> exp.Expr:
    inner = node.this
    name = inner.name if isinstance(inner, exp.Anonymous) else inner.meta.get("bigquery_name")
    args = list(inner.expressions) if isinstance(inner, exp.Anonymous) else list(
        inner.iter_expressions()
    )
    return fn(f"bq_net_{str(name or type(inner).__name__).lower()}", *args)


def _regexp_instr(node: exp.RegexpInstr) -> exp.Expr:
    one = exp.Literal.number(1)
    position = node.args.get("position") or one
    occurrence = node.args.get("occurrence") or one
    mode = node.args.get("option") or node.args.get("return_option") or exp.Literal.number(0)
    return fn("bq_regexp_instr", node.this, node.expression, position, occurrence, mode)


def _respect_nulls(node: exp.RespectNulls) -> exp.Expr:
    return node.this  # DuckDB's navigation functions respect NULLs by default


def _approx_quantiles(node: exp.ApproxQuantiles) -> exp.Expr:
    value, buckets = node.this, node.expression
    distinct = isinstance(value, exp.Distinct)
    if distinct and len(value.expressions) == 2:  # APPROX_QUANTILES(DISTINCT x, n)
        value, buckets = value.expressions
    if not (isinstance(buckets, exp.Literal) and buckets.is_int) or int(buckets.this) <= 0:
        raise unsupported("APPROX_QUANTILES needs a positive literal number of quantiles")
    n = int(buckets.this)
    points = exp.Array(expressions=[exp.Literal.number(i / n) for i in range(n + 1)])
    if not isinstance(node.parent, exp.RespectNulls):
        argument = exp.Distinct(expressions=[value]) if distinct else value
        return fn("quantile_disc", argument, points)
    # RESPECT NULLS: NULLs rank first, then the quantiles are picked as quantile_disc does
    collected = fn("list", exp.Distinct(expressions=[value]) if distinct else value)
    ordered = fn("list_sort", collected, exp.Literal.string("ASC"), exp.Literal.string("NULLS FIRST"))
    return fn("list_transform", points, _lambda("q", _nth_quantile(ordered, exp.column("q"))))


def _nth_quantile(ordered: exp.Expr, q: exp.Expr) -> exp.Expr:
    """The element of a sorted list at quantile q (the lower one, as quantile_disc picks)."""
    last = exp.paren(exp.Sub(this=fn("len", ordered.copy()), expression=exp.Literal.number(1)))
    index = cast(fn("floor", exp.Mul(this=q, expression=last)), "BIGINT")
    return fn("list_extract", ordered, exp.Add(this=index, expression=exp.Literal.number(1)))


def percentiles_respecting_nulls(tree: exp.Expr) -> None:
    """Rewrite every PERCENTILE_CONT/DISC(x, q RESPECT NULLS) OVER (...) of ``tree`` (before
    the bottom-up rewrites, which would drop RESPECT NULLS first)."""
    for node in list(tree.find_all(exp.Window)):
        new = _window_respect_nulls(node)
        if new is not node:
            node.replace(new)


def _window_respect_nulls(node: exp.Window) -> exp.Expr:
    """PERCENTILE_CONT/DISC(x, q RESPECT NULLS) OVER (...): NULLs rank first. Computed on the
    window's sorted values (``list(x) OVER (...)``); a NULL neighbour of an interpolation
    gives the other value, as BigQuery's documented results show."""
    inner = node.this
    if not (isinstance(inner, exp.RespectNulls)
            and isinstance(inner.this, (exp.PercentileCont, exp.PercentileDisc))):  # fmt: skip
        return node
    function = inner.this
    value, q = function.this, function.expression
    window = node.copy()
    window.set("this", fn("list", value))
    ordered = fn("list_sort", window, exp.Literal.string("ASC"), exp.Literal.string("NULLS FIRST"))
    if isinstance(function, exp.PercentileDisc):
        return _nth_quantile(ordered, q)
    last = exp.paren(exp.Sub(this=fn("len", ordered.copy()), expression=exp.Literal.number(1)))
    position = exp.paren(exp.Mul(this=cast(q.copy(), "DOUBLE"), expression=last))
    lower_index = exp.Add(this=cast(fn("floor", position.copy()), "BIGINT"), expression=exp.Literal.number(1))
    upper_index = exp.Add(this=cast(fn("ceil", position.copy()), "BIGINT"), expression=exp.Literal.number(1))
    lower = fn("list_extract", ordered.copy(), lower_index)
    upper = fn("list_extract", ordered.copy(), upper_index)
    fraction = exp.paren(exp.Sub(this=position.copy(), expression=fn("floor", position.copy())))
    between = exp.Add(this=cast(lower.copy(), "DOUBLE"), expression=exp.Mul(
        this=fraction, expression=exp.paren(exp.Sub(this=cast(upper.copy(), "DOUBLE"),
                                                    expression=cast(lower.copy(), "DOUBLE")))))  # fmt: skip
    return exp.case().when(exp.Is(this=lower.copy(), expression=exp.null()),
                           cast(upper, "DOUBLE")).else_(between)  # fmt: skip


def _approx_top_count(node: exp.ApproxTopK) -> exp.Expr:
    # exact counts, most frequent first: BigQuery's answer on inputs it counts exactly. NULL is
    # a value here too; DuckDB's histogram skips it, so its count is added.
    nulls = exp.Filter(this=exp.Count(this=exp.Star()),
                       expression=exp.Where(this=exp.Is(this=node.this.copy(), expression=exp.null())))  # fmt: skip
    null_entry = exp.Array(expressions=[exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier("key"), expression=exp.null()),
        exp.PropertyEQ(this=exp.to_identifier("value"), expression=nulls.copy()),
    ])])  # fmt: skip
    with_null = exp.case().when(exp.GT(this=nulls, expression=exp.Literal.number(0)), null_entry)
    entries = fn("list_concat", fn("map_entries", fn("histogram", node.this)), with_null)
    flipped = _lambda("e", exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier("c"), expression=exp.column("value", "e")),
        exp.PropertyEQ(this=exp.to_identifier("v"), expression=exp.column("key", "e")),
    ]))  # fmt: skip
    ordered = fn("list_sort", fn("list_transform", entries, flipped), exp.Literal.string("DESC"))
    return _top(ordered, node.expression, "count")


def _approx_top_sum(node: exp.ApproxTopSum) -> exp.Expr:
    # exact sums per value (NULL is a value; a sum of only NULL weights is NULL and ranks
    # last), largest first. Written with list lambdas because the value may be of any type;
    # the cost is (rows x distinct values) per group, fine for an emulator's data.
    pairs = exp.ArrayAgg(this=exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier("v"), expression=node.this),
        exp.PropertyEQ(this=exp.to_identifier("w"), expression=node.expression),
    ]))  # fmt: skip
    keys = fn("list_distinct", fn("list_transform", pairs,
                                  _lambda("e", exp.Array(expressions=[exp.column("v", "e")]))))  # fmt: skip
    key = fn("list_extract", exp.column("k"), exp.Literal.number(1))
    same = _lambda("e", exp.NullSafeEQ(this=exp.column("v", "e"), expression=key.copy()))
    total = fn("list_sum", fn("list_transform", fn("list_filter", pairs.copy(), same),
                              _lambda("e", exp.column("w", "e"))))  # fmt: skip
    summed = _lambda("k", exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier("n"), expression=exp.Not(this=exp.Paren(
            this=exp.Is(this=total.copy(), expression=exp.null())))),
        exp.PropertyEQ(this=exp.to_identifier("c"), expression=total),
        exp.PropertyEQ(this=exp.to_identifier("v"), expression=key),
    ]))  # fmt: skip
    ordered = fn("list_sort", fn("list_transform", keys, summed), exp.Literal.string("DESC"))
    return _top(ordered, node.args["count"], "sum")


def _top(ordered: exp.Expr, count: exp.Expr, name: str) -> exp.Expr:
    """The first ``count`` of a sorted list of {c, v} as BigQuery's STRUCT<value, NAME>."""
    top = fn("list_slice", ordered, exp.Literal.number(1), count)
    back = _lambda("e", exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier("value"), expression=exp.column("v", "e")),
        exp.PropertyEQ(this=exp.to_identifier(name), expression=exp.column("c", "e")),
    ]))  # fmt: skip
    return fn("list_transform", top, back)


def _lambda(param: str, body: exp.Expr) -> exp.Expr:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(param)])


def _array_concat_agg(node: exp.ArrayConcatAgg) -> exp.Expr:
    inner = node.this
    if isinstance(inner, exp.Limit):
        collected = exp.ArrayAgg(this=inner.this)
        return fn("flatten", fn("list_slice", collected, exp.Literal.number(1), inner.expression))
    return node


def _reciprocal(name: str, duckdb_fn: str) -> _Rewrite:
    """SEC, CSC, COT, SECH, CSCH, COTH: 1 / f(x), an error where f(x) is 0 (BigQuery's
    ``Floating point error``; NULL under SAFE.)."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        value = node.this
        denominator = fn(duckdb_fn, cast(value, "DOUBLE"))
        message = exp.Literal.string(f"Floating point error in function: {name}")
        zero = exp.EQ(this=denominator.copy(), expression=exp.Literal.number(0))
        quotient = exp.Div(this=exp.Literal.number(1.0), expression=denominator)
        return exp.case().when(zero, cast(fn("bq_fail", message), "DOUBLE")).else_(quotient)

    return rewrite


def _sign(node: exp.Sign) -> exp.Expr:
    if is_type(node.this, "FLOAT64"):  # SIGN(NaN) is NaN
        return exp.case().when(fn("isnan", node.this.copy()), node.this.copy()).else_(node)
    return node


def _range_bucket(node: exp.RangeBucket) -> exp.Expr:
    point, bounds = node.this, node.expression
    below = fn("list_filter", bounds, _lambda("b", exp.LTE(this=exp.column("b"),
                                                          expression=point.copy())))  # fmt: skip
    counted = fn("len", below)
    return exp.case().when(exp.Is(this=point, expression=exp.Null()), exp.Null()).else_(counted)


def _hll_count(node: exp.Dot) -> exp.Expr:
    """HLL_COUNT.*: exact sets as sketches (BigQuery's HLL++ bytes are not reproduced)."""
    call = node.expression
    if not (isinstance(node.this, exp.Identifier) and node.this.name.upper() == "HLL_COUNT"
            and isinstance(call, exp.Anonymous) and call.expressions):  # fmt: skip
        return node
    name, arg = call.name.upper(), call.expressions[0]
    if name == "INIT":
        values = exp.ArrayAgg(this=exp.Distinct(expressions=[cast(arg, "VARCHAR")]))
        return fn("bq_hll_init", values)
    if name in ("MERGE", "MERGE_PARTIAL"):
        target = "bq_hll_merge" if name == "MERGE" else "bq_hll_merge_partial"
        return fn(target, exp.ArrayAgg(this=arg))
    if name == "EXTRACT":
        return fn("bq_hll_extract", arg)
    return node


def _array_slice(node: exp.ArraySlice) -> exp.Expr:
    # BigQuery: 0-based offsets, both ends included, negative ones counted from the end
    def position(offset: exp.Expr | None) -> exp.Expr | None:
        if offset is None:
            return None
        shifted = exp.Add(this=offset.copy(), expression=exp.Literal.number(1))
        negative = exp.LT(this=offset.copy(), expression=exp.Literal.number(0))
        return exp.case().when(negative, offset).else_(shifted)

    args = [node.this, position(node.args.get("start")), position(node.args.get("end"))]
    return fn("list_slice", *[a for a in args if a is not None])


def _array_first_last(index: int) -> _Rewrite:
    def rewrite(node: exp.Expr) -> exp.Expr:
        return exp.Bracket(this=node.this, expressions=[exp.Literal.number(index)], offset=1)

    return rewrite


def _array_to_string(node: exp.ArrayToString) -> exp.Expr:
    if _bytes(node.expression):
        return fn("bq_bytes_join", node.this, node.expression)
    return node


def _generate_timestamp_array(node: exp.GenerateTimestampArray) -> exp.Expr:
    # string bounds are TIMESTAMPs (DuckDB would make them naive timestamps)
    for key in ("start", "end"):
        bound = node.args.get(key)
        if isinstance(bound, exp.Literal) and bound.is_string:
            node.set(key, cast(bound, "TIMESTAMPTZ"))
    return node


def _corr(node: exp.Expr) -> exp.Expr:
    # fewer than two pairs: BigQuery gives NULL where DuckDB gives NaN
    pairs = fn("regr_count", node.this.copy(), node.expression.copy())
    too_few = exp.LT(this=pairs, expression=exp.Literal.number(2))
    return exp.case().when(too_few, exp.Null()).else_(node)


def _sha2(node: exp.SHA2Digest) -> exp.Expr:
    length = node.args.get("length")
    if length is not None and length.name == "512":
        return fn("bq_sha512_bytes" if _bytes(node.this) else "bq_sha512", node.this)
    return node


def _ascii(node: exp.Ascii) -> exp.Expr:
    if _bytes(node.this):
        first = exp.Bracket(this=fn("bq_to_code_points_bytes", node.this),
                            expressions=[exp.Literal.number(1)], offset=1)  # fmt: skip
        empty = exp.EQ(this=fn("octet_length", node.this.copy()), expression=exp.Literal.number(0))
        return exp.case().when(empty, exp.Literal.number(0)).else_(first)
    return node


def _concat(node: exp.Concat) -> exp.Expr:
    # a NULL argument makes the result NULL, typed like the other arguments
    typed = "BLOB" if any(_bytes(a) for a in node.expressions) else "VARCHAR"
    for arg in node.expressions:
        if isinstance(arg, exp.Null):
            arg.replace(cast(exp.Null(), typed))
    return node


def _avg(node: exp.Avg) -> exp.Expr:
    # AVG of NUMERIC/BIGNUMERIC stays NUMERIC/BIGNUMERIC (DuckDB gives DOUBLE)
    for kind in ("BIGNUMERIC", "NUMERIC"):
        if is_type(node.this, kind) and not isinstance(node.parent, exp.Window):
            return cast(node, storage_type(kind))
    return node


REWRITES: dict[type, _Rewrite] = {
    exp.Avg: _avg,
    exp.UnixMillis: _unix_floor(1000),
    exp.UnixSeconds: _unix_floor(1_000_000),
    exp.SHA2Digest: _sha2,
    exp.Ascii: _ascii,
    exp.Concat: _concat,
    exp.Dot: _hll_count,
    exp.ArraySlice: _array_slice,
    exp.ArrayFirst: _array_first_last(1),
    exp.ArrayLast: _array_first_last(-1),
    exp.ArrayToString: _array_to_string,
    exp.GenerateTimestampArray: _generate_timestamp_array,
    exp.Corr: _corr,
    exp.Sec: _reciprocal("SEC", "cos"),
    exp.Csc: _reciprocal("CSC", "sin"),
    exp.Cot: _reciprocal("COT", "tan"),
    exp.Sech: _reciprocal("SECH", "cosh"),
    exp.Csch: _reciprocal("CSCH", "sinh"),
    exp.Coth: _reciprocal("COTH", "tanh"),
    exp.Sign: _sign,
    exp.RangeBucket: _range_bucket,
    exp.Unicode: _unicode,
    exp.Chr: _chr,
    exp.FarmFingerprint: _farm_fingerprint,
    exp.ToCodePoints: _to_code_points,
    exp.CodePointsToString: _udf("bq_code_points_to_string"),
    exp.CodePointsToBytes: _udf("bq_code_points_to_bytes"),
    exp.Normalize: _normalize,
    exp.Soundex: _udf("bq_soundex"),
    exp.ToBase32: _udf("bq_to_base32"),
    exp.FromBase32: _udf("bq_from_base32"),
    exp.ParseNumeric: _udf("bq_parse_numeric"),
    exp.ParseBignumeric: _udf("bq_parse_bignumeric"),
    exp.SafeConvertBytesToString: _udf("bq_safe_convert_bytes_to_string"),
    exp.Length: _length,
    exp.Left: _left_right("left"),
    exp.Right: _left_right("right"),
    exp.Pad: _pad,
    exp.Reverse: _reverse,
    exp.Trim: _trim,
    exp.Split: _split,
    exp.Repeat: _repeat,
    exp.Replace: _replace,
    exp.StrPosition: _str_position,
    exp.BitwiseCount: _bit_count,
    exp.BitwiseAnd: _bitwise("and", exp.BitwiseAnd),
    exp.BitwiseOr: _bitwise("or", exp.BitwiseOr),
    exp.BitwiseXor: _bitwise("xor", exp.BitwiseXor),
    exp.BitwiseNot: _bitwise_not,
    exp.BitwiseLeftShift: _shift("left"),
    exp.BitwiseRightShift: _shift("right"),
    exp.DPipe: _dpipe,
    exp.CountIf: _count_if,
    exp.NetFunc: _net,
    exp.RegexpInstr: _regexp_instr,
    exp.RespectNulls: _respect_nulls,
    exp.CosineDistance: _vector_distance("cosine"),
    exp.EuclideanDistance: _vector_distance("euclidean"),
    exp.Upper: _case_mapping(upper=True),
    exp.Lower: _case_mapping(upper=False),
    exp.ApproxQuantiles: _approx_quantiles,
    exp.ApproxTopK: _approx_top_count,
    exp.ApproxTopSum: _approx_top_sum,
    exp.ArrayConcatAgg: _array_concat_agg,
}

NEEDS_TYPES.update({exp.FarmFingerprint, exp.ToCodePoints, exp.Length, exp.Left, exp.Right, exp.Upper, exp.Lower,
                    exp.Pad, exp.Reverse, exp.Trim, exp.Split, exp.Repeat, exp.Replace,
                    exp.StrPosition, exp.BitwiseCount, exp.BitwiseAnd, exp.BitwiseOr,
                    exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift,
                    exp.BitwiseRightShift, exp.DPipe, exp.Sign, exp.ArrayToString, exp.SHA2Digest,
                    exp.Ascii, exp.Avg})  # fmt: skip
