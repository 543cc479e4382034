"""Row formats of the Storage APIs: BigQuery schema <-> Arrow schema, Avro schema and rows.

Reads use the types BigQuery's Storage Read API documents: INT64 int64, FLOAT64 double,
NUMERIC decimal128(38, 9), BIGNUMERIC decimal256(76, 38), TIMESTAMP timestamp[us, UTC], DATETIME
timestamp[us], TIME time64[us], DATE date32, GEOGRAPHY and JSON utf8, RECORD struct, REPEATED
list; REQUIRED fields are non-nullable. Avro follows the documented Avro mapping (logical types
date, time-micros, timestamp-micros, decimal; `sqlType` for DATETIME, GEOGRAPHY and JSON).
"""

from __future__ import annotations

import io
import json
from typing import Any

from ..fileformats import AVRO_TYPES, avro_with_mode
from ..types import arrow_type


def _scalar_arrow(type_name: str) -> Any:
    """The stored Arrow type (types.arrow_type), except where the wire differs: BIGNUMERIC as
    BigQuery's decimal256(76, 38), INTERVAL as month/day/nano (stored as text)."""
    import pyarrow as pa

    if type_name == "BIGNUMERIC":
        return pa.decimal256(76, 38)
    if type_name == "INTERVAL":
        return pa.month_day_nano_interval()
    return arrow_type({"type": type_name})


def arrow_field(field: dict, top: bool = True) -> Any:
    """The Arrow field the Read API sends for a BigQuery schema field. REQUIRED and REPEATED
    top-level columns are non-nullable; nested ones stay nullable (a NULL record holds NULLs)."""
    import pyarrow as pa

    if field["type"] == "RECORD":
        base = pa.struct([arrow_field(sub, top=False) for sub in field["fields"]])
    else:
        base = _scalar_arrow(field["type"])
    metadata = None
    if field["type"] in ("GEOGRAPHY", "JSON"):
        metadata = {"ARROW:extension:name": f"google:sqlType:{field['type'].lower()}"}
    mode = field.get("mode") or "NULLABLE"
    if mode == "REPEATED":
        base = pa.list_(base)
    return pa.field(field["name"], base, nullable=not top or mode == "NULLABLE", metadata=metadata)


def arrow_schema(fields: list[dict]) -> Any:
    import pyarrow as pa

    return pa.schema([arrow_field(f) for f in fields])


def conform(table: Any, schema: Any) -> Any:
    """`table` (columns in `schema`'s order) cast to the wire schema; NULL arrays become []."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns, fields = [], []
    for column, field in zip(table.columns, schema, strict=True):
        if pa.types.is_list(field.type) and column.null_count:
            column = pc.if_else(pc.is_null(column), pa.scalar([], column.type), column)
        if column.null_count and not field.nullable:  # a REQUIRED column NULLed by DML
            field = field.with_nullable(True)
        if column.type != field.type:
            column = column.cast(field.type)
        columns.append(column)
        fields.append(field)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


# ------------------------------------------------------------------ Avro


# The Read API's Avro types: an extract's, except where its sessions say otherwise.
_AVRO_TYPES = {
    **AVRO_TYPES,
    "BIGNUMERIC": {"type": "bytes", "logicalType": "decimal", "precision": 77, "scale": 38},
    "DATETIME": {"type": "string", "sqlType": "DATETIME"},
    "INTERVAL": {"type": "string", "sqlType": "INTERVAL"},
}


def _avro_field(field: dict, path: str) -> dict:
    if field["type"] == "RECORD":
        name = f"{path}__{field['name']}" if path else field["name"]
        base: Any = {
            "type": "record",
            "name": name,
            "fields": [_avro_field(sub, name) for sub in field["fields"]],
        }
    else:
        base = _AVRO_TYPES[field["type"]]
    return {"name": field["name"], "type": avro_with_mode(base, field)}


def avro_schema(fields: list[dict]) -> dict:
    """The Avro schema (as JSON) of rows of these fields."""
    return {"type": "record", "name": "__root__", "fields": [_avro_field(f, "") for f in fields]}


def _avro_value(field: dict) -> Any:
    """A function turning an Arrow-side Python value into what fastavro writes for the field."""
    type_name = field["type"]
    if type_name == "RECORD":
        subs = [(sub["name"], _avro_value(sub)) for sub in field["fields"]]

        def base(value: dict) -> dict:
            return {name: convert(value.get(name)) for name, convert in subs}

    elif type_name == "DATETIME":

        def base(value: Any) -> Any:
            return value.isoformat()

    elif type_name == "INTERVAL":
        base = _interval_text
    else:

        def base(value: Any) -> Any:
            return value

    if field.get("mode") == "REPEATED":
        return lambda value: [base(v) for v in value or ()]
    return lambda value: None if value is None else base(value)


def _interval_text(value: Any) -> str:
    """BigQuery's canonical INTERVAL text (Y-M D H:M:S[.F]) of an Arrow month/day/nano value."""
    months, days, nanos = value.months, value.days, value.nanoseconds
    years, months_left = divmod(abs(months), 12)
    seconds, frac = divmod(abs(nanos) // 1000, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = (f"{'-' if months < 0 else ''}{years}-{months_left} {days} "
            f"{'-' if nanos < 0 else ''}{hours}:{minutes}:{seconds}")  # fmt: skip
    return text + (f".{frac:06d}".rstrip("0") if frac else "")


class AvroEncoder:
    """Encodes Arrow record batches as concatenated schemaless Avro rows."""

    def __init__(self, fields: list[dict]):
        import fastavro

        self.schema_json = json.dumps(avro_schema(fields))
        self._parsed = fastavro.parse_schema(json.loads(self.schema_json))
        self._converters = [(f["name"], _avro_value(f)) for f in fields]

    def encode(self, batch: Any) -> bytes:
        from fastavro import schemaless_writer

        out = io.BytesIO()
        columns = [(name, convert, batch.column(i).to_pylist())
                   for i, (name, convert) in enumerate(self._converters)]  # fmt: skip
        for index in range(batch.num_rows):
            row = {name: convert(values[index]) for name, convert, values in columns}
            schemaless_writer(out, self._parsed, row)
        return out.getvalue()
