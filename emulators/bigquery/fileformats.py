"""The file formats of load and extract jobs: Avro (fastavro), Parquet (pyarrow), CSV and
NEWLINE_DELIMITED_JSON, in BigQuery's encodings and type mappings.

Readers return ``(schema, records)``: a BigQuery schema derived from the file's own schema and
records in the JSON input encoding (ISO text for times, base64 for bytes, text for decimals), so
loads of every format go through the same row validation. Writers take a BigQuery schema and the
rows DuckDB returns.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import gzip
import io
import json
import math
import re
from collections.abc import Callable
from typing import Any

from .errors import Invalid

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAME = re.compile(r"[^A-Za-z0-9_]")


def maybe_gunzip(data: bytes) -> bytes:
    """BigQuery reads gzip-compressed CSV and JSON sources as they are: so do we."""
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise Invalid(f"Error while reading data, error message: bad gzip data: {exc}") from None
    return data


def jsonable(value: Any) -> Any:
    """A decoded Avro/Parquet value in the JSON input encoding the row validator takes."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


# ----------------------------------------------------------------------------------- Avro


# BigQuery's Avro type for each column type, logical types on (an extract's
# use_avro_logical_types; the Storage Read API differs in a few, see storage_api.formats).
AVRO_TYPES: dict[str, Any] = {
    "STRING": "string",
    "BYTES": "bytes",
    "INTEGER": "long",
    "FLOAT": "double",
    "BOOLEAN": "boolean",
    "NUMERIC": {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 9},
    "BIGNUMERIC": {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 18},
    "TIMESTAMP": {"type": "long", "logicalType": "timestamp-micros"},
    "DATE": {"type": "int", "logicalType": "date"},
    "TIME": {"type": "long", "logicalType": "time-micros"},
    "DATETIME": {"type": "string", "logicalType": "datetime"},
    "JSON": {"type": "string", "sqlType": "JSON"},
    "GEOGRAPHY": {"type": "string", "sqlType": "GEOGRAPHY"},
    "INTERVAL": "string",
}
_AVRO_WITHOUT_LOGICAL = {"DATE": "string", "TIME": "string", "DATETIME": "string"}


def avro_with_mode(base: Any, field: dict) -> Any:
    """The Avro type of ``field`` given that of one value: an array, itself, or nullable."""
    mode = field.get("mode") or "NULLABLE"
    if mode == "REPEATED":
        return {"type": "array", "items": base}
    return base if mode == "REQUIRED" else ["null", base]


def _avro_type(field: dict, logical: bool, names: list[str]) -> Any:
    kind = field["type"]
    if kind == "RECORD":
        names.append(field["name"])
        base: Any = {
            "type": "record",
            "name": _NAME.sub("_", "_".join(names)),
            "fields": [
                {"name": f["name"], "type": _avro_type(f, logical, names)} for f in field["fields"]
            ],
        }
        names.pop()
    else:
        base = AVRO_TYPES[kind] if logical else _AVRO_WITHOUT_LOGICAL.get(kind, AVRO_TYPES[kind])
    return avro_with_mode(base, field)


def avro_schema(fields: list[dict], logical: bool) -> dict:
    """The Avro schema of an extract (record ``Root``), as BigQuery writes it."""
    return {
        "type": "record",
        "name": "Root",
        "fields": [{"name": f["name"], "type": _avro_type(f, logical, ["Root"])} for f in fields],
    }


def _avro_value(field: dict, logical: bool) -> Callable[[Any], Any]:
    """DuckDB value -> what fastavro writes for the field's Avro type."""
    kind = field["type"]
    if kind == "RECORD":
        subs = [(f["name"], _avro_value(f, logical)) for f in field["fields"]]

        def base(value: Any) -> Any:
            return {name: convert(value.get(name)) for name, convert in subs}

    elif kind in ("DATE", "TIME") and not logical:
        base = _iso
    elif kind == "DATETIME":
        base = _iso
    elif kind in ("JSON", "INTERVAL", "GEOGRAPHY"):
        base = _json_text if kind == "JSON" else str
    else:
        base = _same
    if field.get("mode") == "REPEATED":
        return lambda value: [base(v) for v in value or []]
    return lambda value: None if value is None else base(value)


def _same(value: Any) -> Any:
    return value


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


_AVRO_CODECS = {"NONE": "null", "DEFLATE": "deflate", "SNAPPY": "snappy"}


def write_avro(fields: list[dict], rows: list[dict], compression: str, logical: bool) -> bytes:
    import fastavro

    codec = _AVRO_CODECS.get(compression)
    if codec is None:
        raise Invalid(f"Compression {compression} is not supported for AVRO (NONE, DEFLATE, SNAPPY).")
    converters = [(f["name"], _avro_value(f, logical)) for f in fields]
    records = ({name: convert(row.get(name)) for name, convert in converters} for row in rows)
    out = io.BytesIO()
    try:
        fastavro.writer(out, fastavro.parse_schema(avro_schema(fields, logical)), records,
                        codec=codec)  # fmt: skip
    except ValueError as exc:  # e.g. snappy without its codec library installed
        raise Invalid(f"Cannot write AVRO with {compression} compression: {exc}") from None
    return out.getvalue()


