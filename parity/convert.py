"""Turn client return values (protos, BigQuery resources, datetimes, bytes) into plain JSON data."""

from __future__ import annotations

import base64
import datetime
import decimal
from typing import Any


def to_plain(value: Any) -> Any:
    """A JSON-compatible copy of ``value``; unknown objects become ``"<TypeName>"``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    pb = _protobuf(value)
    if pb is not None:
        from google.protobuf.json_format import MessageToDict

        return MessageToDict(pb, preserving_proto_field_name=True)
    if hasattr(value, "to_api_repr"):  # google-cloud-bigquery resources
        return to_plain(value.to_api_repr())
    if hasattr(value, "items") and callable(value.items):  # bigquery.Row, mappings
        return {str(k): to_plain(v) for k, v in value.items()}
    return f"<{type(value).__name__}>"


def _protobuf(value: Any):
    from google.protobuf.message import Message

    if isinstance(value, Message):
        return value
    pb = getattr(type(value), "pb", None)  # proto-plus wrapper
    if callable(pb):
        try:
            return pb(value)
        except TypeError:
            return None
    return None
