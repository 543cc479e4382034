"""BigQuery's JSON functions DuckDB has no equivalent for, in Python (see ``udfs.py``).

JSON values travel as JSON text. Paths are BigQuery's JSONPath subset: ``$``, ``.key``,
``."quoted key"``, ``['key']`` and ``[index]``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_TOKEN = re.compile(r"""\.(?:"((?:[^"\\]|\\.)*)"|([^.\[\]"]+))|\[\s*(?:(\d+)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]""")


def parse_path(path: str) -> list[str | int]:
    if not path.startswith("$"):
        raise ValueError(f"Invalid JSONPath: {path}")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match:
            raise ValueError(f"Invalid JSONPath: {path}")
        quoted, plain, index, single, double = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(next(t for t in (quoted, plain, single, double) if t is not None))
        position = match.end()
    return steps


def _load(text: str) -> Any:
    return json.loads(text)


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _walk(doc: Any, steps: list[str | int]) -> tuple[bool, Any]:
    node = doc
    for step in steps:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return False, None
    return True, node


def _container_for(step: str | int) -> Any:
    return [] if isinstance(step, int) else {}


def _set(doc: Any, steps: list[str | int], value: Any, create: bool) -> Any:
    if not steps:
        return value
    step, rest = steps[0], steps[1:]
    if doc is None and create:
        doc = _container_for(step)
    if isinstance(step, int) and isinstance(doc, list):
        if step < len(doc):
            doc[step] = _set(doc[step], rest, value, create)
        elif create:
            doc.extend([None] * (step - len(doc)))
            doc.append(_set(None, rest, value, create))
        return doc
    if isinstance(step, str) and isinstance(doc, dict):
        if step in doc:
            doc[step] = _set(doc[step], rest, value, create)
        elif create:
            doc[step] = _set(None, rest, value, create)
        return doc
    return doc


def json_set(text: str, paths: list, values: list, create: bool) -> str:
    doc = _load(text)
    for path, value in zip(paths, values, strict=True):
        doc = _set(doc, parse_path(path), _load(value), create)
    return _dump(doc)


def json_remove(text: str, paths: list) -> str:
    doc = _load(text)
    for path in paths:
        steps = parse_path(path)
        if not steps:
            raise ValueError("The JSONPath cannot be '$'")
        found, parent = _walk(doc, steps[:-1])
        last = steps[-1]
        if found and isinstance(last, int) and isinstance(parent, list) and last < len(parent):
            del parent[last]
        elif found and isinstance(last, str) and isinstance(parent, dict):
            parent.pop(last, None)
    return _dump(doc)


def json_array_append(text: str, paths: list, values: list, each: bool) -> str:
    doc = _load(text)
    for path, raw in zip(paths, values, strict=True):
        value = _load(raw)
        steps = parse_path(path)
        found, target = _walk(doc, steps)
        if not found:
            continue
        items = value if each and isinstance(value, list) else [value]
        if target is None:
            doc = _set(doc, steps, list(items), False)
        elif isinstance(target, list):
            target.extend(items)
    return _dump(doc)


def json_array_insert(text: str, paths: list, values: list, each: bool) -> str:
    doc = _load(text)
    for path, raw in zip(paths, values, strict=True):
        value = _load(raw)
        steps = parse_path(path)
        if not steps or not isinstance(steps[-1], int):
            continue  # only array elements are insertion points; anything else is left as is
        found, target = _walk(doc, steps[:-1])
        if not found:
            continue
        items = value if each and isinstance(value, list) else [value]
        index = steps[-1]
        if target is None:
            target = []
            doc = _set(doc, steps[:-1], target, False) if steps[:-1] else target
        if isinstance(target, list):
            if index > len(target):
                target.extend([None] * (index - len(target)))
            target[index:index] = items
    return _dump(doc)


def _strip(value: Any, arrays: bool, empty: bool) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = _strip(item, arrays, empty)
            if item is None or (empty and (item == {} or (arrays and item == []))):
                continue
            out[key] = item
        return out
    if isinstance(value, list) and arrays:
        out_list = []
        for item in value:
            item = _strip(item, arrays, empty)
            if item is None or (empty and item in ({}, [])):
                continue
            out_list.append(item)
        return out_list
    if isinstance(value, list):
        return [_strip(item, arrays, empty) for item in value]
    return value


def json_strip_nulls(text: str, path: str, arrays: bool, empty: bool) -> str:
    doc = _load(text)
    steps = parse_path(path)
    found, target = _walk(doc, steps)
    if not found:
        return _dump(doc)
    stripped = _strip(target, arrays, empty)
    if empty and (stripped == {} or (arrays and stripped == [])):
        stripped = None
    return _dump(_set(doc, steps, stripped, False) if steps else stripped)


def json_type(text: str) -> str:
    value = _load(text)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_error(kind: str, text: str) -> ValueError:
    return ValueError(f"The provided JSON input is not {kind}")


def json_bool(text: str) -> bool | None:
    value = _load(text)
    if not isinstance(value, bool):
        raise _type_error("a boolean", text)
    return value


def json_int64(text: str) -> int | None:
    value = _load(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error("an integer", text)
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"The provided JSON number: {text} cannot be converted to an int64")
    if not -(2**63) <= int(value) < 2**63:
        raise ValueError(f"The provided JSON number: {text} cannot be converted to an int64")
    return int(value)


def json_float64(text: str, wide_number_mode: str) -> float | None:
    value = _load(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error("a number", text)
    result = float(value)
    if wide_number_mode.lower() == "exact" and isinstance(value, int) and int(result) != value:
        raise ValueError(f"JSON number: {text} cannot be converted to DOUBLE without loss")
    return result


def json_string(text: str) -> str | None:
    value = _load(text)
    if not isinstance(value, str):
        raise _type_error("a string", text)
    return value


def lax_bool(text: str) -> bool | None:
    value = _load(text)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.lower())
    if isinstance(value, (int, float)):
        return value != 0
    return None


def _lax_number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return None if math.isnan(number) and value.strip().lower() != "nan" else number
    return None


def lax_int64(text: str) -> int | None:
    number = _lax_number(_load(text))
    if number is None or (isinstance(number, float) and not math.isfinite(number)):
        return None
    rounded = int(number) if isinstance(number, int) else _round_half_away(number)
    return rounded if -(2**63) <= rounded < 2**63 else None


def _round_half_away(number: float) -> int:
    return int(math.floor(abs(number) + 0.5)) * (1 if number >= 0 else -1)


def lax_float64(text: str) -> float | None:
    number = _lax_number(_load(text))
    return None if number is None else float(number)


def lax_string(text: str) -> str | None:
    value = _load(text)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, ".17g") if not value.is_integer() else repr(value).replace(".0", "")
    return None


def json_pretty(text: str) -> str:
    return json.dumps(_load(text), indent=2, ensure_ascii=False)


_EXACT_FLOAT_INT = 2**53  # integers a FLOAT64 holds exactly: [-2^53, 2^53]


def json_wide_numbers(text: str, mode: str) -> str:
    """PARSE_JSON(..., wide_number_mode => 'exact' | 'round'): 'round' turns integers no
    FLOAT64 holds exactly into FLOAT64, 'exact' refuses them."""
    mode = mode.strip().lower()
    if mode not in ("exact", "round"):
        raise ValueError(f"Invalid wide_number_mode: {mode}")

    def parse_int(digits: str) -> Any:
        number = int(digits)
        if abs(number) <= _EXACT_FLOAT_INT:
            return number
        if mode == "round":
            return float(number)
        raise ValueError(f"Failed to parse JSON: the number {digits} cannot be stored without "
                         "loss of precision; use wide_number_mode=>'round'")  # fmt: skip

    return _dump(json.loads(text, parse_int=parse_int))


def json_stringify_wide(text: str, stringify: bool) -> str:
    """TO_JSON(..., stringify_wide_numbers => TRUE): integers outside [-2^53, 2^53] as strings."""
    if not stringify:
        return text

    def walk(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and abs(value) > _EXACT_FLOAT_INT:
            return str(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return _dump(walk(json.loads(text)))


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def json_keys(text: str, max_depth: int, mode: str) -> list[str]:
    """JSON_KEYS: the sorted unique key paths (``b.c``) down to ``max_depth`` (-1: all);
    arrays are looked into only in the lax modes. Keys that are not plain names are quoted."""
    mode = mode.strip().lower()
    if mode not in ("strict", "lax", "lax recursive"):
        raise ValueError(f"Invalid mode for JSON_KEYS: {mode}")
    if max_depth == 0 or max_depth < -1:
        raise ValueError("JSON_KEYS max_depth must be positive")
    found: set[str] = set()

    def walk(value: Any, prefix: str, depth: int, in_array: bool) -> None:
        if max_depth != -1 and depth > max_depth:
            return
        if isinstance(value, dict):
            for key, child in value.items():
                name = key if _PLAIN_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)
                path = f"{prefix}.{name}" if prefix else name
                found.add(path)
                walk(child, path, depth + 1, False)
        elif isinstance(value, list) and mode != "strict" and (mode == "lax recursive"
                                                              or not in_array):  # fmt: skip
            for item in value:
                walk(item, prefix, depth, True)

    walk(_load(text), "", 1, False)
    return sorted(found)


FUNCTIONS = {
    "bq_json_keys": (json_keys, ["VARCHAR", "BIGINT", "VARCHAR"], "VARCHAR[]"),
    "bq_json_wide_numbers": (json_wide_numbers, ["VARCHAR", "VARCHAR"], "VARCHAR"),
    "bq_json_stringify_wide": (json_stringify_wide, ["VARCHAR", "BOOLEAN"], "VARCHAR"),
    "bq_json_pretty": (json_pretty, ["VARCHAR"], "VARCHAR"),
    "bq_json_set": (json_set, ["VARCHAR", "VARCHAR[]", "VARCHAR[]", "BOOLEAN"], "VARCHAR"),
    "bq_json_remove": (json_remove, ["VARCHAR", "VARCHAR[]"], "VARCHAR"),
    "bq_json_array_append": (json_array_append, ["VARCHAR", "VARCHAR[]", "VARCHAR[]", "BOOLEAN"],
                             "VARCHAR"),  # fmt: skip
    "bq_json_array_insert": (json_array_insert, ["VARCHAR", "VARCHAR[]", "VARCHAR[]", "BOOLEAN"],
                             "VARCHAR"),  # fmt: skip
    "bq_json_strip_nulls": (json_strip_nulls, ["VARCHAR", "VARCHAR", "BOOLEAN", "BOOLEAN"],
                            "VARCHAR"),  # fmt: skip
    "bq_json_type": (json_type, ["VARCHAR"], "VARCHAR"),
    "bq_json_bool": (json_bool, ["VARCHAR"], "BOOLEAN"),
    "bq_json_int64": (json_int64, ["VARCHAR"], "BIGINT"),
    "bq_json_float64": (json_float64, ["VARCHAR", "VARCHAR"], "DOUBLE"),
    "bq_json_string": (json_string, ["VARCHAR"], "VARCHAR"),
    "bq_lax_bool": (lax_bool, ["VARCHAR"], "BOOLEAN"),
    "bq_lax_int64": (lax_int64, ["VARCHAR"], "BIGINT"),
    "bq_lax_float64": (lax_float64, ["VARCHAR"], "DOUBLE"),
    "bq_lax_string": (lax_string, ["VARCHAR"], "VARCHAR"),
}

# These may give NULL for a non-NULL argument (DuckDB must be told).
RETURN_NULLS = {"bq_lax_bool", "bq_lax_int64", "bq_lax_float64", "bq_lax_string"}
