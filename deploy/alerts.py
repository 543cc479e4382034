"""Alert rules of the spec -> Cloud Monitoring ``AlertPolicy`` (its JSON, snake_case).

The spec's ``[[alerts]]`` is a list the operations work (issue 19) fills in; it is validated
loosely: each rule needs a unique ``name``; a rule that names a ``metric`` becomes a threshold
policy here, and needs ``comparison`` and ``threshold``; anything else in a rule is left for that
work. The same dict feeds ``apply`` (parsed into google-cloud-monitoring's ``AlertPolicy``) and
Terraform's ``google_monitoring_alert_policy`` (whose block names are the proto's).
"""

from __future__ import annotations

import re

COMPARISONS = {">": "COMPARISON_GT", ">=": "COMPARISON_GE", "<": "COMPARISON_LT",
               "<=": "COMPARISON_LE", "==": "COMPARISON_EQ", "!=": "COMPARISON_NE"}
SEVERITIES = ("CRITICAL", "ERROR", "WARNING")
_DURATION = re.compile(r"^[0-9]+s$")


def problems(rule: dict) -> list[tuple[str, str]]:
    """``(key, why)`` for each thing wrong with a rule this module would turn into a policy."""
    if "metric" not in rule:
        return []
    out = []
    if not isinstance(rule["metric"], str) or "/" not in rule["metric"]:
        out.append(("metric", "must be a Cloud Monitoring metric type like "
                              "pubsub.googleapis.com/subscription/oldest_unacked_message_age"))
    if rule.get("comparison") not in COMPARISONS:
        out.append(("comparison", f"must be one of {' '.join(COMPARISONS)}"))
    if not isinstance(rule.get("threshold"), int | float) or isinstance(rule.get("threshold"),
                                                                         bool):
        out.append(("threshold", "must be a number"))
    if not _DURATION.match(str(rule.get("duration", "0s"))):
        out.append(("duration", "must be seconds like \"300s\""))
    if rule.get("severity", "WARNING") not in SEVERITIES:
        out.append(("severity", f"must be one of {', '.join(SEVERITIES)}"))
    channels = rule.get("channels", [])
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        out.append(("channels", "must be a list of notification channel names"))
    return out


def alert_policy(spec, rule: dict) -> dict | None:
    """The ``AlertPolicy`` of one rule, or None for a rule without a ``metric``."""
    if "metric" not in rule:
        return None
    filters = [f'metric.type = "{rule["metric"]}"']
    resource_type = rule.get("resource_type")
    if resource_type:
        filters.append(f'resource.type = "{resource_type}"')
    if rule.get("subscription"):
        filters.append(f'resource.label.subscription_id = "{rule["subscription"]}"')
    if resource_type == "dataflow_job" and spec.pipeline and spec.pipeline.dataflow.get("job_name"):
        filters.append(f'resource.label.job_name = "{spec.pipeline.dataflow["job_name"]}"')
    name = f"streambench {spec.name}: {rule['name']}"
    return {
        "display_name": name,
        "combiner": "OR",
        "severity": rule.get("severity", "WARNING"),
        "user_labels": spec.managed_labels(),
        "documentation": {
            "content": rule.get("documentation",
                                f"{rule['name']}: {rule['metric']} {rule['comparison']} "
                                f"{rule['threshold']} for {rule.get('duration', '0s')}."),
            "mime_type": "text/markdown",
        },
        "conditions": [{
            "display_name": rule["name"],
            "condition_threshold": {
                "filter": " AND ".join(filters),
                "comparison": COMPARISONS[rule["comparison"]],
                "threshold_value": rule["threshold"],
                "duration": rule.get("duration", "0s"),
                "aggregations": [{"alignment_period": "60s", "per_series_aligner": "ALIGN_MAX"}],
            },
        }],
        "notification_channels": list(rule.get("channels", [])),
    }
