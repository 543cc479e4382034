"""BigQuery subscriptions: both emulators as real processes, the real clients on each side."""

from __future__ import annotations

import json
import time

import pytest
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from google.pubsub_v1.types import Subscription

from emulators.process import ServerProcess
from emulators.pubsub.bigquery_export import incompatibilities, parse_table
from emulators.pubsub.errors import ApiError
from emulators.pubsub.hooks import AdminClient
from tests.support.pubsub import PROJECT, Emulator, Target

pytestmark = pytest.mark.integration
DATASET = "exports"
F = bigquery.SchemaField
METADATA = [F("subscription_name", "STRING"), F("message_id", "STRING"),
            F("publish_time", "TIMESTAMP"), F("attributes", "JSON")]


@pytest.fixture(scope="module")
def stack():
    """The BigQuery emulator, then ours pointed at it with --bigquery-endpoint."""
    bq = ServerProcess.emulator("bigquery", "--project", PROJECT)
    url = bq.url
    pubsub = Emulator("--bigquery-endpoint", url).start()
    client = bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(),
                             client_options=ClientOptions(api_endpoint=url))
    client.create_dataset(DATASET)
    yield Target("ours", pubsub.host), client, AdminClient(pubsub.host)
    pubsub.stop()
    bq.stop()


def table(client, name: str, fields) -> str:
    client.create_table(bigquery.Table(f"{PROJECT}.{DATASET}.{name}", schema=fields))
    return f"{PROJECT}.{DATASET}.{name}"


def rows(client, table_id: str) -> list[dict]:
    return [dict(r) for r in client.list_rows(table_id)]


def as_json(value):
    """A JSON column's value (the client returns it parsed)."""
    return json.loads(value) if isinstance(value, str) else value


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def test_table_names_and_compatibility_rules():
    assert parse_table("p.d.t") == ("p", "d", "t")
    assert parse_table("my-proj:d.t") == ("my-proj", "d", "t")
    for bad in ("d.t", "", "p.d.t.x y"):
        with pytest.raises(ApiError):
            parse_table(bad)
    data = [{"name": "data", "type": "BYTES"}]
    assert incompatibilities(data, {}, None) == []
    assert incompatibilities([{"name": "data", "type": "INTEGER"}], {}, None)
    assert incompatibilities([*data, {"name": "x", "type": "STRING", "mode": "REQUIRED"}], {},
                             None)
    metadata = [{"name": c.name, "type": c.field_type} for c in METADATA]
    assert incompatibilities(data + metadata, {"write_metadata": True}, None) == []
    assert incompatibilities(data + metadata[:2], {"write_metadata": True}, None)
    fields = {"n": "long", "s": "string"}
    topic_config = {"use_topic_schema": True}
    assert incompatibilities([{"name": "n", "type": "INTEGER"}, {"name": "s", "type": "STRING"}],
                             topic_config, fields) == []
    assert incompatibilities([{"name": "n", "type": "INTEGER"}], topic_config, fields)
    assert incompatibilities([{"name": "n", "type": "INTEGER"}],
                             {**topic_config, "drop_unknown_fields": True}, fields) == []
    assert incompatibilities([{"name": "n", "type": "BOOLEAN"}, {"name": "s", "type": "STRING"}],
                             topic_config, fields)


def test_data_column_and_metadata(stack):
    target, bq, _ = stack
    table_id = table(bq, "plain", [F("data", "STRING"), *METADATA])
    topic = target.topic()
    sub = target.subscription(topic, bigquery_config={"table": table_id, "write_metadata": True})
    got = target.subscriber.get_subscription(subscription=sub)
    assert got.bigquery_config.state == got.bigquery_config.State.ACTIVE
    assert got.state == Subscription.State.ACTIVE
    ids = target.publish(topic, b"hello", b"world", colour="blue")
    found = wait_for(lambda: len(rows(bq, table_id)) >= 2 and rows(bq, table_id))
    assert sorted(r["data"] for r in found) == ["hello", "world"]
    assert {r["message_id"] for r in found} == set(ids)
    assert {r["subscription_name"] for r in found} == {sub}
    assert all(as_json(r["attributes"]) == {"colour": "blue"} for r in found)
    assert all(r["publish_time"].year >= 2024 for r in found)


