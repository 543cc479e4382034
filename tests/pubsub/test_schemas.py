"""Pub/Sub schemas: the registry model, and SchemaService through the real Google client."""

from __future__ import annotations

import asyncio
import io
import json
import threading

import fastavro
import grpc
import pytest
from google.api_core import exceptions as gexc
from google.cloud.pubsub import SchemaServiceClient
from google.pubsub_v1.services.schema_service.transports import SchemaServiceGrpcTransport
from google.pubsub_v1.types import Encoding, Schema, SchemaView
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.pubsub.schema_service import register_servicer
from emulators.pubsub.schemas import (
    InvalidSchema,
    RevisionError,
    SchemaAlreadyExists,
    SchemaNotFound,
    SchemaRegistry,
    SchemaViolation,
)

PROJECT = "test-project"

AVRO_V1 = {
    "type": "record",
    "name": "Ride",
    "namespace": "bench",
    "fields": [
        {"name": "ride_id", "type": "string"},
        {"name": "fare", "type": "double"},
        {"name": "passengers", "type": "int"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["CAR", "BIKE"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    ],
}
AVRO_V2 = {
    "type": "record",
    "name": "Ride",
    "namespace": "bench",
    "fields": [{"name": "ride_id", "type": "string"}, {"name": "city", "type": "string"}],
}
GOOD_RIDE = {
    "ride_id": "r1",
    "fare": 12.5,
    "passengers": 2,
    "note": {"string": "hi"},
    "kind": "CAR",
}

PROTO = """
syntax = "proto3";
package bench;
import "google/protobuf/timestamp.proto";
message Ride {
  string ride_id = 1;
  double fare = 2;
  int32 passengers = 3;
  google.protobuf.Timestamp at = 4;
  repeated string tags = 5;
}
"""


def avro_binary(schema: dict, record: dict) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


@pytest.fixture
def registry() -> SchemaRegistry:
    return SchemaRegistry()


# --- registry: lifecycle ----------------------------------------------------------------------


def test_create_get_list_delete(registry: SchemaRegistry):
    rev = registry.create(PROJECT, "rides", "AVRO", json.dumps(AVRO_V1))
    assert rev.name == f"projects/{PROJECT}/schemas/rides"
    assert len(rev.revision_id) == 8
    assert registry.get(rev.name) == rev
    assert registry.get(f"{rev.name}@{rev.revision_id}") == rev
    registry.create(PROJECT, "other", "PROTOCOL_BUFFER", PROTO)
    registry.create("another-project", "rides", "AVRO", json.dumps(AVRO_V1))
    assert [r.name.rsplit("/", 1)[1] for r in registry.list(PROJECT)] == ["other", "rides"]
    with pytest.raises(SchemaAlreadyExists, match="already exists"):
        registry.create(PROJECT, "rides", "AVRO", json.dumps(AVRO_V1))
    registry.delete(rev.name)
    with pytest.raises(SchemaNotFound, match="not found"):
        registry.get(rev.name)
    with pytest.raises(KeyError):
        registry.validate_message(rev.name, "JSON", b"{}")


@pytest.mark.parametrize("schema_id", ["ab", "1abc", "goog-x", "has/slash", "sp ace", ""])
def test_invalid_schema_ids(registry: SchemaRegistry, schema_id: str):
    with pytest.raises(InvalidSchema, match="invalid schema id"):
        registry.create(PROJECT, schema_id, "AVRO", json.dumps(AVRO_V1))


def test_revisions_commit_rollback_delete(registry: SchemaRegistry):
    v1 = registry.create(PROJECT, "rides", "AVRO", json.dumps(AVRO_V1))
    v2 = registry.commit(v1.name, "AVRO", json.dumps(AVRO_V2))
    assert v2.revision_id != v1.revision_id
    assert v2.revision_create_time > v1.revision_create_time
    assert registry.get(v1.name) == v2
    assert [r.revision_id for r in registry.list_revisions(v1.name)] == [
        v2.revision_id,
        v1.revision_id,
    ]
    v3 = registry.rollback(v1.name, v1.revision_id)
    assert v3.definition == v1.definition and v3.revision_id not in (v1.revision_id, v2.revision_id)
    assert registry.get(v1.name) == v3
    deleted = registry.delete_revision(f"{v1.name}@{v2.revision_id}")
    assert deleted == v2
    assert [r.revision_id for r in registry.list_revisions(v1.name)] == [
        v3.revision_id,
        v1.revision_id,
    ]
    with pytest.raises(SchemaNotFound):
        registry.get(v1.name, v2.revision_id)
    registry.delete_revision(v1.name, v1.revision_id)
    with pytest.raises(RevisionError, match="only revision"):
        registry.delete_revision(v1.name, v3.revision_id)
    with pytest.raises(SchemaNotFound):
        registry.rollback(v1.name, "deadbeef")


def test_revision_range_limits_validation(registry: SchemaRegistry):
    v1 = registry.create(PROJECT, "rides", "AVRO", json.dumps(AVRO_V1))
    v2 = registry.commit(v1.name, "AVRO", json.dumps(AVRO_V2))
    old_msg = json.dumps(GOOD_RIDE).encode()
    new_msg = json.dumps({"ride_id": "x", "city": "Oslo"}).encode()
    assert registry.validate_message(v1.name, "JSON", old_msg) == v1.revision_id
    assert registry.validate_message(v1.name, "JSON", new_msg) == v2.revision_id
    with pytest.raises(SchemaViolation):
        registry.validate_message(v1.name, "JSON", old_msg, first_revision_id=v2.revision_id)
    with pytest.raises(SchemaViolation):
        registry.validate_message(v1.name, "JSON", new_msg, last_revision_id=v1.revision_id)
    with pytest.raises(SchemaNotFound):
        registry.validate_message(v1.name, "JSON", new_msg, first_revision_id="nope")


def test_round_trip_through_dict(registry: SchemaRegistry):
    v1 = registry.create(PROJECT, "rides", "AVRO", json.dumps(AVRO_V1))
    v2 = registry.commit(v1.name, "AVRO", json.dumps(AVRO_V2))
    p = registry.create(PROJECT, "proto", "PROTOCOL_BUFFER", PROTO)
    restored = SchemaRegistry.from_dict(json.loads(json.dumps(registry.to_dict())))
    assert restored.list_revisions(v1.name) == [v2, v1]
    assert restored.get(p.name) == p
    restored.validate_message(p.name, "JSON", b'{"ride_id": "r"}')
    with pytest.raises(SchemaViolation):
        restored.validate_message(v1.name, "JSON", b'{"ride_id": 1}')


# --- registry: AVRO validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    "definition",
    [
        "",
        "{",
        '{"type": "nope"}',
        '{"type": "record", "name": "R", "fields": [{"name": "a"}]}',
        '{"type": "record", "name": "R"}',
        '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": "x"}]}',
    ],
)
def test_invalid_avro_definitions(registry: SchemaRegistry, definition: str):
    with pytest.raises(InvalidSchema):
        registry.validate_schema("AVRO", definition)


def test_unknown_schema_type(registry: SchemaRegistry):
    with pytest.raises(InvalidSchema, match="schema type must be one of"):
        registry.validate_schema("JSON_SCHEMA", "{}")


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ({**GOOD_RIDE, "fare": "12.5"}, "$.fare: expected double"),
        ({**GOOD_RIDE, "passengers": 2**31}, "$.passengers: expected int"),
        ({**GOOD_RIDE, "passengers": True}, "$.passengers: expected int"),
        ({**GOOD_RIDE, "note": "hi"}, "union values must be encoded"),
        ({**GOOD_RIDE, "note": {"int": 1}}, "'int' is not a branch"),
        ({**GOOD_RIDE, "kind": "PLANE"}, "'PLANE' is not one of"),
        ({**GOOD_RIDE, "tags": ["a", 1]}, "$.tags[1]: expected string"),
        ({**GOOD_RIDE, "surprise": 1}, "unknown field(s) surprise"),
        ({k: v for k, v in GOOD_RIDE.items() if k != "ride_id"}, "missing required field"),
        ([GOOD_RIDE], "expected an object"),
    ],
)
def test_avro_json_rejections(registry: SchemaRegistry, message, fragment: str):
    rev = registry.create(PROJECT, "rides", "AVRO", json.dumps(AVRO_V1))
    registry.validate_message(rev.name, "JSON", json.dumps(GOOD_RIDE).encode())
    with pytest.raises(SchemaViolation) as info:
        registry.validate_message(rev.name, "JSON", json.dumps(message).encode())
    assert fragment in str(info.value)


