"""The drill's report: Markdown for people, JSON for machines (``ops/results/drill.{md,json}``)."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path


def _outcome_dict(o) -> dict:
    return {
        "scenario": o.key, "title": o.title, "passed": o.passed, "started": o.started,
        "expected_alerts": o.expected_alerts, "alerts": o.alerts,
        "published": o.published, "rows": o.rows, "dead_letters": o.dead_letters,
        "missing": o.missing, "duplicates": o.duplicates,
        "recovery_started_s": o.recovery_started, "recovered_s": o.recovered,
        "time_to_recover_s": o.time_to_recover, "notes": o.notes, "problems": o.problems,
    }  # fmt: skip


def _alerts(o) -> str:
    if not o.alerts:
        return "none"
    parts = []
    for a in o.alerts:
        resolved = "not resolved" if a["resolved_at"] is None else f"resolved +{a['resolved_at']}s"
        mark = "" if a["expected"] else " (also)"
        parts.append(f"{a['rule']}{mark}: fired +{a['fired_at']}s, {resolved}")
    return "<br>".join(parts)


def write_report(drill, out: Path, form: str) -> tuple[Path, Path]:
    """Write ``drill.md`` and ``drill.json`` into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    passed = all(o.passed for o in drill.outcomes) and bool(drill.outcomes)
    data = {
        "form": form, "finished": now, "passed": passed,
        "elapsed_s": getattr(drill, "elapsed", None),
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "timing": vars(drill.timing),
        "webhook_notifications": len(getattr(getattr(drill, "webhook", None), "received", [])),
        "scenarios": [_outcome_dict(o) for o in drill.outcomes],
    }  # fmt: skip
    json_path = out / "drill.json"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    lines = [
        f"# Disaster drill ({form} form): {'PASSED' if passed else 'FAILED'}",
        "",
        f"Finished {now}; {data['elapsed_s']} s in all on {data['machine']['cpus']} cores "
        f"(Python {data['machine']['python']}), traffic {drill.timing.rate:g} events/s. "
        f"{data['webhook_notifications']} notifications reached the alert webhook. Times are "
        "seconds from each scenario's start; the steps are ops/RUNBOOK.md's.",
        "",
        "| scenario | alerts (fired, resolved) | published | rows | dead letters | missing "
        "| duplicates | recovery began | time to recover | result |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for o in drill.outcomes:
        result = "ok" if o.passed else "FAILED: " + "; ".join(o.problems)
        ttr = "-" if o.time_to_recover is None else f"{o.time_to_recover} s"
        lines.append(
            f"| {o.key}. {o.title} | {_alerts(o)} | {o.published} | {o.rows} | "
            f"{o.dead_letters} | {len(o.missing)} | {o.duplicates} | "
            f"+{o.recovery_started} s | {ttr} | {result} |")
    notes = [(o, o.notes) for o in drill.outcomes if o.notes]
    if notes:
        lines += ["", "Details:", ""]
        for o, note in notes:
            lines.append(f"- {o.key}: " + "; ".join(f"{k} = {json.dumps(v, default=str)}"
                                                   for k, v in note.items()))
    lines += ["", "Published = events Pub/Sub acknowledged (cumulative); rows and dead letters "
              "are counted by event_id; recovery = every acknowledged event landed again."]
    md_path = out / "drill.md"
    md_path.write_text("\n".join(lines) + "\n")
    return md_path, json_path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
