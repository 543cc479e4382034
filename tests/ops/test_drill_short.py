"""The recovery drill's short form (``python -m harness.drill --short``), in the normal test run.

CI runs it here rather than as its own nox session: a nox session builds a fresh virtualenv
with Beam and the Google clients (minutes on a clean runner) before the drill's ~3 minutes,
while the test suite's environment already has them and pytest-xdist runs the drill beside the
other tests. It is a subprocess so that its stack, pipeline threads and logging stay out of
the worker's process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]


def test_short_drill_recovers_from_every_disaster(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "harness.drill", "--short", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=560,
    )
    report_path = tmp_path / "drill.json"
    assert report_path.exists(), f"no report; drill output:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    report = json.loads(report_path.read_text())
    summary = (tmp_path / "drill.md").read_text()
    assert report["form"] == "short"
    scenarios = {s["scenario"]: s for s in report["scenarios"]}
    assert set(scenarios) == {"a", "b", "c", "d", "e", "end"}, summary
    for key, scenario in scenarios.items():
        assert scenario["problems"] == [], f"{key}: {scenario['problems']}\n{summary}"
        # published == rows + dead letters by event_id, none twice
        assert scenario["published"] > 0, summary
        assert scenario["published"] == scenario["rows"] + scenario["dead_letters"], summary
        assert scenario["missing"] == [] and scenario["duplicates"] == 0, summary
        for name in scenario["expected_alerts"]:
            mine = [a for a in scenario["alerts"] if a["rule"] == name]
            assert mine and mine[-1]["resolved_at"] is not None, f"{key}: {name}\n{summary}"
    assert scenarios["e"]["dead_letters"] >= 100, summary  # the flood is in the DLQ...
    assert scenarios["e"]["notes"]["dead_letter_reasons"], summary  # ...with its reasons
    assert scenarios["c"]["notes"]["wrong_rows_after_recovery"] == 0, summary
    assert scenarios["c"]["notes"]["replay"]["replayed"] > 0, summary
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert report["passed"] is True
