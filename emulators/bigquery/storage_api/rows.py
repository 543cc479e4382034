"""AppendRows payloads -> Arrow tables in a BigQuery table's schema.

Proto rows: the writer's `DescriptorProto` becomes a message class (read with proto2 rules, as
BigQuery does: a field absent from the wire is NULL), each serialized row is parsed and its
present fields are collected column by column, then converted to the column's type with the
Storage Write API's documented input types (INT64 from any integer type, TIMESTAMP from int64
microseconds or text, DATE from int32 days or text, DATETIME/TIME from text or the packed civil
time encoding, NUMERIC/BIGNUMERIC from text or the little-endian two's-complement bytes, ...).
Arrow rows: a serialized schema and record batch, cast column by column.

Bad cells give per-row errors (BigQuery then appends none of the request's rows); a writer
schema that does not fit the table raises `SchemaMismatch`.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

from ..types import ConversionError, arrow_type, scalar_parser

Converter = Callable[[Any], Any]
_BULK: dict[str, Any] = {}  # filled on first use (pyarrow is imported lazily)
_EPOCH_DATE = dt.date(1970, 1, 1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class SchemaMismatch(Exception):
    """The writer schema does not fit the table (extra or incompatible fields)."""

    def __init__(self, message: str, extra_fields: bool = False):
        super().__init__(message)
        self.message = message
        self.extra_fields = extra_fields


# ------------------------------------------------------------------ scalar conversions


def _civil_time(packed: int) -> dt.time:
    # CivilTimeEncoding: hour(5) minute(6) second(6) micros(20)
    micros = packed & 0xFFFFF
    second = (packed >> 20) & 0x3F
    minute = (packed >> 26) & 0x3F
    hour = (packed >> 32) & 0x1F
    return dt.time(hour, minute, second, micros)


def _civil_datetime(packed: int) -> dt.datetime:
    # CivilTimeEncoding: year(14) month(4) day(5) + the 37 bits of a packed time
    time_part = _civil_time(packed & ((1 << 37) - 1))
    day = (packed >> 37) & 0x1F
    month = (packed >> 42) & 0xF
    year = (packed >> 46) & 0x3FFF
    return dt.datetime.combine(dt.date(year, month, day), time_part)


def _decimal_bytes(scale: int) -> Converter:
    def convert(raw: bytes) -> decimal.Decimal:
        unscaled = int.from_bytes(raw, "little", signed=True)
        return decimal.Decimal(unscaled).scaleb(-scale)

    return convert


def _either(on_int: Converter | None, on_text: Converter, on_bytes: Converter | None = None):
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            return on_text(value)
        if isinstance(value, bytes) and on_bytes is not None:
            return on_bytes(value)
        if isinstance(value, int) and not isinstance(value, bool) and on_int is not None:
            return on_int(value)
        raise ConversionError(f"Invalid value: {value!r}")

    return convert


def _int_parser(value: Any) -> int:
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return scalar_parser("INTEGER")(value)  # range-checked (uint64 may not fit)
    raise ConversionError(f"Cannot convert value to integer: {value!r}")


def _float_parser(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ConversionError(f"Cannot convert value to floating point: {value!r}")


def _exactly(kind: type, noun: str) -> Converter:
    """A converter that takes values of one Python type as they are (bool is not an int)."""

    def convert(value: Any) -> Any:
        if type(value) is kind:
            return value
        raise ConversionError(f"Cannot convert value to {noun}: {value!r}")

    return convert


def _timestamp_micros(value: int) -> dt.datetime:
    try:
        return _EPOCH + dt.timedelta(microseconds=value)
    except OverflowError:
        raise ConversionError(f"Timestamp out of range: {value}") from None


def scalar_converter(type_name: str) -> Converter:
    """Proto-native value -> the Python value stored for a BigQuery type (ConversionError)."""
    text = scalar_parser(type_name)
    return {
        "INTEGER": _int_parser,
        "FLOAT": _float_parser,
        "BOOLEAN": _exactly(bool, "boolean"),
        "STRING": _exactly(str, "string"),
        "BYTES": _exactly(bytes, "bytes"),
        "TIMESTAMP": _either(_timestamp_micros, text),
        "DATE": _either(lambda days: _EPOCH_DATE + dt.timedelta(days=days), text),
        "DATETIME": _either(_civil_datetime, text),
        "TIME": _either(_civil_time, text),
        "NUMERIC": _either(None, text, lambda raw: text(_decimal_bytes(9)(raw))),
        "BIGNUMERIC": _either(None, text, lambda raw: text(_decimal_bytes(38)(raw))),
        "JSON": _either(None, text),
        "GEOGRAPHY": _either(None, text),
        "INTERVAL": _either(None, text),
    }[type_name]


# Proto field types a column takes without any per-value conversion
_NATIVE = {
    "INTEGER": {"int32", "int64", "uint32", "sint32", "sint64", "fixed32", "sfixed32", "sfixed64",
                "enum"},
    "FLOAT": {"double"},
    "BOOLEAN": {"bool"},
    "STRING": {"string"},
    "BYTES": {"bytes"},
}  # fmt: skip
_ACCEPTED = {
    "INTEGER": _NATIVE["INTEGER"] | {"uint64", "fixed64", "string"},
    "FLOAT": {"double", "float", "int32", "int64", "uint32", "uint64"},
    "BOOLEAN": {"bool"},
    "STRING": {"string"},
    "BYTES": {"bytes"},
    "TIMESTAMP": {"int64", "string", "sint64", "sfixed64"},
    "DATE": {"int32", "string", "sint32", "sfixed32", "int64"},
    "DATETIME": {"int64", "string"},
    "TIME": {"int64", "string"},
    "NUMERIC": {"string", "bytes"},
    "BIGNUMERIC": {"string", "bytes"},
    "JSON": {"string"},
    "GEOGRAPHY": {"string"},
    "INTERVAL": {"string"},
}
_PROTO_TYPES = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
    8: "bool", 9: "string", 10: "group", 11: "message", 12: "bytes", 13: "uint32", 14: "enum",
    15: "sfixed32", 16: "sfixed64", 17: "sint32", 18: "sint64",
}  # fmt: skip


# ------------------------------------------------------------------ proto rows


class _Column:
    """How one proto field feeds one table column (recursively for RECORD)."""

    __slots__ = ("field", "repeated", "convert", "native", "record")

    def __init__(self, field: dict, proto_field: Any, path: str):
        self.field = field
        proto_type = _PROTO_TYPES.get(proto_field.type, "?")
        self.repeated = proto_field.label == 3  # LABEL_REPEATED
        mode = field.get("mode") or "NULLABLE"
        if self.repeated and mode != "REPEATED":
            raise SchemaMismatch(
                f"Field {path} is repeated in the writer schema but not in the table."
            )
        if mode == "REPEATED" and not self.repeated:
            raise SchemaMismatch(
                f"Field {path} is repeated in the table but not in the writer schema."
            )
        self.record: _Record | None = None
        self.native = False
        if field["type"] == "RECORD":
            if proto_type not in ("message", "group"):
                raise SchemaMismatch(f"Field {path} is a RECORD but the writer sends {proto_type}.")
            self.record = _Record(field["fields"], proto_field.message_type, path + ".")
            self.convert = self.record.to_dict
        else:
            if proto_type not in _ACCEPTED[field["type"]]:
                raise SchemaMismatch(
                    f"Field {path} of type {field['type']} cannot take proto type {proto_type}."
                )
            self.native = proto_type in _NATIVE.get(field["type"], ())
            self.convert = scalar_converter(field["type"])


class _Record:
    """The table fields of one RECORD level matched to a message's proto fields."""

    def __init__(self, fields: list[dict], descriptor: Any, prefix: str):
        by_name = {f["name"].lower(): f for f in fields}
        self.columns: dict[Any, tuple[str, _Column]] = {}
        extra = []
        for proto_field in descriptor.fields:
            field = by_name.get(proto_field.name.lower())
            if field is None:
                if proto_field.name.upper() == "_CHANGE_TYPE":
                    raise SchemaMismatch("_CHANGE_TYPE (change data capture) is not supported.")
                extra.append(prefix + proto_field.name)
                continue
            column = _Column(field, proto_field, prefix + field["name"])
            self.columns[proto_field] = (field["name"], column)
        if extra:
            raise SchemaMismatch(
                "Input schema has more fields than BigQuery schema, extra fields: "
                + ", ".join(f"'{name}'" for name in extra),
                extra_fields=True,
            )
        mapped = {name.lower() for name, _ in self.columns.values()}
        missing = [f["name"] for f in fields
                   if f.get("mode") == "REQUIRED" and f["name"].lower() not in mapped]  # fmt: skip
        if missing:
            raise SchemaMismatch(
                f"Required field {prefix}{missing[0]} is missing from the writer schema."
            )
        self.required = [f["name"] for f in fields if f.get("mode") == "REQUIRED"]

    def to_dict(self, message: Any) -> dict:
        out: dict[str, Any] = {}
        for proto_field, value in message.ListFields():
            name, column = self.columns[proto_field]
            out[name] = _convert(column, value)
        for name in self.required:
            if name not in out:
                raise ConversionError(f"Missing required field: {name}.")
        return out


