"""Write a comparison as ``report.json`` and ``report.md`` (score, table, diffs)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from parity.runner import Outcome
from parity.scenario import CRASH_LABEL


def score(outcomes: list[Outcome]) -> tuple[int, int]:
    """(identical, compared): unsupported scenarios are not compared, so not counted."""
    compared = [o for o in outcomes if o.status != "unsupported"]
    return sum(o.status == "same" for o in compared), len(compared)


def step_score(outcomes: list[Outcome]) -> tuple[int, int]:
    """(identical steps, compared steps) over the compared scenarios: a finer-grained view."""
    same = total = 0
    for o in outcomes:
        if o.status == "unsupported" or o.a is None or o.b is None:
            continue
        labels = {s["label"] for s in o.a["steps"]} | {s["label"] for s in o.b["steps"]}
        total += len(labels)
        same += len(labels) - len(o.differing)
    return same, total


def score_line(outcomes: list[Outcome], a: str, b: str) -> str:
    same, total = score(outcomes)
    unsupported = sum(o.status == "unsupported" for o in outcomes)
    pct = f" ({100 * same / total:.0f}%)" if total else ""
    tail = f", {unsupported} unsupported" if unsupported else ""
    return f"Parity {a} vs {b}: {same}/{total} scenarios identical{pct}{tail}"


def to_json(outcomes: list[Outcome], a: str, b: str) -> dict:
    same, total = score(outcomes)
    steps_same, steps_total = step_score(outcomes)
    return {
        "a": a,
        "b": b,
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "score": {
            "identical": same,
            "compared": total,
            "steps_identical": steps_same,
            "steps_compared": steps_total,
            "line": score_line(outcomes, a, b),
        },
        "scenarios": [o.to_dict() for o in outcomes],
    }


def to_markdown(outcomes: list[Outcome], a: str, b: str) -> str:
    steps_same, steps_total = step_score(outcomes)
    lines = [f"# Parity report: `{a}` vs `{b}`", "", f"**{score_line(outcomes, a, b)}**", ""]
    if steps_total:
        lines += [f"Steps identical: {steps_same}/{steps_total}.", ""]
    lines += ["| scenario | service | result | differing steps |", "|---|---|---|---|"]
    for o in outcomes:
        result = o.status if o.status != "unsupported" else f"unsupported ({o.unsupported_by})"
        steps = "; ".join(o.differing) if o.differing else ""
        lines.append(f"| `{o.scenario}` | {o.service} | {result} | {steps} |")
    for o in outcomes:
        if o.status not in ("different", "crashed"):
            continue
        lines += ["", f"## `{o.scenario}`", "", o.description, ""]
        if o.diff:
            lines += ["```diff", o.diff, "```"]
        for side_name, side in (("a", o.a), ("b", o.b)):
            for step in (side or {}).get("steps", []):
                if step["label"] == CRASH_LABEL:
                    lines += ["", f"{side_name} crashed:", "", "```", step.get("note", ""), "```"]
        notes = _notes(o)
        if notes:
            lines += ["", "Error texts (not compared):", ""] + notes
    return "\n".join(lines) + "\n"


def _notes(o: Outcome) -> list[str]:
    out = []
    for side_name, side in (("a", o.a), ("b", o.b)):
        for step in (side or {}).get("steps", []):
            if step.get("label") in o.differing and step.get("note"):
                note = step["note"].strip().splitlines()[0][:200]
                out.append(f"- {side_name} / {step['label']}: {note}")
    return out


def write(outcomes: list[Outcome], a: str, b: str, out_dir: Path) -> tuple[Path, Path]:
    """Write both files into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(json.dumps(to_json(outcomes, a, b), indent=1, ensure_ascii=False) + "\n")
    md_path.write_text(to_markdown(outcomes, a, b))
    return json_path, md_path
