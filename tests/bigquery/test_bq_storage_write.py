"""Storage Write API (gRPC BigQueryWrite) through the real google-cloud-bigquery-storage client:
the client's AppendRowsStream writer, every stream type, offsets and the service's errors."""

from __future__ import annotations

import datetime as dt
import decimal
import time

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import bigquery
from google.cloud.bigquery_storage_v1 import types, writer
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

pytestmark = pytest.mark.integration

F = descriptor_pb2.FieldDescriptorProto
UTC = dt.timezone.utc


def message_class(
    name: str, fields: list[tuple], nested: list[descriptor_pb2.DescriptorProto] = ()
):
    """(DescriptorProto, message class) of a proto2 message: fields are (name, type[, label[,
    type_name]])."""
    proto = descriptor_pb2.DescriptorProto(name=name)
    for number, spec in enumerate(fields, 1):
        field_name, field_type, *rest = spec
        label = rest[0] if rest else F.LABEL_OPTIONAL
        entry = proto.field.add(name=field_name, number=number, type=field_type, label=label)
        if len(rest) > 1:
            entry.type_name = rest[1]
    for sub in nested:
        proto.nested_type.add().CopyFrom(sub)
    file_proto = descriptor_pb2.FileDescriptorProto(name=f"{name}.proto", syntax="proto2")
    file_proto.message_type.add().CopyFrom(proto)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return proto, message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


EVENT_PROTO, Event = message_class(
    "Event", [("id", F.TYPE_INT64), ("name", F.TYPE_STRING), ("at", F.TYPE_INT64)]
)


@pytest.fixture
def events(bq_client, bq_dataset):
    return bq_client.create_table(
        bigquery.Table(
            f"{bq_client.project}.{bq_dataset}.events",
            schema=[
                bigquery.SchemaField("id", "INTEGER", mode="REQUIRED"),
                bigquery.SchemaField("name", "STRING"),
                bigquery.SchemaField("at", "TIMESTAMP"),
            ],
        )
    )


def _parent(table) -> str:
    return f"projects/{table.project}/datasets/{table.dataset_id}/tables/{table.table_id}"


def _request(rows, stream: str = "", descriptor=None, offset: int | None = None):
    request = types.AppendRowsRequest()
    if stream:
        request.write_stream = stream
    if offset is not None:
        request.offset = offset
    data = types.AppendRowsRequest.ProtoData()
    if descriptor is not None:
        data.writer_schema = types.ProtoSchema(proto_descriptor=descriptor)
    data.rows = types.ProtoRows(serialized_rows=[r.SerializeToString() for r in rows])
    request.proto_rows = data
    return request


def _open(write_client, stream: str, descriptor=EVENT_PROTO) -> writer.AppendRowsStream:
    template = types.AppendRowsRequest(write_stream=stream)
    data = types.AppendRowsRequest.ProtoData()
    data.writer_schema = types.ProtoSchema(proto_descriptor=descriptor)
    template.proto_rows = data
    return writer.AppendRowsStream(write_client, template)


def _create(write_client, table, kind) -> types.WriteStream:
    return write_client.create_write_stream(
        parent=_parent(table), write_stream=types.WriteStream(type_=kind)
    )


def _flush(write_client, stream: str, offset: int) -> int:
    return write_client.flush_rows(request={"write_stream": stream, "offset": offset}).offset


def _count(bq_client, table) -> int:
    return bq_client.get_table(table).num_rows


