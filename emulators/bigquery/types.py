"""The BigQuery type system on DuckDB: type mapping, input parsing and wire encoding of values.

Mapping (BigQuery -> DuckDB): STRING VARCHAR, BYTES BLOB, INTEGER BIGINT, FLOAT DOUBLE,
NUMERIC DECIMAL(38,9), BIGNUMERIC DECIMAL(38,18) (DuckDB's widest exact decimal: 20 integer and
18 fractional digits instead of BigQuery's 38/38), BOOLEAN BOOLEAN, TIMESTAMP TIMESTAMPTZ (the
session time zone is UTC), DATETIME TIMESTAMP, DATE DATE, TIME TIME, JSON JSON, GEOGRAPHY VARCHAR
(WKT text; DuckDB's spatial extension is not available offline), INTERVAL INTERVAL,
RECORD STRUCT(...), mode REPEATED T[], RANGE<T> STRUCT("$range_start" T, "$range_end" T) (a
NULL bound is UNBOUNDED; BigQuery field names cannot hold ``$``, so no RECORD is ever taken for a
RANGE).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Callable
from typing import Any

from .identifiers import FIELD_NAME_RULE, ident, is_field_name
from .sql.nodes import RANGE_END, RANGE_START

# Canonical (legacy) names, as the REST API reports them in schemas.
_CANONICAL = {
    "STRING": "STRING",
    "BYTES": "BYTES",
    "INTEGER": "INTEGER",
    "INT64": "INTEGER",
    "FLOAT": "FLOAT",
    "FLOAT64": "FLOAT",
    "NUMERIC": "NUMERIC",
    "DECIMAL": "NUMERIC",
    "BIGNUMERIC": "BIGNUMERIC",
    "BIGDECIMAL": "BIGNUMERIC",
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMP",
    "DATE": "DATE",
    "TIME": "TIME",
    "DATETIME": "DATETIME",
    "JSON": "JSON",
    "GEOGRAPHY": "GEOGRAPHY",
    "INTERVAL": "INTERVAL",
    "RECORD": "RECORD",
    "STRUCT": "RECORD",
    "RANGE": "RANGE",
}
RANGE_ELEMENTS = ("DATE", "DATETIME", "TIMESTAMP")

_SCALAR_DUCKDB = {
    "STRING": "VARCHAR",
    "BYTES": "BLOB",
    "INTEGER": "BIGINT",
    "FLOAT": "DOUBLE",
    "NUMERIC": "DECIMAL(38,9)",
    "BIGNUMERIC": "DECIMAL(38,18)",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATE": "DATE",
    "TIME": "TIME",
    "DATETIME": "TIMESTAMP",
    "JSON": "JSON",
    "GEOGRAPHY": "VARCHAR",
    "INTERVAL": "INTERVAL",
}

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_US = dt.timedelta(microseconds=1)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def canonical_type(type_name: str | None) -> str:
    """The legacy REST name of a BigQuery type (INT64 -> INTEGER, STRUCT -> RECORD, ...)."""
    key = (type_name or "").upper()
    if key.startswith(("NUMERIC(", "DECIMAL(")):
        key = "NUMERIC"
    elif key.startswith(("BIGNUMERIC(", "BIGDECIMAL(")):
        key = "BIGNUMERIC"
    elif key.startswith(("STRING(", "BYTES(")):
        key = key.split("(", 1)[0]
    try:
        return _CANONICAL[key]
    except KeyError:
        raise ValueError(f"Invalid type: {type_name}") from None


# The documented keys of a REST TableFieldSchema; anything else a client sends is dropped, so
# nothing but these ever reaches the catalog (and none of them reaches SQL text).
SCHEMA_KEYS = (
    "name", "type", "mode", "fields", "description", "policyTags", "maxLength", "precision",
    "scale", "defaultValueExpression", "collation", "roundingMode", "rangeElementType",
)  # fmt: skip
MAX_NESTING = 15  # levels of RECORD nesting BigQuery allows
MAX_FIELDS = 10_000  # columns of a table, nested fields included
_ROUNDING_MODES = ("ROUNDING_MODE_UNSPECIFIED", "ROUND_HALF_AWAY_FROM_ZERO", "ROUND_HALF_EVEN")
_INT64_TEXT = re.compile(r"-?\d{1,19}\Z")


def normalize_schema(fields: list[dict], *, path: str = "") -> list[dict]:
    """Validate a REST schema (list of TableFieldSchema) and return new dicts holding only the
    documented keys, with canonical types and modes."""
    counter = [0]
    return _normalize_fields(fields, path, 1, counter)


def _normalize_fields(fields: list, path: str, depth: int, counter: list[int]) -> list[dict]:
    out: list[dict] = []
    seen: set[str] = set()
    for field in fields or []:
        if not isinstance(field, dict):
            raise ValueError("Invalid schema: each field must be an object")
        counter[0] += 1
        if counter[0] > MAX_FIELDS:
            raise ValueError(f"Too many fields in the schema: the maximum is {MAX_FIELDS}.")
        name = field.get("name") or ""
        if not isinstance(name, str):
            raise ValueError("Invalid schema: a field name must be a string")
        full = f"{path}.{name}" if path else name
        if not is_field_name(name):
            raise ValueError(f'Invalid field name "{name}". {FIELD_NAME_RULE}')
        if name.lower() in seen:
            raise ValueError(f"Duplicate column names in the schema: {full}")
        seen.add(name.lower())
        type_name = canonical_type(_text(field.get("type"), "type", full) or "STRING")
        mode = (_text(field.get("mode"), "mode", full) or "NULLABLE").upper()
        if mode not in ("NULLABLE", "REQUIRED", "REPEATED"):
            raise ValueError(f"Invalid mode {mode} for field {full}")
        norm: dict[str, Any] = {"name": name, "type": type_name, "mode": mode}
        for key in ("description", "defaultValueExpression", "collation"):
            if field.get(key) is not None:
                norm[key] = _text(field[key], key, full)
        for key in ("maxLength", "precision", "scale"):
            if field.get(key) is not None:
                norm[key] = _int64(field[key], key, full)
        if field.get("roundingMode") is not None:
            if field["roundingMode"] not in _ROUNDING_MODES:
                raise ValueError(f"Invalid roundingMode for field {full}")
            norm["roundingMode"] = field["roundingMode"]
        if field.get("policyTags") is not None:
            norm["policyTags"] = {"names": _names(field["policyTags"], full)}
        if field.get("rangeElementType") is not None or type_name == "RANGE":
            element = field.get("rangeElementType")
            kind = element.get("type") if isinstance(element, dict) else None
            if type_name != "RANGE" or not isinstance(kind, str) or kind.upper() not in RANGE_ELEMENTS:
                raise ValueError(f"Field {full} of type RANGE needs rangeElementType DATE, "
                                 "DATETIME or TIMESTAMP (and only RANGE fields take one)")  # fmt: skip
            norm["rangeElementType"] = {"type": kind.upper()}
        if type_name == "RECORD":
            if not field.get("fields"):
                raise ValueError(f"Field {full} is type RECORD but has no schema")
            if not isinstance(field["fields"], list):
                raise ValueError(f"Invalid schema: fields of {full} must be a list")
            if depth >= MAX_NESTING:
                raise ValueError(
                    f"Schema nested too deeply for field {full}, maximum allowed depth is "
                    f"{MAX_NESTING}."
                )
            norm["fields"] = _normalize_fields(field["fields"], full, depth + 1, counter)
        out.append(norm)
    return out


def _text(value: Any, key: str, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"Invalid value for {key} of field {field}: expected a string")


def _int64(value: Any, key: str, field: str) -> str:
    """int64 fields travel as strings in REST; ints are accepted too."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"Invalid value for {key} of field {field}: expected an integer")
    text = str(value).strip()
    if not _INT64_TEXT.match(text) or not INT64_MIN <= int(text) <= INT64_MAX:
        raise ValueError(f"Invalid value for {key} of field {field}: {_show(value)}")
    return text


