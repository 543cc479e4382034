"""The one exception the model raises; the wire layers turn it into a gRPC status or REST JSON."""

from __future__ import annotations

import logging

# google.rpc.Code -> HTTP status, as Google's REST front end maps them
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
}
EXACTLY_ONCE_REASON = "EXACTLY_ONCE_ACKID_FAILURE"
DOMAIN = "pubsub.googleapis.com"
log = logging.getLogger("emulators.pubsub")


class ApiError(Exception):
    """An API error: ``code`` is a gRPC status name such as ``"NOT_FOUND"``.

    ``metadata`` (ack id -> failure reason) becomes a google.rpc.ErrorInfo detail, the form
    in which the client library learns which exactly-once acks failed.
    """

    def __init__(self, code: str, message: str, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.metadata = metadata


def as_api_error(exc: Exception, method: str) -> ApiError:
    """Any exception a handler raised, as the error the client gets: a ValueError is a field
    the model could not take (INVALID_ARGUMENT); anything else is a bug (INTERNAL, not
    UNKNOWN, which clients retry)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValueError):
        return ApiError("INVALID_ARGUMENT", str(exc))
    log.error("%s failed", method, exc_info=exc)
    return ApiError("INTERNAL", f"Internal error: {exc}")


def not_found(resource: str) -> ApiError:
    return ApiError("NOT_FOUND", f"Resource not found (resource={short(resource)}).")


def already_exists(resource: str) -> ApiError:
    return ApiError(
        "ALREADY_EXISTS", f"Resource already exists in the project (resource={short(resource)})."
    )


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


def too_large(what: str, value: int, limit: int) -> ApiError:
    return invalid(
        f"The value for {what} is too large. You passed {value} in the request, but the "
        f"maximum value is {limit}."
    )


def short(name: str) -> str:
    """The last path segment, as the service names resources in its messages."""
    return name.rsplit("/", 1)[-1]
