"""ops/alerts.toml: the schema refuses what is wrong with one sentence, and every exported
policy parses as google-cloud-monitoring's AlertPolicy with documented metric types."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from google.cloud import monitoring_v3

from ops import rules as rules_module
from ops.catalog import METRICS
from ops.export import export
from ops.rules import DEFAULT_RULES, RulesError, parse

VARIABLES = {
    "project": "prod-project", "subscription": "events-pipeline", "dataset": "analytics",
    "events_table": "events", "dead_letter_table": "events_dlq", "job_name": "events-pipeline",
    "alert_webhook": "https://hooks.example.com/alerts",
}  # fmt: skip


def raw_rules() -> dict:
    return tomllib.loads(DEFAULT_RULES.read_text())


def test_the_shipped_rules_cover_the_seeds_list():
    rules = rules_module.load(DEFAULT_RULES, VARIABLES)
    names = {r.name for r in rules.rules}
    # pipeline failures, high latency, error thresholds, resource exhaustion
    assert {"pipeline-down", "pipeline-heartbeat", "high-latency", "dead-letter-rate",
            "bigquery-errors", "backlog-age", "memory", "data-dir-disk"} <= names
    assert rules_module.variables_of(DEFAULT_RULES) == set(VARIABLES)


def test_export_parses_as_alert_policies_with_documented_metric_types(tmp_path):
    rules = rules_module.load(DEFAULT_RULES, VARIABLES)
    result = export(rules, "prod-project", tmp_path,
                    {"oncall": "projects/prod-project/notificationChannels/42"})
    assert any("data-dir-disk" in note for note in result["skipped"])
    exported = [r for r in rules.rules if r.export]
    assert len([p for p in result["written"] if "channel-" not in p]) == len(exported)
    for rule in exported:
        text = (tmp_path / f"{rule.name}.json").read_text()
        policy = monitoring_v3.AlertPolicy.from_json(text)  # the client's own type
        assert policy.display_name == rule.display_name
        assert policy.severity.name == rule.severity.upper()
        assert policy.notification_channels == ["projects/prod-project/notificationChannels/42"]
        for condition in policy.conditions:
            spec = condition.condition_threshold or condition.condition_absent
            filters = [spec.filter] + ([condition.condition_threshold.denominator_filter]
                                       if condition.condition_threshold.denominator_filter else [])
            for text_filter in filters:
                metric_type = re.search(r'metric\.type = "([^"]+)"', text_filter).group(1)
                info = METRICS[metric_type]
                assert info.exportable and metric_type.split("/")[0].endswith("googleapis.com")
                assert f'resource.type = "{info.resource}"' in text_filter
            assert spec.duration.total_seconds() % 60 == 0
            for aggregation in spec.aggregations:
                assert aggregation.alignment_period.total_seconds() >= 60
    channel = monitoring_v3.NotificationChannel.from_json(
        (tmp_path / "channel-oncall.json").read_text())
    assert channel.type_ == "webhook_tokenauth"
    assert channel.labels["url"] == VARIABLES["alert_webhook"]
    # enum names, as gcloud reads them
    assert json.loads((tmp_path / "pipeline-down.json").read_text())["combiner"] == "AND"


def test_labels_go_to_the_resource_or_the_metric():
    rules = rules_module.load(DEFAULT_RULES, VARIABLES)
    from ops.export import policy

    made = policy(rules.rule("dead-letter-rate"), "prod-project")
    threshold = made.conditions[0].condition_threshold
    assert 'resource.labels.dataset_id = "analytics"' in threshold.filter
    assert 'metric.labels.table = "events_dlq"' in threshold.filter
    assert 'metric.labels.table = one_of("events", "events_dlq")' in threshold.denominator_filter


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["rules"][0].update(severity="page"), "is not one of critical"),
        (lambda r: r["rules"][0].update(colour="red"), "unknown key 'colour'"),
        (lambda r: r["rules"][0]["conditions"][0].update(metric="pubsub.googleapis.com/nope"),
         "is not a known metric"),
        (lambda r: r["rules"][0]["conditions"][0].update(filter={"zone": "x"}), "has no label"),
        (lambda r: r["rules"][0]["conditions"][1].update(aligner="rate"), "is a GAUGE"),
        (lambda r: r["rules"][0].update(duration="90s"), "whole minutes"),
        (lambda r: r["rules"][0].update(duration="soon"), "is not a duration"),
        (lambda r: r["rules"][0]["conditions"][0].update(window="30s"), "at least 60s"),
        (lambda r: r["rules"][0].update(channels=["pager"]), "no channel named 'pager'"),
        (lambda r: r["rules"].append(dict(r["rules"][0])), "two rules are named"),
        (lambda r: r["rules"][-1].pop("export_note"), "needs an export_note"),
        (lambda r: r.update(version=2), "version 2 is not supported"),
        (lambda r: r["rules"][0]["conditions"][0].update(filter={"subscription_id": "${nope}"}),
         "unknown variable ${nope}"),
        (lambda r: r["channels"]["oncall"].update(url="ftp://x"), "http(s) URL"),
        (lambda r: r["rules"][0].update(name="Pipeline Down"), "must match"),
        (lambda r: r["rules"][0]["conditions"][0].update(threshold="zero"), "expected a number"),
    ],
)
def test_mistakes_get_one_sentence(change, message):
    raw = raw_rules()
    change(raw)
    with pytest.raises(RulesError, match=re.escape(message)):
        parse(raw, VARIABLES, "alerts.toml")


def test_ops_cli_checks_and_exports(tmp_path, capsys):
    from ops.__main__ import main

    assert main(["check"]) == 0
    assert "all valid" in capsys.readouterr().out
    assert main(["export", "--project", "p", "--out", str(tmp_path)]) == 2
    assert "give --var for" in capsys.readouterr().err
    args = [f"--var={k}={v}" for k, v in VARIABLES.items() if k != "project"]
    assert main(["export", "--project", "p", "--out", str(tmp_path), *args]) == 0
    assert (tmp_path / "pipeline-down.json").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[[rules]]\nname = 'x'\n")
    assert main(["check", "--rules", str(bad)]) == 2
    assert "missing 'conditions'" in capsys.readouterr().err
