"""Extract jobs: a table's rows to ``gs://`` objects as CSV, NEWLINE_DELIMITED_JSON, Avro or
Parquet, compressed and sharded as BigQuery does it.

A destination URI with ``*`` is sharded: ``*`` becomes a 12-digit zero-padded shard number,
every wildcard URI gets at least one file (an empty table still gives one file: a CSV header,
an Avro schema) and a shard holds at most :data:`ROWS_PER_SHARD` rows (BigQuery cuts at about
1 GB). A URI without ``*`` gets one file with every row.
"""

from __future__ import annotations

import gzip
import math
from typing import Any

from . import fileformats
from .catalog import Catalog
from .errors import Invalid, expect_dict
from .gcs import CloudStorage, parse_uris, require
from .identifiers import columns as column_list
from .identifiers import ident
from .query import QueryContext

ROWS_PER_SHARD = 1_000_000
FORMATS = ("CSV", "NEWLINE_DELIMITED_JSON", "AVRO", "PARQUET")
CONTENT_TYPES = {
    "CSV": "text/csv",
    "NEWLINE_DELIMITED_JSON": "application/json",
    "AVRO": "application/octet-stream",
    "PARQUET": "application/octet-stream",
}


def run_extract(
    catalog: Catalog, gcs: CloudStorage | None, config: dict, ctx: QueryContext
) -> dict:
    """Write the source table (read on ``ctx``, so the job's stop interrupts it) to the
    destination URIs; returns statistics.extract."""
    source = expect_dict(config.get("sourceTable"), "sourceTable")
    if not source:
        raise Invalid("An extract job needs configuration.extract.sourceTable (models cannot be "
                      "extracted by this emulator).")  # fmt: skip
    ref = (source.get("projectId"), source.get("datasetId"), source.get("tableId"))
    if not all(isinstance(part, str) and part for part in ref):
        raise Invalid("sourceTable needs projectId, datasetId and tableId.")
    fmt = str(config.get("destinationFormat") or "CSV").upper()
    if fmt not in FORMATS:
        raise Invalid(f"Invalid destinationFormat: {fmt} (one of {', '.join(FORMATS)}).")
    compression = str(config.get("compression") or "NONE").upper()
    if fmt in ("CSV", "NEWLINE_DELIMITED_JSON") and compression not in ("NONE", "GZIP"):
        raise Invalid(f"Compression {compression} is not supported for {fmt} (NONE, GZIP).")
    uris = parse_uris(
        config.get("destinationUris") or config.get("destinationUri"),
        what="extract destination URI",
    )
    storage = require(gcs)
    table = catalog.get_table(*ref)
    if table.type != "TABLE":
        raise Invalid(
            f"Cannot extract {ref[0]}:{ref[1]}.{ref[2]}: it is a {table.type}; extract jobs "
            "read tables."
        )
    if len(uris) > 1 and not all(u.wildcard for u in uris):
        raise Invalid("With more than one destination URI, every URI needs a '*' wildcard.")
    schema = table.schema
    columns = column_list(f["name"] for f in schema) or "NULL"
    _, arrow = ctx.fetch_arrow(f"SELECT {columns} FROM {ident(table.storage_name)}", None)
    shards = max(len(uris) if uris[0].wildcard else 1, math.ceil(arrow.num_rows / ROWS_PER_SHARD))
    if not uris[0].wildcard:
        shards = 1
    per_shard = math.ceil(arrow.num_rows / shards) if arrow.num_rows else 0
    counts = [0] * len(uris)
    for number in range(shards):
        ctx.stop.check()  # a cancelled job writes no further shard
        part = arrow.slice(number * per_shard, per_shard) if per_shard else arrow
        index = number % len(uris)
        uri = uris[index]
        target = uri.shard(counts[index]) if uri.wildcard else uri
        counts[index] += 1
        storage.write(target, encode(fmt, schema, part, compression, config),
                      CONTENT_TYPES[fmt])  # fmt: skip
    return {
        "destinationUriFileCounts": [str(c) for c in counts],
        "inputBytes": str(arrow.nbytes),
    }


def encode(fmt: str, schema: list[dict], arrow: Any, compression: str, config: dict) -> bytes:
    """One file of an extract: the rows in ``arrow`` in ``fmt``."""
    if fmt == "PARQUET":
        return fileformats.write_parquet(arrow, compression)
    rows = arrow.to_pylist()
    if fmt == "AVRO":
        return fileformats.write_avro(
            schema, rows, compression, bool(config.get("useAvroLogicalTypes"))
        )
    if fmt == "CSV":
        data = fileformats.write_csv(schema, rows, config)
    else:
        data = fileformats.write_json(schema, rows)
    return gzip.compress(data) if compression == "GZIP" else data
