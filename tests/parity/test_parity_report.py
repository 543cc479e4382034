"""Diffing, scoring and report files."""

import json

from parity import diffing, report
from parity.runner import Outcome


def _steps(*pairs):
    return [{"label": label, "value": value} for label, value in pairs]


def test_same_steps_have_no_diff_and_notes_are_not_compared():
    a = _steps(("get", {"error": "NOT_FOUND"}))
    b = [{"label": "get", "value": {"error": "NOT_FOUND"}, "note": "other wording"}]
    assert diffing.diff(a, b) == ""
    assert diffing.differing_labels(a, b) == []


def test_a_different_value_is_shown_and_labelled():
    a = _steps(("create", {"ok": True}), ("pull", ["x"]))
    b = _steps(("create", {"ok": True}), ("pull", ["x", "y"]))
    text = diffing.diff(a, b, "ours", "theirs")
    assert "--- ours" in text and "+++ theirs" in text and '+ "y"' in text
    assert diffing.differing_labels(a, b) == ["pull"]


def test_a_step_only_one_side_has_is_a_difference():
    a = _steps(("create", 1), ("extra", 2))
    b = _steps(("create", 1))
    assert diffing.differing_labels(a, b) == ["extra"]
    assert diffing.diff(a, b)


def _outcomes():
    a = {"steps": [{"label": "pull", "value": ["x"], "note": "why a"}]}
    b = {"steps": [{"label": "pull", "value": [], "note": "why b"}]}
    return [
        Outcome("s_same", "pubsub", "same one", "same", a=a, b=a),
        Outcome(
            "s_diff",
            "pubsub",
            "differs",
            "different",
            diffing.diff(a["steps"], b["steps"]),
            ("pull",),
            a,
            b,
        ),
        Outcome("s_bq", "bigquery", "bq", "unsupported", unsupported_by="google-emulator"),
    ]


def test_score_counts_only_compared_scenarios():
    outcomes = _outcomes()
    assert report.score(outcomes) == (1, 2)
    line = report.score_line(outcomes, "embedded", "google-emulator")
    assert line == (
        "Parity embedded vs google-emulator: 1/2 scenarios identical (50%), 1 unsupported"
    )


def test_report_files(tmp_path):
    json_path, md_path = report.write(_outcomes(), "embedded", "google-emulator", tmp_path)
    data = json.loads(json_path.read_text())
    assert data["score"]["identical"] == 1 and data["score"]["compared"] == 2
    assert (data["score"]["steps_identical"], data["score"]["steps_compared"]) == (1, 2)
    assert [s["status"] for s in data["scenarios"]] == ["same", "different", "unsupported"]
    md = md_path.read_text()
    assert "Steps identical: 1/2." in md
    assert "| `s_diff` | pubsub | different | pull |" in md
    assert "unsupported (google-emulator)" in md
    assert "## `s_diff`" in md and "```diff" in md and "## `s_same`" not in md
    assert "- a / pull: why a" in md and "- b / pull: why b" in md
