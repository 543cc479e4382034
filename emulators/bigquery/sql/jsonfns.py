"""JSON rewrites: conversions, LAX_*, mutators, JSON_TYPE, subscripts and field access.

DuckDB's JSON functions differ from BigQuery's in NULL handling, type names and paths; the
mutators (JSON_SET, JSON_REMOVE, JSON_ARRAY_APPEND/INSERT, JSON_STRIP_NULLS) and the typed
conversions run as the Python functions of ``json_udfs.py`` on JSON text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from sqlglot import exp

from .bqtypes import NEEDS_TYPES, is_type
from .nodes import cast, fn

_Rewrite = Callable[[exp.Expr], exp.Expr]


def _text(node: exp.Expr) -> exp.Expr:
    return cast(node, "VARCHAR")


def _json(node: exp.Expr) -> exp.Expr:
    return cast(node, "JSON")


def _kwargs(node: exp.Expr) -> tuple[list[exp.Expr], dict[str, exp.Expr]]:
    """Positional expressions and ``name => value`` arguments of a call."""
    positional, named = [], {}
    for arg in node.expressions:
        if isinstance(arg, exp.Kwarg):
            named[arg.this.name.lower()] = arg.expression
        else:
            positional.append(arg)
    for value in node.args.values():
        if isinstance(value, exp.Kwarg):
            named[value.this.name.lower()] = value.expression
    return positional, named


def _json_value_text(value: exp.Expr) -> exp.Expr:
    """A SQL value as JSON text (TO_JSON's mapping)."""
    return _text(value if is_type(value, "JSON") else fn("to_json", value))


def _array(items: list[exp.Expr]) -> exp.Expr:
    return exp.Array(expressions=items)


def _pairs(name: str, flag: str, default: bool) -> _Rewrite:
    def rewrite(node: exp.Expr) -> exp.Expr:
        args, named = _kwargs(node)
        paths, values = args[0::2], [_json_value_text(v) for v in args[1::2]]
        option = named.get(flag, exp.Boolean(this=default))
        return _json(fn(name, _text(node.this), cast(_array(paths), "VARCHAR[]"),
                        cast(_array(values), "VARCHAR[]"), option))  # fmt: skip

    return rewrite


def _json_remove(node: exp.JSONRemove) -> exp.Expr:
    paths = list(node.expressions)
    return _json(fn("bq_json_remove", _text(node.this), cast(_array(paths), "VARCHAR[]")))


def _json_strip_nulls(node: exp.JSONStripNulls) -> exp.Expr:
    _, named = _kwargs(node)
    path = node.expression if node.expression is not None else exp.Literal.string("$")
    if isinstance(path, exp.Kwarg):
        path = exp.Literal.string("$")
    arrays = named.get("include_arrays", exp.Boolean(this=True))
    empty = named.get("remove_empty", exp.Boolean(this=False))
    return _json(fn("bq_json_strip_nulls", _text(node.this), path, arrays, empty))


def _converter(name: str) -> _Rewrite:
    def rewrite(node: exp.Expr) -> exp.Expr:
        return fn(name, _text(node.this))

    return rewrite


def _float64(node: exp.Float64) -> exp.Expr:
    mode = node.args.get("expression")
    mode = mode.expression if isinstance(mode, exp.Kwarg) else mode
    return fn("bq_json_float64", _text(node.this), mode or exp.Literal.string("round"))


def _string(node: exp.String) -> exp.Expr:
    value, zone = node.this, node.args.get("zone")
    if is_type(value, "JSON"):
        return fn("bq_json_string", _text(value))
    if is_type(value, "TIMESTAMP") or zone is not None:
        return fn("bq_timestamp_to_string", cast(value, "TIMESTAMPTZ"),
                  zone or exp.Literal.string("UTC"))  # fmt: skip
    return node


def _json_type(node: exp.JSONType) -> exp.Expr:
    return fn("bq_json_type", _text(node.this))


_SUBSCRIPTED_JSON_LITERAL = re.compile(r"\bJSON\s*(?:'[^']*'|\"[^\"]*\")\s*[\[.]", re.IGNORECASE)


def lift_json_literals(tree: exp.Expr, sql: str | None = None) -> None:
    """sqlglot reads ``JSON '{...}'['a'].b`` as JSON('{...}'['a'].b): put the JSON literal back
    under its subscripts and field accesses (run before the other rewrites)."""
    if sql is not None and not _SUBSCRIPTED_JSON_LITERAL.search(sql):
        return  # nothing to lift: spare the walk over a large tree
    for node in list(tree.find_all(exp.ParseJSON)):
        inner = node.this
        if not node.args.get("is_literal") or not isinstance(inner, (exp.Bracket, exp.Dot)):
            continue
        base = inner
        while isinstance(base.this, (exp.Bracket, exp.Dot)):
            base = base.this
        if not isinstance(base.this, exp.Literal):
            continue
        base.set("this", exp.ParseJSON(this=base.this.copy(), is_literal=True))
        node.replace(inner)


def json_dot(node: exp.Dot) -> exp.Expr | None:
    """``json_value.field`` on a JSON value; None when ``node`` is not one."""
    if not is_type(node.this, "JSON") and not isinstance(node.this, exp.ParseJSON):
        return None
    return fn("json_extract", node.this, exp.Literal.string(_path([node.name])))


def _parse_json(node: exp.ParseJSON) -> exp.Expr:
    # sqlglot reads JSON '{...}'.a as JSON('{...}'.a): field access on the literal
    inner = node.this
    if isinstance(inner, exp.Dot) and isinstance(inner.this, exp.Literal):
        return fn("json_extract", _json(inner.this), exp.Literal.string(_path([inner.name])))
    option = node.args.get("expression")
    if isinstance(option, exp.Kwarg) and option.this.name.lower() == "wide_number_mode":
        node.set("expression", None)
        mode = cast(option.expression, "VARCHAR")
        return _json(fn("bq_json_wide_numbers", cast(inner, "VARCHAR"), mode))
    return node


def _path(steps: list[str | int]) -> str:
    out = "$"
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else "." + json.dumps(step)
    return out


def _subscript_step(node: exp.Bracket) -> str | int | None:
    if len(node.expressions) != 1:
        return None
    index = node.expressions[0]
    if isinstance(index, exp.Literal):
        return index.this if index.is_string else int(index.this)
    return None


def json_subscript(node: exp.Bracket) -> exp.Expr | None:
    """``j['a']`` / ``j[0]`` on a JSON value; None when ``node`` is not one."""
    if not is_type(node.this, "JSON") and not isinstance(node.this, exp.ParseJSON):
        return None
    step = _subscript_step(node)
    if step is None:
        return None
    return fn("json_extract", node.this, exp.Literal.string(_path([step])))


def json_field(node: exp.Column) -> exp.Expr | None:
    """``j.a.b`` on a JSON column ``j`` (read as a qualified column); None otherwise."""
    if not is_type(node, "JSON") or not node.table:
        return None
    parts = [p.name for p in node.parts]
    select = node.find_ancestor(exp.Select)
    sources = {}
    while select is not None:
        items = [select.args["from_"].this] if select.args.get("from_") else []
        items += [j.this for j in select.args.get("joins") or []]
        for item in items:
            if item.alias_or_name:
                sources.setdefault(item.alias_or_name.lower(), item)
        select = select.find_ancestor(exp.Select)
    source = sources.get(parts[0].lower())
    if source is not None and not isinstance(source, exp.Unnest) and len(parts) >= 2:
        root: exp.Expr = exp.column(parts[1], parts[0])
        steps = parts[2:]
    else:
        root, steps = exp.column(parts[0]), parts[1:]
    if not steps:
        return None
    return fn("json_extract", root, exp.Literal.string(_path(steps)))


def _json_format(node: exp.JSONFormat) -> exp.Expr:
    """TO_JSON (a JSON value) and TO_JSON_STRING (its text; pretty-printed when asked)."""
    value = node.this
    as_json = value if is_type(value, "JSON") else fn("to_json", value)
    as_json = fn("coalesce", as_json, cast(exp.Literal.string("null"), "JSON"))  # NULL -> null
    if node.args.get("to_json"):
        option = node.args.get("options")
        if isinstance(option, exp.Kwarg) and option.this.name.lower() == "stringify_wide_numbers":
            wide = fn("bq_json_stringify_wide", _text(as_json), cast(option.expression, "BOOLEAN"))
            return _json(wide)
        return as_json
    pretty = node.args.get("options")
    pretty = pretty.expression if isinstance(pretty, exp.Kwarg) else pretty
    text = _text(as_json)
    if isinstance(pretty, exp.Boolean) and pretty.this:
        return fn("bq_json_pretty", text)
    return text


def _is_array(node: exp.Expr) -> bool:
    if isinstance(node, exp.Array) or is_type(node, "ARRAY"):
        return True
    return isinstance(node, exp.Cast) and node.to.this == exp.DType.ARRAY


def _json_object(node: exp.JSONObject) -> exp.Expr:
    pairs = [e for e in node.expressions if isinstance(e, exp.JSONKeyValue)]
    if len(pairs) == 1 and _is_array(pairs[0].this) and _is_array(pairs[0].expression):
        keys, values = pairs[0].this, pairs[0].expression
        return fn("to_json", fn("map", cast(keys, "VARCHAR[]"), values))
    seen: set[str] = set()
    args: list[exp.Expr] = []
    for pair in pairs:
        key = pair.this
        if isinstance(key, exp.Literal):
            if key.this in seen:  # BigQuery keeps the first of duplicate keys
                continue
            seen.add(key.this)
        args += [cast(key, "VARCHAR"), pair.expression]
    return fn("json_object", *args)


def _json_value(node: exp.JSONExtractScalar) -> exp.Expr:
    # JSON_VALUE of STRING text that is not JSON is NULL in BigQuery
    if is_type(node.this, "STRING") or (isinstance(node.this, exp.Literal) and node.this.is_string):
        return fn("try", node)
    return node


def _json_extract_array(node: exp.JSONExtractArray) -> exp.Expr:
    # of a STRING, the elements are STRINGs (JSON text); of JSON, JSON values
    if is_type(node.this, "STRING") or (isinstance(node.this, exp.Literal) and node.this.is_string):
        return cast(node, "VARCHAR[]")
    return node


def _json_keys(node: exp.JSONKeysAtDepth) -> exp.Expr:
    depth, mode = node.expression, node.args.get("mode")
    if isinstance(depth, exp.Kwarg):  # JSON_KEYS(j, mode => 'lax')
        depth, mode = None, depth
    depth = depth if depth is not None else exp.Literal.number(-1)
    mode = mode.expression if isinstance(mode, exp.Kwarg) else mode
    text = cast(node.this, "VARCHAR")
    return fn("bq_json_keys", text, cast(depth, "BIGINT"),
              cast(mode, "VARCHAR") if mode is not None else exp.Literal.string("strict"))  # fmt: skip


REWRITES: dict[type, _Rewrite] = {
    exp.JSONKeysAtDepth: _json_keys,
    exp.JSONExtractArray: _json_extract_array,
    exp.JSONExtractScalar: _json_value,
    exp.JSONFormat: _json_format,
    exp.JSONObject: _json_object,
    exp.JSONSet: _pairs("bq_json_set", "create_if_missing", True),
    exp.JSONArrayAppend: _pairs("bq_json_array_append", "append_each_element", True),
    exp.JSONArrayInsert: _pairs("bq_json_array_insert", "insert_each_element", True),
    exp.JSONRemove: _json_remove,
    exp.JSONStripNulls: _json_strip_nulls,
    exp.JSONBool: _converter("bq_json_bool"),
    exp.Int64: _converter("bq_json_int64"),
    exp.Float64: _float64,
    exp.String: _string,
    exp.LaxBool: _converter("bq_lax_bool"),
    exp.LaxInt64: _converter("bq_lax_int64"),
    exp.LaxFloat64: _converter("bq_lax_float64"),
    exp.LaxString: _converter("bq_lax_string"),
    exp.JSONType: _json_type,
    exp.ParseJSON: _parse_json,
}

NEEDS_TYPES.update({exp.String, exp.Bracket, exp.JSONSet, exp.JSONExtractScalar,
                    exp.JSONExtractArray, exp.JSONArrayAppend,
                    exp.JSONArrayInsert})  # fmt: skip
