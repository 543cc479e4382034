"""The event contract: the one source of truth for every schema in the project.

From the field list below derive:

* :func:`event_json_schema` - the JSON Schema producers validate against,
* :func:`events_table_schema` - the BigQuery schema of the events table,
* :func:`dead_letter_table_schema` - the BigQuery schema of the dead-letter table,

and :mod:`pipeline.validate` validates with the JSON Schema, :mod:`pipeline.enrich` builds rows
with :data:`CONTRACT` and the column lists. Nothing else in the project spells these out again.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTRACT_VERSION = "1.0"
"""The current version of the contract (``metadata.version`` of new events)."""

MAX_EVENT_BYTES = 1024 * 1024
"""Default upper bound of one raw message; larger payloads are dead-lettered as oversize."""

MAX_EVENT_ID_LENGTH = 128
"""BigQuery caps insertId, which the pipeline takes from event_id, at 128 characters."""


@dataclass(frozen=True)
class ContractField:
    """One field of the event JSON and the events-table column it lands in."""

    path: tuple[str, ...]
    column: str
    kind: str  # "id" | "string" | "timestamp" | "object"
    description: str


@dataclass(frozen=True)
class Column:
    """A BigQuery column that is not read from the event JSON itself."""

    name: str
    type: str
    mode: str
    description: str


CONTRACT: tuple[ContractField, ...] = (
    ContractField(("event_id",), "event_id", "id", "Producer-assigned unique id of the event."),
    ContractField(("timestamp",), "event_timestamp", "timestamp", "When the event happened (RFC 3339)."),
    ContractField(("data",), "data", "object", "Event payload: keys to scalars or nested objects."),
    ContractField(("metadata", "source"), "source", "string", "The system that produced the event."),
    ContractField(("metadata", "version"), "schema_version", "string", "Contract version of the event."),
)

PUBLISH_TIME = Column("publish_time", "TIMESTAMP", "NULLABLE", "Pub/Sub publish time of the message.")
MESSAGE_ID = Column("message_id", "STRING", "NULLABLE", "Pub/Sub message id.")
ATTRIBUTES = Column("attributes", "JSON", "NULLABLE", "Pub/Sub message attributes.")
MESSAGE_COLUMNS: tuple[Column, ...] = (PUBLISH_TIME, MESSAGE_ID, ATTRIBUTES)

ENRICHED_COLUMNS: tuple[Column, ...] = (
    Column("processing_time", "TIMESTAMP", "REQUIRED", "When the pipeline processed the event."),
    Column("event_date", "DATE", "REQUIRED", "UTC date of event_timestamp (partitioning column)."),
    Column("lag_ms", "INT64", "NULLABLE", "processing_time - publish_time in milliseconds."),
    Column("reference_found", "BOOL", "REQUIRED", "Whether metadata.source has a reference row."),
    Column("reference", "JSON", "NULLABLE", "The reference row of metadata.source, if any."),
)

DEAD_LETTER_COLUMNS: tuple[Column, ...] = (
    Column("raw_payload", "BYTES", "NULLABLE", "The message data exactly as received."),
    Column("error_type", "STRING", "REQUIRED", "Machine-readable reason (see pipeline.errors)."),
    Column("error_message", "STRING", "REQUIRED", "Human-readable reason, with the JSON path."),
    Column("failed_step", "STRING", "REQUIRED", "ingest | parse | validate | enrich | write."),
    Column("event_id", "STRING", "NULLABLE", "event_id, when it could be read."),
    MESSAGE_ID,
    ATTRIBUTES,
    PUBLISH_TIME,
    Column("processing_time", "TIMESTAMP", "REQUIRED", "When the pipeline dead-lettered it."),
)

_BQ_TYPE = {"id": "STRING", "string": "STRING", "timestamp": "TIMESTAMP", "object": "JSON"}

# `data` values: scalars or objects whose values are again scalars or objects.
_DATA_VALUE = {
    "$anchor": "dataValue",
    "anyOf": [
        {"type": ["string", "number", "boolean", "null"]},
        {"type": "object", "additionalProperties": {"$ref": "#dataValue"}},
    ],
}

_JSON_TYPE = {
    "id": {"type": "string", "minLength": 1, "maxLength": MAX_EVENT_ID_LENGTH, "pattern": r"\S"},
    "string": {"type": "string", "minLength": 1, "maxLength": 256},
    "timestamp": {"type": "string", "format": "date-time"},
    "object": {"type": "object", "additionalProperties": {"$ref": "#dataValue"}},
}


def event_json_schema(version: str = CONTRACT_VERSION) -> dict:
    """The JSON Schema (draft 2020-12) of an event, derived from :data:`CONTRACT`."""
    root: dict = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:streambench:event:{version}",
        "title": "Event",
        "description": f"An event published to the pipeline's topic, contract version {version}.",
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
        "$defs": {"dataValue": _DATA_VALUE},
    }
    for field in CONTRACT:
        node = root
        for part in field.path[:-1]:
            child = node["properties"].get(part)
            if child is None:
                child = {"type": "object", "properties": {}, "required": [],
                         "additionalProperties": False}
                node["properties"][part] = child
                node["required"].append(part)
            node = child
        leaf = field.path[-1]
        node["properties"][leaf] = {**_JSON_TYPE[field.kind], "description": field.description}
        node["required"].append(leaf)
    return root


def _bq_field(name: str, type_: str, mode: str, description: str) -> dict:
    return {"name": name, "type": type_, "mode": mode, "description": description}


def events_table_schema() -> dict:
    """BigQuery schema (REST ``TableSchema`` shape) of the events table."""
    fields = [
        _bq_field(f.column, _BQ_TYPE[f.kind], "REQUIRED", f.description) for f in CONTRACT
    ]
    fields += [_bq_field(c.name, c.type, c.mode, c.description) for c in MESSAGE_COLUMNS]
    fields += [_bq_field(c.name, c.type, c.mode, c.description) for c in ENRICHED_COLUMNS]
    return {"fields": fields}


def dead_letter_table_schema() -> dict:
    """BigQuery schema (REST ``TableSchema`` shape) of the dead-letter table."""
    return {
        "fields": [_bq_field(c.name, c.type, c.mode, c.description) for c in DEAD_LETTER_COLUMNS]
    }


def event_value(event: dict, field: ContractField):
    """The value of ``field`` in a (validated) event dict."""
    value = event
    for part in field.path:
        value = value[part]
    return value
