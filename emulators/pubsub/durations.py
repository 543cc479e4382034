"""protobuf JSON durations ("600s", "1.5s") <-> seconds."""

from __future__ import annotations


def seconds(value: str | None, default: float = 0.0) -> float:
    if not value:
        return default
    return float(value.rstrip("s"))


def duration(secs: float) -> str:
    if float(secs).is_integer():
        return f"{int(secs)}s"
    return f"{secs:.9f}".rstrip("0") + "s"
