"""Paging of rows and lists: page tokens, formatOptions and one page of encoded rows (shared by
tabledata.list, jobs.getQueryResults and the list calls)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from .errors import Invalid
from .types import TS_FLOAT, TS_INT64, TS_ISO, row_encoder

DEFAULT_PAGE_ROWS = 100_000


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_page_token(token: str | None) -> int | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if text.startswith("o:") and text[2:].isdigit():
            return int(text[2:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise Invalid(f"Invalid page token: {token}")


def arrow_rows(arrow: Any) -> Callable[[int, int], list[tuple]]:
    """A ``read_page`` fetch function over an in-memory Arrow table (query results)."""

    def fetch(offset: int, limit: int) -> list[tuple]:
        part = arrow.slice(offset, limit)
        return list(zip(*(col.to_pylist() for col in part.columns), strict=True))

    return fetch


def ts_format_from(params: dict) -> str:
    """Timestamp wire format requested by formatOptions (the client asks for int64 micros)."""
    fmt = params.get("formatOptions.timestampOutputFormat") or ""
    if fmt == "ISO8601_STRING":
        return TS_ISO
    value = params.get("formatOptions.useInt64Timestamp")
    if value in (True, "true", "True", "1"):
        return TS_INT64
    return TS_FLOAT


def read_page(
    fetch: Callable[[int, int], list[tuple]],
    schema: list[dict],
    total: int,
    params: dict,
    ts_format: str,
) -> dict:
    """One page of rows with totalRows and pageToken (shared by tabledata.list and queries)."""
    offset = decode_page_token(params.get("pageToken"))
    if offset is None:
        offset = int_param(params, "startIndex", 0)
    max_results = int_param(params, "maxResults", DEFAULT_PAGE_ROWS)
    limit = max(0, min(max_results, DEFAULT_PAGE_ROWS))
    rows = fetch(offset, limit) if limit and schema and offset < total else []
    page: dict[str, Any] = {"totalRows": str(total)}
    if rows:  # like BigQuery, no `rows` key on an empty page (maxResults=0 probes rely on it)
        encode = row_encoder(schema, ts_format)
        page["rows"] = [encode(row) for row in rows]
    if offset + len(rows) < total and limit:
        page["pageToken"] = encode_page_token(offset + len(rows))
    return page


def int_param(params: dict, name: str, default: int) -> int:
    """A non-negative integer parameter, ``default`` when absent; Invalid otherwise."""
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"Invalid value for {name}: {value}") from None
    if number < 0:
        raise Invalid(f"Invalid value for {name}: {value}")
    return number
