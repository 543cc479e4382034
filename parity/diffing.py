"""Compare two normalised scenario results: same or different, with a readable diff."""

from __future__ import annotations

import difflib
import json


def compared(steps: list[dict]) -> list[dict]:
    """The part of the steps that counts: labels and values (notes are for humans)."""
    return [{"label": s["label"], "value": s.get("value")} for s in steps]


def render(steps: list[dict]) -> list[str]:
    lines = []
    for step in compared(steps):
        value = json.dumps(step["value"], sort_keys=True, indent=1, ensure_ascii=False)
        lines.append(f"# {step['label']}")
        lines.extend(value.splitlines())
    return lines


def diff(a: list[dict], b: list[dict], a_name: str = "a", b_name: str = "b") -> str:
    """A unified diff of the compared parts; empty when they are the same."""
    if compared(a) == compared(b):
        return ""
    return "\n".join(difflib.unified_diff(render(a), render(b), a_name, b_name, n=3, lineterm=""))


def differing_labels(a: list[dict], b: list[dict]) -> list[str]:
    """Labels of the steps whose values differ (or that only one side has)."""
    av = {}
    for s in compared(a):
        av.setdefault(s["label"], []).append(s["value"])
    bv = {}
    for s in compared(b):
        bv.setdefault(s["label"], []).append(s["value"])
    order = [s["label"] for s in a] + [s["label"] for s in b if s["label"] not in av]
    seen, out = set(), []
    for label in order:
        if label not in seen and av.get(label) != bv.get(label):
            out.append(label)
        seen.add(label)
    return out