def test_avro_json_rejects_non_json(registry: SchemaRegistry):
    rev = registry.create(PROJECT, "rides", "AVRO", json.dumps(AVRO_V1))
    for data in (b"not json", b"\xff\xfe", json.dumps(GOOD_RIDE).encode() * 2):
        with pytest.raises(SchemaViolation, match="not valid JSON"):
            registry.validate_message(rev.name, "JSON", data)


def test_avro_binary(registry: SchemaRegistry):
    rev = registry.create(PROJECT, "rides", "AVRO", json.dumps(AVRO_V1))
    record = {**GOOD_RIDE, "note": "hi"}
    good = avro_binary(AVRO_V1, record)
    registry.validate_message(rev.name, "BINARY", good)
    with pytest.raises(SchemaViolation, match="trailing bytes"):
        registry.validate_message(rev.name, "BINARY", good + b"\x00")
    with pytest.raises(SchemaViolation, match="invalid AVRO binary"):
        registry.validate_message(rev.name, "BINARY", good[:-3])
    with pytest.raises(SchemaViolation, match="invalid AVRO binary"):
        registry.validate_message(rev.name, "BINARY", b"")
    with pytest.raises(SchemaViolation):
        registry.validate_message(rev.name, "BINARY", json.dumps(record).encode())