def _bq_from_avro(name: str, avro: Any, logical: bool) -> dict:
    mode = "NULLABLE"
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) != 1:
            raise Invalid(f"Unsupported Avro union for field {name}: {json.dumps(avro)[:200]}")
        avro = branches[0]
    if isinstance(avro, dict) and avro.get("type") == "array":
        mode, avro = "REPEATED", avro["items"]
        if isinstance(avro, list):
            avro = next(b for b in avro if b != "null")
    spec = avro if isinstance(avro, dict) else {"type": avro}
    kind, logical_type, sql_type = spec.get("type"), spec.get("logicalType"), spec.get("sqlType")
    if isinstance(kind, dict):  # a named type nested in {"type": {...}}
        return {**_bq_from_avro(name, kind, logical), "mode": mode}
    field: dict[str, Any] = {"name": name, "mode": mode}
    if kind == "record":
        field["type"] = "RECORD"
        field["fields"] = [_bq_from_avro(f["name"], f["type"], logical) for f in spec["fields"]]
        return field
    if logical_type == "decimal":
        scale, precision = spec.get("scale", 0), spec.get("precision", 38)
        field["type"] = "NUMERIC" if scale <= 9 and precision - scale <= 29 else "BIGNUMERIC"
        return field
    logical_types = {
        "timestamp-micros": "TIMESTAMP", "timestamp-millis": "TIMESTAMP", "date": "DATE",
        "time-micros": "TIME", "time-millis": "TIME", "local-timestamp-micros": "DATETIME",
        "local-timestamp-millis": "DATETIME", "datetime": "DATETIME",
    }  # fmt: skip
    if logical and logical_type in logical_types:
        field["type"] = logical_types[logical_type]
        return field
    if sql_type in ("JSON", "GEOGRAPHY"):
        field["type"] = sql_type
        return field
    raw = {
        "string": "STRING", "bytes": "BYTES", "fixed": "BYTES", "enum": "STRING", "long": "INTEGER",
        "int": "INTEGER", "double": "FLOAT", "float": "FLOAT", "boolean": "BOOLEAN",
    }.get(kind)  # fmt: skip
    if raw is None:
        raise Invalid(f"Unsupported Avro type for field {name}: {json.dumps(spec)[:200]}")
    field["type"] = raw
    return field