def test_bytes_column_gets_the_raw_bytes(stack):
    target, bq, _ = stack
    table_id = table(bq, "raw", [F("data", "BYTES")])
    topic = target.topic()
    target.subscription(topic, bigquery_config={"table": table_id})
    target.publish(topic, b"\x00\xffbinary")
    [row] = wait_for(lambda: rows(bq, table_id))
    assert row["data"] == b"\x00\xffbinary"


def test_creation_is_refused_for_missing_or_incompatible_tables(stack):
    target, bq, _ = stack
    topic = target.topic()
    with pytest.raises(exceptions.NotFound):
        target.subscription(topic, bigquery_config={"table": f"{PROJECT}.{DATASET}.missing"})
    wrong = table(bq, "wrong", [F("payload", "STRING")])
    with pytest.raises(exceptions.InvalidArgument) as err:
        target.subscription(topic, bigquery_config={"table": wrong})
    assert "data" in err.value.message
    with pytest.raises(exceptions.InvalidArgument):
        target.subscription(topic, bigquery_config={"table": "not a table"})
    ok = table(bq, "ok", [F("data", "STRING")])
    with pytest.raises(exceptions.InvalidArgument):
        target.subscription(topic, bigquery_config={"table": ok, "use_topic_schema": True,
                                                    "use_table_schema": True})


def test_table_deleted_later_is_a_resource_error_and_nothing_is_lost(stack):
    target, bq, _ = stack
    table_id = table(bq, "comes_and_goes", [F("data", "STRING")])
    topic = target.topic()
    sub = target.subscription(topic, bigquery_config={"table": table_id})
    bq.delete_table(table_id)
    target.publish(topic, b"kept")

    def failing():
        got = target.subscriber.get_subscription(subscription=sub)
        return got.bigquery_config.state == got.bigquery_config.State.NOT_FOUND and got

    got = wait_for(failing)
    assert got and got.state == Subscription.State.RESOURCE_ERROR
    table(bq, "comes_and_goes", [F("data", "STRING")])
    [row] = wait_for(lambda: rows(bq, table_id))
    assert row["data"] == "kept"
    got = target.subscriber.get_subscription(subscription=sub)
    assert got.state == Subscription.State.ACTIVE


def test_topic_schema_columns(stack):
    import grpc
    from google.cloud.pubsub import SchemaServiceClient
    from google.pubsub_v1.services.schema_service.transports import SchemaServiceGrpcTransport
    from google.pubsub_v1.types import Encoding, Schema

    target, bq, _ = stack
    schemas = SchemaServiceClient(
        transport=SchemaServiceGrpcTransport(channel=grpc.insecure_channel(target.host))
    )
    definition = json.dumps({"type": "record", "name": "Order", "fields": [
        {"name": "id", "type": "string"}, {"name": "qty", "type": "long"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "extra", "type": "string"}]})
    schema = schemas.create_schema(parent=f"projects/{PROJECT}",
                                   schema=Schema(type_=Schema.Type.AVRO, definition=definition),
                                   schema_id=target.name("orders"))
    topic = target.topic(schema_settings={"schema": schema.name, "encoding": Encoding.JSON})
    table_id = table(bq, "orders", [F("id", "STRING"), F("qty", "INTEGER"), F("note", "STRING")])
    with pytest.raises(exceptions.InvalidArgument):  # "extra" has no column
        target.subscription(topic, bigquery_config={"table": table_id, "use_topic_schema": True})
    target.subscription(topic, bigquery_config={"table": table_id, "use_topic_schema": True,
                                                "drop_unknown_fields": True})
    target.publish(topic, b'{"id": "o1", "qty": 3, "note": {"string": "rush"}, "extra": "x"}')
    target.publish(topic, b'{"id": "o2", "qty": 5, "note": null, "extra": "y"}')
    found = wait_for(lambda: len(rows(bq, table_id)) >= 2 and rows(bq, table_id))
    assert sorted((r["id"], r["qty"], r["note"]) for r in found) == [
        ("o1", 3, "rush"), ("o2", 5, None)]


