"""``python -m pipeline`` as an operator runs it: a process, emulator variables, Ctrl-C to stop."""

import json
import os
import signal
import subprocess
import sys

import pytest

from harness import traffic
from pipeline import samples
from tests.support.cli import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def _start(stack, *extra):
    env = {**os.environ, **stack.endpoints.env(), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--input_subscription", "events-pipeline",
         "--output_table", "analytics.events", "--dead_letter_table", "analytics.events_dlq",
         "--project", stack.project, *extra],
        env=env, stderr=subprocess.PIPE, text=True,
    )
    seen = []
    for line in process.stderr:  # until the pipeline says it is ready
        seen.append(line)
        if "ready: " in line:
            return process, seen
    process.wait(30)
    pytest.fail(f"no ready line; exit {process.returncode}: {''.join(seen)[-3000:]}")


def test_ctrl_c_drains_prints_true_figures_and_exits_130(provisioned_stack, publish_events):
    """Short names completed with --project, a ready line, the DirectRunner without any Prism
    download attempt, JSON logs; Ctrl-C: drained, what was read and written, exit 130."""
    stack = provisioned_stack
    process, seen = _start(stack, "--log_format=json")
    try:
        publish_events([samples.valid_event(event_id=f"cli-{i}") for i in range(5)] + [b"nope"])
        traffic.wait_until(lambda: sum(stack.landed()) >= 6, timeout=120)
    finally:
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    stderr = "".join(seen) + rest
    assert process.returncode == 130, stderr[-2000:]
    assert stack.landed() == (5, 1)
    assert "prism" not in stderr.lower()
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    ready = [line["message"] for line in lines if line["message"].startswith("ready: ")]
    assert ready == [
        f"ready: reading projects/{stack.project}/subscriptions/events-pipeline; writing "
        f"{stack.project}:analytics.events (dead letters {stack.project}:analytics.events_dlq); "
        "Ctrl-C drains and stops"
    ]
    summary = [line for line in lines if line["message"] == "pipeline metrics"]
    assert len(summary) == 1
    assert summary[0]["metrics"] == {"messages_read": 6, "rows_written": 5, "dead_lettered": 1}
    assert (
        f"stopped: 6 messages read from projects/{stack.project}/subscriptions/events-pipeline; "
        f"5 rows written to {stack.project}:analytics.events, 1 dead letter to "
        f"{stack.project}:analytics.events_dlq"
    ) in stderr


def test_sigterm_drains_too(provisioned_stack, publish_events):
    stack = provisioned_stack
    process, seen = _start(stack)
    try:
        publish_events([samples.valid_event(event_id=f"term-{i}") for i in range(3)])
        traffic.wait_until(lambda: stack.landed()[0] >= 3, timeout=120)
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
    assert process.returncode == 143, rest[-2000:]
    assert "stopped: 3 messages read" in rest
    assert "3 rows written" in rest