# --- registry: PROTOCOL_BUFFER ----------------------------------------------------------------


def test_proto_json_and_binary(registry: SchemaRegistry):
    from google.protobuf import descriptor_pool, message_factory

    from emulators.pubsub.schemas import compile_proto

    rev = registry.create(PROJECT, "rides", "PROTOCOL_BUFFER", PROTO)
    ok = b'{"rideId": "r1", "fare": 1.5, "passengers": 2, "at": "2024-01-01T00:00:00Z"}'
    registry.validate_message(rev.name, "JSON", ok)
    registry.validate_message(rev.name, "JSON", b'{"ride_id": "r1", "tags": ["a"]}')
    for bad, fragment in [
        (b'{"rideId": "r1", "colour": "red"}', 'no field named "colour"'),
        (b'{"passengers": "many"}', "passengers"),
        (b'{"at": "yesterday"}', "at"),
        (b"[]", "invalid PROTOCOL_BUFFER JSON"),
    ]:
        with pytest.raises(SchemaViolation) as info:
            registry.validate_message(rev.name, "JSON", bad)
        assert fragment in str(info.value)

    fds, root = compile_proto(PROTO)
    assert root == "bench.Ride"
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    ride = message_factory.GetMessageClass(pool.FindMessageTypeByName(root))
    data = ride(ride_id="r1", fare=3.0, tags=["x"]).SerializeToString()
    registry.validate_message(rev.name, "BINARY", data)
    with pytest.raises(SchemaViolation, match="invalid PROTOCOL_BUFFER binary"):
        registry.validate_message(rev.name, "BINARY", data[:-1])
    with pytest.raises(SchemaViolation, match="fields unknown to bench.Ride"):
        registry.validate_message(rev.name, "BINARY", data + b"\x98\x07\x01")  # field 115


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        ('syntax = "proto3"; message A { int32 x = 1; } message B {}', "exactly one top-level"),
        ('syntax = "proto3"; enum E { E0 = 0; }', "exactly one top-level"),
        ('syntax = "proto3"; message A { int32 x = 1 }', 'schema.proto:1:44: Expected ";"'),
        ('syntax = "proto3"; message A { Missing x = 1; }', '"Missing" is not defined'),
        ('syntax = "proto3"; import "nope.proto"; message A {}', "nope.proto"),
    ],
)
def test_invalid_proto_definitions(registry: SchemaRegistry, definition: str, fragment: str):
    with pytest.raises(InvalidSchema) as info:
        registry.validate_schema("PROTOCOL_BUFFER", definition)
    assert fragment in str(info.value)


