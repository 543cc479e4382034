"""The published files never drift from pipeline/schema.py; the Avro form and what it enforces."""

import io
import json
import subprocess
import sys
from pathlib import Path

import fastavro
import pytest
from jsonschema import Draft202012Validator

from contract_tests import avro, registry
from contract_tests.samples import read_paths
from pipeline import schema

ROOT = Path(__file__).resolve().parents[2]
GOOD_EVENTS = [
    json.loads(s.data) for s in read_paths([str(ROOT / "contract_tests/examples/good")])
]


def test_committed_schema_equals_the_generator():
    committed = registry.SCHEMA_DIR / f"event-{schema.CONTRACT_VERSION}.json"
    assert committed.read_text(encoding="utf-8") == registry.render()
    assert json.loads(committed.read_text()) == schema.event_json_schema()
    assert registry.drift() == []


def test_committed_avro_schema_equals_the_generator():
    committed = registry.SCHEMA_DIR / f"event-{schema.CONTRACT_VERSION}.avsc"
    assert committed.read_text(encoding="utf-8") == avro.render()


def test_every_published_file_is_a_valid_schema():
    versions = registry.published_versions()
    assert schema.CONTRACT_VERSION in versions
    for version in versions:
        published = registry.load(version)
        Draft202012Validator.check_schema(published)
        assert published["$id"].endswith(f":{version}")


def test_export_schema_cli_writes_and_checks(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "contract_tests", *map(str, args)],
                              capture_output=True, cwd=ROOT, timeout=60)

    assert cli("export-schema", "--check").returncode == 0
    assert cli("export-schema", "--out", tmp_path).returncode == 0
    written = tmp_path / f"event-{schema.CONTRACT_VERSION}.json"
    assert written.read_text() == registry.render()
    written.write_text(written.read_text().replace('"maxLength": 128', '"maxLength": 64'))
    drifted = cli("export-schema", "--check", "--out", tmp_path)
    assert drifted.returncode == 1
    assert b"differs from what pipeline/schema.py generates" in drifted.stderr
    assert registry.published_versions(tmp_path) == [schema.CONTRACT_VERSION]


def test_avro_schema_cli_prints_the_schema():
    proc = subprocess.run([sys.executable, "-m", "contract_tests", "avro-schema"],
                          capture_output=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == avro.avro_schema()


def test_avro_schema_has_every_contract_field():
    parsed = fastavro.parse_schema(avro.avro_schema())
    top = {f["name"]: f["type"] for f in parsed["fields"]}
    assert set(top) == {"event_id", "timestamp", "data", "metadata"}
    assert {f["name"] for f in top["metadata"]["fields"]} == {"source", "version"}


@pytest.mark.parametrize("event", GOOD_EVENTS, ids=lambda e: e["event_id"])
def test_good_examples_round_trip_through_avro_json_encoding(event):
    parsed = fastavro.parse_schema(avro.avro_schema())
    record = avro.to_avro_json(event)
    assert fastavro.validation.validate(record, parsed)
    buffer = io.StringIO()
    fastavro.json_writer(buffer, parsed, [record])
    buffer.seek(0)
    (back,) = list(fastavro.json_reader(buffer, parsed))
    assert avro.from_avro_json(back) == event


def test_avro_cannot_take_the_event_as_producers_write_it():
    """The documented loss: ``data`` as a JSON object is not expressible in Avro."""
    parsed = fastavro.parse_schema(avro.avro_schema())
    with pytest.raises(fastavro.validation.ValidationError):
        fastavro.validation.validate(GOOD_EVENTS[0], parsed)


@pytest.fixture
def topic_schema():
    """The Avro form as a Pub/Sub topic schema in the emulator's SchemaRegistry."""
    schemas = pytest.importorskip("emulators.pubsub.schemas")
    registry_ = schemas.SchemaRegistry()
    revision = registry_.create("demo", "event-avro", schemas.AVRO, avro.render())
    return registry_, revision.name, schemas.SchemaViolation


def _avro_json(event) -> bytes:
    return json.dumps(avro.to_avro_json(event)).encode()


def test_good_examples_pass_the_pubsub_schema_registry(topic_schema):
    registry_, name, _ = topic_schema
    parsed = fastavro.parse_schema(avro.avro_schema())
    for event in GOOD_EVENTS:
        registry_.validate_message(name, "JSON", _avro_json(event))
        binary = io.BytesIO()
        fastavro.schemaless_writer(binary, parsed, avro.to_avro_json(event))
        registry_.validate_message(name, "BINARY", binary.getvalue())


@pytest.mark.parametrize(
    "edit, enforced",
    [
        (lambda r: r.pop("timestamp"), "required top-level field"),
        (lambda r: r["metadata"].pop("source"), "required metadata field"),
        (lambda r: r.update(user_id="u1"), "no extra top-level field"),
        (lambda r: r.update(event_id=184), "event_id is a string"),
    ],
)
def test_what_the_avro_layer_still_enforces(topic_schema, edit, enforced):
    registry_, name, violation = topic_schema
    record = avro.to_avro_json(GOOD_EVENTS[0])
    edit(record)
    with pytest.raises(violation):
        registry_.validate_message(name, "JSON", json.dumps(record).encode())


def test_raw_event_json_is_rejected_by_the_topic_schema(topic_schema):
    registry_, name, violation = topic_schema
    with pytest.raises(violation, match="data"):
        registry_.validate_message(name, "JSON", json.dumps(GOOD_EVENTS[0]).encode())
