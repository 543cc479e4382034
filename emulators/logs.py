"""The emulators' log lines: one JSON object per line (python-json-logger), or plain text."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

#: ``{"time", "level", "logger", "message", ...extra}``; ``extra=`` fields become keys.
JSON = JsonFormatter(
    "{asctime}{levelname}{name}{message}",
    style="{",
    rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
)


def configure(level: str | int = "INFO", json_lines: bool = True, stream=None) -> None:
    """Route the root logger to ``stream`` (stderr), as JSON lines or plain text."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JSON if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