def _raw_logical(value: Any) -> Any:
    """A value fastavro decoded through a logical type, back to its raw Avro value (loads
    without useAvroLogicalTypes)."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return (aware - EPOCH) // dt.timedelta(microseconds=1)
    if isinstance(value, dt.date):
        return (value - EPOCH.date()).days
    if isinstance(value, dt.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    if isinstance(value, dict):
        return {k: _raw_logical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_raw_logical(v) for v in value]
    return value


def read_avro(data: bytes, logical: bool) -> tuple[list[dict], list[Any]]:
    import fastavro

    try:
        reader = fastavro.reader(io.BytesIO(data))
        writer_schema = reader.writer_schema
        rows = list(reader)
    except Exception as exc:  # noqa: BLE001 - fastavro raises many kinds on bad input
        raise Invalid(f"Error while reading data, error message: not a valid Avro file: {exc}") from None
    if not isinstance(writer_schema, dict) or writer_schema.get("type") != "record":
        raise Invalid("Error while reading data, error message: the Avro schema is not a record.")
    schema = [_bq_from_avro(f["name"], f["type"], logical) for f in writer_schema["fields"]]
    convert = jsonable if logical else (lambda row: jsonable(_raw_logical(row)))
    return schema, [convert(row) for row in rows]


# -------------------------------------------------------------------------------- Parquet


def _bq_from_arrow(name: str, arrow_type: Any) -> dict:
    import pyarrow as pa

    mode = "NULLABLE"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        mode, arrow_type = "REPEATED", arrow_type.value_type
    field: dict[str, Any] = {"name": name, "mode": mode}
    if pa.types.is_struct(arrow_type):
        field["type"] = "RECORD"
        field["fields"] = [_bq_from_arrow(f.name, f.type) for f in arrow_type]
    elif pa.types.is_integer(arrow_type):
        field["type"] = "INTEGER"
    elif pa.types.is_floating(arrow_type):
        field["type"] = "FLOAT"
    elif pa.types.is_boolean(arrow_type):
        field["type"] = "BOOLEAN"
    elif pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        field["type"] = "STRING"
    elif pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type) or \
            pa.types.is_fixed_size_binary(arrow_type):  # fmt: skip
        field["type"] = "BYTES"
    elif pa.types.is_timestamp(arrow_type):
        field["type"] = "TIMESTAMP" if arrow_type.tz else "DATETIME"
    elif pa.types.is_date(arrow_type):
        field["type"] = "DATE"
    elif pa.types.is_time(arrow_type):
        field["type"] = "TIME"
    elif pa.types.is_decimal(arrow_type):
        small = arrow_type.scale <= 9 and arrow_type.precision - arrow_type.scale <= 29
        field["type"] = "NUMERIC" if small else "BIGNUMERIC"
    else:
        raise Invalid(f"Unsupported Parquet type for field {name}: {arrow_type}")
    return field


def read_parquet(data: bytes) -> tuple[list[dict], list[Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise Invalid(f"Error while reading data, error message: not a valid Parquet file: {exc}") from None
    schema = [_bq_from_arrow(f.name, f.type) for f in table.schema]
    return schema, [jsonable(row) for row in table.to_pylist()]


_PARQUET_CODECS = {"NONE": "none", "SNAPPY": "snappy", "GZIP": "gzip", "ZSTD": "zstd"}


def write_parquet(arrow_table: Any, compression: str) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    codec = _PARQUET_CODECS.get(compression)
    if codec is None:
        raise Invalid(
            f"Compression {compression} is not supported for PARQUET (NONE, SNAPPY, GZIP, ZSTD)."
        )
    out = pa.BufferOutputStream()
    pq.write_table(arrow_table, out, compression=codec)
    return out.getvalue().to_pybytes()


# ------------------------------------------------------------------------ CSV and JSON


def _export_timestamp(value: dt.datetime) -> str:
    text = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")
    return f"{text} UTC"


def _export_float(value: float) -> Any:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _json_cell(field: dict) -> Callable[[Any], Any]:
    """DuckDB value -> the JSON value of BigQuery's NEWLINE_DELIMITED_JSON export."""
    kind = field["type"]
    if kind == "RECORD":
        subs = [(f["name"], _json_cell(f)) for f in field["fields"]]

        def base(value: Any) -> Any:
            out = {}
            for name, convert in subs:
                item = convert(value.get(name))
                if item is not None:
                    out[name] = item
            return out

    else:
        base = {
            "INTEGER": lambda v: str(int(v)),  # BigQuery quotes INT64 in JSON exports
            "FLOAT": _export_float,
            "NUMERIC": lambda v: format(v, "f"),
            "BIGNUMERIC": lambda v: format(v, "f"),
            "BOOLEAN": bool,
            "TIMESTAMP": _export_timestamp,
            "BYTES": lambda v: base64.b64encode(bytes(v)).decode("ascii"),
            "JSON": lambda v: json.loads(v) if isinstance(v, str) else v,
        }.get(kind, _iso)
    if field.get("mode") == "REPEATED":
        return lambda value: [base(v) for v in value or []]
    return lambda value: None if value is None else base(value)


def write_json(fields: list[dict], rows: list[dict]) -> bytes:
    converters = [(f["name"], _json_cell(f)) for f in fields]
    lines = []
    for row in rows:
        out = {}
        for name, convert in converters:
            value = convert(row.get(name))
            if value is not None:  # BigQuery leaves NULL fields out of exported JSON
                out[name] = value
        lines.append(json.dumps(out, separators=(",", ":"), ensure_ascii=False))
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def _csv_cell(field: dict) -> Callable[[Any], str]:
    kind = field["type"]
    convert = {
        "BOOLEAN": lambda v: "true" if v else "false",
        "TIMESTAMP": _export_timestamp,
        "FLOAT": lambda v: str(_export_float(v)),
        "NUMERIC": lambda v: format(v, "f"),
        "BIGNUMERIC": lambda v: format(v, "f"),
        "BYTES": lambda v: base64.b64encode(bytes(v)).decode("ascii"),
        "JSON": _json_text,
    }.get(kind, lambda v: _iso(v) if not isinstance(v, (str, int)) else str(v))
    return lambda value: "" if value is None else convert(value)


def write_csv(fields: list[dict], rows: list[dict], config: dict) -> bytes:
    nested = next((f for f in fields if f["type"] == "RECORD" or f.get("mode") == "REPEATED"),
                  None)  # fmt: skip
    if nested is not None:
        raise Invalid(
            f"Operation cannot be performed on a nested schema. Field: {nested['name']}"
        )
    delimiter = config.get("fieldDelimiter") or ","
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if len(delimiter) != 1:
        raise Invalid(f"Invalid field delimiter: {delimiter!r} (one character).")
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    if config.get("printHeader", True) not in (False, "false"):
        writer.writerow([f["name"] for f in fields])
    converters = [(f["name"], _csv_cell(f)) for f in fields]
    for row in rows:
        writer.writerow([convert(row.get(name)) for name, convert in converters])
    return out.getvalue().encode("utf-8")
