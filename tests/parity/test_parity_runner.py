"""Scenario discovery, step recording, crash capture, snapshots, and target specs."""

import subprocess
import sys
from pathlib import Path

import pytest

from parity import runner, snapshots
from parity.scenario import SERVICES, Context, Scenario, discover
from parity.targets import (
    COST_FLAG,
    Embedded,
    External,
    Gcp,
    GoogleEmulator,
    TargetError,
    parse_target,
)

ROOT = Path(__file__).resolve().parents[2]


class FakeTarget:
    """A target that needs no server: for scenarios that only record."""

    project = "fake-project"
    label = "fake"
    services = frozenset({"pubsub"})

    def start(self, services):
        pass

    def stop(self):
        pass


def test_discover_finds_both_services_and_filters_by_glob():
    every = discover()
    assert {s.service for s in every} == set(SERVICES)
    assert all(s.description for s in every)
    pubsub = discover("pubsub_*")
    assert pubsub and all(s.name.startswith("pubsub_") for s in pubsub)
    assert [s.name for s in discover("pubsub_seek,bigquery_dml")] == ["bigquery_dml", "pubsub_seek"]


def test_recorded_steps_errors_and_crashes():
    from google.api_core import exceptions

    def run(ctx):
        ctx.record("plain", {"b": b"bytes", "n": 1})
        ctx.call("grpc error", _raise, exceptions.NotFound("gone"))
        ctx.call("ok", lambda: ctx.name("topic"))
        raise RuntimeError("scenario bug")

    result = runner.run_scenario(Scenario("s", "pubsub", "d", run), FakeTarget())
    values = [(s["label"], s["value"]) for s in result["steps"]]
    assert values[0] == ("plain", {"b": "bytes", "n": 1})
    assert values[1] == ("grpc error", {"error": "NOT_FOUND"})
    assert values[2] == ("ok", "topic_<run>_1")
    assert values[3] == ("scenario crashed", {"exception": "RuntimeError"})
    assert "scenario bug" in result["steps"][3]["note"]


def _raise(exc):
    raise exc


def test_cleanups_run_newest_first_even_after_a_crash():
    order = []

    def run(ctx):
        ctx.cleanup(lambda: order.append(1))
        ctx.cleanup(lambda: order.append(2))
        ctx.cleanup(lambda: 1 / 0)  # a failing cleanup does not stop the others
        raise ValueError

    runner.run_scenario(Scenario("s", "pubsub", "d", run), FakeTarget())
    assert order == [2, 1]


def test_names_are_unique_and_valid_for_both_services():
    ctx = Context(FakeTarget())
    names = {ctx.name("t") for _ in range(50)}
    assert len(names) == 50
    assert all(n.replace("_", "").isalnum() and n[0].isalpha() for n in names)


def test_snapshot_round_trip(tmp_path):
    result = {
        "scenario": "x",
        "service": "pubsub",
        "target": "t",
        "steps": [{"label": "a", "value": [1, "é"]}],
    }
    snapshots.write(tmp_path, {**result, "seconds": 1.5})
    assert snapshots.read(tmp_path, "x") == {"format": snapshots.FORMAT, **result}
    assert snapshots.read(tmp_path, "missing") is None
    assert snapshots.recorded_target(tmp_path) == "t"


def test_replay_side_serves_only_recorded_scenarios(tmp_path):
    snapshots.write(
        tmp_path, {"scenario": "pubsub_seek", "service": "pubsub", "target": "t", "steps": []}
    )
    side = runner.Replay(tmp_path)
    seek, dml = discover("pubsub_seek")[0], discover("bigquery_dml")[0]
    assert side.serves(seek) and not side.serves(dml)
    assert side.label == "replay:t"


@pytest.mark.parametrize(
    ("spec", "kind", "services"),
    [
        ("embedded", Embedded, {"pubsub", "bigquery"}),
        ("google-emulator", GoogleEmulator, {"pubsub"}),
        ("external:pubsub=127.0.0.1:8085", External, {"pubsub"}),
        ("external:bigquery=127.0.0.1:9050", External, {"bigquery"}),
        ("external:pubsub=h:1,bigquery=http://h:2", External, {"pubsub", "bigquery"}),
    ],
)
def test_target_specs(spec, kind, services):
    target = parse_target(spec)
    assert isinstance(target, kind)
    assert set(target.services) == services


