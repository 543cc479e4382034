"""Reasons a message goes to the dead-letter table (the ``error_type`` column)."""

MALFORMED_JSON = "malformed_json"
INVALID_UTF8 = "invalid_utf8"
NOT_AN_OBJECT = "not_an_object"
OVERSIZE_PAYLOAD = "oversize_payload"
SCHEMA_VIOLATION = "schema_violation"
INVALID_TIMESTAMP = "invalid_timestamp"
ENRICH_FAILED = "enrich_failed"
INSERT_FAILED = "bigquery_insert_failed"

SOURCE_NOT_OWNED = "source_not_owned"

EDGE_ERROR_TYPE = "streambench-error-type"
"""Pub/Sub attribute set by an ingestion edge (the MQTT bridge in ``ingest/``) on a payload it
rejected but must not drop: the pipeline dead-letters such a message as it is, with this
``error_type``, the reason in :data:`EDGE_ERROR_MESSAGE` and ``failed_step`` :data:`EDGE_STEP`,
whatever the payload holds (an event a device was not allowed to send may be valid JSON)."""
EDGE_ERROR_MESSAGE = "streambench-error-message"
EDGE_STEP = "ingest"

ALL = (
    MALFORMED_JSON,
    INVALID_UTF8,
    NOT_AN_OBJECT,
    OVERSIZE_PAYLOAD,
    SCHEMA_VIOLATION,
    INVALID_TIMESTAMP,
    ENRICH_FAILED,
    INSERT_FAILED,
    SOURCE_NOT_OWNED,
)
