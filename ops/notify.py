"""Notifications of local incidents: printed, and POSTed to webhook channels in the shape Cloud
Monitoring's webhook channels send (``{"version": "1.2", "incident": {...}}``), so a receiver
written for production can be tried against the bench."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable

from ops.evaluate import Incident
from ops.rules import Rules

log = logging.getLogger("ops.notify")


def payload(incident: Incident, project: str = "local-project") -> dict:
    """Cloud Monitoring's webhook body for an incident (the fields a receiver relies on)."""
    rule = incident.rule
    ended = incident.ended_wall
    return {
        "version": "1.2",
        "incident": {
            "incident_id": f"{rule.name}-{int(incident.started_wall.timestamp())}",
            "scoping_project_id": project,
            "state": incident.state,
            "started_at": int(incident.started_wall.timestamp()),
            "ended_at": int(ended.timestamp()) if ended else None,
            "policy_name": rule.display_name,
            "policy_user_labels": {"rule": rule.name},
            "condition_name": rule.conditions[0].display_name or rule.display_name,
            "severity": rule.severity.upper(),
            "observed_value": None if incident.value is None else str(incident.value),
            "summary": incident.summary(),
            "documentation": {"content": rule.documentation, "mime_type": "text/markdown"},
        },
    }


class Notifier:
    """Sends each incident change to its rule's channels; ``say`` prints (console channels)."""

    def __init__(self, rules: Rules, project: str = "local-project",
                 say: Callable[[str], None] = print, timeout: float = 5.0):
        self.rules = rules
        self.project = project
        self.say = say
        self.timeout = timeout
        self.delivered: list[tuple[str, dict]] = []  # (url, payload) posted successfully
        self.failed: list[tuple[str, str]] = []  # (url, why)

    def __call__(self, incident: Incident) -> None:
        body = payload(incident, self.project)
        printed = False
        for name in incident.rule.channels:
            channel = self.rules.channels[name]
            if channel.type == "webhook" and channel.url:
                self._post(channel.url, body)
            elif channel.type == "console" and not printed:
                self.say(incident.summary())
                printed = True

    def _post(self, url: str, body: dict) -> None:
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
            self.delivered.append((url, body))
        except OSError as exc:  # a receiver that is down must not stop the evaluation
            self.failed.append((url, str(exc)))
            log.warning("alert webhook %s failed: %s", url, exc)