# --- SchemaService through the real client ----------------------------------------------------


class _SchemaServer:
    """A grpc.aio server with only the SchemaService, on its own loop in a thread."""

    def __init__(self) -> None:
        self.registry = SchemaRegistry()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> int:
        self.server = grpc.aio.server()
        register_servicer(self.server, self.registry)
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(None), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def schema_server():
    server = _SchemaServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(schema_server: _SchemaServer):
    channel = grpc.insecure_channel(f"127.0.0.1:{schema_server.port}")
    yield SchemaServiceClient(transport=SchemaServiceGrpcTransport(channel=channel))
    channel.close()


@pytest.fixture
def parent(request) -> str:
    # a project per test keeps the module-scoped server's state independent
    return f"projects/{request.node.name.replace('[', '-').replace(']', '')[:40]}"


@pytest.mark.integration
def test_client_schema_lifecycle(client: SchemaServiceClient, parent: str):
    created = client.create_schema(
        parent=parent,
        schema=Schema(type_=Schema.Type.AVRO, definition=json.dumps(AVRO_V1)),
        schema_id="rides",
    )
    assert created.name == f"{parent}/schemas/rides"
    assert created.type_ == Schema.Type.AVRO
    assert created.revision_id and created.revision_create_time

    full = client.get_schema(name=created.name)
    assert json.loads(full.definition) == AVRO_V1
    basic = client.get_schema(request={"name": created.name, "view": SchemaView.BASIC})
    assert basic.definition == "" and basic.type_ == Schema.Type.AVRO

    with pytest.raises(gexc.AlreadyExists, match="already exists"):
        client.create_schema(
            parent=parent,
            schema=Schema(type_=Schema.Type.AVRO, definition=json.dumps(AVRO_V1)),
            schema_id="rides",
        )
    client.create_schema(
        parent=parent,
        schema=Schema(type_=Schema.Type.PROTOCOL_BUFFER, definition=PROTO),
        schema_id="rides-proto",
    )
    listed = list(client.list_schemas(request={"parent": parent, "page_size": 1}))
    assert [s.name for s in listed] == [created.name, f"{parent}/schemas/rides-proto"]
    assert all(s.definition == "" for s in listed)
    full_list = client.list_schemas(request={"parent": parent, "view": SchemaView.FULL})
    assert all(s.definition for s in full_list)

    client.delete_schema(name=created.name)
    with pytest.raises(gexc.NotFound, match="not found"):
        client.get_schema(name=created.name)
    with pytest.raises(gexc.NotFound):
        client.delete_schema(name=created.name)