def _names(policy_tags: Any, field: str) -> list[str]:
    names = policy_tags.get("names") if isinstance(policy_tags, dict) else None
    if names is None:
        names = []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"Invalid policyTags for field {field}: expected a list of names")
    return list(names)


def bq_to_duckdb_type(field: dict) -> str:
    """DuckDB column type for a BigQuery schema field (mode REPEATED becomes a LIST)."""
    type_name = canonical_type(field.get("type") or "STRING")
    if type_name == "RECORD":
        inner = ", ".join(
            f"{ident(sub['name'])} {bq_to_duckdb_type(sub)}" for sub in field.get("fields", [])
        )
        base = f"STRUCT({inner})"
    elif type_name == "RANGE":
        element = _SCALAR_DUCKDB[field["rangeElementType"]["type"]]
        base = f'STRUCT("{RANGE_START}" {element}, "{RANGE_END}" {element})'
    else:
        base = _SCALAR_DUCKDB[type_name]
    if (field.get("mode") or "").upper() == "REPEATED":
        return base + "[]"
    return base


def _as_duckdb_type(duckdb_type: Any) -> Any:
    if isinstance(duckdb_type, str):
        import duckdb

        return duckdb.sqltype(duckdb_type)
    return duckdb_type


_INT_IDS = {
    "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
    "uinteger", "ubigint", "uhugeint", "null", '"null"',
}  # fmt: skip
_SIMPLE_IDS = {
    "float": "FLOAT",
    "double": "FLOAT",
    "varchar": "STRING",
    "uuid": "STRING",
    "enum": "STRING",
    "bit": "STRING",
    "blob": "BYTES",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "time": "TIME",
    "time with time zone": "TIME",
    "timestamp": "DATETIME",
    "timestamp_s": "DATETIME",
    "timestamp_ms": "DATETIME",
    "timestamp_ns": "DATETIME",
    "timestamp with time zone": "TIMESTAMP",
    "interval": "INTERVAL",
}


