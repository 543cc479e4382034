"""Verification results as text, JSON or JUnit XML (wire formats live only here)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contract_tests.verify import Result

FORMATS = ("text", "json", "junit")


def summary(results: list[Result]) -> dict:
    failed = sum(not r.passed for r in results)
    crashed = sum(r.outcome.crashed for r in results)
    return {
        "samples": len(results),
        "accepted": sum(r.accepted for r in results),
        "rejected": sum(not r.accepted for r in results) - crashed,
        "crashed": crashed,
        "passed": len(results) - failed,
        "failed": failed,
        "ok": failed == 0,
    }


def result_dict(result: Result) -> dict:
    o = result.outcome
    item = {
        "sample": result.sample.name,
        "status": "accepted" if o.accepted else "crashed" if o.crashed else "rejected",
        "passed": result.passed,
        "expect_reject": result.expect_reject,
        "event_id": o.event_id,
    }
    if o.accepted:
        item["row"] = o.row
    else:
        item["error"] = {
            "error_type": o.error_type,
            "path": o.path,
            "reason": o.reason,
            "error_message": o.error_message,
            "failed_step": o.failed_step,
        }
        if o.violations:
            item["error"]["violations"] = [{"path": p, "reason": r} for p, r in o.violations]
    if result.sample.expect is not None:
        item["expected"] = {k: v for k, v in vars(result.sample.expect).items() if v is not None}
    if result.problem:
        item["problem"] = result.problem
    if result.warning:
        item["warning"] = result.warning
    if result.landed:
        item["landed"] = result.landed
    if result.edge:
        item["edge"] = result.edge
    return item


def to_json(results: list[Result]) -> str:
    body = {"summary": summary(results), "results": [result_dict(r) for r in results]}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def to_text(results: list[Result], show_rows: bool = True, quiet: bool = False) -> str:
    lines = []
    for r in results:
        if quiet and r.passed:
            continue
        mark = "PASS" if r.passed else "FAIL"
        lines.append(f"{mark}  {r.sample.name}: {r.describe_outcome()}")
        lines += [f"      also: {v}" for v in r.other_violations()]
        if r.problem:
            lines.append(f"      problem: {r.problem}")
        if r.warning:
            lines.append(f"      warning: {r.warning}")
        if r.landed:
            where = r.landed if r.landed.startswith("not published") else \
                f"landed in the {r.landed}"
            lines.append(f"      end-to-end: {where}")
        if r.edge:
            lines.append(f"      REST edge: {r.edge}")
        if show_rows and r.accepted and not quiet:
            lines.append(f"      row: {json.dumps(r.outcome.row, ensure_ascii=False)}")
    s = summary(results)
    verdict = "OK" if s["ok"] else "FAILED"
    crashed = f", {s['crashed']} CRASHED the pipeline" if s["crashed"] else ""
    lines.append(
        f"{s['samples']} sample(s): {s['accepted']} accepted, {s['rejected']} rejected{crashed}, "
        f"{s['failed']} failed - {verdict}"
    )
    return "\n".join(lines) + "\n"


def to_junit(results: list[Result], suite_name: str = "contract") -> str:
    s = summary(results)
    suites = ET.Element("testsuites", tests=str(s["samples"]), failures=str(s["failed"]))
    suite = ET.SubElement(
        suites, "testsuite", name=suite_name, tests=str(s["samples"]),
        failures=str(s["failed"]), errors="0", skipped="0",
    )
    for r in results:
        file, sep, line = r.sample.name.rpartition(":")
        if not (sep and line.isdigit()):
            file, line = r.sample.name, ""
        case = ET.SubElement(
            suite, "testcase", classname=f"{suite_name}.{file}", name=r.sample.name, file=file
        )
        if line:
            case.set("line", line)
        if not r.passed:
            failure = ET.SubElement(
                case, "failure", message=f"{r.problem} - {r.describe_outcome()}",
                type=r.outcome.error_type or "accepted",
            )
            failure.text = "\n".join([r.describe_outcome(), *r.other_violations()])
        out = ET.SubElement(case, "system-out")
        out.text = json.dumps(result_dict(r), ensure_ascii=False)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def render(
    results: list[Result], fmt: str, suite_name: str = "contract", quiet: bool = False
) -> str:
    if fmt == "json":
        return to_json(results)
    if fmt == "junit":
        return to_junit(results, suite_name)
    return to_text(results, quiet=quiet)
