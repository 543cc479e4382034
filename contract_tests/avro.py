"""The contract as an Avro record schema, for Pub/Sub topic schemas (AVRO, JSON encoding).

Pub/Sub has no JSON Schema type, so a topic can only enforce the contract as Avro. Derived
from :data:`pipeline.schema.CONTRACT`: every field becomes a required Avro field, nested paths
(``metadata.source``) become nested records.

What does not survive the translation:

* ``data`` is a free-form JSON object (scalars or nested objects, any keys). Avro has no
  "any JSON" type, and in Avro's JSON encoding every union value must be wrapped
  (``{"double": 12.5}``), so no Avro type accepts the event's ``data`` as producers write it.
  The Avro form therefore carries ``data`` as a **string holding the JSON text** of the object
  (:func:`to_avro_json` / :func:`from_avro_json` convert). Avro cannot check that the string is
  JSON, an object, or what is inside it.
* string constraints are lost: ``event_id`` non-blank and at most 128 characters,
  ``metadata.*`` 1-256 characters, ``timestamp`` being RFC 3339 (Avro's timestamp logical
  types are numbers, which would change the wire shape).

What the Avro layer still enforces: the message is a JSON object with exactly the top-level
fields ``event_id``, ``timestamp``, ``data`` and ``metadata`` (none missing, no extra ones),
``metadata`` has exactly ``source`` and ``version``, and all of them are strings. The pipeline
validates the full contract; the Avro schema is a first gate at publish time, not a substitute.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pipeline import schema

_AVRO_TYPE = {"id": "string", "string": "string", "timestamp": "string", "object": "string"}
_DOC_SUFFIX = {
    "object": " Carried as the JSON text of the object: Avro cannot express free-form JSON.",
    "timestamp": " RFC 3339 text; the format is checked by the pipeline, not by Avro.",
}


def _namespace(version: str) -> str:
    return "streambench.event.v" + version.replace(".", "_")


def avro_schema(version: str = schema.CONTRACT_VERSION) -> dict:
    """The Avro record schema of an event of contract ``version``."""
    root = {
        "type": "record",
        "name": "Event",
        "namespace": _namespace(version),
        "doc": f"An event of contract version {version} (Avro form: data is JSON text).",
        "fields": [],
    }
    for field in schema.CONTRACT:
        node = root
        for part in field.path[:-1]:
            child = next((f["type"] for f in node["fields"] if f["name"] == part), None)
            if child is None:
                child = {"type": "record", "name": part.capitalize(), "fields": []}
                node["fields"].append({"name": part, "type": child})
            node = child
        node["fields"].append({
            "name": field.path[-1],
            "type": _AVRO_TYPE[field.kind],
            "doc": field.description + _DOC_SUFFIX.get(field.kind, ""),
        })
    return root


def render(version: str = schema.CONTRACT_VERSION) -> str:
    """The exact text of the published ``.avsc`` file of ``version``."""
    return json.dumps(avro_schema(version), indent=2) + "\n"


def _object_paths() -> list[tuple[str, ...]]:
    return [f.path for f in schema.CONTRACT if f.kind == "object"]


def to_avro_json(event: dict) -> dict:
    """An event in the Avro form: every ``object`` field replaced by its JSON text."""
    return _with_objects(event, lambda v: json.dumps(v, sort_keys=True, separators=(",", ":")))


def from_avro_json(record: dict) -> dict:
    """The event back from its Avro form."""
    return _with_objects(record, json.loads)


def _with_objects(event: dict, convert: Callable[[Any], Any]) -> dict:
    """A deep copy of ``event`` with ``convert`` applied to each ``object`` field."""
    copy = json.loads(json.dumps(event))
    for path in _object_paths():
        node = copy
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = convert(node[path[-1]])
    return copy
