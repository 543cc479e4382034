"""tabledata.insertAll: row validation with BigQuery's per-row errors, and insertId de-duplication."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .types import ConversionError, range_parser, scalar_parser

CellError = tuple[str, str, str]  # (reason, location, message)


class _Record:
    """Fields of a record level: exact-name and case-insensitive lookups, required names."""

    __slots__ = ("exact", "lower", "required")

    def __init__(self, fields: list[dict], lenient_json: bool):
        specs = [_FieldSpec(f, lenient_json) for f in fields]
        self.exact = {s.name: s for s in specs}
        self.lower = {s.name.lower(): s for s in specs}
        self.required = [s.name for s in specs if s.mode == "REQUIRED"]


class _FieldSpec:
    __slots__ = ("name", "type", "mode", "parse", "record")

    def __init__(self, field: dict, lenient_json: bool):
        self.name = field["name"]
        self.type = field["type"]
        self.mode = field.get("mode") or "NULLABLE"
        if self.type == "RECORD":
            self.record = _Record(field["fields"], lenient_json)
            self.parse = None
        elif self.type == "RANGE":
            self.record = None
            self.parse = range_parser(field["rangeElementType"]["type"])
        else:
            self.record = None
            self.parse = scalar_parser(self.type, lenient_json=lenient_json)


class RowValidator:
    """Converts JSON rows to Python values for a schema, collecting BigQuery-style errors.

    With `lenient_json`, JSON-typed text is not parsed here (DuckDB validates it in bulk)."""

    def __init__(self, schema: list[dict], *, lenient_json: bool = False):
        self.record = _Record(schema, lenient_json)

    def convert(self, row: Any, *, ignore_unknown: bool) -> tuple[dict, list[CellError]]:
        errors: list[CellError] = []
        if not isinstance(row, dict):
            return {}, [("invalid", "", "Row is not a JSON object.")]
        out = _convert_record(self.record, row, "", ignore_unknown, errors)
        return out, errors


def _convert_record(
    record: _Record, row: dict, path: str, ignore_unknown: bool, errors: list[CellError]
) -> dict:
    out: dict[str, Any] = {}
    exact = record.exact
    for key, value in row.items():
        spec = exact.get(key)
        if spec is None:
            spec = record.lower.get(key.lower())
            if spec is None:
                if not ignore_unknown:
                    errors.append(("invalid", path + key, f"no such field: {path + key}."))
                continue
        if value is None:
            if spec.mode == "REQUIRED":
                location = path + spec.name
                errors.append(("invalid", location, f"Missing required field: {location}."))
            continue
        parse = spec.parse
        if (
            parse is not None
            and spec.mode != "REPEATED"
            and (
                type(value) is not list or spec.type == "JSON"  # a JSON array is one JSON value
            )
        ):
            try:
                out[spec.name] = parse(value)
            except ConversionError as exc:
                errors.append(("invalid", path + spec.name, str(exc)))
            continue
        location = path + spec.name
        if spec.mode == "REPEATED":
            if not isinstance(value, list):
                message = f"Non-array value specified for repeated field: {location}."
                errors.append(("invalid", location, message))
                continue
            items = []
            for item in value:
                if item is None:
                    message = f"Array contains a null element in field {location}."
                    errors.append(("invalid", location, message))
                    break
                items.append(_convert_value(spec, item, location, ignore_unknown, errors))
            out[spec.name] = items
        elif isinstance(value, list):
            errors.append(
                ("invalid", location, f"Array specified for non-repeated field: {location}.")
            )
        else:
            out[spec.name] = _convert_value(spec, value, location, ignore_unknown, errors)
    for name in record.required:
        if name not in out and not any(k.lower() == name.lower() for k in row):
            location = path + name
            errors.append(("invalid", location, f"Missing required field: {location}."))
    return out


def _convert_value(
    spec: _FieldSpec, value: Any, location: str, ignore_unknown: bool, errors: list[CellError]
) -> Any:
    if spec.record is not None:
        if not isinstance(value, dict):
            errors.append(("invalid", location, f"This field: {location} is not a record."))
            return None
        return _convert_record(spec.record, value, location + ".", ignore_unknown, errors)
    try:
        return spec.parse(value)
    except ConversionError as exc:
        errors.append(("invalid", location, str(exc)))
        return None


def error_entries(errors: list[CellError]) -> list[dict]:
    """insertErrors[].errors entries as the REST API returns them."""
    return [
        {"reason": reason, "location": location, "debugInfo": "", "message": message}
        for reason, location, message in errors
    ]


STOPPED = {"reason": "stopped", "location": "", "debugInfo": "", "message": ""}


class InsertIdCache:
    """insertIds seen per table within a time window (best-effort de-duplication, like BigQuery)."""

    def __init__(
        self,
        window_seconds: float,
        clock: Callable[[], float] = time.time,
        max_entries: int = 1_000_000,
    ):
        self.window = window_seconds
        self.clock = clock
        self.max_entries = max_entries  # bounds memory; the oldest ids are forgotten first
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, entries: list[tuple[str, str, float]]) -> None:
        """Restore remembered ids (table key, id, expiry), oldest first."""
        with self._lock:
            for table_key, insert_id, expiry in entries[-self.max_entries :]:
                self._seen[(table_key, insert_id)] = expiry

    def expiry(self) -> float:
        return self.clock() + self.window

    def filter_new(self, table_key: str, insert_ids: list[str | None]) -> list[int]:
        """Indexes of rows to store: without insertId, or with one not seen in the window."""
        if self.window <= 0:
            return list(range(len(insert_ids)))
        keep: list[int] = []
        batch: set[str] = set()
        with self._lock:
            self._expire()
            for index, insert_id in enumerate(insert_ids):
                if not insert_id:
                    keep.append(index)
                elif (table_key, insert_id) not in self._seen and insert_id not in batch:
                    batch.add(insert_id)
                    keep.append(index)
        return keep

    def remember(self, table_key: str, insert_ids: list[str], expiry: float | None = None) -> None:
        if self.window <= 0:
            return
        expiry = expiry if expiry is not None else self.expiry()
        with self._lock:
            for insert_id in insert_ids:
                key = (table_key, insert_id)
                self._seen[key] = expiry
                self._seen.move_to_end(key)
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)

    def forget_table(self, table_key: str) -> None:
        with self._lock:
            for key in [k for k in self._seen if k[0] == table_key]:
                del self._seen[key]

    def _expire(self) -> None:
        now = self.clock()
        while self._seen:
            key, expiry = next(iter(self._seen.items()))
            if expiry > now:
                break
            del self._seen[key]
