"""Load jobs: NEWLINE_DELIMITED_JSON, CSV, Avro and Parquet, uploaded or from ``gs://`` URIs."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

from .appends import Appender
from .catalog import Catalog, Table
from .destinations import existing_destination, new_destination
from .errors import Invalid, expect_dict, expect_list
from .fileformats import maybe_gunzip, read_avro, read_parquet
from .gcs import CloudStorage, read_sources
from .insert import RowValidator
from .types import lone_surrogate, normalize_schema, parse_date, parse_timestamp


def run_load(
    catalog: Catalog,
    appender: Appender,
    gcs: CloudStorage | None,
    config: dict,
    data: bytes | None,
    check: Callable[[], None] = lambda: None,
) -> dict:
    """Parse, validate and write the rows of an upload (``data``) or of the ``gs://`` objects of
    ``sourceUris`` (read through ``gcs``, the Cloud Storage JSON API); returns statistics.load.
    ``check`` raises when the job was stopped (called between objects and steps)."""
    fmt = str(config.get("sourceFormat") or "CSV").upper()
    if fmt not in FORMATS:
        raise Invalid(
            f"Source format {fmt} is not supported by this emulator "
            f"({', '.join(FORMATS)} are)."
        )
    dest = expect_dict(config.get("destinationTable"), "destinationTable")
    project, dataset_id, table_id = (
        dest.get("projectId"),
        dest.get("datasetId"),
        dest.get("tableId"),
    )
    if not all(isinstance(p, str) and p for p in (project, dataset_id, table_id)):
        raise Invalid("Load job needs configuration.load.destinationTable.")
    if data is None:
        sources = []
        for source in read_sources(gcs, config.get("sourceUris")):
            check()
            sources.append(source)
    else:
        sources = [("upload", data)]
    given = expect_dict(config.get("schema"), "schema").get("fields")
    if given is not None:
        expect_list(given, "schema.fields")
    try:
        schema = normalize_schema(given) if given else None
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    table = catalog.find_table(project, dataset_id, table_id)
    records, bad, schema = read_records(fmt, sources, config, schema, table)
    if schema is None and table is None:
        if not config.get("autodetect"):
            raise Invalid("No schema specified on job or table.")
        schema = _autodetect_json(records)
    options = config.get("schemaUpdateOptions") or []
    if not isinstance(options, list) or set(options) - SCHEMA_UPDATE_OPTIONS:
        raise Invalid(f"Invalid value for schemaUpdateOptions: {options!r}")
    if schema is None and table is not None and config.get("autodetect") and \
            fmt == "NEWLINE_DELIMITED_JSON" and "ALLOW_FIELD_ADDITION" in options:  # fmt: skip
        detected = _autodetect_json(records)
        if _has_new_fields(table.schema, detected):
            names = {f["name"].lower() for f in table.schema}
            schema = table.schema + [f for f in detected if f["name"].lower() not in names]
    max_bad = _int_option(config, "maxBadRecords")
    ignore_unknown = bool(config.get("ignoreUnknownValues"))
    create = config.get("createDisposition") or "CREATE_IF_NEEDED"
    write = config.get("writeDisposition") or "WRITE_APPEND"
    check()
    with catalog.storage.lock:
        table = existing_destination(catalog, dest, create, write, "load into")
        effective = schema if schema is not None else (table.schema if table else [])
        if table is None and not effective:
            raise Invalid("No schema specified on job or table (nothing to autodetect from).")
        converted, errors = convert_records(effective, records, bad, ignore_unknown)
        if len(errors) > max_bad:
            kind = {"NEWLINE_DELIMITED_JSON": "JSON", "CSV": "CSV"}.get(fmt, fmt)
            raise Invalid(
                f"Error while reading data, error message: {kind} table encountered too many "
                f"errors, giving up. Rows: {len(records) + len(bad)}; errors: {len(errors)}. "
                f"Please look into the errors[] collection for more details. First error: "
                f"{errors[0]['message']}"
            )
        fresh = new_destination(catalog, dest, table, effective, write)
        if fresh is not None:
            table = fresh
        elif schema is not None:
            table = _update_schema(catalog, table, schema, options)
        appender.append_rows(table, converted)
        catalog.save_table(table)
    size = sum(len(content) for _, content in sources)
    return {
        "inputFiles": str(len(sources)),
        "inputFileBytes": str(size),
        "outputRows": str(len(converted)),
        "outputBytes": str(size),
        "badRecords": str(len(errors)),
    }


FORMATS = ("NEWLINE_DELIMITED_JSON", "CSV", "AVRO", "PARQUET")
SCHEMA_UPDATE_OPTIONS = {"ALLOW_FIELD_ADDITION", "ALLOW_FIELD_RELAXATION"}


def read_records(
    fmt: str, sources: list[tuple[str, bytes]], config: dict, schema: list[dict] | None,
    table: Table | None,
) -> tuple[list[Any], list[dict], list[dict] | None]:
    """Records (JSON-encoded values), per-row errors already found, and the schema: the job's,
    else one the files give (Avro and Parquet carry their own; CSV with ``autodetect``)."""
    records: list[Any] = []
    bad: list[dict] = []
    if fmt in ("AVRO", "PARQUET"):
        logical = bool(config.get("useAvroLogicalTypes"))
        file_schema = None
        for _uri, content in sources:
            found, rows = read_avro(content, logical) if fmt == "AVRO" else read_parquet(content)
            file_schema = file_schema or found
            records.extend(rows)
        if schema is None and (table is None or config.get("schemaUpdateOptions")):
            schema = file_schema
        return records, bad, schema
    if fmt == "NEWLINE_DELIMITED_JSON":
        encoding = _encoding(config)
        for _uri, content in sources:
            found, errors = _ndjson_records(maybe_gunzip(content), encoding)
            records.extend(found)
            bad.extend(errors)
        return records, bad, schema
    texts = [_decode(content, config) for _, content in sources]
    per_file = [_csv_rows(text, config) for text in texts]
    rows = [row for file_rows in per_file for row in file_rows]
    if schema is None and table is None and config.get("autodetect") and rows:
        header, first = _detect_header(per_file[0], config)
        rows = first + [row for file_rows in per_file[1:] for row in
                        (file_rows[1:] if file_rows[:1] == [header] else file_rows)]  # fmt: skip
        schema = _autodetect_csv(header, rows)
    target_schema = schema or (table.schema if table else None)
    if target_schema is None:
        raise Invalid("No schema specified on job or table.")
    records, bad = _csv_records(rows, target_schema, config)
    return records, bad, schema


def _encoding(config: dict) -> str:
    encoding = str(config.get("encoding") or "UTF-8").replace("ISO-8859-1", "latin-1")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise Invalid(f"Invalid value for encoding: {encoding}") from None
    return encoding


def _decode(content: bytes, config: dict) -> str:
    encoding = _encoding(config)
    try:
        return maybe_gunzip(content).decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise Invalid(
            f"Error while reading data, error message: cannot decode as {encoding}: {exc}"
        ) from None


def convert_records(
    schema: list[dict], records: list[Any], bad: list[dict], ignore_unknown: bool
) -> tuple[list[dict], list[dict]]:
    """Rows converted for ``schema`` and every error (``bad`` first), as load jobs report them."""
    validator = RowValidator(schema)
    converted: list[dict] = []
    errors: list[dict] = list(bad)
    for index, record in enumerate(records):
        values, problems = validator.convert(record, ignore_unknown=ignore_unknown)
        if problems:
            reason, location, message = problems[0]
            errors.append(
                {
                    "reason": "invalid",
                    "location": location,
                    "message": f"Error while reading data, error message: {message} "
                    f"(row {index + 1})",
                }
            )
        else:
            converted.append(values)
    return converted, errors


def _update_schema(catalog: Catalog, table: Table, schema: list[dict], options: list[str]) -> Table:
    """The destination's schema after a load that brings ``schema``: new fields need
    ALLOW_FIELD_ADDITION, REQUIRED fields made NULLABLE need ALLOW_FIELD_RELAXATION."""
    ref = f"{table.project}:{table.dataset_id}.{table.table_id}"
    added = _has_new_fields(table.schema, schema)
    if added and "ALLOW_FIELD_ADDITION" not in options:
        raise Invalid(
            f"Provided Schema does not match Table {ref}. Cannot add fields (field: {added})"
        )
    modes = {f["name"].lower(): f.get("mode") or "NULLABLE" for f in schema}
    relaxed = [f["name"] for f in table.schema
               if f.get("mode") == "REQUIRED" and modes.get(f["name"].lower()) == "NULLABLE"]  # fmt: skip
    if relaxed and "ALLOW_FIELD_RELAXATION" not in options:
        raise Invalid(
            f"Provided Schema does not match Table {ref}. Field {relaxed[0]} has changed mode "
            "from REQUIRED to NULLABLE"
        )
    if not added and not relaxed:
        return table
    names = {f["name"].lower() for f in table.schema}
    new_fields = [f for f in schema if f["name"].lower() not in names]
    required = next((f["name"] for f in new_fields if f.get("mode") == "REQUIRED"), None)
    if required:
        raise Invalid(
            f"Provided Schema does not match Table {ref}. Cannot add required fields to an "
            f"existing schema. (field: {required})"
        )
    merged = [{**f, "mode": "NULLABLE"} if f["name"] in relaxed else f for f in table.schema]
    return catalog.update_table(table, {"schema": {"fields": merged + new_fields}}, replace=False)


def _int_option(config: dict, name: str) -> int:
    try:
        value = int(config.get(name) or 0)
    except (TypeError, ValueError):
        raise Invalid(f"Invalid value for {name}: {config.get(name)!r}") from None
    if value < 0:
        raise Invalid(f"Invalid value for {name}: {value}")
    return value


def _has_new_fields(old: list[dict], new: list[dict]) -> str | None:
    names = {f["name"].lower() for f in old}
    return next((f["name"] for f in new if f["name"].lower() not in names), None)


def _ndjson_records(data: bytes, encoding: str) -> tuple[list[Any], list[dict]]:
    """Records of NDJSON bytes; a line that does not decode or parse is one bad record (the
    rest of the file still loads, within maxBadRecords)."""
    records, bad = [], []
    position = 0
    for line in data.splitlines(keepends=True):
        stripped = line.strip()
        if stripped:
            try:
                records.append(_parse_json(stripped.decode(encoding)))
            except (UnicodeDecodeError, ValueError) as exc:
                bad.append(
                    {
                        "reason": "invalid",
                        "message": "Error while reading data, error message: JSON parsing error "
                        f"in row starting at position {position}: {exc}",
                    }
                )
        position += len(line)
    return records, bad


def _parse_json(text: str) -> Any:
    """``json.loads``, refusing lone surrogates too (ValueError): they are not text."""
    value = json.loads(text)
    if lone_surrogate(text.encode("utf-8", "surrogatepass"), value):
        raise ValueError("a \\u escape is a lone surrogate, not a character")
    return value


def _csv_rows(text: str, config: dict) -> list[list[str]]:
    delimiter = config.get("fieldDelimiter") or ","
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    quote = config.get("quote")
    try:
        reader = csv.reader(
            io.StringIO(text),
            delimiter=delimiter,
            quotechar=quote if quote else '"',
            quoting=csv.QUOTE_MINIMAL if quote != "" else csv.QUOTE_NONE,
        )
        rows = [row for row in reader if row]
    except (csv.Error, TypeError) as exc:
        raise Invalid(f"Error while reading data, error message: CSV parse error: {exc}") from None
    skip = _int_option(config, "skipLeadingRows")
    return rows[skip:]


def _csv_records(
    rows: list[list[str]], schema: list[dict], config: dict
) -> tuple[list[dict], list[dict]]:
    null_marker = config.get("nullMarker") or ""
    jagged = bool(config.get("allowJaggedRows"))
    records, bad = [], []
    for number, row in enumerate(rows, 1):
        if len(row) > len(schema) and not config.get("ignoreUnknownValues"):
            bad.append(
                {
                    "reason": "invalid",
                    "message": f"Error while reading data, error message: Too many values in row "
                    f"starting at position {number}.",
                }
            )
            continue
        if len(row) < len(schema) and not jagged:
            required = [f for f in schema[len(row) :] if f.get("mode") == "REQUIRED"]
            if required or len(row) < len(schema):
                bad.append(
                    {
                        "reason": "invalid",
                        "message": "Error while reading data, error message: CSV table references "
                        f"column position {len(row)}, but line {number} contains only "
                        f"{len(row)} columns.",
                    }
                )
                continue
        record = {}
        for field, value in zip(schema, row, strict=False):
            if value == null_marker:
                record[field["name"]] = None
            elif field["type"] == "RECORD" or field.get("mode") == "REPEATED":
                try:
                    record[field["name"]] = _parse_json(value)
                except ValueError:
                    record[field["name"]] = value
            else:
                record[field["name"]] = value
        records.append(record)
    return records, bad


_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")


def _detect_header(rows: list[list[str]], config: dict) -> tuple[list[str], list[list[str]]]:
    first = rows[0]
    if config.get("skipLeadingRows"):
        names = [f"string_field_{i}" for i in range(len(first))]
        return names, rows
    looks_like_header = all(
        v and not _INT.match(v) and not _FLOAT.match(v) and _scalar_type(v) == "STRING"
        for v in first
    )
    if looks_like_header and len(rows) > 1:
        names = [
            re.sub(r"[^A-Za-z0-9_]", "_", v.strip()) or f"string_field_{i}"
            for i, v in enumerate(first)
        ]
        return names, rows[1:]
    return [f"string_field_{i}" for i in range(len(first))], rows


def _scalar_type(value: str) -> str:
    if _INT.match(value):
        return "INTEGER"
    if _FLOAT.match(value):
        return "FLOAT"
    if value.lower() in ("true", "false"):
        return "BOOLEAN"
    if re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        try:
            parse_date(value)
            return "DATE"
        except ValueError:
            return "STRING"
    if re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", value):
        try:
            parse_timestamp(value)
            return "TIMESTAMP"
        except ValueError:
            return "STRING"
    return "STRING"


def _merge(a: str | None, b: str) -> str:
    if a is None or a == b:
        return b
    if {a, b} == {"INTEGER", "FLOAT"}:
        return "FLOAT"
    return "STRING"


def _autodetect_csv(header: list[str], rows: list[list[str]]) -> list[dict]:
    types: list[str | None] = [None] * len(header)
    for row in rows[:500]:
        for i, value in enumerate(row[: len(header)]):
            if value != "":
                types[i] = _merge(types[i], _scalar_type(value))
    return [
        {"name": name, "type": t or "STRING", "mode": "NULLABLE"}
        for name, t in zip(header, types, strict=False)
    ]


def _json_type(value: Any) -> dict | None:
    if isinstance(value, bool):
        return {"type": "BOOLEAN"}
    if isinstance(value, int):
        return {"type": "INTEGER"}
    if isinstance(value, float):
        return {"type": "FLOAT"}
    if isinstance(value, str):
        return {
            "type": _scalar_type(value)
            if not _INT.match(value) and not _FLOAT.match(value)
            else "STRING"
        }
    if isinstance(value, dict):
        return {"type": "RECORD", "fields": _autodetect_json([value])}
    return None


def _autodetect_json(records: list[Any]) -> list[dict]:
    """Schema of NDJSON rows, like BigQuery's autodetect (first-seen order, widened types)."""
    fields: dict[str, dict] = {}
    for record in records[:500]:
        if not isinstance(record, dict):
            continue
        for name, value in record.items():
            repeated = isinstance(value, list)
            sample = next((v for v in value if v is not None), None) if repeated else value
            if sample is None:
                fields.setdefault(name, {"name": name, "type": None, "mode": "NULLABLE"})
                continue
            detected = _json_type(sample)
            if detected is None:
                detected = {"type": "STRING"}
            current = fields.get(name)
            if current is None or current["type"] is None:
                field = {"name": name, "mode": "REPEATED" if repeated else "NULLABLE", **detected}
                fields[name] = field
            elif current["type"] == "RECORD" and detected["type"] == "RECORD":
                current["fields"] = _merge_records(current["fields"], detected["fields"])
            else:
                current["type"] = _merge(current["type"], detected["type"])
    result = []
    for field in fields.values():
        if field["type"] is None:
            field["type"] = "STRING"
        result.append(field)
    return result


def _merge_records(old: list[dict], new: list[dict]) -> list[dict]:
    names = {f["name"] for f in old}
    return old + [f for f in new if f["name"] not in names]
