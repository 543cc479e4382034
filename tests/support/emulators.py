"""Helpers for tests that run emulator processes: their endpoints, fault files, names."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from emulators.process import ServerProcess
from harness.stack import Endpoints


def endpoints(pubsub: ServerProcess | None, bigquery: ServerProcess | None) -> Endpoints:
    return Endpoints(pubsub.address if pubsub else "", bigquery.url if bigquery else "")


def write_faults(path: Path, config: dict) -> None:
    """Rewrite the fault file; the emulator notices the new modification time."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config))
    tmp.replace(path)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