@pytest.mark.integration
def test_client_revisions(client: SchemaServiceClient, parent: str):
    v1 = client.create_schema(
        parent=parent,
        schema=Schema(type_=Schema.Type.AVRO, definition=json.dumps(AVRO_V1)),
        schema_id="rides",
    )
    v2 = client.commit_schema(
        name=v1.name, schema=Schema(type_=Schema.Type.AVRO, definition=json.dumps(AVRO_V2))
    )
    assert v2.revision_id != v1.revision_id
    at_v1 = client.get_schema(name=f"{v1.name}@{v1.revision_id}")
    assert json.loads(at_v1.definition) == AVRO_V1
    revisions = list(client.list_schema_revisions(request={"name": v1.name, "page_size": 1}))
    assert [r.revision_id for r in revisions] == [v2.revision_id, v1.revision_id]

    v3 = client.rollback_schema(name=v1.name, revision_id=v1.revision_id)
    assert json.loads(v3.definition) == AVRO_V1
    deleted = client.delete_schema_revision(name=f"{v1.name}@{v2.revision_id}")
    assert deleted.revision_id == v2.revision_id
    with pytest.raises(gexc.NotFound):
        client.get_schema(name=f"{v1.name}@{v2.revision_id}")
    client.delete_schema_revision(name=f"{v1.name}@{v1.revision_id}")
    with pytest.raises(gexc.InvalidArgument, match="only revision"):
        client.delete_schema_revision(name=f"{v1.name}@{v3.revision_id}")
    with pytest.raises(gexc.InvalidArgument, match="invalid AVRO schema"):
        client.commit_schema(
            name=v1.name, schema=Schema(type_=Schema.Type.AVRO, definition='{"type": "x"}')
        )


@pytest.mark.integration
def test_client_validate_schema_and_message(client: SchemaServiceClient, parent: str):
    client.validate_schema(
        parent=parent, schema=Schema(type_=Schema.Type.PROTOCOL_BUFFER, definition=PROTO)
    )
    with pytest.raises(gexc.InvalidArgument, match="exactly one top-level message"):
        client.validate_schema(
            parent=parent,
            schema=Schema(
                type_=Schema.Type.PROTOCOL_BUFFER,
                definition='syntax = "proto3"; message A {} message B {}',
            ),
        )
    with pytest.raises(gexc.InvalidArgument, match="schema type must be"):
        client.validate_schema(parent=parent, schema=Schema(definition=PROTO))

    created = client.create_schema(
        parent=parent,
        schema=Schema(type_=Schema.Type.AVRO, definition=json.dumps(AVRO_V1)),
        schema_id="rides",
    )
    good = json.dumps(GOOD_RIDE).encode()
    client.validate_message(
        request={"parent": parent, "name": created.name, "message": good, "encoding": Encoding.JSON}
    )
    binary = avro_binary(AVRO_V1, {**GOOD_RIDE, "note": "hi"})
    client.validate_message(
        request={
            "parent": parent,
            "name": created.name,
            "message": binary,
            "encoding": Encoding.BINARY,
        }
    )
    with pytest.raises(gexc.InvalidArgument, match=r"\$.fare: expected double"):
        client.validate_message(
            request={
                "parent": parent,
                "name": created.name,
                "message": json.dumps({**GOOD_RIDE, "fare": "x"}).encode(),
                "encoding": Encoding.JSON,
            }
        )
    with pytest.raises(gexc.InvalidArgument, match="encoding must be"):
        client.validate_message(request={"parent": parent, "name": created.name, "message": good})
    with pytest.raises(gexc.NotFound):
        client.validate_message(
            request={
                "parent": parent,
                "name": f"{parent}/schemas/missing",
                "message": good,
                "encoding": Encoding.JSON,
            }
        )
    # an inline schema needs no registration
    client.validate_message(
        request={
            "parent": parent,
            "schema": Schema(type_=Schema.Type.PROTOCOL_BUFFER, definition=PROTO),
            "message": b'{"rideId": "x"}',
            "encoding": Encoding.JSON,
        }
    )
    with pytest.raises(gexc.InvalidArgument, match="no field named"):
        client.validate_message(
            request={
                "parent": parent,
                "schema": Schema(type_=Schema.Type.PROTOCOL_BUFFER, definition=PROTO),
                "message": b'{"nope": 1}',
                "encoding": Encoding.JSON,
            }
        )


