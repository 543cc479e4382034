"""``python -m pipeline`` as an operator runs it: a process, emulator variables, Ctrl-C to stop."""

import json
import os
import signal
import subprocess
import sys

import pytest

from harness import traffic
from pipeline import samples

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_pipeline_process_writes_rows_and_logs_json(provisioned_stack, publish_events):
    stack = provisioned_stack
    env = {**os.environ, **stack.endpoints.env()}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *stack.config.pipeline_args(), "--log_format=json"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        publish_events([samples.valid_event(event_id=f"cli-{i}") for i in range(5)] + [b"nope"])
        traffic.wait_until(lambda: sum(stack.landed()) >= 6, timeout=120)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-2000:]
    assert stack.landed() == (5, 1)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    summary = [line for line in lines if line["message"] == "pipeline metrics"]
    assert len(summary) == 1
    assert summary[0]["metrics"]["messages_read"] >= 1
