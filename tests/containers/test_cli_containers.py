"""``python -m harness up --backend docker|testcontainers``: the containers outlive the command,
``status`` sees them healthy, ``down`` removes containers, network and volumes."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.docker import emulator_containers

pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]


def _cli(*args, state_dir):
    result = subprocess.run(
        [sys.executable, "-m", "harness", "--state-dir", str(state_dir), *args],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("backend", ["docker", "testcontainers"])
def test_up_status_down(tmp_path, backend):
    before = emulator_containers()
    up = _cli("up", "--backend", backend, state_dir=tmp_path)
    try:
        assert re.search(r"^export PUBSUB_EMULATOR_HOST=127\.0\.0\.1:\d+$", up.stdout, re.M)
        started = emulator_containers() - before
        assert len(started) == 3  # still running after `up` returned
        status = _cli("status", state_dir=tmp_path).stdout
        for name in ("pubsub", "bigquery", "storage"):
            assert re.search(rf"^{name}: +\S+  answering", status, re.M), status
        logs = _cli("logs", "bigquery", state_dir=tmp_path).stdout
        assert "bigquery emulator listening on" in logs, logs
    finally:
        _cli("down", state_dir=tmp_path)
    assert not emulator_containers() & started
