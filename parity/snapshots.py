"""Recorded results of one target, one JSON file per scenario (``--record`` / ``--replay``)."""

from __future__ import annotations

import json
from pathlib import Path

FORMAT = 1


def write(directory: Path, result: dict) -> Path:
    """Store a normalised scenario result (see :func:`parity.runner.run_scenario`)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result['scenario']}.json"
    # durations vary run to run: keep them out, so re-recording changes files only on real change
    body = {"format": FORMAT, **{k: v for k, v in result.items() if k not in ("format", "seconds")}}
    path.write_text(json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def read(directory: Path, scenario: str) -> dict | None:
    """The recorded result of ``scenario``, or None when it was not recorded."""
    path = directory / f"{scenario}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: snapshot format {data.get('format')!r}, expected {FORMAT}")
    return data


def recorded_target(directory: Path) -> str:
    """The target the snapshots in ``directory`` were recorded from (for the report)."""
    for path in sorted(directory.glob("*.json")):
        return json.loads(path.read_text()).get("target", directory.name)
    return directory.name