def duckdb_to_bq_field(name: str, duckdb_type: Any) -> dict:
    """BigQuery schema field (REST shape) for a DuckDB result column (type as str or DuckDBPyType)."""
    t = _as_duckdb_type(duckdb_type)
    type_id = t.id
    if str(t) == "JSON":
        return {"name": name, "type": "JSON", "mode": "NULLABLE"}
    if type_id == "list" or type_id == "array":
        child = t.children[0][1]
        inner = duckdb_to_bq_field(name, child)
        if inner["mode"] == "REPEATED":  # BigQuery has no arrays of arrays
            inner = {"name": name, "type": "JSON", "mode": "NULLABLE"}
        inner["mode"] = "REPEATED"
        return inner
    if type_id == "struct" and [n for n, _ in t.children] == [RANGE_START, RANGE_END]:
        element = duckdb_to_bq_field(name, t.children[0][1])["type"]
        if element not in RANGE_ELEMENTS:  # RANGE(NULL, NULL): no element type known
            element = duckdb_to_bq_field(name, t.children[1][1])["type"]
        element = element if element in RANGE_ELEMENTS else "DATE"
        return {"name": name, "type": "RANGE", "mode": "NULLABLE",
                "rangeElementType": {"type": element}}  # fmt: skip
    if type_id == "struct":
        return {
            "name": name,
            "type": "RECORD",
            "mode": "NULLABLE",
            "fields": [duckdb_to_bq_field(n, c) for n, c in t.children],
        }
    if type_id == "map":
        key_t, value_t = t.children[0][1], t.children[1][1]
        return {
            "name": name,
            "type": "RECORD",
            "mode": "REPEATED",
            "fields": [duckdb_to_bq_field("key", key_t), duckdb_to_bq_field("value", value_t)],
        }
    if type_id == "decimal":
        params = dict(t.children)
        precision, scale = params["precision"], params["scale"]
        bq = "NUMERIC" if scale <= 9 and precision - scale <= 29 else "BIGNUMERIC"
        return {"name": name, "type": bq, "mode": "NULLABLE"}
    if type_id in _INT_IDS or str(t) == '"NULL"':
        return {"name": name, "type": "INTEGER", "mode": "NULLABLE"}
    return {"name": name, "type": _SIMPLE_IDS.get(type_id, "STRING"), "mode": "NULLABLE"}


