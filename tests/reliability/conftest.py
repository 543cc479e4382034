"""Fixture: emulator processes started per test and stopped afterwards."""

from __future__ import annotations

import pytest

from emulators.stack import EmulatorProcess, start_emulator


@pytest.fixture
def emulator(tmp_path):
    """``emulator(name, **kwargs) -> EmulatorProcess``; every process is stopped afterwards."""
    started: list[EmulatorProcess] = []

    def start(name: str, **kwargs) -> EmulatorProcess:
        proc = start_emulator(name, tmp_path / "logs", **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
