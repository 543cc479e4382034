"""Hostile clients of the BigQuery Storage Read/Write APIs (gRPC), through the real
google-cloud-bigquery-storage clients and raw gRPC: bad names, injections in row restrictions,
oversize requests, malformed protobuf and Arrow payloads. Each probe is refused with the API's
status (INVALID_ARGUMENT, in the AppendRows response's `error` or as the call's status), nothing
is stored, and the server keeps serving (the module fixture also checks that no file appeared
outside --data-dir)."""

from __future__ import annotations

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import bigquery
from google.cloud.bigquery_storage_v1 import types
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from emulators.bigquery.storage_api.clients import read_client, write_client
from tests.support.security import PROJECT

pytestmark = pytest.mark.integration

F = descriptor_pb2.FieldDescriptorProto
INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
BAD_IDS = ["..", "a/b", "x\x00y", "t" * 1025, 'x"; DROP TABLE t; --', "ta\nble", "€uro%"]


def _event_class():
    proto = descriptor_pb2.DescriptorProto(name="Event")
    proto.field.add(name="id", number=1, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    proto.field.add(name="name", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    file_proto = descriptor_pb2.FileDescriptorProto(name="event.proto", syntax="proto2")
    file_proto.message_type.add().CopyFrom(proto)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return proto, message_factory.GetMessageClass(pool.FindMessageTypeByName("Event"))


EVENT_PROTO, Event = _event_class()


@pytest.fixture(scope="module")
def storage(bq) -> str:
    address = bq.server.storage_address
    assert address, bq.server.log()[-2000:]
    return address


@pytest.fixture(scope="module")
def reader(storage):
    return read_client(storage)


@pytest.fixture(scope="module")
def writer_client(storage):
    return write_client(storage)


@pytest.fixture
def table(bq_client, dataset) -> bigquery.Table:
    table = bq_client.create_table(
        bigquery.Table(
            f"{PROJECT}.{dataset}.events",
            schema=[
                bigquery.SchemaField("id", "INTEGER", mode="REQUIRED"),
                bigquery.SchemaField("name", "STRING"),
            ],
        )
    )
    bq_client.insert_rows_json(table, [{"id": i, "name": f"n{i}"} for i in range(10)])
    return table


def _path(table) -> str:
    return f"projects/{table.project}/datasets/{table.dataset_id}/tables/{table.table_id}"


def _session(reader, table_path: str, **options):
    return reader.create_read_session(
        parent=f"projects/{PROJECT}",
        read_session=types.ReadSession(
            table=table_path,
            data_format=types.DataFormat.ARROW,
            read_options=types.ReadSession.TableReadOptions(**options),
        ),
        max_stream_count=1,
    )


def _rows(reader, session) -> int:
    return sum(r.row_count for s in session.streams for r in reader.read_rows(s.name))


def _append(writer_client, requests: list) -> list:
    return list(writer_client.append_rows(iter(requests)))


def _proto_request(stream: str, rows: list[bytes], descriptor=EVENT_PROTO):
    request = types.AppendRowsRequest(write_stream=stream)
    data = types.AppendRowsRequest.ProtoData(rows=types.ProtoRows(serialized_rows=rows))
    if descriptor is not None:
        data.writer_schema = types.ProtoSchema(proto_descriptor=descriptor)
    request.proto_rows = data
    return request


def _still_serves(reader, writer_client, bq_client, table, rows: int = 10) -> None:
    """The Storage APIs still answer, and the table holds exactly ``rows`` rows."""
    assert _rows(reader, _session(reader, _path(table))) == rows
    answer = _append(
        writer_client,
        [_proto_request(_path(table) + "/streams/_default", [Event(id=99).SerializeToString()])],
    )
    assert "error" not in answer[0], answer[0].error
    assert bq_client.get_table(table).num_rows == rows + 1


def test_the_grpc_port_listens_on_loopback_only(storage):
    host, _, port = storage.rpartition(":")
    assert host == "127.0.0.1"
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, local_port = local.split(":")
            if state == "0A" and int(local_port, 16) == int(port):
                listening.append(address)
    # 127.0.0.1 (grpcio may bind it as the v4-mapped ::ffff:127.0.0.1), never 0.0.0.0 or ::
    assert listening and set(listening) <= {"0100007F", "0000000000000000FFFF00000100007F"}


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_in_names_are_invalid_argument(reader, writer_client, bq_client, table, bad):
    project, dataset = table.project, table.dataset_id
    names = [
        f"projects/{project}/datasets/{dataset}/tables/{bad}",
        f"projects/{project}/datasets/{bad}/tables/events",
        f"projects/{bad}/datasets/{dataset}/tables/events",
    ]
    for name in names:
        with pytest.raises(exceptions.InvalidArgument) as refused:
            _session(reader, name)
        assert len(refused.value.message) < 2100  # echoed names are cut
        with pytest.raises(exceptions.InvalidArgument):
            writer_client.create_write_stream(
                parent=name, write_stream=types.WriteStream(type_=types.WriteStream.Type.PENDING)
            )
        with pytest.raises(exceptions.InvalidArgument):
            writer_client.get_write_stream(name=f"{name}/streams/_default")
        with pytest.raises(exceptions.InvalidArgument):
            _append(writer_client, [_proto_request(f"{name}/streams/_default", [])])
    with pytest.raises(exceptions.InvalidArgument):
        writer_client.get_write_stream(name=f"{_path(table)}/streams/{bad}")
    with pytest.raises(exceptions.InvalidArgument):
        _session(reader, _path(table), selected_fields=[bad])
    _still_serves(reader, writer_client, bq_client, table)


def test_the_ids_are_checked_with_bigquerys_messages(reader, table):
    with pytest.raises(exceptions.InvalidArgument, match='Invalid table ID "x.y"'):
        _session(reader, f"projects/{PROJECT}/datasets/{table.dataset_id}/tables/x.y")
    with pytest.raises(exceptions.InvalidArgument, match='Invalid dataset ID "d-1"'):
        _session(reader, f"projects/{PROJECT}/datasets/d-1/tables/t")


@pytest.mark.parametrize(
    "restriction",
    [
        "EXISTS (SELECT 1 FROM sqlite_master)",
        "id > 0) OR (SELECT count(*) FROM duckdb_tables()) > 0 OR (id > 0",
        "current_setting('enable_external_access') = 'true'",
        "length(version()) > 0",
        "id IN (SELECT * FROM read_csv('/etc/passwd'))",
        "name = (SELECT content FROM read_text('/etc/passwd'))",
        "sleep_ms(100000) IS NULL",
        "id > 0; COPY (SELECT 1) TO 'pwned.csv'",
        "(" * 5000 + "id > 0" + ")" * 5000,
        "id > " + "1 + " * 200_000 + "1",
    ],
)
def test_row_restrictions_reach_only_the_translator(reader, writer_client, bq_client, table,
                                                    restriction):  # fmt: skip
    with pytest.raises(exceptions.InvalidArgument) as refused:
        _session(reader, _path(table), row_restriction=restriction)
    assert len(refused.value.message) < 2100
    _still_serves(reader, writer_client, bq_client, table)


def test_an_oversize_append_is_invalid_argument_and_the_connection_goes_on(
    writer_client, reader, bq_client, table
):
    stream = _path(table) + "/streams/_default"
    huge = Event(id=1, name="x" * (11 << 20)).SerializeToString()  # one 11 MB row
    many = [Event(id=i, name="y" * 1000).SerializeToString() for i in range(11_000)]  # 11 MB
    ok = _proto_request(stream, [Event(id=7).SerializeToString()], descriptor=None)
    answers = _append(writer_client, [_proto_request(stream, [huge]),
                                      _proto_request(stream, many), _proto_request(stream, []), ok])  # fmt: skip
    assert [a.error.code for a in answers[:2]] == [INVALID, INVALID]
    assert "AppendRows request too large" in answers[0].error.message
    assert "error" not in answers[3], answers[3].error  # the same connection still works
    assert bq_client.get_table(table).num_rows == 11  # only the small request's row
    _still_serves(reader, writer_client, bq_client, table, rows=11)


def test_malformed_proto_rows_and_descriptors(writer_client, reader, bq_client, table):
    stream = _path(table) + "/streams/_default"
    garbage = _append(writer_client, [_proto_request(stream, [b"\xff\xff\xff\xff", b"\x08"])])
    assert garbage[0].error.code == INVALID
    assert {e.index for e in garbage[0].row_errors} == {0, 1}
    broken = descriptor_pb2.DescriptorProto(name="Broken")
    broken.field.add(name="id", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                     type_name=".no.such.Type")  # fmt: skip
    nameless = descriptor_pb2.DescriptorProto()
    nameless.field.add(name="id", number=0, type=F.TYPE_INT64)
    for descriptor in (broken, nameless):
        answer = _append(writer_client, [_proto_request(stream, [b""], descriptor)])
        assert answer[0].error.code == INVALID, answer[0]
    # a first request without any writer schema
    answer = _append(writer_client, [_proto_request(stream, [b""], descriptor=None)])
    assert answer[0].error.code == INVALID
    _still_serves(reader, writer_client, bq_client, table)


def test_malformed_arrow_rows(writer_client, reader, bq_client, table):
    import pyarrow as pa

    stream = _path(table) + "/streams/_default"
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    batch = pa.record_batch([pa.array([1, 2]), pa.array(["a", "b"])], schema=schema)
    good_batch = batch.serialize().to_pybytes()
    # a batch whose string offsets point past its data
    corrupt = bytearray(good_batch)
    corrupt[-16:-8] = (10_000_000).to_bytes(8, "little", signed=True)
    for schema_bytes, batch_bytes in (
        (b"not arrow", good_batch),
        (schema.serialize().to_pybytes(), b"\x00" * 64),
        (schema.serialize().to_pybytes(), bytes(corrupt)),
        (schema.serialize().to_pybytes()[:20], good_batch),
    ):
        request = types.AppendRowsRequest(write_stream=stream)
        request.arrow_rows = types.AppendRowsRequest.ArrowData(
            writer_schema=types.ArrowSchema(serialized_schema=schema_bytes),
            rows=types.ArrowRecordBatch(serialized_record_batch=batch_bytes),
        )
        answer = _append(writer_client, [request])
        assert answer[0].error.code == INVALID or answer[0].row_errors, answer[0]
    _still_serves(reader, writer_client, bq_client, table)


@pytest.mark.parametrize(
    "method",
    [
        "/google.cloud.bigquery.storage.v1.BigQueryRead/CreateReadSession",
        "/google.cloud.bigquery.storage.v1.BigQueryRead/SplitReadStream",
        "/google.cloud.bigquery.storage.v1.BigQueryWrite/CreateWriteStream",
        "/google.cloud.bigquery.storage.v1.BigQueryWrite/BatchCommitWriteStreams",
    ],
)
def test_bytes_that_are_not_protobuf_are_invalid_argument(storage, reader, writer_client,
                                                          bq_client, table, method):  # fmt: skip
    with grpc.insecure_channel(storage) as channel:
        call = channel.unary_unary(method)  # raw bytes in, raw bytes out
        for payload in (b"\xff" * 64, b"\x0a\xff\xff\xff\xff\x0f", b"\x12" + b"\x80" * 20):
            with pytest.raises(grpc.RpcError) as refused:
                call(payload, timeout=30)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        stream = channel.stream_stream("/google.cloud.bigquery.storage.v1.BigQueryWrite/AppendRows")
        with pytest.raises(grpc.RpcError) as refused:
            list(stream(iter([b"\xff" * 64]), timeout=30))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _still_serves(reader, writer_client, bq_client, table)


def test_a_100000_character_name_is_invalid_argument(storage, reader, writer_client, bq_client,
                                                     table):  # fmt: skip
    """Raw gRPC: the client library would put the name in a routing header, which the transport
    caps at 8 KB before the emulator sees it."""
    name = f"projects/{PROJECT}/datasets/{table.dataset_id}/tables/" + "t" * 100_000
    request = types.CreateReadSessionRequest(
        parent=f"projects/{PROJECT}",
        read_session=types.ReadSession(table=name, data_format=types.DataFormat.ARROW),
    )
    with grpc.insecure_channel(storage) as channel:
        call = channel.unary_unary(
            "/google.cloud.bigquery.storage.v1.BigQueryRead/CreateReadSession",
            request_serializer=lambda r: types.CreateReadSessionRequest.serialize(r),
        )
        with pytest.raises(grpc.RpcError) as refused:
            call(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(refused.value.details()) < 2100
    _still_serves(reader, writer_client, bq_client, table)


def test_stream_and_session_names_that_were_never_handed_out(reader, writer_client, table):
    with pytest.raises(exceptions.NotFound):
        list(reader.read_rows(f"projects/{PROJECT}/locations/us/sessions/x/streams/" + "y" * 5000))
    with pytest.raises(exceptions.InvalidArgument):
        reader.split_read_stream(request={"name": "z", "fraction": 2.0})
    answer = writer_client.batch_commit_write_streams(
        request={"parent": _path(table), "write_streams": [f"{_path(table)}/streams/{'a' * 32}"]}
    )
    assert answer.stream_errors[0].code == types.StorageError.StorageErrorCode.STREAM_NOT_FOUND
    with pytest.raises(exceptions.InvalidArgument):
        writer_client.batch_commit_write_streams(
            request={"parent": _path(table), "write_streams": [f"{_path(table)}/streams/../x"]}
        )
