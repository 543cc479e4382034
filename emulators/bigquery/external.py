"""External tables (``externalDataConfiguration``): queries read their ``gs://`` objects.

An EXTERNAL table stores no rows. Each statement that names one reads the objects its
``sourceUris`` name at that moment (through gcs.py, with the load job's parsers and row
validation) and gets them as a temporary table of its own connection (the query engine's table
resolution, ``QueryEngine._external``), so every query sees the bucket as it is now and two
queries never share what they read. Without a schema, ``autodetect`` (or Avro/Parquet's own
schema) decides it on the first query.
"""

from __future__ import annotations

from typing import Any

from .catalog import Table
from .errors import Invalid, expect_dict
from .gcs import CloudStorage, read_sources
from .load import FORMATS, _autodetect_json, _int_option, convert_records, read_records
from .types import arrow_schema


def load_options(external: dict) -> dict:
    """The load-job configuration that reads what an ``externalDataConfiguration`` names."""
    csv = expect_dict(external.get("csvOptions"), "csvOptions")
    avro = expect_dict(external.get("avroOptions"), "avroOptions")
    options = {
        key: csv[key]
        for key in ("skipLeadingRows", "fieldDelimiter", "quote", "allowJaggedRows", "encoding",
                    "nullMarker")  # fmt: skip
        if key in csv
    }
    for key in ("autodetect", "ignoreUnknownValues", "maxBadRecords"):
        if key in external:
            options[key] = external[key]
    if avro.get("useAvroLogicalTypes"):
        options["useAvroLogicalTypes"] = True
    return options


def read_external(gcs: CloudStorage | None, table: Table) -> tuple[list[dict], Any]:
    """The schema of ``table`` (its own, else detected) and the rows its source objects hold
    now, as an Arrow table of that schema."""
    import pyarrow as pa

    external = expect_dict(table.properties.get("externalDataConfiguration"),
                           "externalDataConfiguration")  # fmt: skip
    fmt = str(external.get("sourceFormat") or "CSV").upper()
    if fmt not in FORMATS:
        raise Invalid(f"External tables of format {fmt} are not supported ({', '.join(FORMATS)}).")
    options = load_options(external)
    given = expect_dict(external.get("schema"), "schema").get("fields") or table.schema or None
    sources = list(read_sources(gcs, external.get("sourceUris")))
    records, bad, schema = read_records(fmt, sources, options, given, table if given else None)
    if schema is None:
        if not external.get("autodetect"):
            raise Invalid(f"External table {table.table_id} has no schema and no autodetect.")
        schema = _autodetect_json(records)
    converted, errors = convert_records(schema, records, bad,
                                        bool(options.get("ignoreUnknownValues")))  # fmt: skip
    if len(errors) > _int_option(options, "maxBadRecords"):
        raise Invalid(
            f"Error while reading table: {table.table_id}, error message: {errors[0]['message']}"
        )
    return schema, pa.Table.from_pylist(converted, schema=arrow_schema(schema))
