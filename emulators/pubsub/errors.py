"""The one exception the model raises; the wire layer turns it into a gRPC status."""

from __future__ import annotations


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


def not_found(resource: str) -> ApiError:
    return ApiError("NOT_FOUND", f"Resource not found (resource={short(resource)}).")


def already_exists(resource: str) -> ApiError:
    return ApiError(
        "ALREADY_EXISTS", f"Resource already exists in the project (resource={short(resource)})."
    )


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


def short(name: str) -> str:
    """The last path segment, as the service names resources in its messages."""
    return name.rsplit("/", 1)[-1]
