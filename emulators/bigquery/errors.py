"""BigQuery API errors as plain exceptions; the HTTP layer turns them into BigQuery's JSON shape."""

from __future__ import annotations

_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    413: "INVALID_ARGUMENT",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
}


class BigQueryError(Exception):
    """An error with BigQuery's HTTP code, reason and message."""

    code = 400
    reason = "invalid"

    def __init__(self, message: str, *, location: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        if reason:
            self.reason = reason

    def error_proto(self) -> dict:
        """The `errors[]` / `errorResult` entry."""
        entry = {"reason": self.reason, "message": self.message, "domain": "global"}
        if self.location:
            entry["location"] = self.location
            entry["locationType"] = "other"
        return entry

    def to_json(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "status": _STATUS.get(self.code, "UNKNOWN"),
                "errors": [self.error_proto()],
            }
        }


class NotFound(BigQueryError):
    code = 404
    reason = "notFound"


class Duplicate(BigQueryError):
    code = 409
    reason = "duplicate"


class Invalid(BigQueryError):
    code = 400
    reason = "invalid"


class InvalidQuery(BigQueryError):
    code = 400
    reason = "invalidQuery"


class ParseError(BigQueryError):
    """A request body that is not acceptable JSON."""

    code = 400
    reason = "parseError"


class PayloadTooLarge(BigQueryError):
    """A request over BigQuery's request size limit."""

    code = 400
    reason = "badRequest"


class RequestTooLarge(BigQueryError):
    """A request so far over the limit that Google's front end refuses it unread."""

    code = 413
    reason = "requestTooLarge"


class AccessDenied(BigQueryError):
    code = 403
    reason = "accessDenied"


class PreconditionFailed(BigQueryError):
    code = 412
    reason = "conditionNotMet"


class NotImplementedYet(BigQueryError):
    code = 501
    reason = "notImplemented"


class BackendError(BigQueryError):
    code = 500
    reason = "backendError"


class EmulatorBug(BigQueryError):
    """An unexpected exception inside the emulator. Its reason is deliberately not one the
    client retries (backendError/internalError would be retried for minutes)."""

    code = 500
    reason = "emulatorInternalError"


def expect_dict(value: object, name: str) -> dict:
    """`value` if it is a JSON object (None -> {}), else an `invalid` error naming the field."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"Invalid value for {name}: expected an object.")
    return value


def expect_list(value: object, name: str) -> list:
    """`value` if it is a JSON array (None -> []), else an `invalid` error naming the field."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"Invalid value for {name}: expected a list.")
    return value