def test_external_bigquery_gets_a_scheme():
    assert parse_target("external:bigquery=h:2").bigquery_url == "http://h:2"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "nope",
        "embedded:x",
        "external:",
        "external:pubsub",
        "external:foo=1",
        "external:pubsub=a,pubsub=b",
        "gcp:",
        "gcp",
    ],
)
def test_bad_target_specs_are_refused(spec):
    with pytest.raises(TargetError):
        parse_target(spec, allow_cost=True)


def test_gcp_needs_the_cost_flag():
    with pytest.raises(TargetError, match=COST_FLAG):
        parse_target("gcp:my-project")
    target = parse_target("gcp:my-project", allow_cost=True)
    assert isinstance(target, Gcp) and target.project == "my-project"


def test_cli_refuses_gcp_without_the_flag_before_touching_anything(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "parity",
            "--a",
            "gcp:my-project",
            "--b",
            "embedded",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert COST_FLAG in proc.stderr
    assert not any(tmp_path.iterdir())  # no report: nothing ran


def test_cli_lists_scenarios():
    proc = subprocess.run(
        [sys.executable, "-m", "parity", "--a", "embedded", "--b", "embedded", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert "pubsub_seek" in proc.stdout and "bigquery_dml" in proc.stdout


def test_a_scenario_that_crashes_alike_on_both_sides_is_not_same(tmp_path):
    def run(ctx):
        ctx.record("before", 1)
        raise KeyError("bug in the scenario")

    scenario = Scenario("broken", "pubsub", "d", run)

    class Side(runner.Live):
        pass

    a, b = Side(FakeTarget()), Side(FakeTarget())
    (outcome,) = runner.compare([scenario], a, b)
    assert outcome.status == "crashed" and outcome.diff == ""
    from parity import report

    assert report.score([outcome]) == (0, 1)
    _, md = report.write([outcome], "a", "b", tmp_path)
    assert "a crashed:" in md.read_text() and "bug in the scenario" in md.read_text()


def test_a_live_side_starts_each_service_once_when_first_needed():
    class Recording(FakeTarget):
        services = frozenset({"pubsub", "bigquery"})

        def __init__(self):
            self.calls = []

        def start(self, services):
            self.calls.append(sorted(services))

    target = Recording()
    side = runner.Live(target)
    side.prepare(discover("pubsub_seek"))
    side.prepare(discover("pubsub_seek,bigquery_dml"))
    side.prepare(discover("*"))
    assert target.calls == [["pubsub"], ["bigquery"]]


def test_local_only_scenarios_are_unsupported_on_gcp():
    push = discover("pubsub_push")[0]
    assert push.local_only
    gcp = runner.Live(parse_target("gcp:my-project", allow_cost=True))  # never started here
    assert not gcp.serves(push)
    assert gcp.serves(discover("pubsub_seek")[0])
    assert runner.Live(parse_target("embedded")).serves(push)


def test_a_scenario_that_hangs_its_target_is_a_crash_and_the_target_restarts(monkeypatch):
    import threading

    release = threading.Event()
    starts: list[set] = []

    class Counting(FakeTarget):
        def start(self, services):
            starts.append(set(services))

    def run(ctx):
        ctx.record("before", 1)
        release.wait(30)  # a call that never answers

    side = runner.Live(Counting())
    scenario = Scenario("hangs", "pubsub", "d", run)
    side.prepare([scenario])
    monkeypatch.setattr(runner, "SCENARIO_TIMEOUT_S", 0.2)
    try:
        result = side.result(scenario)
    finally:
        release.set()
    assert result["hung"] is True
    assert [s["label"] for s in result["steps"]] == ["before", "scenario crashed"]
    assert result["steps"][-1]["value"] == {"exception": "ScenarioTimeout"}
    assert starts == [{"pubsub"}, {"pubsub"}]  # started, then restarted after the hang


def test_bqemulator_target_spec():
    from parity.targets import BqEmulator

    target = parse_target("bqemulator")
    assert isinstance(target, BqEmulator) and target.services == frozenset({"bigquery"})
    with pytest.raises(TargetError):
        parse_target("bqemulator:x")
