"""Target selection: GCP only with an explicit project, and nothing implicit on the way."""

import subprocess
import sys
from argparse import Namespace

import pytest

from loadtest.__main__ import locust_env, select_target
from loadtest.target import Target, TargetError, gcp_target

LOCAL = Target("local", "p", "projects/p/topics/events", "p.analytics.events",
               "127.0.0.1:1", "http://127.0.0.1:2")


def args(**overrides):
    base = dict(target="local", project=None, topic="events", table="analytics.events",
                shape="steady", user_rate=1.0, events_per_task=5, batch_max_messages=100,
                batch_max_latency=0.01, probe_interval=0.5, via="pubsub", invalid_ratio=0.05)
    return Namespace(**{**base, **overrides})


@pytest.mark.parametrize("project", [None, ""])
def test_gcp_without_a_project_is_refused(project):
    with pytest.raises(TargetError, match="explicit --project"):
        select_target(args(target="gcp", project=project))


def test_gcp_with_a_project_names_its_topic_and_table_in_that_project():
    target = select_target(args(target="gcp", project="staging-1"))
    assert target == Target("gcp", "staging-1", "projects/staging-1/topics/events",
                            "staging-1.analytics.events")


def test_local_is_the_default_and_takes_no_project():
    assert select_target(args()) is None  # the local stack builds the target
    with pytest.raises(TargetError, match="only for --target gcp"):
        select_target(args(project="staging-1"))


def test_the_command_line_refuses_gcp_without_a_project_before_starting_anything():
    done = subprocess.run(
        [sys.executable, "-m", "loadtest", "--target", "gcp"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "explicit --project" in done.stderr
    assert "starting the emulators" not in done.stdout


def test_the_target_travels_to_locust_in_the_environment_and_back():
    env = locust_env(args(), LOCAL)
    assert Target.from_env(env) == LOCAL
    assert env["LOADTEST_SHAPE"] == "steady"


def test_a_gcp_run_drops_emulator_variables_so_clients_cannot_be_redirected(monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", "http://127.0.0.1:2")
    env = locust_env(args(target="gcp", project="s"), gcp_target("s"))
    assert "PUBSUB_EMULATOR_HOST" not in env and "BIGQUERY_EMULATOR_HOST" not in env


def test_locust_without_a_configured_target_refuses_to_guess():
    with pytest.raises(TargetError, match="python -m loadtest"):
        Target.from_env({"PUBSUB_EMULATOR_HOST": "127.0.0.1:1"})


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "prod"},
        {"project": ""},
        {"pubsub": ""},  # a local target needs both endpoints
    ],
)
def test_incomplete_targets_are_refused(fields):
    values = {**LOCAL.__dict__, **fields}
    with pytest.raises(TargetError):
        Target(**values)


def test_a_gcp_target_cannot_carry_emulator_endpoints():
    with pytest.raises(TargetError):
        Target("gcp", "s", "projects/s/topics/t", "s.d.t", pubsub="127.0.0.1:1")
