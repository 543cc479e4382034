"""The one exception type the translator raises for bad or unsupported SQL."""

from __future__ import annotations


class SqlError(ValueError):
    """A BigQuery-style query error (the core reports it as reason ``invalidQuery``).

    ``location`` is ``(line, column)`` (1-based) when the problem is tied to a position.
    """

    def __init__(self, message: str, location: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


def unsupported(construct: str) -> SqlError:
    """Error for SQL that BigQuery accepts but this emulator does not translate."""
    return SqlError(f"Unsupported construct: {construct}")
