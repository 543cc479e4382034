"""Helpers of the reliability tests: endpoints of emulator processes, fault files, names."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from emulators.stack import EmulatorProcess, Endpoints


def pubsub_host(proc: EmulatorProcess) -> str:
    return f"{proc.host}:{proc.port}"


def bigquery_url(proc: EmulatorProcess) -> str:
    return f"http://{proc.host}:{proc.port}"


def endpoints(pubsub: EmulatorProcess | None, bigquery: EmulatorProcess | None) -> Endpoints:
    return Endpoints(
        pubsub_host(pubsub) if pubsub else "", bigquery_url(bigquery) if bigquery else ""
    )


def write_faults(path: Path, config: dict) -> None:
    """Rewrite the fault file; the emulator notices the new modification time."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config))
    tmp.replace(path)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
