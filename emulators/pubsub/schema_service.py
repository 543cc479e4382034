"""gRPC edge of google.pubsub.v1.SchemaService over a SchemaRegistry.

google-cloud-pubsub ships proto-plus types but no ``_pb2_grpc`` servicer, so the methods are
registered with a generic handler using the proto-plus (de)serializers.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Sequence

import grpc
from google.protobuf import empty_pb2
from google.pubsub_v1.types import schema as pb

from emulators.pubsub.rpc import Method, logged
from emulators.pubsub.schemas import (
    InvalidSchema,
    RevisionError,
    SchemaAlreadyExists,
    SchemaNotFound,
    SchemaRegistry,
    SchemaRevision,
    SchemaViolation,
    parse_name,
)

SERVICE = "google.pubsub.v1.SchemaService"
_PARENT = re.compile(r"projects/([^/]+)")

_ERRORS = (
    (SchemaNotFound, grpc.StatusCode.NOT_FOUND),
    (SchemaAlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (InvalidSchema, grpc.StatusCode.INVALID_ARGUMENT),
    (SchemaViolation, grpc.StatusCode.INVALID_ARGUMENT),
    (RevisionError, grpc.StatusCode.INVALID_ARGUMENT),
)


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


def _invalid(message: str) -> _Abort:
    return _Abort(grpc.StatusCode.INVALID_ARGUMENT, message)


def _rpc(fn):
    """Translate registry exceptions into gRPC status codes with their message."""

    @functools.wraps(fn)
    async def handler(self, request, context):
        try:
            return await fn(self, request)
        except _Abort as exc:
            await context.abort(exc.code, str(exc))
        except tuple(e for e, _ in _ERRORS) as exc:
            code = next(c for e, c in _ERRORS if isinstance(exc, e))
            await context.abort(code, str(exc))

    return handler


def _project(parent: str) -> str:
    m = _PARENT.fullmatch(parent or "")
    if not m:
        raise _invalid(f"invalid parent {parent!r}: expected projects/{{project}}")
    return m.group(1)


def _type_name(schema: pb.Schema) -> str:
    if schema.type_ == pb.Schema.Type.TYPE_UNSPECIFIED:
        raise _invalid("schema type must be AVRO or PROTOCOL_BUFFER")
    return pb.Schema.Type(schema.type_).name


def _encoding_name(encoding) -> str:
    if encoding == pb.Encoding.ENCODING_UNSPECIFIED:
        raise _invalid("encoding must be JSON or BINARY")
    return pb.Encoding(encoding).name


def to_proto(rev: SchemaRevision, view: int = pb.SchemaView.FULL) -> pb.Schema:
    """Wire form of a revision; BASIC omits the definition."""
    out = pb.Schema(
        name=rev.name,
        type_=pb.Schema.Type[rev.type],
        revision_id=rev.revision_id,
        revision_create_time=rev.revision_create_time,
    )
    if view == pb.SchemaView.FULL:
        out.definition = rev.definition
    return out


def _page(items: Sequence, page_size: int, page_token: str) -> tuple[list, str]:
    try:
        start = int(page_token) if page_token else 0
    except ValueError:
        raise _invalid(f"invalid page_token {page_token!r}") from None
    if start < 0 or start > len(items):
        raise _invalid(f"invalid page_token {page_token!r}")
    end = len(items) if page_size <= 0 else min(len(items), start + page_size)
    return list(items[start:end]), (str(end) if end < len(items) else "")


class SchemaServicer:
    """Implements the SchemaService RPCs; blocking compilation runs in a worker thread."""

    def __init__(self, registry: SchemaRegistry):
        self.registry = registry

    @_rpc
    async def CreateSchema(self, req: pb.CreateSchemaRequest) -> pb.Schema:
        project = _project(req.parent)
        if not req.schema_id:
            raise _invalid("schema_id is required")
        rev = await asyncio.to_thread(
            self.registry.create,
            project,
            req.schema_id,
            _type_name(req.schema),
            req.schema.definition,
        )
        return to_proto(rev)

    @_rpc
    async def GetSchema(self, req: pb.GetSchemaRequest) -> pb.Schema:
        view = req.view or pb.SchemaView.FULL
        return to_proto(self.registry.get(req.name), view)

    @_rpc
    async def ListSchemas(self, req: pb.ListSchemasRequest) -> pb.ListSchemasResponse:
        view = req.view or pb.SchemaView.BASIC
        items, token = _page(
            self.registry.list(_project(req.parent)), req.page_size, req.page_token
        )
        return pb.ListSchemasResponse(
            schemas=[to_proto(r, view) for r in items], next_page_token=token
        )

    @_rpc
    async def ListSchemaRevisions(
        self, req: pb.ListSchemaRevisionsRequest
    ) -> pb.ListSchemaRevisionsResponse:
        view = req.view or pb.SchemaView.BASIC
        items, token = _page(self.registry.list_revisions(req.name), req.page_size, req.page_token)
        return pb.ListSchemaRevisionsResponse(
            schemas=[to_proto(r, view) for r in items], next_page_token=token
        )

    @_rpc
    async def CommitSchema(self, req: pb.CommitSchemaRequest) -> pb.Schema:
        rev = await asyncio.to_thread(
            self.registry.commit, req.name, _type_name(req.schema), req.schema.definition
        )
        return to_proto(rev)

    @_rpc
    async def RollbackSchema(self, req: pb.RollbackSchemaRequest) -> pb.Schema:
        if not req.revision_id:
            raise _invalid("revision_id is required")
        return to_proto(self.registry.rollback(req.name, req.revision_id))

    @_rpc
    async def DeleteSchemaRevision(self, req: pb.DeleteSchemaRevisionRequest) -> pb.Schema:
        return to_proto(self.registry.delete_revision(req.name, req.revision_id or None))

    @_rpc
    async def DeleteSchema(self, req: pb.DeleteSchemaRequest) -> empty_pb2.Empty:
        self.registry.delete(req.name)
        return empty_pb2.Empty()

    @_rpc
    async def ValidateSchema(self, req: pb.ValidateSchemaRequest) -> pb.ValidateSchemaResponse:
        _project(req.parent)
        await asyncio.to_thread(
            self.registry.validate_schema, _type_name(req.schema), req.schema.definition
        )
        return pb.ValidateSchemaResponse()

    @_rpc
    async def ValidateMessage(self, req: pb.ValidateMessageRequest) -> pb.ValidateMessageResponse:
        _project(req.parent)
        encoding = _encoding_name(req.encoding)
        if req.name:
            base, rev = parse_name(req.name)
            self.registry.validate_message(base, encoding, req.message, rev, rev)
        elif req.schema.definition:
            validator = await asyncio.to_thread(
                self.registry.validate_schema, _type_name(req.schema), req.schema.definition
            )
            validator(encoding, req.message)
        else:
            raise _invalid("either name or schema is required")
        return pb.ValidateMessageResponse()


_METHODS = {
    "CreateSchema": (pb.CreateSchemaRequest, pb.Schema),
    "GetSchema": (pb.GetSchemaRequest, pb.Schema),
    "ListSchemas": (pb.ListSchemasRequest, pb.ListSchemasResponse),
    "ListSchemaRevisions": (pb.ListSchemaRevisionsRequest, pb.ListSchemaRevisionsResponse),
    "CommitSchema": (pb.CommitSchemaRequest, pb.Schema),
    "RollbackSchema": (pb.RollbackSchemaRequest, pb.Schema),
    "DeleteSchemaRevision": (pb.DeleteSchemaRevisionRequest, pb.Schema),
    "DeleteSchema": (pb.DeleteSchemaRequest, empty_pb2.Empty),
    "ValidateSchema": (pb.ValidateSchemaRequest, pb.ValidateSchemaResponse),
    "ValidateMessage": (pb.ValidateMessageRequest, pb.ValidateMessageResponse),
}


def _serializer(cls):
    if cls is empty_pb2.Empty:
        return lambda msg: msg.SerializeToString()
    return cls.serialize


def rest_methods(servicer: SchemaServicer) -> dict:
    """The same methods for the REST wire (rpc.Method by RPC name): raw protobuf requests in
    and out, the proto-plus servicer in between."""
    def method(name: str, request: type) -> Method:
        fn = getattr(servicer, name)

        async def call(req, ctx):
            response = await fn(request.wrap(req), ctx)
            return response if isinstance(response, empty_pb2.Empty) else type(response).pb(response)

        return Method(request.pb(), call)

    return {name: method(name, request) for name, (request, _) in _METHODS.items()}


def register_servicer(server: grpc.aio.Server, registry: SchemaRegistry) -> SchemaServicer:
    """Add google.pubsub.v1.SchemaService backed by ``registry`` to an aio server."""
    servicer = SchemaServicer(registry)
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            logged(name, getattr(servicer, name)),
            request_deserializer=request.deserialize,
            response_serializer=_serializer(response),
        )
        for name, (request, response) in _METHODS.items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    return servicer