def test_append_rows_stream_writes_100000_rows_to_the_default_stream(
    write_client, bq_client, events
):
    stream = _open(write_client, _parent(events) + "/streams/_default")
    futures = []
    for batch in range(200):  # requests after the first carry neither stream nor schema
        rows = [Event(id=batch * 500 + i, name=f"n{i}", at=1_700_000_000_000_000 + i)
                for i in range(500)]  # fmt: skip
        futures.append(stream.send(_request(rows)))
    for future in futures:
        assert future.result(timeout=120).append_result is not None
    stream.close()
    (row,) = bq_client.query_and_wait(
        f"SELECT COUNT(*) AS c, COUNT(DISTINCT id) AS d, SUM(id) AS s, MIN(at) AS first "
        f"FROM `{events.dataset_id}.events`"
    )
    assert (row["c"], row["d"], row["s"]) == (100_000, 100_000, sum(range(100_000)))
    assert row["first"] == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_every_type_from_proto_rows(write_client, bq_client, bq_dataset):
    table = bq_client.create_table(
        bigquery.Table(
            f"{bq_client.project}.{bq_dataset}.typed",
            schema=[
                bigquery.SchemaField("i", "INTEGER"),
                bigquery.SchemaField("f", "FLOAT"),
                bigquery.SchemaField("b", "BOOLEAN"),
                bigquery.SchemaField("s", "STRING"),
                bigquery.SchemaField("raw", "BYTES"),
                bigquery.SchemaField("n", "NUMERIC"),
                bigquery.SchemaField("n_bytes", "NUMERIC"),
                bigquery.SchemaField("big", "BIGNUMERIC"),
                bigquery.SchemaField("ts", "TIMESTAMP"),
                bigquery.SchemaField("ts_text", "TIMESTAMP"),
                bigquery.SchemaField("d", "DATE"),
                bigquery.SchemaField("d_text", "DATE"),
                bigquery.SchemaField("t", "TIME"),
                bigquery.SchemaField("t_packed", "TIME"),
                bigquery.SchemaField("dtm", "DATETIME"),
                bigquery.SchemaField("dtm_packed", "DATETIME"),
                bigquery.SchemaField("j", "JSON"),
                bigquery.SchemaField("g", "GEOGRAPHY"),
                bigquery.SchemaField("tags", "STRING", mode="REPEATED"),
                bigquery.SchemaField(
                    "rec",
                    "RECORD",
                    mode="REPEATED",
                    fields=[
                        bigquery.SchemaField("k", "STRING"),
                        bigquery.SchemaField("v", "INTEGER"),
                    ],
                ),
            ],
        )
    )
    rec_proto = descriptor_pb2.DescriptorProto(name="Rec")
    rec_proto.field.add(name="k", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    rec_proto.field.add(name="v", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    proto, Row = message_class(
        "Typed",
        [
            ("i", F.TYPE_SINT32), ("f", F.TYPE_FLOAT), ("b", F.TYPE_BOOL), ("s", F.TYPE_STRING),
            ("raw", F.TYPE_BYTES), ("n", F.TYPE_STRING), ("n_bytes", F.TYPE_BYTES),
            ("big", F.TYPE_STRING), ("ts", F.TYPE_INT64), ("ts_text", F.TYPE_STRING),
            ("d", F.TYPE_INT32), ("d_text", F.TYPE_STRING), ("t", F.TYPE_STRING),
            ("t_packed", F.TYPE_INT64), ("dtm", F.TYPE_STRING), ("dtm_packed", F.TYPE_INT64),
            ("j", F.TYPE_STRING), ("g", F.TYPE_STRING), ("tags", F.TYPE_STRING, F.LABEL_REPEATED),
            ("rec", F.TYPE_MESSAGE, F.LABEL_REPEATED, "Rec"),
        ],
        nested=[rec_proto],
    )  # fmt: skip
    # CivilTimeEncoding: 12:34:56.000789 and 2024-02-29 12:34:56.000789
    packed_time = (12 << 32) | (34 << 26) | (56 << 20) | 789
    packed_datetime = (2024 << 46) | (2 << 42) | (29 << 37) | packed_time
    full = Row(
        i=-5, f=1.5, b=True, s="é", raw=b"\x00\x01", n="123.456", big="1.000000000000000001",
        n_bytes=(-1234567890).to_bytes(8, "little", signed=True),  # -1.23456789
        ts=1_700_000_000_123_456, ts_text="2024-01-02 03:04:05.5 UTC", d=19782,
        d_text="2024-02-29", t="01:02:03.5", t_packed=packed_time, dtm="2024-01-02T03:04:05",
        dtm_packed=packed_datetime, j='{"a": [1, null]}', g="POINT(1 2)", tags=["x", "y"],
        rec=[Row.Rec(k="a", v=1), Row.Rec(k="b")],
    )  # fmt: skip
    stream = _open(write_client, _parent(table) + "/streams/_default", proto)
    stream.send(_request([full, Row()])).result(timeout=30)
    stream.close()
    rows = sorted(bq_client.list_rows(table), key=lambda r: r["i"] is None)
    got = dict(rows[0])
    assert got["i"] == -5 and got["f"] == 1.5 and got["b"] is True and got["s"] == "é"
    assert got["raw"] == b"\x00\x01"
    assert got["n"] == decimal.Decimal("123.456")
    assert got["n_bytes"] == decimal.Decimal("-1.23456789")
    assert got["big"] == decimal.Decimal("1.000000000000000001")
    assert got["ts"] == dt.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert got["ts_text"] == dt.datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    assert got["d"] == dt.date(2024, 2, 29) == got["d_text"]
    assert got["t"] == dt.time(1, 2, 3, 500000)
    assert got["t_packed"] == dt.time(12, 34, 56, 789)
    assert got["dtm"] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert got["dtm_packed"] == dt.datetime(2024, 2, 29, 12, 34, 56, 789)
    assert got["j"] == {"a": [1, None]} and got["g"] == "POINT(1 2)"
    assert got["tags"] == ["x", "y"]
    assert got["rec"] == [{"k": "a", "v": 1}, {"k": "b", "v": None}]
    # a field absent from the wire is NULL (proto2 rules), an empty repeated field []
    empty = dict(rows[1])
    assert empty["i"] is None and empty["s"] is None and empty["tags"] == []


def test_committed_stream_offsets_and_their_errors(write_client, bq_client, events):
    created = _create(write_client, events, types.WriteStream.Type.COMMITTED)
    assert created.type_ == types.WriteStream.Type.COMMITTED
    assert [f.name for f in created.table_schema.fields] == ["id", "name", "at"]
    stream = _open(write_client, created.name)
    first = stream.send(_request([Event(id=1), Event(id=2)], offset=0)).result(timeout=30)
    assert first.append_result.offset == 0
    assert _count(bq_client, events) == 2  # visible at once
    with pytest.raises(exceptions.AlreadyExists) as already:
        stream.send(_request([Event(id=9)], offset=1)).result(timeout=30)
    assert already.value.response.error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    with pytest.raises(exceptions.OutOfRange):
        stream.send(_request([Event(id=9)], offset=5)).result(timeout=30)
    # the connection goes on after an error in a response
    assert (
        stream.send(_request([Event(id=3)], offset=2)).result(timeout=30).append_result.offset == 2
    )
    stream.send(_request([Event(id=4)])).result(timeout=30)  # no offset: at the end
    stream.close()
    assert _count(bq_client, events) == 4
    assert write_client.finalize_write_stream(name=created.name).row_count == 4


def test_pending_streams_commit_atomically(write_client, bq_client, events):
    a = _create(write_client, events, types.WriteStream.Type.PENDING)
    b = _create(write_client, events, types.WriteStream.Type.PENDING)
    for created, ids in ((a, [1, 2, 3]), (b, [4, 5])):
        stream = _open(write_client, created.name)
        stream.send(_request([Event(id=i) for i in ids], offset=0)).result(timeout=30)
        stream.close()
    assert _count(bq_client, events) == 0  # not visible before the commit
    request = {"parent": _parent(events), "write_streams": [a.name, b.name]}
    refused = write_client.batch_commit_write_streams(request=request)
    assert not refused.commit_time
    assert {e.code for e in refused.stream_errors} == {
        types.StorageError.StorageErrorCode.INVALID_STREAM_STATE
    }
    assert write_client.finalize_write_stream(name=a.name).row_count == 3
    assert write_client.finalize_write_stream(name=b.name).row_count == 2
    stream = _open(write_client, a.name)  # a finalized stream takes no more rows
    with pytest.raises(exceptions.InvalidArgument, match="finalized"):
        stream.send(_request([Event(id=6)])).result(timeout=30)
    stream.close()
    committed = write_client.batch_commit_write_streams(request=request)
    assert committed.commit_time and not committed.stream_errors
    assert sorted(r["id"] for r in bq_client.list_rows(events)) == [1, 2, 3, 4, 5]
    again = write_client.batch_commit_write_streams(request=request)
    assert {e.code for e in again.stream_errors} == {
        types.StorageError.StorageErrorCode.STREAM_ALREADY_COMMITTED
    }
    got = write_client.get_write_stream(name=a.name)
    assert got.commit_time == committed.commit_time


def test_buffered_stream_rows_appear_when_flushed(write_client, bq_client, events):
    created = _create(write_client, events, types.WriteStream.Type.BUFFERED)
    stream = _open(write_client, created.name)
    stream.send(_request([Event(id=i) for i in range(5)], offset=0)).result(timeout=30)
    stream.send(_request([Event(id=i) for i in range(5, 8)], offset=5)).result(timeout=30)
    assert _count(bq_client, events) == 0
    assert _flush(write_client, created.name, 3) == 3
    assert sorted(r["id"] for r in bq_client.list_rows(events)) == [0, 1, 2, 3]
    assert _flush(write_client, created.name, 2) == 2  # no-op
    assert _flush(write_client, created.name, 7) == 7
    assert sorted(r["id"] for r in bq_client.list_rows(events)) == list(range(8))
    with pytest.raises(exceptions.OutOfRange):
        _flush(write_client, created.name, 8)
    stream.close()
    committed = _create(write_client, events, types.WriteStream.Type.COMMITTED)
    with pytest.raises(exceptions.InvalidArgument, match="BUFFERED"):
        _flush(write_client, committed.name, 0)


def test_a_missing_table_is_not_found_and_not_retried(write_client, events):
    gone = bigquery.TableReference.from_string(f"{events.project}.{events.dataset_id}.missing")
    missing = _parent(gone)
    with pytest.raises(exceptions.NotFound):
        _create(write_client, gone, types.WriteStream.Type.PENDING)
    with pytest.raises(exceptions.NotFound):
        write_client.get_write_stream(name=missing + "/streams/_default")
    with pytest.raises(exceptions.NotFound):
        write_client.get_write_stream(name=_parent(events) + "/streams/nope")
    # the raw stream ends with NOT_FOUND at once
    started = time.monotonic()
    with pytest.raises(exceptions.NotFound, match="missing"):
        request = _request([Event(id=1)], missing + "/streams/_default", EVENT_PROTO)
        list(write_client.append_rows(iter([request])))
    # the client's writer fails fast instead of retrying
    stream = _open(write_client, missing + "/streams/_default")
    with pytest.raises(exceptions.GoogleAPICallError):
        stream.send(_request([Event(id=1)])).result(timeout=30)
    assert time.monotonic() - started < 20


def test_bad_rows_are_row_errors_and_nothing_is_appended(write_client, bq_client, events):
    stream = _open(write_client, _parent(events) + "/streams/_default")
    with pytest.raises(exceptions.InvalidArgument) as failed:
        stream.send(_request([Event(id=1), Event(name="no id"), Event(id=3)])).result(timeout=30)
    errors = failed.value.response.row_errors
    assert [(e.index, e.code) for e in errors] == [(1, types.RowError.RowErrorCode.FIELDS_ERROR)]
    assert "id" in errors[0].message
    assert _count(bq_client, events) == 0
    stream.send(_request([Event(id=1)])).result(timeout=30)
    stream.close()
    assert _count(bq_client, events) == 1


def test_extra_fields_are_a_schema_mismatch(write_client, events):
    proto, Wide = message_class("Wide", [("id", F.TYPE_INT64), ("surprise", F.TYPE_STRING)])
    stream = _open(write_client, _parent(events) + "/streams/_default", proto)
    with pytest.raises(exceptions.InvalidArgument, match="extra fields: 'surprise'") as failed:
        stream.send(_request([Wide(id=1, surprise="x")])).result(timeout=30)
    detail = types.StorageError()
    failed.value.response.error.details[0].Unpack(detail._pb)
    assert detail.code == types.StorageError.StorageErrorCode.SCHEMA_MISMATCH_EXTRA_FIELDS
    stream.close()


def test_arrow_rows(write_client, bq_client, events):
    import pyarrow as pa

    batch = pa.record_batch(
        {"id": pa.array([1, 2], pa.int64()), "AT": pa.array([0, 1_000_000], pa.timestamp("us"))}
    )
    request = types.AppendRowsRequest(write_stream=_parent(events) + "/streams/_default")
    data = types.AppendRowsRequest.ArrowData()
    data.writer_schema = types.ArrowSchema(serialized_schema=batch.schema.serialize().to_pybytes())
    data.rows = types.ArrowRecordBatch(serialized_record_batch=batch.serialize().to_pybytes())
    request.arrow_rows = data
    (response,) = list(write_client.append_rows(iter([request])))
    assert not response.error.code
    rows = sorted((r["id"], r["at"], r["name"]) for r in bq_client.list_rows(events))
    assert rows == [
        (1, dt.datetime(1970, 1, 1, tzinfo=UTC), None),
        (2, dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), None),
    ]


def test_stream_resources_and_default_stream_rules(write_client, events):
    default = write_client.get_write_stream(name=_parent(events) + "/streams/_default")
    assert default.type_ == types.WriteStream.Type.COMMITTED
    assert len(default.table_schema.fields) == 3
    basic = write_client.get_write_stream(
        request={"name": default.name, "view": types.WriteStreamView.BASIC}
    )
    assert len(basic.table_schema.fields) == 0
    with pytest.raises(exceptions.InvalidArgument):
        write_client.finalize_write_stream(name=default.name)
    stream = _open(write_client, default.name)
    with pytest.raises(exceptions.InvalidArgument, match="offset"):
        stream.send(_request([Event(id=1)], offset=0)).result(timeout=30)
    stream.close()
    with pytest.raises(exceptions.InvalidArgument):
        _create(write_client, events, types.WriteStream.Type.TYPE_UNSPECIFIED)
    with pytest.raises(exceptions.InvalidArgument):
        write_client.get_write_stream(name="projects/x/streams/y")


def test_rows_written_are_read_back_through_the_read_api(write_client, bq_storage_client, events):
    stream = _open(write_client, _parent(events) + "/streams/_default")
    stream.send(_request([Event(id=i, name="r") for i in range(1000)])).result(timeout=30)
    stream.close()
    frame = bq_storage_client.list_rows(events).to_dataframe()
    assert sorted(frame["id"]) == list(range(1000))


@pytest.mark.parametrize("kind", ["_default", types.WriteStream.Type.PENDING])
def test_malformed_json_is_a_row_error(write_client, bq_client, bq_dataset, kind):
    table = bq_client.create_table(
        bigquery.Table(
            f"{bq_client.project}.{bq_dataset}.docs",
            schema=[bigquery.SchemaField("n", "INTEGER"), bigquery.SchemaField("doc", "JSON")],
        )
    )
    proto, Doc = message_class("Doc", [("n", F.TYPE_INT64), ("doc", F.TYPE_STRING)])
    name = (
        _parent(table) + "/streams/_default"
        if kind == "_default"
        else _create(write_client, table, kind).name
    )
    stream = _open(write_client, name, proto)
    rows = [Doc(n=1, doc='{"ok": true}'), Doc(n=2, doc="{not json"), Doc(n=3)]
    with pytest.raises(exceptions.InvalidArgument) as failed:
        stream.send(_request(rows)).result(timeout=30)
    assert [e.index for e in failed.value.response.row_errors] == [1]
    stream.send(_request([rows[0], rows[2]])).result(timeout=30)
    stream.close()
    if kind != "_default":
        write_client.finalize_write_stream(name=name)
        write_client.batch_commit_write_streams(
            request={"parent": _parent(table), "write_streams": [name]}
        )
    assert sorted((r["n"], r["doc"]) for r in bq_client.list_rows(table)) == [
        (1, {"ok": True}),
        (3, None),
    ]
