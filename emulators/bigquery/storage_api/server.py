"""gRPC wire layer of the Storage APIs: `google.cloud.bigquery.storage.v1.BigQueryRead` and
`BigQueryWrite` on the protobuf types shipped with google-cloud-bigquery-storage.

Requests are turned into plain values for `read.ReadSessions` and `write.WriteStreams`, their
answers back into protobuf; errors become gRPC statuses (with a `StorageError` detail where
the service sends one). The server runs on its own thread pool next to the REST server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc

from ..errors import BigQueryError
from .errors import RpcError, from_bigquery, invalid

if TYPE_CHECKING:
    from ..service import BigQueryService

log = logging.getLogger("emulators.bigquery.storage")

READ_SERVICE = "google.cloud.bigquery.storage.v1.BigQueryRead"
WRITE_SERVICE = "google.cloud.bigquery.storage.v1.BigQueryWrite"
_COMPRESSION = {1: "lz4", 2: "zstd"}


def _types():
    from google.cloud.bigquery_storage_v1 import types

    return types


class _Malformed:
    def __init__(self, error: Exception):
        self.error = error


def _tolerant(message_class: Any) -> Callable[[bytes], Any]:
    def parse(raw: bytes) -> Any:
        try:
            return message_class.FromString(raw)
        except Exception as exc:  # DecodeError and friends: answer INVALID_ARGUMENT
            return _Malformed(exc)

    return parse


def _storage_error(failure: Any) -> Any:
    """The `StorageError` detail of a write.StorageFailure."""
    t = _types()
    return t.StorageError.pb()(
        code=int(t.StorageError.StorageErrorCode[failure.storage_code]),
        entity=failure.entity,
        error_message=failure.message,
    )


def _status_details(error: RpcError) -> tuple:
    if not getattr(error, "storage_code", None):
        return ()
    detail = _storage_error(error)
    from google.protobuf import any_pb2
    from google.rpc import status_pb2

    packed = any_pb2.Any()
    packed.Pack(detail)
    status = status_pb2.Status(
        code=grpc.StatusCode[error.code].value[0], message=error.message, details=[packed]
    )
    return (("grpc-status-details-bin", status.SerializeToString()),)


_MAX_STATUS_CHARS = 2000  # a status travels in trailers, which clients cap at 8 KB by default


def _abort(context: grpc.ServicerContext, error: RpcError) -> None:
    if len(error.message) > _MAX_STATUS_CHARS:
        error.message = error.message[:_MAX_STATUS_CHARS] + "..."
    trailing = _status_details(error)
    if trailing:
        context.set_trailing_metadata(trailing)
    context.abort(grpc.StatusCode[error.code], error.message)


def _as_rpc_error(method: str, exc: Exception) -> RpcError:
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, BigQueryError):
        return from_bigquery(exc)
    # A bug: INTERNAL (not UNAVAILABLE or UNKNOWN, which the clients would retry)
    log.exception("%s failed", method)
    return RpcError("INTERNAL", f"Internal error in the emulator: {exc}")


def _unary(method: str, fn: Callable[[Any], Any]) -> Callable:
    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            if isinstance(request, _Malformed):
                raise invalid(f"The request could not be parsed: {request.error}")
            return fn(request)
        except Exception as exc:  # noqa: BLE001 - every failure answers in the API's shape
            _abort(context, _as_rpc_error(method, exc))

    return handler


def _server_streaming(method: str, fn: Callable[[Any, Any], Iterator[Any]]) -> Callable:
    def handler(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            if isinstance(request, _Malformed):
                raise invalid(f"The request could not be parsed: {request.error}")
            yield from fn(request, context)
        except Exception as exc:  # noqa: BLE001
            _abort(context, _as_rpc_error(method, exc))

    return handler


class ReadServicer:
    """BigQueryRead: CreateReadSession, ReadRows, SplitReadStream."""

    def __init__(self, service: BigQueryService):
        from .read import ReadSessions

        self.sessions = ReadSessions(service)
        t = _types()
        self.session_pb = t.ReadSession.pb()
        self.response_pb = t.ReadRowsResponse.pb()
        self.split_pb = t.SplitReadStreamResponse.pb()
        self.formats = {int(t.DataFormat.ARROW): "ARROW", int(t.DataFormat.AVRO): "AVRO"}
        self.format_values = {v: k for k, v in self.formats.items()}

    def handlers(self) -> grpc.GenericRpcHandler:
        t = _types()
        return grpc.method_handlers_generic_handler(
            READ_SERVICE,
            {
                "CreateReadSession": grpc.unary_unary_rpc_method_handler(
                    _unary("CreateReadSession", self.create_read_session),
                    request_deserializer=_tolerant(t.CreateReadSessionRequest.pb()),
                    response_serializer=self.session_pb.SerializeToString,
                ),
                "ReadRows": grpc.unary_stream_rpc_method_handler(
                    _server_streaming("ReadRows", self.read_rows),
                    request_deserializer=_tolerant(t.ReadRowsRequest.pb()),
                    response_serializer=self.response_pb.SerializeToString,
                ),
                "SplitReadStream": grpc.unary_unary_rpc_method_handler(
                    _unary("SplitReadStream", self.split_read_stream),
                    request_deserializer=_tolerant(t.SplitReadStreamRequest.pb()),
                    response_serializer=self.split_pb.SerializeToString,
                ),
            },
        )

    def create_read_session(self, request: Any) -> Any:
        from .read import ReadRequest

        wanted = request.read_session
        options = wanted.read_options
        if options.sample_percentage:
            raise invalid("sample_percentage is not supported by this emulator.")
        snapshot = None
        if wanted.table_modifiers.HasField("snapshot_time"):
            snapshot = wanted.table_modifiers.snapshot_time.ToMicroseconds()
        data_format = self.formats.get(wanted.data_format)
        if data_format is None:
            raise invalid("data_format must be specified (ARROW or AVRO).")
        session = self.sessions.create(
            ReadRequest(
                parent=request.parent,
                table=wanted.table,
                data_format=data_format,
                selected_fields=list(options.selected_fields),
                row_restriction=options.row_restriction,
                snapshot_us=snapshot,
                max_streams=request.max_stream_count,
                min_streams=request.preferred_min_stream_count,
                compression=_COMPRESSION.get(
                    options.arrow_serialization_options.buffer_compression
                ),
            )
        )
        out = self.session_pb(
            name=session.name,
            data_format=self.format_values[session.data_format],
            table=session.table,
            estimated_row_count=session.data.num_rows,
            estimated_total_bytes_scanned=session.data.nbytes,
        )
        out.expire_time.FromMicroseconds(session.expires_us)
        out.table_modifiers.snapshot_time.FromMicroseconds(session.snapshot_us)
        out.read_options.CopyFrom(options)
        if session.avro is not None:
            out.avro_schema.schema = session.avro.schema_json
        else:
            out.arrow_schema.serialized_schema = session.schema_bytes
        for stream in session.streams:
            out.streams.add(name=stream.name)
        return out

    def read_rows(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if not request.read_stream:
            raise invalid("read_stream is required.")
        session, _ = self.sessions.stream(request.read_stream)
        arrow = session.avro is None
        total = session.data.num_rows
        for chunk in self.sessions.chunks(request.read_stream, request.offset):
            response = self.response_pb(row_count=chunk.row_count)
            if arrow:
                response.arrow_record_batch.serialized_record_batch = chunk.payload
                if chunk.first:
                    response.arrow_schema.serialized_schema = session.schema_bytes
            else:
                response.avro_rows.serialized_binary_rows = chunk.payload
                if chunk.first:
                    response.avro_schema.schema = session.avro.schema_json
            progress = response.stats.progress
            progress.at_response_start = chunk.at_start
            progress.at_response_end = chunk.at_end
            if chunk.first:
                response.total_estimated_row_count = total
            if not context.is_active():
                return
            yield response

    def split_read_stream(self, request: Any) -> Any:
        primary, remainder = self.sessions.split(request.name, request.fraction)
        out = self.split_pb()
        if primary is not None:
            out.primary_stream.name = primary.name
            out.remainder_stream.name = remainder.name
        return out


_BQ_TO_PROTO_TYPE = {
    "STRING": "STRING", "BYTES": "BYTES", "INTEGER": "INT64", "FLOAT": "DOUBLE",
    "NUMERIC": "NUMERIC", "BIGNUMERIC": "BIGNUMERIC", "BOOLEAN": "BOOL", "TIMESTAMP": "TIMESTAMP",
    "DATE": "DATE", "TIME": "TIME", "DATETIME": "DATETIME", "JSON": "JSON",
    "GEOGRAPHY": "GEOGRAPHY", "INTERVAL": "INTERVAL", "RECORD": "STRUCT",
}  # fmt: skip
_MAX_DECODERS = 256
_MAX_CACHED_DESCRIPTOR = 64 << 10  # a larger writer schema is decoded but not kept
MAX_APPEND_BYTES = 10 << 20  # BigQuery's limit on one AppendRows request
# The transport takes more than any valid request, so an oversize one gets the API's answer
# (INVALID_ARGUMENT) instead of the transport's RESOURCE_EXHAUSTED, which clients retry.
MAX_MESSAGE_BYTES = 128 << 20


class _Connection:
    """What an AppendRows connection remembers between requests."""

    __slots__ = ("stream_name", "descriptor", "arrow_schema")

    def __init__(self) -> None:
        self.stream_name = ""
        self.descriptor: Any = None  # the writer's DescriptorProto
        self.arrow_schema = b""


class WriteServicer:
    """BigQueryWrite: CreateWriteStream, AppendRows, GetWriteStream, FinalizeWriteStream,
    BatchCommitWriteStreams, FlushRows."""

    def __init__(self, service: BigQueryService):
        from .write import WriteStreams

        self.streams = WriteStreams(service)
        t = _types()
        self.stream_pb = t.WriteStream.pb()
        self.append_response_pb = t.AppendRowsResponse.pb()
        self.finalize_pb = t.FinalizeWriteStreamResponse.pb()
        self.commit_pb = t.BatchCommitWriteStreamsResponse.pb()
        self.flush_pb = t.FlushRowsResponse.pb()
        self.schema_pb = t.TableSchema.pb()
        self.type_values = {
            n: int(getattr(t.WriteStream.Type, n)) for n in ("COMMITTED", "PENDING", "BUFFERED")
        }
        self.type_names = {v: k for k, v in self.type_values.items()}
        self.field_types = {bq: int(getattr(t.TableFieldSchema.Type, proto))
                            for bq, proto in _BQ_TO_PROTO_TYPE.items()}  # fmt: skip
        self.modes = {m: int(getattr(t.TableFieldSchema.Mode, m))
                      for m in ("NULLABLE", "REQUIRED", "REPEATED")}  # fmt: skip
        self.basic_view = int(t.WriteStreamView.BASIC)
        self.fields_error = int(t.RowError.RowErrorCode.FIELDS_ERROR)
        self._decoders: dict[tuple, Any] = {}
        self._decoders_lock = threading.Lock()  # AppendRows connections run on many threads

    def handlers(self) -> grpc.GenericRpcHandler:
        t = _types()

        def unary(name: str, fn: Callable, request: Any, response: Any) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                _unary(name, fn),
                request_deserializer=_tolerant(request.pb()),
                response_serializer=response.SerializeToString,
            )

        return grpc.method_handlers_generic_handler(
            WRITE_SERVICE,
            {
                "CreateWriteStream": unary("CreateWriteStream", self.create_write_stream,
                                           t.CreateWriteStreamRequest, self.stream_pb),
                "GetWriteStream": unary("GetWriteStream", self.get_write_stream,
                                        t.GetWriteStreamRequest, self.stream_pb),
                "FinalizeWriteStream": unary("FinalizeWriteStream", self.finalize_write_stream,
                                             t.FinalizeWriteStreamRequest, self.finalize_pb),
                "BatchCommitWriteStreams": unary(
                    "BatchCommitWriteStreams", self.batch_commit_write_streams,
                    t.BatchCommitWriteStreamsRequest, self.commit_pb),
                "FlushRows": unary("FlushRows", self.flush_rows, t.FlushRowsRequest,
                                   self.flush_pb),
                "AppendRows": grpc.stream_stream_rpc_method_handler(
                    self.append_rows,
                    request_deserializer=_tolerant(t.AppendRowsRequest.pb()),
                    response_serializer=self.append_response_pb.SerializeToString,
                ),
            },
        )  # fmt: skip

    # ------------------------------------------------------------------ stream resources

    def _stream(self, stream: Any, with_schema: bool = True) -> Any:
        out = self.stream_pb(name=stream.name, type_=self.type_values[stream.type],
                             write_mode=1, location=stream.location)  # fmt: skip
        out.create_time.FromMicroseconds(stream.created_us)
        if stream.committed_us is not None:
            out.commit_time.FromMicroseconds(stream.committed_us)
        if with_schema:
            table = self.streams.table(stream.table)
            self._schema(out.table_schema.fields, table.schema)
        return out

    def _schema(self, target: Any, fields: list[dict]) -> None:
        for field in fields:
            entry = target.add(name=field["name"], type_=self.field_types[field["type"]],
                               mode=self.modes[field.get("mode") or "NULLABLE"])  # fmt: skip
            if field.get("description"):
                entry.description = field["description"]
            if field["type"] == "RECORD":
                self._schema(entry.fields, field["fields"])

    def create_write_stream(self, request: Any) -> Any:
        wanted = self.type_names.get(request.write_stream.type_, "")
        return self._stream(self.streams.create(request.parent, wanted))

    def get_write_stream(self, request: Any) -> Any:
        return self._stream(self.streams.get(request.name), request.view != self.basic_view)

    def finalize_write_stream(self, request: Any) -> Any:
        return self.finalize_pb(row_count=self.streams.finalize(request.name))

    def batch_commit_write_streams(self, request: Any) -> Any:
        commit_us, failures = self.streams.batch_commit(request.parent, list(request.write_streams))
        out = self.commit_pb()
        if commit_us is not None:
            out.commit_time.FromMicroseconds(commit_us)
        for failure in failures:
            out.stream_errors.append(_storage_error(failure))
        return out

    def flush_rows(self, request: Any) -> Any:
        offset = request.offset.value if request.HasField("offset") else None
        return self.flush_pb(offset=self.streams.flush(request.write_stream, offset))

    # ------------------------------------------------------------------ AppendRows

    def append_rows(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        connection = _Connection()
        try:
            for request in requests:
                yield self._append(connection, request)
        except grpc.RpcError:  # the client went away (closed or cancelled the stream)
            return
        except Exception as exc:  # noqa: BLE001 - the connection fails in the API's shape
            _abort(context, _as_rpc_error("AppendRows", exc))

    def _append(self, connection: _Connection, request: Any) -> Any:
        """One AppendRows request. Errors about the connection (no stream, missing table or
        stream) end it; errors about the request are answered in `error` and it goes on."""
        from .rows import SchemaMismatch
        from .write import StorageFailure

        if isinstance(request, _Malformed):
            raise invalid(f"The request could not be parsed: {request.error}")
        if request.write_stream:
            connection.stream_name = request.write_stream
        if not connection.stream_name:
            raise invalid("The first AppendRows request must name write_stream.")
        stream = self.streams.get(connection.stream_name)
        response = self.append_response_pb(write_stream=stream.name)
        size = request.ByteSize()
        if size > MAX_APPEND_BYTES:
            error = invalid(f"AppendRows request too large: {size} limit {MAX_APPEND_BYTES}")
            self._set_error(response, error, None)
            return response
        offset = request.offset.value if request.HasField("offset") else None
        # Rows a stream holds are checked in full now; rows stored at once leave JSON text to
        # DuckDB's bulk check, and are checked in full only when it fails, to name the rows.
        strict = stream.type != "COMMITTED"
        try:
            rows = self._rows(connection, request, stream, strict)
            if not isinstance(rows, list):
                try:
                    self.streams.append(stream, rows, offset)
                except RpcError as error:
                    if error.code != "INVALID_ARGUMENT" or strict:
                        raise
                    rows = self._rows(connection, request, stream, strict=True)
                    if not isinstance(rows, list):
                        raise
            if isinstance(rows, list):  # row errors: none of the request's rows is appended
                for index, message in rows:
                    response.row_errors.add(index=index, code=self.fields_error, message=message)
                raise invalid(
                    "Errors found while processing rows. Please refer to the row_errors field "
                    f"for details. Entity: {stream.name}"
                )
        except StorageFailure as failure:
            if failure.code == "NOT_FOUND":
                raise
            self._set_error(response, failure, _storage_error(failure))
            return response
        except SchemaMismatch as mismatch:
            error = invalid(mismatch.message)
            if mismatch.extra_fields:
                error = StorageFailure("INVALID_ARGUMENT", "SCHEMA_MISMATCH_EXTRA_FIELDS",
                                       mismatch.message, stream.name)  # fmt: skip
            self._set_error(
                response, error, _storage_error(error) if mismatch.extra_fields else None
            )
            return response
        except (RpcError, BigQueryError) as exc:
            error = exc if isinstance(exc, RpcError) else from_bigquery(exc)
            if error.code == "NOT_FOUND":
                raise error from None
            self._set_error(response, error, None)
            return response
        if offset is not None:
            response.append_result.offset.SetInParent()  # offset 0 is an answer too
            response.append_result.offset.value = offset
        else:
            response.append_result.SetInParent()
        return response

    @staticmethod
    def _set_error(response: Any, error: RpcError, detail: Any) -> None:
        response.error.code = grpc.StatusCode[error.code].value[0]
        response.error.message = error.message
        if detail is not None:
            response.error.details.add().Pack(detail)

    def _rows(self, connection: _Connection, request: Any, stream: Any, strict: bool) -> Any:
        """The request's rows as an Arrow table in the table's schema, or [(index, error)]
        (`strict`: JSON text checked here too)."""
        from .rows import decode_arrow

        table = self.streams.table(stream.table)
        kind = request.WhichOneof("rows")
        if kind == "proto_rows":
            data = request.proto_rows
            if data.HasField("writer_schema"):
                connection.descriptor = data.writer_schema.proto_descriptor
            if connection.descriptor is None:
                raise invalid("The first AppendRows request must carry proto_rows.writer_schema.")
            table_rows, errors = self._decoder(connection.descriptor, table).decode(
                list(data.rows.serialized_rows), strict
            )
            return errors or table_rows
        if kind == "arrow_rows":
            data = request.arrow_rows
            if data.HasField("writer_schema"):
                connection.arrow_schema = data.writer_schema.serialized_schema
            if not connection.arrow_schema:
                raise invalid("The first AppendRows request must carry arrow_rows.writer_schema.")
            table_rows, errors = decode_arrow(
                connection.arrow_schema, data.rows.serialized_record_batch, table.schema, strict
            )
            return errors or table_rows
        raise invalid("An AppendRows request needs proto_rows or arrow_rows.")

    def _decoder(self, descriptor: Any, table: Any) -> Any:
        from .rows import ProtoDecoder

        key = (
            descriptor.SerializeToString(deterministic=True),
            table.storage_name,
            id(table.schema),
        )
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = ProtoDecoder(descriptor, table.schema)
            if len(key[0]) <= _MAX_CACHED_DESCRIPTOR:
                with self._decoders_lock:
                    if len(self._decoders) >= _MAX_DECODERS:
                        self._decoders.pop(next(iter(self._decoders)), None)
                    self._decoders[key] = decoder
        return decoder


def start(service: BigQueryService, host: str, port: int, workers: int = 128) -> tuple[Any, int]:
    """Start the Storage API server; returns (grpc server, bound port). Raises OSError when the
    port cannot be bound."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bq-storage"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # without this a second emulator could bind the same port and steal calls
            ("grpc.so_reuseport", 0),
        ],
    )
    server.add_generic_rpc_handlers(
        (ReadServicer(service).handlers(), WriteServicer(service).handlers())
    )
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:
        raise OSError(str(exc)) from None
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    return server, bound
