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
                batch_max_latency=0.01, probe_interval=0.5, via="pubsub", invalid_ratio=0.05,
                flow_control_messages=1000, flow_control_bytes=10_000_000, events=0)
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


def test_a_worker_gets_no_target_of_its_own_and_no_emulator_variables(monkeypatch):
    # Its settings come from the master: nothing in its environment may send it elsewhere.
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
    monkeypatch.setenv("LOADTEST_KIND", "local")
    env = locust_env(args(), None)
    assert "PUBSUB_EMULATOR_HOST" not in env
    assert not [name for name in env if name.startswith("LOADTEST_")]


@pytest.mark.parametrize(("argv", "sentence"), [
    (["--master", "--worker"], "exclude each other"),
    (["--master", "--processes", "2"], "--master runs no workers itself"),
    (["--processes", "0"], "at least 1 worker process"),
    (["--master", "--workers", "0"], "at least 1 worker"),
    (["--events", "-5"], "positive count"),
    (["--run-time", "soon"], "--run-time: not a duration"),
])
def test_distribution_mistakes_are_one_sentence_before_anything_starts(argv, sentence):
    done = subprocess.run([sys.executable, "-m", "loadtest", *argv],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert sentence in done.stderr and "Traceback" not in done.stderr
    assert "starting the emulators" not in done.stdout


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


def test_a_failed_publish_is_named_by_its_status_code_alone():
    from google.api_core import exceptions

    from loadtest.target import PublishFailed

    assert str(PublishFailed(exceptions.NotFound("topic projects/p/topics/x gone"))) == "NOT_FOUND"
    assert PublishFailed(exceptions.from_http_status(503, "busy")).status == "UNAVAILABLE"
    assert PublishFailed(type("Refused", (Exception,), {"code": 429})()).status == "HTTP 429"
    assert PublishFailed(TimeoutError("60 s")).status == "TimeoutError"
