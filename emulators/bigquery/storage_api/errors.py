"""Storage API errors: a gRPC status code name and a message (the wire layer aborts with them)."""

from __future__ import annotations

from ..errors import BigQueryError


class RpcError(Exception):
    """An error with a gRPC status code name (`NOT_FOUND`, `INVALID_ARGUMENT`, ...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> RpcError:
    return RpcError("INVALID_ARGUMENT", message)


def not_found(message: str) -> RpcError:
    return RpcError("NOT_FOUND", message)


_BY_HTTP = {404: "NOT_FOUND", 409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 500: "INTERNAL",
            501: "UNIMPLEMENTED"}  # fmt: skip


def from_bigquery(exc: BigQueryError) -> RpcError:
    """The Storage API's status for an error of the emulator core (catalog, translator)."""
    return RpcError(_BY_HTTP.get(exc.code, "INVALID_ARGUMENT"), exc.message)