@pytest.mark.integration
def test_client_bad_names_get_invalid_argument(client: SchemaServiceClient, parent: str):
    with pytest.raises(gexc.InvalidArgument, match="invalid schema name"):
        client.get_schema(name="schemas/x")
    with pytest.raises(gexc.InvalidArgument, match="invalid parent"):
        client.list_schemas(parent="nope")
    with pytest.raises(gexc.InvalidArgument, match="invalid schema id"):
        client.create_schema(
            parent=parent,
            schema=Schema(type_=Schema.Type.AVRO, definition=json.dumps(AVRO_V1)),
            schema_id="goog-reserved",
        )
    # the server keeps serving after errors
    assert list(client.list_schemas(parent=parent)) == []


# --- topics with schema settings, through the emulator process ----------------------------------




def _topic_with_schema(emulator_host, schema_type, definition, encoding, suffix):
    from google.cloud import pubsub_v1

    schemas = SchemaServiceClient()
    project = f"schema-topics-{suffix}"
    schema = schemas.create_schema(
        parent=f"projects/{project}",
        schema=Schema(type_=schema_type, definition=definition),
        schema_id=f"rides-{suffix}",
    )
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(project, f"rides-{suffix}")
    publisher.create_topic(
        request={
            "name": topic,
            "schema_settings": {"schema": schema.name, "encoding": encoding},
        }
    )
    subscriber = pubsub_v1.SubscriberClient()
    sub = subscriber.subscription_path(project, f"rides-{suffix}")
    subscriber.create_subscription(name=sub, topic=topic)
    return publisher, topic, subscriber, sub, schema


@pytest.mark.integration
def test_topic_with_avro_json_schema_rejects_bad_publish(emulator_host):
    publisher, topic, subscriber, sub, schema = _topic_with_schema(
        emulator_host, Schema.Type.AVRO, json.dumps(AVRO_V1), Encoding.JSON, "avro-json"
    )
    with pytest.raises(gexc.InvalidArgument, match=r"\$.fare: expected double"):
        publisher.publish(topic, json.dumps({**GOOD_RIDE, "fare": "x"}).encode()).result(30)
    with pytest.raises(gexc.InvalidArgument):
        publisher.publish(topic, avro_binary(AVRO_V1, {**GOOD_RIDE, "note": None})).result(30)
    message_id = publisher.publish(topic, json.dumps(GOOD_RIDE).encode()).result(30)
    received = subscriber.pull(subscription=sub, max_messages=10, timeout=30).received_messages
    assert [m.message.message_id for m in received] == [message_id]
    attributes = received[0].message.attributes
    assert attributes["googclient_schemaname"] == schema.name
    assert attributes["googclient_schemaencoding"] == "JSON"
    assert attributes["googclient_schemarevisionid"] == schema.revision_id


@pytest.mark.integration
def test_topic_with_proto_binary_schema_rejects_bad_publish(emulator_host):
    from google.protobuf import descriptor_pool, message_factory

    from emulators.pubsub.schemas import compile_proto

    publisher, topic, subscriber, sub, _ = _topic_with_schema(
        emulator_host, Schema.Type.PROTOCOL_BUFFER, PROTO, Encoding.BINARY, "proto-binary"
    )
    fds, root = compile_proto(PROTO)
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    ride = message_factory.GetMessageClass(pool.FindMessageTypeByName(root))
    with pytest.raises(gexc.InvalidArgument, match="invalid PROTOCOL_BUFFER binary"):
        publisher.publish(topic, b"\xff\xff\xff").result(30)
    with pytest.raises(gexc.InvalidArgument):
        publisher.publish(topic, b'{"rideId": "r1"}').result(30)  # JSON on a BINARY topic
    good = ride(ride_id="r1", passengers=3).SerializeToString()
    message_id = publisher.publish(topic, good).result(30)
    received = subscriber.pull(subscription=sub, max_messages=10, timeout=30).received_messages
    assert [(m.message.message_id, m.message.data) for m in received] == [(message_id, good)]