def _convert(column: _Column, value: Any) -> Any:
    if column.repeated:
        if column.native:
            return list(value)
        return [column.convert(v) for v in value]
    return value if column.native else column.convert(value)


class ProtoDecoder:
    """Serialized proto rows of one writer schema -> Arrow tables of one table schema."""

    def __init__(self, descriptor_proto: Any, schema: list[dict]):
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        file_proto = descriptor_pb2.FileDescriptorProto(
            name="append_rows_writer_schema.proto", package="_emulator", syntax="proto2"
        )
        file_proto.message_type.add().CopyFrom(descriptor_proto)
        pool = descriptor_pool.DescriptorPool()
        try:
            pool.Add(file_proto)
            descriptor = pool.FindMessageTypeByName(f"_emulator.{descriptor_proto.name}")
        except Exception as exc:  # noqa: BLE001 - TypeError/KeyError from the descriptor pool
            raise SchemaMismatch(f"Invalid proto descriptor: {exc}") from None
        self.message_class = message_factory.GetMessageClass(descriptor)
        if not _BULK:
            _BULK.update(_bulk_types())
        self.record = _Record(schema, descriptor, "")
        self.schema = schema
        self.arrow_schema = _arrow_schema(schema)

    def decode(self, rows: list[bytes], strict: bool = False) -> tuple[Any, list[tuple[int, str]]]:
        """(Arrow table, []) or (None, [(row index, message), ...]). Unless `strict`, JSON text
        is passed on unchecked (DuckDB checks it in bulk; on failure, decode again strictly to
        find the rows)."""
        import pyarrow as pa

        count = len(rows)
        slots = {proto_field: index for index, proto_field in enumerate(self.record.columns)}
        values: list[list] = [[None] * count for _ in slots]
        errors: list[tuple[int, str]] = []
        parse = self.message_class.FromString
        for i, raw in enumerate(rows):
            try:
                for proto_field, value in parse(raw).ListFields():
                    values[slots[proto_field]][i] = value
            except Exception as exc:  # noqa: BLE001 - DecodeError: a corrupt row
                errors.append((i, f"Cannot parse the row: {exc}"))
        arrays: dict[str, Any] = {}
        types = {f.name: f.type for f in self.arrow_schema}
        for (name, column), column_values in zip(self.record.columns.values(), values, strict=True):
            array = _column_array(column, column_values, types[name], errors, strict)
            arrays[name] = array
            if name in self.record.required and array.null_count:
                nulls = array.is_null().to_pylist()
                errors += [
                    (i, f"Missing required field: {name}.") for i, n in enumerate(nulls) if n
                ]
        if errors:
            return None, sorted(set(errors))
        columns = [arrays[f.name] if f.name in arrays else pa.nulls(count, f.type)
                   for f in self.arrow_schema]  # fmt: skip
        return pa.Table.from_arrays(columns, schema=self.arrow_schema), []


