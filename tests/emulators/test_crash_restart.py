"""Each emulator killed with SIGKILL mid-stream and restarted on the same ``--data-dir``.

Pub/Sub: every publish that returned an id is still there; what was acked stays acked; what
was pulled but not acked (and what was never pulled) is delivered again.
BigQuery: every insertAll that returned 200 without insertErrors is still in the table.
"""

from __future__ import annotations

import threading

import pytest
from google.api_core import exceptions

from harness import clients
from tests.support.emulators import endpoints

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
PROJECT = "crash-project"


def _keep_publishing(publisher, topic, published: list[str], stop: threading.Event) -> None:
    """One message per request, no retries: an id in ``published`` was acknowledged."""
    n = 0
    while not stop.is_set():
        try:
            response = publisher.api.publish(
                topic=topic, messages=[{"data": f"m{n}".encode()}], retry=None, timeout=5
            )
        except exceptions.GoogleAPICallError:
            return  # the server died under us: that publish was never acknowledged
        published.extend(response.message_ids)
        n += 1


def _drain(subscriber, sub: str, idle_rounds: int = 3) -> dict[str, bytes]:
    """Pull and ack until a few pulls in a row come back empty; message id -> data."""
    got: dict[str, bytes] = {}
    idle = 0
    while idle < idle_rounds:
        response = subscriber.pull(request={"subscription": sub, "max_messages": 500}, timeout=10)
        if not response.received_messages:
            idle += 1
            continue
        idle = 0
        for r in response.received_messages:
            got[r.message.message_id] = r.message.data
        subscriber.acknowledge(
            subscription=sub, ack_ids=[r.ack_id for r in response.received_messages]
        )
    return got


def test_pubsub_sigkill_loses_no_acknowledged_publish_and_redelivers_unacked(emulator, tmp_path):
    data_dir = tmp_path / "pubsub-data"
    first = emulator("pubsub", data_dir=data_dir)
    ends = endpoints(first, None)
    publisher, subscriber = clients.publisher(ends), clients.subscriber(ends)
    topic = f"projects/{PROJECT}/topics/events"
    sub = f"projects/{PROJECT}/subscriptions/events-sub"
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic, ack_deadline_seconds=600)

    published: list[str] = []
    stop = threading.Event()
    writer = threading.Thread(target=_keep_publishing, args=(publisher, topic, published, stop))
    writer.start()
    acked: set[str] = set()
    leased: set[str] = set()
    while len(acked) < 100:  # consume while the publisher keeps going
        response = subscriber.pull(request={"subscription": sub, "max_messages": 20}, timeout=10)
        if not response.received_messages:
            continue
        # ack every other message pulled, keep the rest leased (600 s deadline); counted over
        # the whole run, since a loaded machine may return one message per pull
        acked_now = []
        for received in response.received_messages:
            if (len(acked) + len(leased) + len(acked_now)) % 2 == 0:
                acked_now.append(received)
            else:
                leased.add(received.message.message_id)
        if acked_now:
            subscriber.acknowledge(subscription=sub, ack_ids=[r.ack_id for r in acked_now])
            acked.update(r.message.message_id for r in acked_now)

    first.process.kill()  # SIGKILL while the publisher is mid-request
    first.process.wait()
    stop.set()
    writer.join(30)
    assert not writer.is_alive()
    subscriber.close()

    second = emulator("pubsub", data_dir=data_dir)
    ends = endpoints(second, None)
    subscriber = clients.subscriber(ends)
    redelivered = _drain(subscriber, sub)
    subscriber.close()

    assert leased, "the test should have left some messages pulled but unacked"
    assert set(published) - acked <= set(redelivered)  # no acknowledged publish lost
    assert leased <= set(redelivered)  # leases do not survive the crash
    assert not acked & set(redelivered)  # an ack that returned OK was durable


