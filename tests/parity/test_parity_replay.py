"""Real runs: our Pub/Sub emulator against the committed snapshots of Google's emulator."""

from pathlib import Path

import pytest

from parity import report, runner
from parity.scenario import discover
from parity.targets import Embedded

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SNAPSHOTS = Path(__file__).resolve().parents[2] / "parity" / "snapshots" / "google-emulator"


@pytest.fixture(scope="module")
def embedded():
    side = runner.Live(Embedded())
    side.prepare(discover("pubsub_*"))
    yield side
    side.close()


def test_committed_snapshots_cover_every_pubsub_scenario():
    recorded = {p.stem for p in SNAPSHOTS.glob("*.json")}
    assert {s.name for s in discover("pubsub_*")} <= recorded


def test_embedded_matches_google_where_both_implement_the_feature(embedded, tmp_path):
    scenarios = discover("pubsub_seek,pubsub_exactly_once")
    outcomes = runner.compare(scenarios, embedded, runner.Replay(SNAPSHOTS))
    assert {o.scenario: (o.status, o.diff) for o in outcomes} == {
        "pubsub_seek": ("same", ""),
        "pubsub_exactly_once": ("same", ""),
    }
    _, md = report.write(outcomes, embedded.label, "google-emulator", tmp_path)
    assert "2/2 scenarios identical" in md.read_text()


def test_filters_differ_because_googles_emulator_ignores_them(embedded):
    outcomes = runner.compare(discover("pubsub_filters"), embedded, runner.Replay(SNAPSHOTS))
    (outcome,) = outcomes
    assert outcome.status == "different"
    assert "delivered to red" in outcome.differing
    # ours rejects the bad filter that Google's emulator stores unparsed
    assert "filter syntax error" in outcome.differing
    steps = {s["label"]: s["value"] for s in outcome.a["steps"]}
    assert steps["delivered to red"] == ["r"]


def test_record_then_replay_is_identical(embedded, tmp_path):
    scenarios = discover("pubsub_retention")
    (recorded,) = runner.record(scenarios, embedded, tmp_path)
    assert recorded["steps"] and (tmp_path / "pubsub_retention.json").exists()
    (outcome,) = runner.compare(scenarios, embedded, runner.Replay(tmp_path))
    assert outcome.status == "same", outcome.diff


def test_bigquery_scenarios_are_unsupported_by_the_pubsub_only_snapshots(embedded):
    outcomes = runner.compare(discover("bigquery_dml"), embedded, runner.Replay(SNAPSHOTS))
    assert [o.status for o in outcomes] == ["unsupported"]


def test_bigquery_scenarios_are_stable_across_two_fresh_emulators():
    """Two runs on two emulator processes compare equal: normalisation covers what varies."""
    scenarios = discover("bigquery_insert_all,bigquery_query")
    a, b = runner.Live(Embedded()), runner.Live(Embedded())
    try:
        outcomes = runner.compare(scenarios, a, b)
    finally:
        a.close()
        b.close()
    assert [(o.scenario, o.status) for o in outcomes] == [
        ("bigquery_insert_all", "same"),
        ("bigquery_query", "same"),
    ]
    rows = {s["label"]: s["value"] for s in outcomes[0].a["steps"]}["rows"]
    assert [r["id"] for r in rows] == ["a", "b", "c", "g"]  # insertId dedup kept one a and b


@pytest.mark.parametrize(
    ("scenario", "exit_code", "line"),
    [
        ("pubsub_exactly_once", 0, "1/1 scenarios identical"),
        ("pubsub_filters", 1, "0/1 scenarios identical"),
    ],
)
def test_cli_replay_writes_reports_and_strict_fails_on_a_difference(
    tmp_path, scenario, exit_code, line
):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "parity", "--a", "embedded", "--replay", str(SNAPSHOTS),
         "--scenarios", scenario, "--out", str(tmp_path), "--strict"],
        cwd=SNAPSHOTS.parents[2], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == exit_code, proc.stderr[-2000:]
    assert line in proc.stdout
    assert line in (tmp_path / "report.md").read_text()
    assert (tmp_path / "report.json").exists()
