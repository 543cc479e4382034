"""The compatibility check: structural rules, and Hypothesis counterexamples behind them."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from contract_tests import registry
from contract_tests.compat import structural_breaks
from contract_tests.counterexample import check, find_counterexample
from contract_tests.generate import validator
from pipeline import schema

ROOT = Path(__file__).resolve().parents[2]
BASE = registry.load("1.0")


def changed(edit):
    new = copy.deepcopy(BASE)
    edit(new)
    return new


def meta(schema):
    return schema["properties"]["metadata"]


def data_scalar(schema):
    return schema["$defs"]["dataValue"]["anyOf"][0]


BREAKING = {
    "removed-property": lambda s: (meta(s)["properties"].pop("version"),
                                   meta(s)["required"].remove("version")),
    "newly-required": lambda s: (meta(s)["properties"].update(region={"type": "string"}),
                                 meta(s)["required"].append("region")),
    "narrowed-type": lambda s: data_scalar(s).update(type=["string", "number", "null"]),
    "tightened-maxLength": lambda s: s["properties"]["event_id"].update(maxLength=64),
    "raised-minLength": lambda s: meta(s)["properties"]["source"].update(minLength=3),
    "changed-pattern": lambda s: s["properties"]["event_id"].update(pattern="^[a-z0-9-]+$"),
    "added-enum": lambda s: meta(s)["properties"]["version"].update(enum=["1.0", "1.1"]),
    "closed-additionalProperties": lambda s: s["properties"]["data"].update(
        additionalProperties=False),
    "changed-format": lambda s: s["properties"]["timestamp"].update(format="date"),
}

COMPATIBLE = {
    "identical": lambda s: None,
    "new optional property": lambda s: meta(s)["properties"].update(region={"type": "string"}),
    "wider maxLength": lambda s: s["properties"]["event_id"].update(maxLength=256),
    "no longer required": lambda s: meta(s)["required"].remove("version"),
    "pattern dropped": lambda s: s["properties"]["event_id"].pop("pattern"),
    "wider type": lambda s: data_scalar(s).update(type=["string", "number", "boolean", "null",
                                                        "array"]),
    "extra top-level fields allowed": lambda s: s.update(additionalProperties=True),
    "docs only": lambda s: s.update(title="Event v1.1", description="changed"),
}


@pytest.mark.parametrize("rule", sorted(BREAKING))
def test_breaking_changes_are_flagged_with_their_rule(rule):
    breaks = structural_breaks(BASE, changed(BREAKING[rule]))
    assert rule in {b.rule for b in breaks}, breaks


@pytest.mark.parametrize("name", sorted(COMPATIBLE))
def test_compatible_changes_pass(name):
    new = changed(COMPATIBLE[name])
    assert structural_breaks(BASE, new) == []
    assert find_counterexample(BASE, new, max_examples=60) is None


def test_reasons_name_the_message_path():
    breaks = structural_breaks(BASE, changed(BREAKING["newly-required"]))
    assert [str(b) for b in breaks] == [
        "$.metadata.region: newly-required: 'region' is now required"
    ]
    breaks = structural_breaks(BASE, changed(BREAKING["narrowed-type"]))
    assert [(b.path, b.rule) for b in breaks] == [("$.data.*", "narrowed-type")]


@pytest.mark.parametrize(
    "old, new, rule",
    [
        ({"type": "object"}, {"type": "object", "additionalProperties": False},
         "closed-additionalProperties"),
        ({"type": "integer", "minimum": 0}, {"type": "integer", "minimum": 1}, "raised-minimum"),
        ({"type": "number", "maximum": 10}, {"type": "number", "exclusiveMaximum": 10},
         "lowered-maximum"),
        ({"type": "number"}, {"type": "integer"}, "narrowed-type"),
        ({"enum": ["a", "b"]}, {"enum": ["a"]}, "narrowed-enum"),
        ({"type": "array", "items": {"type": "string"}},
         {"type": "array", "items": {"type": "string"}, "maxItems": 2}, "tightened-maxItems"),
        ({"type": "string"}, {"type": "string", "not": {"const": ""}}, "unsupported-keyword"),
        (True, {"type": "string"}, "constrained"),
    ],
)
def test_rules_on_small_schemas(old, new, rule):
    assert rule in {b.rule for b in structural_breaks(old, new)}


@pytest.mark.parametrize(
    "old, new",
    [
        ({"type": "integer"}, {"type": "number"}),
        ({"type": ["string", "null"]}, {"anyOf": [{"type": "null"}, {"type": "string"}]}),
        ({"enum": ["a"]}, {"enum": ["a", "b"]}),
        ({"type": "integer", "minimum": 1}, {"type": "integer", "exclusiveMinimum": 0}),
        ({"enum": ["a", "b"]}, {"type": "string"}),
    ],
)
def test_widening_on_small_schemas(old, new):
    assert structural_breaks(old, new) == []


def test_counterexample_is_valid_under_old_and_rejected_by_new():
    new = changed(BREAKING["changed-pattern"])
    found = find_counterexample(BASE, new)
    assert found is not None
    assert validator(BASE).is_valid(found.message)
    assert not Draft202012Validator(new).is_valid(found.message)
    assert found.path == "$.event_id" and "does not match" in found.reason


def test_hypothesis_finds_what_the_rules_cannot_model():
    """``propertyNames`` is outside the rules' subset: they can only say "unsupported", the
    search shows a real message that breaks."""
    new = changed(lambda s: s["properties"]["data"].update(propertyNames={"maxLength": 2}))
    report = check(BASE, new, examples=200)
    assert [b.rule for b in report.breaks] == ["unsupported-keyword"]
    key = next(iter(report.counterexample.message["data"]))
    assert len(key) > 2


def test_conservative_rule_without_counterexample():
    # Same language, different regex: flagged by the rules, but no message shows a break.
    new = changed(lambda s: s["properties"]["event_id"].update(pattern=r"[^\s]"))
    report = check(BASE, new, examples=100)
    assert [b.rule for b in report.breaks] == ["changed-pattern"]
    assert report.counterexample is None


def run_compat(*args):
    return subprocess.run([sys.executable, "-m", "contract_tests", "compat", *map(str, args)],
                          capture_output=True, cwd=ROOT, timeout=120)


@pytest.mark.slow
def test_compat_cli_breaking_with_counterexample(tmp_path):
    new = tmp_path / "event-1.1.json"
    new.write_text(json.dumps(changed(BREAKING["newly-required"])))
    proc = run_compat("--format", "json", registry.SCHEMA_DIR / "event-1.0.json", new)
    assert proc.returncode == 1
    body = json.loads(proc.stdout)
    assert body["breaking"] is True
    assert body["reasons"][0]["rule"] == "newly-required"
    assert body["counterexample"]["path"] == "$.metadata"
    assert "metadata" in body["counterexample"]["message"]


@pytest.mark.slow
def test_compat_cli_compatible_text(tmp_path):
    new = tmp_path / "event-1.1.json"
    new.write_text(json.dumps(changed(COMPATIBLE["new optional property"])))
    proc = run_compat("--examples", "50", "1.0", new)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.decode().startswith("compatible: published 1.0 -> ")


def test_published_versions_are_compatible_within_a_major():
    versions = registry.published_versions()
    assert schema.CONTRACT_VERSION in versions
    for old, new in zip(versions[:-1], versions[1:], strict=True):
        if old.split(".")[0] == new.split(".")[0]:
            report = check(registry.load(old), registry.load(new), examples=100)
            assert not report.breaking, (old, new, report)