def _column_array(
    column: _Column, values: list, arrow: Any, errors: list[tuple[int, str]], strict: bool
) -> Any:
    """One column's values as an Arrow array of its table type: in bulk when the proto type
    maps directly (or as int64 micros/days), value by value (with row errors) otherwise."""
    import pyarrow as pa

    if not column.repeated:
        if column.native or (column.field["type"] == "JSON" and not strict):
            try:
                return pa.array(values, type=arrow)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                pass  # e.g. a uint64 past INT64: found value by value below
        bulk = _BULK.get(column.field["type"])
        if bulk is not None:  # text values make this fail: then value by value
            try:
                return pa.array(values, type=bulk).cast(arrow)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                pass
    out = []
    for i, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(_convert(column, value))
        except ConversionError as exc:
            errors.append((i, f"Field {column.field['name']}: {exc}"))
            out.append(None)
    return pa.array(out, type=arrow)


def _bulk_types() -> dict[str, Any]:
    import pyarrow as pa

    # int64 microseconds since the epoch / int32 days since the epoch, as the API documents
    return {"TIMESTAMP": pa.int64(), "DATE": pa.int32()}


def _arrow_schema(schema: list[dict]) -> Any:
    import pyarrow as pa

    return pa.schema([pa.field(f["name"], arrow_type(f)) for f in schema])


