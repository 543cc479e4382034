"""Fault injection: from ``--faults FILE``, or from code (``configure``, ``fail``, ``clear``,
which the admin endpoint and ``hooks.Hooks`` call). Off until one of them sets something.

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
the previous settings stay. ``configure(settings)`` replaces the settings the same way (a later
change of the file replaces them again); ``fail(method, code, times)`` makes the next ``times``
calls of one method fail, ahead of any rate.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from typing import Any

from emulators.pubsub.errors import HTTP_STATUS, ApiError

ERROR_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "RESOURCE_EXHAUSTED", "ABORTED"}
ANY_ERROR_CODE = set(HTTP_STATUS) - {"OK"}  # what ``fail`` may inject


class Faults:
    """Current fault settings plus the seeded RNG that decides each injection."""

    def __init__(self, path: str | None = None):
        self.path = path
        self.mtime: int | None = None
        self.config: dict[str, Any] = {}
        self.rng = random.Random(0)
        # method (or "*") -> [code, message, calls left or None for every call]
        self.failures: dict[str, list[list[Any]]] = {}
        self.refresh()

    @property
    def active(self) -> bool:
        """Whether any fault may be injected (checked on every call, so cheap)."""
        return self.path is not None or bool(self.config) or bool(self.failures)

    def configure(self, config: dict[str, Any]) -> None:
        """Replace the settings with ``config`` (the file's format)."""
        if not isinstance(config, dict):
            raise ValueError("fault settings must be an object")
        for name, settings in (config.get("methods") or {}).items():
            if not isinstance(settings, dict):
                raise ValueError(f"the settings of method {name} must be an object")
        self.config = config
        self.rng = random.Random(config.get("seed", 0))

    def fail(
        self, method: str, code: str = "UNAVAILABLE", times: int | None = 1, message: str = ""
    ) -> None:
        """Make the next ``times`` calls of ``method`` (an RPC name, ``*`` for any) fail with
        ``code``; ``times=None`` until ``clear``."""
        code = code.upper()
        if code not in ANY_ERROR_CODE:
            raise ValueError(f"unknown status code {code!r}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        text = message or f"Injected fault: {code} for {method}."
        self.failures.setdefault(method, []).append([code, text, times])

    def clear(self) -> None:
        """No faults any more (a fault file is read again only when it changes)."""
        self.config = {}
        self.failures.clear()

    def state(self) -> dict[str, Any]:
        return {
            "settings": self.config,
            "failures": [
                {"method": method, "code": code, "message": text, "times": times}
                for method, queue in self.failures.items()
                for code, text, times in queue
            ],
        }

    def _queued(self, method: str) -> ApiError | None:
        queue = self.failures.get(method) or self.failures.get("*")
        if not queue:
            return None
        failure = queue[0]
        code, text, times = failure
        if times is not None:
            failure[2] = times - 1
            if failure[2] <= 0:
                queue.pop(0)
                if not queue:
                    self.failures = {m: q for m, q in self.failures.items() if q}
        return ApiError(code, text)

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
        if self.failures:
            queued = self._queued(method)
            if queued is not None:
                raise queued
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
        if self.path is not None:
            self.refresh()
        elif not self.config:
            return False
        rate = float(self.config.get("duplicate_rate", 0))
        return rate > 0 and self.rng.random() < rate

    def stream_limits(self) -> tuple[int, float]:
        self.refresh()
        return (
            int(self.config.get("stream_break_after_messages", 0)),
            float(self.config.get("stream_break_after_seconds", 0)),
        )
