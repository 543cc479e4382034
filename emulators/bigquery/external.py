"""External tables (``externalDataConfiguration``): queries read their ``gs://`` objects.

An EXTERNAL table has a storage table like any other; each query that references it first
refreshes it from the objects its ``sourceUris`` name now (through gcs.py, with the load job's
parsers and row validation), so the query sees the bucket as it is at that moment. Without a
schema, ``autodetect`` (or Avro/Parquet's own schema) decides it on the first query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import Invalid, expect_dict
from .load import FORMATS, _autodetect_json, _int_option, convert_records, read_records
from .storage import Storage
from .types import quote_ident

if TYPE_CHECKING:
    from .catalog import Table
    from .service import BigQueryService


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


def refresh_external(service: BigQueryService, table: Table) -> None:
    """Replace the rows of ``table``'s storage with what its source objects hold now."""
    from .gcs import read_sources

    external = expect_dict(table.properties.get("externalDataConfiguration"),
                           "externalDataConfiguration")  # fmt: skip
    fmt = str(external.get("sourceFormat") or "CSV").upper()
    if fmt not in FORMATS:
        raise Invalid(f"External tables of format {fmt} are not supported ({', '.join(FORMATS)}).")
    options = load_options(external)
    given = expect_dict(external.get("schema"), "schema").get("fields") or table.schema or None
    sources = list(read_sources(service, external.get("sourceUris")))
    known = table if given else None
    records, bad, schema = read_records(fmt, sources, options, given, known)
    if schema is None:
        if not external.get("autodetect"):
            raise Invalid(f"External table {table.table_id} has no schema and no autodetect.")
        schema = _autodetect_json(records)
    converted, errors = convert_records(schema, records, bad, bool(options.get("ignoreUnknownValues")))
    if len(errors) > _int_option(options, "maxBadRecords"):
        raise Invalid(
            f"Error while reading table: {table.table_id}, error message: {errors[0]['message']}",
            reason="invalid",
        )
    with service.storage.lock:
        current = service.catalog.find_table(*table.ref) or table
        if not current.schema:  # the first query of an autodetected table fixes its schema
            current.schema = schema
            with service.storage.transaction() as con:
                Storage.drop_table(con, current.storage_name)
                Storage.create_table(con, current.storage_name, schema)
                service.catalog.save_table(current, con)
        service.storage.execute(f"DELETE FROM {quote_ident(current.storage_name)}")
        service.append_rows(current, converted)