def _keep_inserting(bq, table, inserted: list[str], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        ids = [f"r{n}-{i}" for i in range(10)]
        try:
            errors = bq.insert_rows_json(
                table, [{"id": i, "n": n} for i in ids], row_ids=ids, retry=None, timeout=5
            )
        except Exception:  # connection refused / reset: that request was never acknowledged
            return
        if not errors:
            inserted.extend(ids)
        n += 1


def _write_then_kill(server, keep_writing, *args) -> list:
    """Run ``keep_writing(*args, acknowledged, stop)`` on a thread until 300 writes were
    acknowledged, SIGKILL ``server`` mid-stream; the acknowledged writes."""
    acknowledged: list = []
    stop = threading.Event()
    writer = threading.Thread(target=keep_writing, args=(*args, acknowledged, stop))
    writer.start()
    while len(acknowledged) < 300 and writer.is_alive():
        threading.Event().wait(0.02)
    server.process.kill()
    server.process.wait()
    stop.set()
    writer.join(30)
    assert len(acknowledged) >= 300
    return acknowledged


def test_bigquery_sigkill_keeps_every_acknowledged_insert(emulator, tmp_path):
    from google.cloud import bigquery

    data_dir = tmp_path / "bq-data"
    first = emulator("bigquery", data_dir=data_dir)
    bq = clients.bigquery(endpoints(None, first), PROJECT)
    bq.create_dataset(f"{PROJECT}.crash")
    table = f"{PROJECT}.crash.rows"
    bq.create_table(
        bigquery.Table(
            table,
            schema=[bigquery.SchemaField("id", "STRING"), bigquery.SchemaField("n", "INT64")],
        )
    )
    inserted = _write_then_kill(first, _keep_inserting, bq, table)
    second = emulator("bigquery", data_dir=data_dir)
    bq = clients.bigquery(endpoints(None, second), PROJECT)
    stored = [
        row["id"]
        for row in bq.list_rows(table, selected_fields=[bigquery.SchemaField("id", "STRING")])
    ]
    assert set(inserted) <= set(stored)
    assert len(stored) == len(set(stored))  # nothing doubled by the restart
    # the restarted server keeps accepting writes
    assert bq.insert_rows_json(table, [{"id": "after", "n": 0}], row_ids=["after"]) == []


def _keep_appending(write, stream: str, acked: list[int], stop: threading.Event) -> None:
    """Storage Write API: one AppendRows call of 10 rows at a time to ``stream``; the ids of a
    call answered without an error were acknowledged."""
    from google.cloud.bigquery_storage_v1 import types
    from google.protobuf import descriptor_pb2

    proto = descriptor_pb2.DescriptorProto(name="Row")
    proto.field.add(name="n", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64)
    n = 0
    while not stop.is_set():
        ids = list(range(n, n + 10))
        # the serialized proto2 message {n: i}: field 1, varint
        rows = [b"\x08" + _varint(i) for i in ids]
        request = types.AppendRowsRequest(write_stream=stream)
        request.proto_rows = types.AppendRowsRequest.ProtoData(
            writer_schema=types.ProtoSchema(proto_descriptor=proto),
            rows=types.ProtoRows(serialized_rows=rows),
        )
        try:
            answers = list(write.append_rows(iter([request]), retry=None, timeout=5))
        except exceptions.GoogleAPICallError:
            return  # the server died under us: that append was never acknowledged
        if answers and "error" not in answers[0]:
            acked.extend(ids)
        n += 10


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_bigquery_sigkill_keeps_every_acknowledged_storage_write_append(emulator, tmp_path):
    from google.cloud import bigquery

    from emulators.bigquery.storage_api.clients import write_client

    data_dir = tmp_path / "bq-data"
    first = emulator("bigquery", data_dir=data_dir)
    bq = clients.bigquery(endpoints(None, first), PROJECT)
    bq.create_dataset(f"{PROJECT}.crash")
    table = f"{PROJECT}.crash.appended"
    bq.create_table(bigquery.Table(table, schema=[bigquery.SchemaField("n", "INT64")]))
    stream = f"projects/{PROJECT}/datasets/crash/tables/appended/streams/_default"
    acked = _write_then_kill(first, _keep_appending, write_client(first.storage_address), stream)
    second = emulator("bigquery", data_dir=data_dir)
    bq = clients.bigquery(endpoints(None, second), PROJECT)
    stored = [row["n"] for row in bq.query_and_wait(f"SELECT n FROM `{table}`")]
    assert set(acked) <= set(stored)  # no acknowledged append lost
    assert len(stored) == len(set(stored))