# ---------------------------------------------------------------- input parsing (JSON -> Python)


class ConversionError(ValueError):
    """A cell value that cannot be converted to its column type."""


def _parse_int(value: Any) -> int:
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    if isinstance(value, bool):
        raise ConversionError(f"Cannot convert value to integer (bad value): {_show(value)}")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise ConversionError(f"Cannot convert value to integer (bad value): {value}")
        result = int(value)
    elif isinstance(value, str):
        try:
            result = int(value.strip(), 10)
        except ValueError:
            try:
                as_float = float(value)
            except ValueError:
                as_float = math.nan
            if not as_float.is_integer():
                raise ConversionError(
                    f"Cannot convert value to integer (bad value): {value}"
                ) from None
            result = int(as_float)
    else:
        raise ConversionError(f"Cannot convert value to integer (bad value): {_show(value)}")
    if not INT64_MIN <= result <= INT64_MAX:
        raise ConversionError(f"Cannot convert value to integer (out of range): {value}")
    return result


_FLOAT_WORDS = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf}


def _parse_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ConversionError(f"Cannot convert value to floating point (bad value): {_show(value)}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        word = _FLOAT_WORDS.get(value.strip().lower())
        if word is not None:
            return word
        try:
            return float(value)
        except ValueError:
            pass
    raise ConversionError(f"Cannot convert value to floating point (bad value): {_show(value)}")


# NUMERIC and BIGNUMERIC (as stored here) have 38 digits: the default context's 28 would fail
# to quantize them
_DECIMAL_CONTEXT = decimal.Context(prec=80)


def _decimal_parser(scale: int, int_digits: int, label: str) -> Callable[[Any], decimal.Decimal]:
    quantum = decimal.Decimal(1).scaleb(-scale)
    limit = decimal.Decimal(10) ** int_digits

    def parse(value: Any) -> decimal.Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, float, str, decimal.Decimal)):
            raise ConversionError(f"Invalid {label} value: {_show(value)}")
        try:
            number = decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise ConversionError(f"Invalid {label} value: {value}") from None
        if not number.is_finite() or abs(number) >= limit:
            raise ConversionError(f"Invalid {label} value: {value}")
        return number.quantize(quantum, rounding=decimal.ROUND_HALF_UP, context=_DECIMAL_CONTEXT)

    return parse


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ConversionError(f"Cannot convert value to boolean (bad value): {_show(value)}")


def _parse_string(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise ConversionError("Cannot convert value to string.")


def _parse_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            if _URLSAFE_B64.match(value):
                try:
                    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
                except ValueError:
                    pass
    raise ConversionError(f"Cannot convert value to bytes (bad base64 value): {_show(value)}")


_URLSAFE_B64 = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")
_TS_FIX = re.compile(r"(\.\d{6})\d+")
_TZ_SUFFIX = re.compile(r"\s*(UTC|Z)$", re.IGNORECASE)


def _clean_datetime_text(text: str) -> str:
    text = text.strip().replace("/", "-")
    text = _TZ_SUFFIX.sub("+00:00", text)
    text = _TS_FIX.sub(r"\1", text)  # Python keeps microseconds; BigQuery does too
    # "+05" -> "+05:00"
    if len(text) > 3 and text[-3] in "+-" and text[-2:].isdigit() and ":" in text[:-3]:
        text += ":00"
    return text


_fromisoformat = dt.datetime.fromisoformat
_UTC = dt.timezone.utc


def parse_timestamp(value: Any) -> dt.datetime:
    """A BigQuery TIMESTAMP input (text in the accepted formats, or epoch seconds) as aware UTC."""
    if type(value) is str:  # fast path: ISO 8601 / RFC 3339 text, the common case
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)
    if isinstance(value, bool):
        raise ConversionError(f"Cannot convert value to timestamp: {_show(value)}")
    if isinstance(value, (int, float)):
        try:
            return EPOCH + dt.timedelta(microseconds=round(value * 1_000_000))
        except OverflowError:
            raise ConversionError(f"Timestamp out of range: {value}") from None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(_clean_datetime_text(value))
        except ValueError:
            raise ConversionError(
                f"Couldn't convert value to timestamp: Could not parse '{value}' as a "
                "timestamp. Required format is YYYY-MM-DD HH:MM[:SS[.SSSSSS]] or "
                "YYYY/MM/DD HH:MM[:SS[.SSSSSS]]"
            ) from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    raise ConversionError(f"Cannot convert value to timestamp: {_show(value)}")


