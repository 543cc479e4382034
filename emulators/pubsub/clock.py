"""The model's time: real time, which tests may move forward or freeze.

Every deadline, backoff, retention window, expiration and publish time of the model reads
this clock, so ``advance(600)`` expires leases, releases backed-off messages, drops messages
past retention and deletes idle subscriptions as ten minutes would, without waiting. It only
moves forward: the monotonic side (deadlines) and the wall side (publish times) shift together.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


class Clock:
    """``monotonic()`` and ``time_ns()`` like the ``time`` module's, plus ``offset`` and
    ``frozen`` moved by ``advance`` / ``set_time`` / ``freeze``."""

    def __init__(self) -> None:
        self.offset_ns = 0
        self._frozen: tuple[float, int] | None = None  # (monotonic, time_ns) when frozen

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def monotonic(self) -> float:
        base = time.monotonic() if self._frozen is None else self._frozen[0]
        return base + self.offset_ns / 1e9

    def time_ns(self) -> int:
        base = time.time_ns() if self._frozen is None else self._frozen[1]
        return base + self.offset_ns

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("The clock only moves forward: advance by 0 seconds or more.")
        self.offset_ns += int(seconds * 1e9)

    def set_time(self, wall_ns: int) -> None:
        """Jump to a wall-clock time (not earlier than now)."""
        delta = wall_ns - self.time_ns()
        if delta < 0:
            raise ValueError("The clock only moves forward: that time is in its past.")
        self.offset_ns += delta

    def freeze(self) -> None:
        """Stop time where it is; only ``advance``/``set_time`` move it until ``unfreeze``."""
        if self._frozen is None:
            self._frozen = (time.monotonic(), time.time_ns())

    def unfreeze(self) -> None:
        """Let time run again from where it stood."""
        if self._frozen is not None:
            self.offset_ns -= time.time_ns() - self._frozen[1]
            self._frozen = None


def rfc3339(seconds: int, nanos: int = 0) -> str:
    """UTC, 'Z', 0/3/6/9 fractional digits: how protobuf JSON writes a Timestamp."""
    base = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos == 0:
        return base + "Z"
    if nanos % 1_000_000 == 0:
        return f"{base}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{base}.{nanos // 1_000:06d}Z"
    return f"{base}.{nanos:09d}Z"


def rfc3339_ns(ns: int) -> str:
    return rfc3339(ns // 1_000_000_000, ns % 1_000_000_000)


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (protobuf's parser: 'Z' or an offset)."""
    from google.protobuf import timestamp_pb2

    ts = timestamp_pb2.Timestamp()
    ts.FromJsonString(text)
    return ts.seconds * 1_000_000_000 + ts.nanos