@pytest.mark.integration
def test_topic_with_unknown_schema_is_refused(emulator_host):
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    with pytest.raises(gexc.NotFound):
        publisher.create_topic(
            request={
                "name": publisher.topic_path("schema-topics-missing", "rides"),
                "schema_settings": {
                    "schema": "projects/schema-topics-missing/schemas/nope",
                    "encoding": Encoding.JSON,
                },
            }
        )


# --- property tests ---------------------------------------------------------------------------

PROPERTY_AVRO = {
    "type": "record",
    "name": "Event",
    "namespace": "bench",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "score", "type": "double"},
        {"name": "ok", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "choice", "type": ["null", "string", "int", "bench.Kind"]},
        {"name": "tags", "type": {"type": "map", "values": ["null", "long"]}},
        {"name": "code", "type": {"type": "fixed", "name": "Code", "size": 2}},
        {"name": "items", "type": {"type": "array", "items": "string"}},
    ],
}

avro_records = st.fixed_dictionaries(
    {
        "id": st.integers(-(2**63), 2**63 - 1),
        "score": st.floats(allow_nan=False, allow_infinity=False),
        "ok": st.booleans(),
        "raw": st.binary(max_size=8),
        "kind": st.sampled_from(["A", "B"]),
        "choice": st.one_of(
            st.none(),
            st.text(max_size=5),
            st.integers(-(2**31), 2**31 - 1),
        ),
        # non-empty keys: fastavro's JSON writer fails on an empty map key
        "tags": st.dictionaries(
            st.text(min_size=1, max_size=3), st.one_of(st.none(), st.integers(0, 9))
        ),
        "code": st.binary(min_size=2, max_size=2),
        "items": st.lists(st.text(max_size=3), max_size=3),
    }
)


@pytest.fixture(scope="module")
def property_registry() -> tuple[SchemaRegistry, str, str]:
    registry = SchemaRegistry()
    avro = registry.create(PROJECT, "events-avro", "AVRO", json.dumps(PROPERTY_AVRO))
    proto = registry.create(PROJECT, "events-proto", "PROTOCOL_BUFFER", PROTO)
    return registry, avro.name, proto.name


@settings(max_examples=150, deadline=None)
@given(record=avro_records)
def test_avro_records_written_by_fastavro_validate(property_registry, record):
    registry, avro, _ = property_registry
    parsed = fastavro.parse_schema(PROPERTY_AVRO)
    registry.validate_message(avro, "BINARY", avro_binary(PROPERTY_AVRO, record))
    text = io.StringIO()
    fastavro.json_writer(text, parsed, [record])
    registry.validate_message(avro, "JSON", text.getvalue().encode())


@settings(max_examples=150, deadline=None)
@given(
    ride_id=st.text(max_size=10),
    fare=st.floats(allow_nan=False, allow_infinity=False),
    passengers=st.integers(-(2**31), 2**31 - 1),
    tags=st.lists(st.text(max_size=4), max_size=3),
)
def test_proto_messages_validate_in_both_encodings(
    property_registry, ride_id, fare, passengers, tags
):
    from google.protobuf import descriptor_pool, json_format, message_factory

    from emulators.pubsub.schemas import compile_proto

    registry, _, proto = property_registry
    fds, root = compile_proto(PROTO)
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    ride = message_factory.GetMessageClass(pool.FindMessageTypeByName(root))
    msg = ride(ride_id=ride_id, fare=fare, passengers=passengers, tags=tags)
    registry.validate_message(proto, "BINARY", msg.SerializeToString())
    registry.validate_message(proto, "JSON", json_format.MessageToJson(msg).encode())


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=40),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.sampled_from(["id", "rideId", "x", "choice"]), inner)
            ),
            max_leaves=8,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    encoding=st.sampled_from(["JSON", "BINARY"]),
    which=st.sampled_from([1, 2]),
)
def test_garbage_messages_only_raise_schema_violation(property_registry, data, encoding, which):
    registry, *names = property_registry
    try:
        registry.validate_message(names[which - 1], encoding, data)
    except SchemaViolation:
        pass
