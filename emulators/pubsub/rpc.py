"""RPC plumbing shared by the servicers: error mapping, fault hooks, gRPC handler registration,
and :class:`Method`, an RPC as the REST wire calls it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from emulators.pubsub import wire
from emulators.pubsub.errors import DOMAIN, EXACTLY_ONCE_REASON, ApiError, as_api_error
from emulators.pubsub.faults import Faults

log = logging.getLogger("emulators.pubsub")
requests_log = logging.getLogger("emulators.pubsub.requests")


@dataclass(frozen=True)
class Method:
    """One RPC as REST calls it: its protobuf request class and ``call(request, context)``
    (sync or async) returning a protobuf message."""

    request: Any
    call: Callable[[Any, Any], Any]


def status_details(err: ApiError) -> tuple[tuple[str, bytes], ...]:
    """``grpc-status-details-bin`` carrying a google.rpc.ErrorInfo, for exactly-once acks."""
    if not err.metadata:
        return ()
    from google.protobuf import any_pb2
    from google.rpc import error_details_pb2, status_pb2

    info = error_details_pb2.ErrorInfo(
        reason=EXACTLY_ONCE_REASON, domain=DOMAIN, metadata=err.metadata
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    code = getattr(grpc.StatusCode, err.code).value[0]
    status = status_pb2.Status(code=code, message=err.message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


MALFORMED = ApiError(
    "INVALID_ARGUMENT", "Invalid request: the request message could not be parsed."
)
# Request sizes the service accepts; past them, INVALID_ARGUMENT as Google's front end answers.
# The transport takes requests of any size (the server sets no receive cap), so an oversize
# request is refused here with a status the client does not retry, never the transport's
# RESOURCE_EXHAUSTED. Publish checks its own 10 MB limit with the service's message.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
REQUEST_LIMITS = {"Acknowledge": 512 * 1024, "ModifyAckDeadline": 512 * 1024, "Publish": None}


class Malformed:
    """Stands in for a request that did not parse or is too large, so the handler can answer
    in API shape: ``status`` is the error to answer with."""

    def __init__(self, error: Exception, status: ApiError = MALFORMED):
        self.error = error
        self.status = status


def tolerant(
    deserialize: Callable[[bytes], Any], limit: int | None = None
) -> Callable[[bytes], Any]:
    def wrapped(raw: bytes) -> Any:
        if limit is not None and len(raw) > limit:
            message = f"Request payload size exceeds the limit: {limit} bytes."
            return Malformed(ValueError(message), ApiError("INVALID_ARGUMENT", message))
        try:
            return deserialize(raw)
        except Exception as exc:  # DecodeError and friends
            return Malformed(exc)

    return wrapped


def request_limit(method: str) -> int | None:
    return REQUEST_LIMITS.get(method, MAX_REQUEST_BYTES)


async def abort(context: grpc.aio.ServicerContext, err: ApiError) -> None:
    await context.abort(
        getattr(grpc.StatusCode, err.code), err.message, trailing_metadata=status_details(err)
    )


def unary(method: str, fn: Callable[[Any], Any], faults: Faults) -> Callable:
    """Wrap a plain ``request -> response`` function (sync or async) as an aio handler."""
    import inspect

    is_async = inspect.iscoroutinefunction(fn)

    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            if isinstance(request, Malformed):
                raise request.status
            if faults.active:
                await faults.inject(method)
            if is_async:
                return await fn(request, context)
            return fn(request)
        except grpc.aio.AbortError:
            raise
        except Exception as err:
            await abort(context, as_api_error(err, method))

    return logged(method, handler)


def logged(method: str, handler: Callable) -> Callable:
    """``handler`` that logs method, status and latency at INFO; as is when INFO is off."""
    if not requests_log.isEnabledFor(logging.INFO):
        return handler
    import time

    async def logging_handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        try:
            return await handler(request, context)
        finally:
            code = context.code() or grpc.StatusCode.OK
            status = code.name if isinstance(code, grpc.StatusCode) else str(code)
            requests_log.info(
                "%s %s",
                method,
                status,
                extra={
                    "method": method,
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )

    return logging_handler


def register(
    server: grpc.aio.Server,
    service: str,
    methods: dict[str, tuple[Callable, Callable[[bytes], Any]]],
    faults: Faults,
    streaming: dict[str, tuple[Callable, Callable[[bytes], Any]]] | None = None,
) -> None:
    """Add ``service`` with unary ``methods`` (name -> (fn, deserializer)) and bidi streams."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            unary(name, fn, faults),
            request_deserializer=tolerant(deserialize, request_limit(name)),
            response_serializer=wire.serialize,
        )
        for name, (fn, deserialize) in methods.items()
    }
    for name, (fn, deserialize) in (streaming or {}).items():
        handlers[name] = grpc.stream_stream_rpc_method_handler(
            logged(name, fn),
            request_deserializer=tolerant(deserialize, request_limit(name)),
            response_serializer=wire.serialize,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
