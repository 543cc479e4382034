"""Load jobs from uploaded NEWLINE_DELIMITED_JSON, CSV or PARQUET data (Parquet: ``parquet.py``)."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from .appends import Appender
from .catalog import Catalog
from .destinations import existing_destination, load_destination
from .errors import Invalid, expect_dict, expect_list
from .insert import RowValidator
from .types import normalize_schema, parse_date, parse_timestamp


def run_load(catalog: Catalog, appender: Appender, config: dict, data: bytes | None) -> dict:
    """Parse, validate and write the rows; returns statistics.load."""
    if data is None:
        uris = config.get("sourceUris") or []
        raise Invalid(
            f"Load from {uris[0] if uris else 'source URIs'} is not supported: this emulator "
            "has no Cloud Storage. Upload the data with the load job (load_table_from_file)."
        )
    fmt = str(config.get("sourceFormat") or "CSV").upper()
    dest = expect_dict(config.get("destinationTable"), "destinationTable")
    project, dataset_id, table_id = (
        dest.get("projectId"),
        dest.get("datasetId"),
        dest.get("tableId"),
    )
    if not all(isinstance(p, str) and p for p in (project, dataset_id, table_id)):
        raise Invalid("Load job needs configuration.load.destinationTable.")
    if fmt == "PARQUET":
        from .parquet import load_parquet

        return load_parquet(catalog, appender, config, dest, _given_schema(config), data)
    encoding = str(config.get("encoding") or "UTF-8").replace("ISO-8859-1", "latin-1")
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise Invalid(
            f"Error while reading data, error message: cannot decode as {encoding}: {exc}"
        ) from None
    if fmt == "NEWLINE_DELIMITED_JSON":
        records, bad = _ndjson_records(text)
    elif fmt == "CSV":
        records, bad = [], []
    else:
        raise Invalid(
            f"Source format {fmt} is not supported by this emulator (NDJSON, CSV and PARQUET "
            "are)."
        )
    schema = _given_schema(config)
    table = catalog.find_table(project, dataset_id, table_id)
    if fmt == "CSV":
        rows = _csv_rows(text, config)
        header: list[str] | None = None
        if schema is None and table is None and config.get("autodetect") and rows:
            header, rows = _detect_header(rows, config)
            schema = _autodetect_csv(header, rows)
        target_schema = schema or (table.schema if table else None)
        if target_schema is None:
            raise Invalid("No schema specified on job or table.")
        records, bad = _csv_records(rows, target_schema, config)
    if schema is None and table is None:
        if not config.get("autodetect"):
            raise Invalid("No schema specified on job or table.")
        schema = _autodetect_json(records)
    max_bad = _int_option(config, "maxBadRecords")
    ignore_unknown = bool(config.get("ignoreUnknownValues"))
    create = config.get("createDisposition") or "CREATE_IF_NEEDED"
    write = config.get("writeDisposition") or "WRITE_APPEND"
    with catalog.storage.lock:
        table = existing_destination(catalog, dest, create, write, "load into")
        effective = schema if schema is not None else (table.schema if table else [])
        if table is None and not effective:
            raise Invalid("No schema specified on job or table (nothing to autodetect from).")
        validator = RowValidator(effective)
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
        if len(errors) > max_bad:
            kind = "JSON" if fmt == "NEWLINE_DELIMITED_JSON" else "CSV"
            raise Invalid(
                f"Error while reading data, error message: {kind} table encountered too many "
                f"errors, giving up. Rows: {len(records) + len(bad)}; errors: {len(errors)}. "
                f"Please look into the errors[] collection for more details. First error: "
                f"{errors[0]['message']}"
            )
        table = load_destination(catalog, config, dest, table, schema, effective)
        appender.append_rows(table, converted)
        catalog.save_table(table)
    return {
        "inputFiles": "1",
        "inputFileBytes": str(len(data)),
        "outputRows": str(len(converted)),
        "outputBytes": str(len(data)),
        "badRecords": str(len(errors)),
    }


def _int_option(config: dict, name: str) -> int:
    try:
        value = int(config.get(name) or 0)
    except (TypeError, ValueError):
        raise Invalid(f"Invalid value for {name}: {config.get(name)!r}") from None
    if value < 0:
        raise Invalid(f"Invalid value for {name}: {value}")
    return value


def _given_schema(config: dict) -> list[dict] | None:
    """The job's ``schema``, normalized (None when it has none)."""
    given = expect_dict(config.get("schema"), "schema").get("fields")
    if given is not None:
        expect_list(given, "schema.fields")
    try:
        return normalize_schema(given) if given else None
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def _ndjson_records(text: str) -> tuple[list[Any], list[dict]]:
    records, bad = [], []
    position = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped:
            try:
                records.append(json.loads(stripped))
            except ValueError as exc:
                bad.append(
                    {
                        "reason": "invalid",
                        "message": "Error while reading data, error message: JSON parsing error "
                        f"in row starting at position {position}: {exc}",
                    }
                )
        position += len(line.encode())
    return records, bad


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
                    record[field["name"]] = json.loads(value)
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
