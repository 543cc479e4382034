"""A producer team's own test suite on ``--emulator-backend testcontainers``: the installed
``streambench`` plugin, in a pytest run of its own (a subprocess, as their CI runs it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import harness
from tests.support.docker import emulator_containers

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]

PRODUCER_TESTS = '''
import subprocess

def event(event_id):
    return {"event_id": event_id, "timestamp": "2024-05-06T07:08:09Z",
            "data": {"order_id": "O-1", "total": 10.5},
            "metadata": {"source": "checkout-service", "version": "1.0"}}

def test_my_events_land(provisioned_stack, run_pipeline, publish_events, wait_for_rows):
    run_pipeline()
    ids = publish_events([event("p-1"), event("p-2"), b"not json"])
    wait_for_rows(2)
    wait_for_rows(1, table=provisioned_stack.dead_letter_table)
    rows, dead = provisioned_stack.landed()
    assert len(ids) == rows + dead == 3
    print(f"PRODUCER published={len(ids)} rows={rows} dead={dead}")

def test_the_emulators_are_containers_on_loopback(emulator_stack):
    port = emulator_stack.pubsub.rpartition(":")[2]
    ps = subprocess.run(["docker", "ps", "--format", "{{.Image}} {{.Ports}}"],
                        capture_output=True, text=True, check=True).stdout
    assert f"streambench-pubsub:local 127.0.0.1:{port}->8085/tcp" in ps, ps
'''


def test_a_producer_suite_runs_on_testcontainers(pytester, monkeypatch, report):
    # the subprocess imports the same harness and emulators as this run
    monkeypatch.setenv("PYTHONPATH", str(Path(harness.__file__).resolve().parents[1]))
    pytester.makepyfile(test_producer=PRODUCER_TESTS)
    before = emulator_containers()
    result = pytester.runpytest_subprocess("--emulator-backend", "testcontainers", "-s")
    result.assert_outcomes(passed=2)
    line = re.search(r"PRODUCER (published=3 rows=2 dead=1)", result.stdout.str()).group(1)
    assert emulator_containers() <= before  # the plugin removed its containers
    report(f"testcontainers: a producer suite (--emulator-backend testcontainers) passed: {line}")
