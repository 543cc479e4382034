"""Fault injection, off unless ``--faults FILE`` is given.

The file (JSON, or TOML when it ends in ``.toml``) is re-read whenever its modification time
changes, so a running test can turn faults on and off by rewriting it. Format::

    {
      "seed": 7,                                   # RNG seed; reseeded on every reload
      "methods": {                                 # per gRPC method name, "*" for any
        "Publish": {"error_rate": 0.5, "error_code": "UNAVAILABLE", "latency_ms": 20},
        "*": {"latency_ms": 5}
      },
      "duplicate_rate": 0.1,                       # an ack is dropped and the message redelivered
      "stream_break_after_messages": 100,          # StreamingPull ends with UNAVAILABLE after N
      "stream_break_after_seconds": 5.0            # ... or after this long
    }

A missing or empty file means no faults; a file that does not parse is reported on stderr and
the previous settings stay.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from typing import Any

from emulators.pubsub.errors import ApiError

ERROR_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "RESOURCE_EXHAUSTED", "ABORTED"}


class Faults:
    """Current fault settings plus the seeded RNG that decides each injection."""

    def __init__(self, path: str | None = None):
        self.path = path
        self.mtime: int | None = None
        self.config: dict[str, Any] = {}
        self.rng = random.Random(0)
        self.refresh()

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def refresh(self) -> None:
        if self.path is None:
            return
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            mtime = None
        if mtime == self.mtime:
            return
        self.mtime = mtime
        if mtime is None:
            self.config = {}
            return
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read()
            if self.path.endswith(".toml"):
                import tomllib

                config = tomllib.loads(raw.decode())
            else:
                config = json.loads(raw) if raw.strip() else {}
            if not isinstance(config, dict):
                raise ValueError("the top level must be an object")
        except (OSError, ValueError, ImportError) as exc:  # ImportError: no tomllib (< 3.11)
            print(f"pubsub emulator: ignoring fault file {self.path}: {exc}", file=sys.stderr)
            return
        self.config = config
        self.rng = random.Random(config.get("seed", 0))

    def _method(self, method: str) -> dict[str, Any]:
        methods = self.config.get("methods") or {}
        return methods.get(method) or methods.get("*") or {}

    async def inject(self, method: str) -> None:
        """Sleep and/or raise as configured for ``method``."""
        self.refresh()
        settings = self._method(method)
        if not settings:
            return
        latency = float(settings.get("latency_ms", 0))
        if latency > 0:
            await asyncio.sleep(latency / 1000)
        rate = float(settings.get("error_rate", 0))
        if rate > 0 and self.rng.random() < rate:
            code = str(settings.get("error_code", "UNAVAILABLE")).upper()
            if code not in ERROR_CODES:
                code = "UNAVAILABLE"
            raise ApiError(code, f"Injected fault: {code} for {method}.")

    def duplicate(self) -> bool:
        self.refresh()
        rate = float(self.config.get("duplicate_rate", 0))
        return rate > 0 and self.rng.random() < rate

    def stream_limits(self) -> tuple[int, float]:
        self.refresh()
        return (
            int(self.config.get("stream_break_after_messages", 0)),
            float(self.config.get("stream_break_after_seconds", 0)),
        )