# ------------------------------------------------------------------ Arrow rows


def decode_arrow(schema_bytes: bytes, batch_bytes: bytes, schema: list[dict], strict: bool):
    """(Arrow table in the table's schema, []) or (None, row errors) from serialized Arrow
    (`strict`: JSON text is checked here, else DuckDB checks it when storing)."""
    import pyarrow as pa

    try:
        writer_schema = pa.ipc.read_schema(pa.py_buffer(schema_bytes))
        batch = pa.ipc.read_record_batch(pa.py_buffer(batch_bytes), writer_schema)
        batch.validate(full=True)  # offsets and lengths checked before any value is read
    except (pa.ArrowException, ValueError, OSError, EOFError) as exc:  # bytes that are not Arrow
        raise SchemaMismatch(f"Invalid Arrow data: {exc}") from None
    by_name = {f["name"].lower(): f for f in schema}
    extra = [n for n in batch.schema.names if n.lower() not in by_name]
    if extra:
        raise SchemaMismatch(
            "Input schema has more fields than BigQuery schema, extra fields: "
            + ", ".join(f"'{n}'" for n in extra),
            extra_fields=True,
        )
    given = {n.lower(): batch.column(i) for i, n in enumerate(batch.schema.names)}
    target = _arrow_schema(schema)
    arrays, errors = [], []
    for field, arrow_field in zip(schema, target, strict=True):
        column = given.get(field["name"].lower())
        if column is None:
            if field.get("mode") == "REQUIRED":
                raise SchemaMismatch(
                    f"Required field {field['name']} is missing from the writer schema."
                )
            arrays.append(pa.nulls(batch.num_rows, arrow_field.type))
            continue
        try:
            column = column.cast(arrow_field.type)
        except (pa.ArrowException, ValueError) as exc:
            raise SchemaMismatch(f"Field {field['name']}: cannot convert: {exc}") from None
        if field.get("mode") == "REQUIRED" and column.null_count:
            nulls = column.is_null().to_pylist()
            errors += [
                (i, f"Missing required field: {field['name']}.") for i, n in enumerate(nulls) if n
            ]
        arrays.append(column)
    if errors:
        return None, errors
    return pa.Table.from_arrays(arrays, schema=target), []
