"""The rules as Cloud Monitoring ``AlertPolicy`` and ``NotificationChannel`` JSON, built with
google-cloud-monitoring's own types (so what is written is what the API accepts):

    python -m ops export --project P --out alert-policies/ --var subscription=events-pipeline ...
    gcloud alpha monitoring channels create --channel-content-from-file=alert-policies/channel-oncall.json
    gcloud alpha monitoring policies create --policy-from-file=alert-policies/pipeline-down.json

Channels are created first; pass their resource names back (``--channel oncall=projects/P/
notificationChannels/123``) and the policies refer to them. Rules with ``export = false`` are
left out and listed with their reason.
"""

from __future__ import annotations

import json
from pathlib import Path

from ops.catalog import METRICS
from ops.rules import Channel, Condition, Rule, Rules, Series

ALIGNERS = {"rate": "ALIGN_RATE", "delta": "ALIGN_DELTA", "mean": "ALIGN_MEAN",
            "max": "ALIGN_MAX", "min": "ALIGN_MIN", "latest": "ALIGN_NEXT_OLDER"}  # fmt: skip
REDUCERS = {"sum": "REDUCE_SUM", "max": "REDUCE_MAX", "min": "REDUCE_MIN", "mean": "REDUCE_MEAN",
            "none": "REDUCE_NONE"}  # fmt: skip
COMPARISONS = {">": "COMPARISON_GT", ">=": "COMPARISON_GE", "<": "COMPARISON_LT",
               "<=": "COMPARISON_LE"}  # fmt: skip
SEVERITIES = {"critical": "CRITICAL", "error": "ERROR", "warning": "WARNING"}


def _quote(value) -> str:
    return json.dumps(str(value))


def metric_filter(series: Series, project: str | None = None) -> str:
    """Cloud Monitoring's filter for a series selector: metric and resource type, then each
    label on the resource or the metric, as the catalogue places it."""
    info = METRICS[series.metric]
    parts = [f"metric.type = {_quote(series.metric)}", f"resource.type = {_quote(info.resource)}"]
    labels = dict(series.filter)
    if project and "project_id" in info.resource_labels:
        labels.setdefault("project_id", project)
    for label, value in labels.items():
        where = "resource" if label in info.resource_labels else "metric"
        if isinstance(value, list):
            rhs = f"one_of({', '.join(_quote(v) for v in value)})"
        else:
            rhs = _quote(value)
        parts.append(f"{where}.labels.{label} = {rhs}")
    return " AND ".join(parts)


def _aggregation(series: Series, window: float) -> dict:
    aggregation = {
        "alignment_period": f"{int(window)}s",
        "per_series_aligner": ALIGNERS[series.aligner],
        "cross_series_reducer": REDUCERS[series.reducer],
    }
    if series.reducer == "none":
        del aggregation["cross_series_reducer"]
    return aggregation


def _condition(rule: Rule, local: Condition, project: str) -> dict:
    condition = local.gcp or local
    name = condition.display_name or local.display_name or rule.display_name
    if condition.absent:
        return {"display_name": name, "condition_absent": {
            "filter": metric_filter(condition.series, project),
            "aggregations": [_aggregation(condition.series, condition.window)],
            "duration": f"{int(rule.duration)}s",
        }}  # fmt: skip
    threshold = {
        "filter": metric_filter(condition.series, project),
        "aggregations": [_aggregation(condition.series, condition.window)],
        "comparison": COMPARISONS[condition.comparison],
        "threshold_value": condition.threshold,
        "duration": f"{int(rule.duration)}s",
        "trigger": {"count": 1},
    }
    if condition.denominator is not None:
        threshold["denominator_filter"] = metric_filter(condition.denominator, project)
        threshold["denominator_aggregations"] = [
            _aggregation(condition.denominator, condition.window)
        ]
    return {"display_name": name, "condition_threshold": threshold}


def policy(rule: Rule, project: str, channels: dict[str, str] | None = None):
    """The ``monitoring_v3.AlertPolicy`` of one exportable rule."""
    from google.cloud import monitoring_v3

    channels = channels or {}
    return monitoring_v3.AlertPolicy(
        display_name=rule.display_name,
        documentation={"content": rule.documentation or rule.display_name,
                       "mime_type": "text/markdown"},
        user_labels={"managed_by": "streambench", "rule": rule.name},
        conditions=[_condition(rule, c, project) for c in rule.conditions],
        combiner="AND" if rule.combiner == "and" else "OR",
        severity=SEVERITIES[rule.severity],
        notification_channels=[channels[c] for c in rule.channels if c in channels],
        alert_strategy={"auto_close": "1800s"},
    )


def channel(spec: Channel):
    """The ``monitoring_v3.NotificationChannel`` of a webhook or email channel (None for console)."""
    from google.cloud import monitoring_v3

    if spec.type == "webhook":
        if not spec.url:
            raise ValueError(f"channel {spec.name!r} has no URL: give the alert_webhook variable.")
        return monitoring_v3.NotificationChannel(
            type_="webhook_tokenauth", display_name=spec.name, labels={"url": spec.url})
    if spec.type == "email":
        return monitoring_v3.NotificationChannel(
            type_="email", display_name=spec.name, labels={"email_address": spec.email})
    return None


def to_json(message) -> str:
    """API JSON as gcloud reads it: enum names, no empty default fields."""
    return type(message).to_json(
        message, use_integers_for_enums=False, always_print_fields_with_no_presence=False
    )


def export(rules: Rules, project: str, out: str | Path,
           channels: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Write ``<rule>.json`` per policy and ``channel-<name>.json`` per channel into ``out``;
    returns what was written and what was left out (with why)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for spec in rules.channels.values():
        made = channel(spec)
        if made is not None:
            path = out / f"channel-{spec.name}.json"
            path.write_text(to_json(made) + "\n")
            written.append(str(path))
    for rule in rules.rules:
        if not rule.export:
            skipped.append(f"{rule.name}: {rule.export_note}")
            continue
        path = out / f"{rule.name}.json"
        path.write_text(to_json(policy(rule, project, channels)) + "\n")
        written.append(str(path))
    return {"written": written, "skipped": skipped}
