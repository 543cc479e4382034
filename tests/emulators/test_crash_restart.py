"""Each emulator killed with SIGKILL mid-stream and restarted on the same ``--data-dir``
(the scenarios are in tests/support/crash.py; tests/containers runs them on Docker volumes)."""

from __future__ import annotations

import threading

import pytest
from google.api_core import exceptions

from harness import clients
from tests.support import crash
from tests.support.emulators import endpoints

PROJECT = "crash-project"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_pubsub_sigkill_loses_no_acknowledged_publish_and_redelivers_unacked(emulator, tmp_path):
    data_dir = tmp_path / "pubsub-data"
    first = emulator("pubsub", data_dir=data_dir)
    crash.pubsub_survives_sigkill(
        endpoints(first, None),
        kill=first.kill,
        restart=lambda: endpoints(emulator("pubsub", data_dir=data_dir), None),
    )


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
    data_dir = tmp_path / "bq-data"
    first = emulator("bigquery", data_dir=data_dir)
    crash.bigquery_survives_sigkill(
        endpoints(None, first),
        kill=first.kill,
        restart=lambda: endpoints(None, emulator("bigquery", data_dir=data_dir)),
    )


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