def parse_datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(_TS_FIX.sub(r"\1", value.strip().replace("/", "-")))
            if parsed.tzinfo is None:
                return parsed
        except ValueError:
            pass
    raise ConversionError(
        f"Couldn't convert value to datetime: Could not parse '{_show(value)}' as a datetime. "
        "Required format is YYYY-MM-DD[ HH:MM[:SS[.SSSSSS]]]"
    )


def parse_date(value: Any) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip().replace("/", "-"))
        except ValueError:
            pass
    raise ConversionError(f"Invalid date: '{_show(value)}'")


def parse_time(value: Any) -> dt.time:
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(_TS_FIX.sub(r"\1", value.strip()))
        except ValueError:
            pass
    raise ConversionError(f'Invalid time string "{_show(value)}"')


MAX_JSON_DEPTH = 500  # nesting levels of a JSON value, as BigQuery limits them


def _parse_json_lenient(value: Any) -> str:
    """JSON text is passed through unchecked: DuckDB validates it when the batch is inserted,
    and on failure the request is re-validated with `_parse_json` to find the bad rows. Only
    text that might nest too deeply is checked here (counting brackets is cheap)."""
    if type(value) is str and value.count("[") + value.count("{") <= MAX_JSON_DEPTH:
        return value
    return _parse_json(value)


def _parse_json(value: Any) -> str:
    try:
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                raise ConversionError(f"Invalid JSON value: {_show(value)} ({exc})") from None
            text = value
        else:
            parsed = value
            try:
                text = json.dumps(value, separators=(",", ":"), allow_nan=False)
            except ValueError:
                raise ConversionError(f"Invalid JSON value: {_show(value)}") from None
    except RecursionError:
        raise ConversionError(_too_deep()) from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(parsed) > MAX_JSON_DEPTH:
        raise ConversionError(_too_deep())
    return text


def _too_deep() -> str:
    return f"Invalid JSON value: nesting depth exceeds the maximum of {MAX_JSON_DEPTH}."


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def lone_surrogate(raw: bytes, value: Any) -> bool:
    """Whether ``value``, parsed from the JSON text ``raw``, holds a lone surrogate: JSON lets
    ``\\ud800`` stand alone, but it is no Unicode character and nothing can encode it back."""
    if not _SURROGATE_ESCAPE.search(raw):  # the cheap test first: every such value needs one
        return False
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        else:
            continue
        deepest = max(deepest, depth + 1)
    return deepest