def test_ten_thousand_messages_none_lost_malformed_ones_dead_lettered(stack):
    """The issue's bar: 10,000 messages into a table with use_table_schema and metadata; the
    malformed ones are nacked and, after the delivery attempts, dead-lettered with the
    reason in CloudPubSubDeadLetterSourceDeliveryErrorMessage."""
    target, bq, admin = stack
    table_id = table(bq, "events", [F("event_id", "STRING", mode="REQUIRED"),
                                    F("amount", "INTEGER"), *METADATA])
    topic = target.topic()
    dead_topic = target.topic()
    dead_sub = target.subscription(dead_topic)
    sub = target.subscription(topic, bigquery_config={
        "table": table_id, "use_table_schema": True, "write_metadata": True,
        "drop_unknown_fields": True,
    }, dead_letter_policy={"dead_letter_topic": dead_topic, "max_delivery_attempts": 5})
    malformed = {b"not json", b'{"amount": 1}', b'{"event_id": "x", "amount": "many"}', b"[1]"}
    good = [json.dumps({"event_id": f"e{i}", "amount": i, "ignored": True}).encode()
            for i in range(10_000)]
    payloads = good[:5000] + sorted(malformed) + good[5000:]
    for start in range(0, len(payloads), 1000):
        target.publisher.api.publish(topic=topic, messages=[
            {"data": p, "attributes": {"n": str(start + i)}}
            for i, p in enumerate(payloads[start:start + 1000])])

    def count() -> int:
        query = f"SELECT COUNT(DISTINCT event_id) AS n FROM `{table_id}`"
        return next(iter(bq.query(query).result()))["n"]

    assert wait_for(lambda: count() >= 10_000, timeout=180) and count() == 10_000
    # the malformed ones back off between attempts (10 s, 20 s, ...): let the clock run
    dead = []
    deadline = time.monotonic() + 120
    while len(dead) < len(malformed) and time.monotonic() < deadline:
        admin.advance(600)
        response = target.subscriber.pull(subscription=dead_sub, max_messages=10,
                                          return_immediately=True, timeout=10)
        dead += response.received_messages
        time.sleep(0.2)
    assert {m.message.data for m in dead} == malformed
    for m in dead:
        attrs = m.message.attributes
        assert attrs["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
        assert attrs["CloudPubSubDeadLetterSourceSubscription"] == sub.rsplit("/", 1)[-1]
        assert attrs["CloudPubSubDeadLetterSourceDeliveryErrorMessage"]
    reasons = {m.message.data: m.message.attributes[
        "CloudPubSubDeadLetterSourceDeliveryErrorMessage"] for m in dead}
    assert "JSON" in reasons[b"not json"]
    assert "event_id" in reasons[b'{"amount": 1}']
    sample = next(iter(bq.query(
        f"SELECT * FROM `{table_id}` WHERE event_id = 'e42' LIMIT 1").result()))
    assert sample["amount"] == 42 and sample["subscription_name"] == sub
    assert as_json(sample["attributes"]) == {"n": "42"}


def test_the_embedded_stack_wires_bigquery_subscriptions():
    """`Stack()` (what `python -m harness up` and the pytest plugin run) starts BigQuery first
    and points Pub/Sub's BigQuery subscriptions at it."""
    from harness.stack import Stack

    with Stack() as stack:
        target = Target("ours", stack.endpoints.pubsub)
        client = bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(),
                                 client_options=ClientOptions(api_endpoint=stack.endpoints.bigquery))
        client.create_dataset(DATASET)
        table_id = table(client, "stacked", [F("data", "STRING")])
        topic = target.topic()
        target.subscription(topic, bigquery_config={"table": table_id})
        target.publish(topic, b"through the stack")
        [row] = wait_for(lambda: rows(client, table_id))
        assert row["data"] == "through the stack"


def test_over_rest_and_without_a_bigquery_emulator(stack, monkeypatch):
    import requests

    target, bq, _ = stack
    table_id = table(bq, "rested", [F("data", "JSON")])
    topic = target.topic()
    sub = target.sub_path()
    response = requests.put(f"http://{target.host}/v1/{sub}", json={
        "topic": topic, "bigqueryConfig": {"table": table_id}}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["bigqueryConfig"]["state"] == "ACTIVE"
    target.publish(topic, b'{"k": [1, 2]}', b"not json")
    [row] = wait_for(lambda: rows(bq, table_id))
    assert as_json(row["data"]) == {"k": [1, 2]}

    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    alone = Emulator().start()
    try:
        other = Target("ours", alone.host)
        with pytest.raises(exceptions.FailedPrecondition) as err:
            other.subscription(other.topic(), bigquery_config={"table": table_id})
        assert "--bigquery-endpoint" in err.value.message
    finally:
        alone.stop()
