"""Reasons a message goes to the dead-letter table (the ``error_type`` column)."""

MALFORMED_JSON = "malformed_json"
INVALID_UTF8 = "invalid_utf8"
NOT_AN_OBJECT = "not_an_object"
OVERSIZE_PAYLOAD = "oversize_payload"
SCHEMA_VIOLATION = "schema_violation"
INVALID_TIMESTAMP = "invalid_timestamp"
ENRICH_FAILED = "enrich_failed"
INSERT_FAILED = "bigquery_insert_failed"

ALL = (
    MALFORMED_JSON,
    INVALID_UTF8,
    NOT_AN_OBJECT,
    OVERSIZE_PAYLOAD,
    SCHEMA_VIOLATION,
    INVALID_TIMESTAMP,
    ENRICH_FAILED,
    INSERT_FAILED,
)
