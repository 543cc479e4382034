"""Subscription filters: a guarded bridge to ``filters.compile_filter``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from emulators.pubsub.errors import invalid

Predicate = Callable[[Mapping[str, str]], bool]


def compile(expr: str | None) -> Predicate | None:  # noqa: A001 - mirrors re.compile
    """None for an empty filter (everything matches); INVALID_ARGUMENT on bad syntax."""
    if not expr or not expr.strip():
        return None
    from emulators.pubsub.filters import FilterError, compile_filter

    try:
        return compile_filter(expr)
    except FilterError as exc:
        raise invalid(f"Invalid filter expression: {exc}") from None
