"""The contract's derived schemas agree with each other and with the issue's column list."""

from jsonschema import Draft202012Validator

from pipeline import schema


def _fields(table_schema):
    return {f["name"]: (f["type"], f["mode"]) for f in table_schema["fields"]}


def test_json_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(schema.event_json_schema())


def test_json_schema_requires_every_contract_field():
    js = schema.event_json_schema()
    assert js["required"] == ["event_id", "timestamp", "data", "metadata"]
    assert js["properties"]["metadata"]["required"] == ["source", "version"]
    assert js["additionalProperties"] is False


def test_events_table_has_the_documented_columns():
    fields = _fields(schema.events_table_schema())
    assert fields["event_id"] == ("STRING", "REQUIRED")
    assert fields["event_timestamp"] == ("TIMESTAMP", "REQUIRED")
    assert fields["data"][0] == "JSON"
    assert fields["source"][0] == "STRING"
    assert fields["schema_version"][0] == "STRING"
    for name, type_ in [
        ("publish_time", "TIMESTAMP"),
        ("processing_time", "TIMESTAMP"),
        ("message_id", "STRING"),
        ("attributes", "JSON"),
        ("event_date", "DATE"),
        ("reference_found", "BOOL"),
    ]:
        assert fields[name][0] == type_


def test_every_contract_field_has_a_column_and_names_are_unique():
    names = [f["name"] for f in schema.events_table_schema()["fields"]]
    assert len(names) == len(set(names))
    assert {f.column for f in schema.CONTRACT} <= set(names)


def test_dead_letter_table_has_the_documented_columns():
    fields = _fields(schema.dead_letter_table_schema())
    assert fields["raw_payload"][0] == "BYTES"
    for name in ("error_type", "error_message", "failed_step"):
        assert fields[name] == ("STRING", "REQUIRED")
    for name in ("message_id", "attributes", "publish_time", "processing_time"):
        assert name in fields


def test_json_schema_version_is_in_its_id():
    assert schema.event_json_schema("2.1")["$id"].endswith(":2.1")