def _parse_geography(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # GeoJSON
        return json.dumps(value)
    raise ConversionError(f"Cannot convert value to geography: {_show(value)}")


def _parse_interval(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ConversionError(f"Cannot convert value to interval: {_show(value)}")


def _show(value: Any) -> str:
    try:
        text = json.dumps(value) if not isinstance(value, str) else value
    except (RecursionError, ValueError, TypeError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 100 else text[:100] + "..."


def scalar_parser(type_name: str, *, lenient_json: bool = False) -> Callable[[Any], Any]:
    """Parser of JSON input (insertAll, NDJSON loads, query parameters) for a scalar type."""
    if type_name == "JSON" and lenient_json:
        return _parse_json_lenient
    return {
        "STRING": _parse_string,
        "BYTES": _parse_bytes,
        "INTEGER": _parse_int,
        "FLOAT": _parse_float,
        "NUMERIC": _decimal_parser(9, 29, "NUMERIC"),
        "BIGNUMERIC": _decimal_parser(18, 20, "BIGNUMERIC"),
        "BOOLEAN": _parse_bool,
        "TIMESTAMP": parse_timestamp,
        "DATE": parse_date,
        "TIME": parse_time,
        "DATETIME": parse_datetime,
        "JSON": _parse_json,
        "GEOGRAPHY": _parse_geography,
        "INTERVAL": _parse_interval,
    }[type_name]


def range_parser(element: str) -> Callable[[Any], dict]:
    """Parser of a RANGE<element> input value: ``"[2024-01-01, UNBOUNDED)"`` text (BigQuery's
    form) or ``{"start": ..., "end": ...}`` (a NULL or missing bound is UNBOUNDED)."""
    parse = scalar_parser(element)

    def bound(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.upper() in ("UNBOUNDED", "NULL")):
            return None
        return parse(value)

    def parse_range(value: Any) -> dict:
        if isinstance(value, str):
            match = _RANGE_TEXT.fullmatch(value.strip())
            if not match:
                raise ConversionError(f"Invalid RANGE value: {_show(value)}")
            start, end = bound(match.group(1)), bound(match.group(2))
        elif isinstance(value, dict) and set(value) <= {"start", "end"}:
            start, end = bound(value.get("start")), bound(value.get("end"))
        else:
            raise ConversionError(f"Invalid RANGE value: {_show(value)}")
        if start is not None and end is not None and start >= end:
            raise ConversionError("RANGE start must be less than its end")
        return {RANGE_START: start, RANGE_END: end}

    return parse_range


_RANGE_TEXT = re.compile(r"\[\s*([^,\[\]()]+?)\s*,\s*([^,\[\]()]+?)\s*\)")


def arrow_type(field: dict) -> Any:
    """pyarrow type holding parsed values of a field (for bulk appends into DuckDB)."""
    import pyarrow as pa

    type_name = field["type"]
    if type_name == "RECORD":
        base = pa.struct([pa.field(f["name"], arrow_type(f)) for f in field["fields"]])
    elif type_name == "RANGE":
        element = arrow_type({"name": "x", "type": field["rangeElementType"]["type"]})
        base = pa.struct([pa.field(RANGE_START, element), pa.field(RANGE_END, element)])
    else:
        base = {
            "STRING": pa.string(),
            "BYTES": pa.binary(),
            "INTEGER": pa.int64(),
            "FLOAT": pa.float64(),
            "NUMERIC": pa.decimal128(38, 9),
            "BIGNUMERIC": pa.decimal128(38, 18),
            "BOOLEAN": pa.bool_(),
            "TIMESTAMP": pa.timestamp("us", tz="UTC"),
            "DATE": pa.date32(),
            "TIME": pa.time64("us"),
            "DATETIME": pa.timestamp("us"),
            "JSON": pa.string(),
            "GEOGRAPHY": pa.string(),
            "INTERVAL": pa.string(),
        }[type_name]
    if field.get("mode") == "REPEATED":
        return pa.list_(base)
    return base


def arrow_schema(fields: list[dict]) -> Any:
    """pyarrow schema of rows parsed for ``fields`` (appends, external tables' rows)."""
    import pyarrow as pa

    return pa.schema([pa.field(f["name"], arrow_type(f)) for f in fields])


# ------------------------------------------------------------ output encoding (Python -> wire)


def _enc_float(value: Any) -> str:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _enc_decimal(value: Any) -> str:
    if isinstance(value, decimal.Decimal):
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text if text not in ("-0", "") else "0"
    return str(value)


def timestamp_micros(value: Any) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return (value - _NAIVE_EPOCH) // _US
        return (value - EPOCH) // _US
    if isinstance(value, dt.date):
        return (dt.datetime(value.year, value.month, value.day) - _NAIVE_EPOCH) // _US
    raise TypeError(f"not a timestamp: {value!r}")


def _enc_ts_int64(value: Any) -> str:
    return str(timestamp_micros(value))


def _enc_ts_float(value: Any) -> str:
    micros = timestamp_micros(value)
    seconds, frac = divmod(micros, 1_000_000)
    return f"{seconds}.{frac:06d}" if frac else f"{seconds}.0"


def _enc_ts_iso(value: Any) -> str:
    micros = timestamp_micros(value)
    moment = EPOCH + dt.timedelta(microseconds=micros)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _enc_datetime(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat()
    return str(value)


def _enc_iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _enc_bytes(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode()
    return base64.b64encode(bytes(value)).decode("ascii")


def _enc_bool(value: Any) -> str:
    return "true" if value else "false"


def _enc_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _enc_interval(value: Any) -> str:
    """BigQuery's canonical INTERVAL text (``Y-M D H:M:S.F``) from Arrow's month-day-nano
    value or a timedelta."""
    from .sql.udfs import interval_text

    if isinstance(value, dt.timedelta):
        micros = value // dt.timedelta(microseconds=1)
        days, micros = divmod(micros, 86_400_000_000) if micros >= 0 else (0, micros)
        return interval_text(0, days, micros)
    if hasattr(value, "months") and hasattr(value, "nanoseconds"):
        return interval_text(value.months, value.days, value.nanoseconds // 1000)
    return str(value)


_SCALAR_ENCODERS: dict[str, Callable[[Any], str]] = {
    "STRING": str,
    "GEOGRAPHY": str,
    "JSON": _enc_json,
    "INTEGER": lambda v: str(int(v)),
    "FLOAT": _enc_float,
    "NUMERIC": _enc_decimal,
    "BIGNUMERIC": _enc_decimal,
    "BOOLEAN": _enc_bool,
    "DATE": _enc_iso,
    "TIME": _enc_iso,
    "DATETIME": _enc_datetime,
    "BYTES": _enc_bytes,
    "INTERVAL": _enc_interval,
}

TS_FLOAT, TS_INT64, TS_ISO = "float", "int64", "iso"


def cell_encoder(field: dict, ts_format: str = TS_INT64) -> Callable[[Any], Any]:
    """Function turning a DuckDB Python value of the field (or None) into the REST `v` value."""
    type_name = field["type"]
    if type_name == "RECORD":
        subs = [(sub["name"], cell_encoder(sub, ts_format)) for sub in field["fields"]]

        def base(value: Any) -> Any:
            if isinstance(value, dict):
                items = list(value.values())
                if len(items) != len(subs):
                    items = [value.get(name) for name, _ in subs]
            else:
                items = list(value)
            return {"f": [{"v": enc(item)} for (_, enc), item in zip(subs, items, strict=False)]}

    elif type_name == "TIMESTAMP":
        base = {TS_INT64: _enc_ts_int64, TS_FLOAT: _enc_ts_float, TS_ISO: _enc_ts_iso}[ts_format]
    elif type_name == "RANGE":
        element = {"name": "x", "type": field["rangeElementType"]["type"], "mode": "NULLABLE"}
        bound = cell_encoder(element, ts_format)

        def base(value: Any) -> Any:  # BigQuery's text: [2024-01-01, UNBOUNDED)
            start, end = (value.get(RANGE_START), value.get(RANGE_END)) if isinstance(
                value, dict) else tuple(value)  # fmt: skip
            lower, upper = bound(start), bound(end)
            return f"[{lower or 'UNBOUNDED'}, {upper or 'UNBOUNDED'})"

    else:
        base = _SCALAR_ENCODERS.get(type_name, str)
    if field.get("mode") == "REPEATED":

        def repeated(value: Any) -> Any:
            if value is None:  # BigQuery has no NULL arrays: they read back empty
                return []
            if isinstance(value, dict) and type_name == "RECORD":  # a DuckDB MAP
                value = [{"key": k, "value": v} for k, v in value.items()]
            return [{"v": None if item is None else base(item)} for item in value]

        return repeated

    def nullable(value: Any) -> Any:
        return None if value is None else base(value)

    return nullable


def row_encoder(schema: list[dict], ts_format: str = TS_INT64) -> Callable[[tuple], dict]:
    """Function turning a DuckDB row tuple into the REST `{"f": [{"v": ...}]}` row."""
    encoders = [cell_encoder(field, ts_format) for field in schema]

    def encode(row: tuple) -> dict:
        return {"f": [{"v": enc(value)} for enc, value in zip(encoders, row, strict=False)]}

    return encode
