"""Request bodies -> events, each judged by the pipeline's own parse and validate functions.

The contract lives in ``pipeline/schema.py``; nothing here restates it. An event the pipeline
would dead-letter is refused here with the same ``error_type``, JSON path and reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pipeline import errors
from pipeline.messages import DeadLetter, Message, ParsedEvent
from pipeline.parse import loads, parse_message
from pipeline.validate import validate_event

JSON = "application/json"
NDJSON = "application/x-ndjson"
CONTENT_TYPES = {JSON: JSON, NDJSON: NDJSON, "application/jsonl": NDJSON,
                 "application/x-jsonlines": NDJSON}


class BodyError(ValueError):
    """The body as a whole is unusable (400)."""


@dataclass
class Item:
    """One event of a request: its bytes as they will be published, and the verdict."""

    index: int
    data: bytes
    event: dict | None = None
    error_type: str | None = None
    path: str | None = None
    reason: str | None = None

    @property
    def event_id(self) -> str | None:
        value = (self.event or {}).get("event_id")
        return value if isinstance(value, str) else None

    @property
    def valid(self) -> bool:
        return self.error_type is None

    @property
    def source(self) -> str:
        return self.event["metadata"]["source"]

    def reject(self, error_type: str, path: str, reason: str) -> None:
        self.error_type, self.path, self.reason = error_type, path, reason

    def rejection(self) -> dict:
        return {"index": self.index, "event_id": self.event_id, "error_type": self.error_type,
                "path": self.path, "reason": self.reason}


def media_type(header: str | None) -> str | None:
    """The body kind for a Content-Type header (parameters such as charset ignored)."""
    if not header:
        return None
    return CONTENT_TYPES.get(header.split(";", 1)[0].strip().lower())


def _split(dead: DeadLetter) -> tuple[str, str]:
    """``(json_path, reason)`` of the pipeline's ``"<path>: <reason>"`` messages."""
    path, sep, reason = dead.error_message.partition(": ")
    if sep and path.startswith("$"):
        return path, reason
    return "$", dead.error_message


def _judge(item: Item, max_event_bytes: int) -> Item:
    message = Message(item.data)
    if item.event is None:
        result = parse_message(message)
        if isinstance(result, DeadLetter):
            item.reject(result.error_type, *_split(result))
            return item
        item.event = result.event
    result = validate_event(ParsedEvent(item.event, message), max_event_bytes)
    if isinstance(result, DeadLetter):
        item.reject(result.error_type, *_split(result))
    return item


def _encode(value) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") has no UTF-8 form: keep it escaped
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def decode(body: bytes, kind: str, max_event_bytes: int) -> list[Item]:
    """Split ``body`` into judged items; :class:`BodyError` if the body itself is unusable."""
    if kind == NDJSON:
        lines = [line for line in body.split(b"\n") if line.strip()]
        items = [Item(i, line.rstrip(b"\r")) for i, line in enumerate(lines)]
    else:
        try:
            document = loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise BodyError(f"the body is not UTF-8: {exc}") from None
        except (ValueError, RecursionError) as exc:
            raise BodyError(f"the body is not JSON: {exc}") from None
        if isinstance(document, dict):
            document = [document]
        if not isinstance(document, list):
            raise BodyError(f"the body is JSON {type(document).__name__}; send an event object "
                            "or an array of them")
        items = []
        for i, value in enumerate(document):
            data = _encode(value)
            item = Item(i, data, value if isinstance(value, dict) else None)
            if item.event is None:
                item.reject(errors.NOT_AN_OBJECT, f"$[{i}]",
                            f"element is JSON {type(value).__name__}, expected an object")
            items.append(item)
    if not items:
        raise BodyError("the body holds no events")
    return [_judge(item, max_event_bytes) if item.valid else item for item in items]
