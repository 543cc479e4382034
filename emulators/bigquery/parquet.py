"""Load jobs from uploaded Parquet files (`load_table_from_dataframe`, pandas-gbq `to_gbq`).

The file is read with pyarrow; without a job schema, a new table's schema comes from the
file as BigQuery documents its Parquet conversions (integers INTEGER, floating point FLOAT,
decimals NUMERIC or BIGNUMERIC by precision, timestamps adjusted to UTC TIMESTAMP, others
DATETIME, lists REPEATED, structs RECORD). Columns are matched to the table by name
(case-insensitively) and cast to its types in bulk; the rows go to DuckDB as one Arrow append.
"""

from __future__ import annotations

from typing import Any

from .appends import Appender
from .catalog import Catalog
from .destinations import existing_destination, load_destination
from .errors import Invalid
from .types import arrow_type

_READ_ERROR = "Error while reading data, error message: "


def load_parquet(
    catalog: Catalog,
    appender: Appender,
    config: dict,
    dest: dict,
    schema: list[dict] | None,
    data: bytes,
) -> dict:
    """Append the rows of a Parquet file per the job's dispositions; returns statistics.load."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise Invalid(f"{_READ_ERROR}Invalid Parquet file: {exc}") from None
    create = config.get("createDisposition") or "CREATE_IF_NEEDED"
    write = config.get("writeDisposition") or "WRITE_APPEND"
    ignore_unknown = bool(config.get("ignoreUnknownValues"))
    with catalog.storage.lock:
        table = existing_destination(catalog, dest, create, write, "load into")
        if schema is None:
            detected = parquet_schema(rows.schema)
            if table is not None and "ALLOW_FIELD_ADDITION" in (
                config.get("schemaUpdateOptions") or []
            ):
                known = {f["name"].lower() for f in table.schema}
                schema = table.schema + [f for f in detected if f["name"].lower() not in known]
            effective = schema or (table.schema if table is not None else detected)
        else:
            effective = schema
        table = load_destination(catalog, config, dest, table, schema, effective)
        converted = conform(rows, table.schema, ignore_unknown)
        appender.append_table(table, converted)
        catalog.save_table(table)
    return {
        "inputFiles": "1",
        "inputFileBytes": str(len(data)),
        "outputRows": str(converted.num_rows),
        "outputBytes": str(converted.nbytes),
        "badRecords": "0",
    }


def conform(rows: Any, fields: list[dict], ignore_unknown: bool) -> Any:
    """`rows` as an Arrow table of `fields` (in order), cast column by column; Invalid for a
    column the table lacks (unless ignored), a value that does not convert or a NULL in a
    REQUIRED column."""
    import pyarrow as pa

    given = {name.lower(): i for i, name in enumerate(rows.column_names)}
    wanted = {f["name"].lower() for f in fields}
    extra = [n for n in rows.column_names if n.lower() not in wanted]
    if extra and not ignore_unknown:
        raise Invalid(
            f"Provided Schema does not match Table. Field {extra[0]} is not in the table "
            "schema (use schemaUpdateOptions ALLOW_FIELD_ADDITION or ignoreUnknownValues)."
        )
    columns = []
    for field in fields:
        target = arrow_type(field)
        index = given.get(field["name"].lower())
        if index is None:
            if field.get("mode") == "REQUIRED":
                raise Invalid(f"{_READ_ERROR}Required field {field['name']} is missing.")
            columns.append(pa.nulls(rows.num_rows, target))
            continue
        column = _cast(rows.column(index), target, field["name"])
        if field.get("mode") == "REQUIRED" and column.null_count:
            raise Invalid(f"{_READ_ERROR}Required field {field['name']} cannot be null.")
        columns.append(column)
    return pa.Table.from_arrays(columns, names=[f["name"] for f in fields])


def _cast(column: Any, target: Any, name: str) -> Any:
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        temporal = pa.types.is_temporal(column.type) and pa.types.is_temporal(target)
        if temporal:  # nanoseconds from pandas: BigQuery keeps microseconds
            try:
                return column.cast(target, safe=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        raise Invalid(
            f"{_READ_ERROR}Field {name}: cannot convert {column.type} to the column's type: {exc}"
        ) from None


def parquet_schema(schema: Any) -> list[dict]:
    """BigQuery fields for an Arrow schema read from Parquet."""
    return [_field(field.name, field.type) for field in schema]


def _field(name: str, arrow: Any) -> dict:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow):
        arrow = arrow.value_type
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        inner = _field(name, arrow.value_type)
        if inner["mode"] == "REPEATED":  # BigQuery has no arrays of arrays
            return {"name": name, "type": "JSON", "mode": "REPEATED"}
        return {**inner, "mode": "REPEATED"}
    if pa.types.is_struct(arrow):
        subs = [_field(arrow.field(i).name, arrow.field(i).type) for i in range(arrow.num_fields)]
        return {"name": name, "type": "RECORD", "mode": "NULLABLE", "fields": subs}
    return {"name": name, "type": _scalar(arrow), "mode": "NULLABLE"}


def _scalar(arrow: Any) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(arrow):
        return "BOOLEAN"
    if pa.types.is_integer(arrow):
        return "INTEGER"
    if pa.types.is_floating(arrow):
        return "FLOAT"
    if pa.types.is_decimal(arrow):
        return (
            "NUMERIC" if arrow.scale <= 9 and arrow.precision - arrow.scale <= 29 else "BIGNUMERIC"
        )
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMP" if arrow.tz else "DATETIME"
    if pa.types.is_date(arrow):
        return "DATE"
    if pa.types.is_time(arrow):
        return "TIME"
    if (
        pa.types.is_binary(arrow)
        or pa.types.is_large_binary(arrow)
        or pa.types.is_fixed_size_binary(arrow)
    ):
        return "BYTES"
    return "STRING"
