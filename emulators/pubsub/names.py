"""Resource names and their validation rules (the service's rules and messages)."""

from __future__ import annotations

import re

from emulators.pubsub.errors import invalid

# 3-255 chars, starts with a letter, letters/digits/-_.~+%
_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")
_PROJECT = re.compile(r"projects/([^/]+)")
_RESOURCE = re.compile(r"projects/([^/]+)/(topics|subscriptions|snapshots)/([^/]+)")

DELETED_TOPIC = "_deleted-topic_"


def _check(name: str, kind: str) -> str:
    m = _RESOURCE.fullmatch(name or "")
    if not m or m.group(2) != kind or not valid_id(m.group(3)):
        raise invalid(f"Invalid [{kind}] name: (name={name})")
    return name


def valid_id(resource_id: str) -> bool:
    return bool(_ID.fullmatch(resource_id)) and not resource_id.startswith("goog")


def topic(name: str) -> str:
    """Validate ``projects/{project}/topics/{topic}``; return it unchanged."""
    return _check(name, "topics")


def subscription(name: str) -> str:
    return _check(name, "subscriptions")


def snapshot(name: str) -> str:
    return _check(name, "snapshots")


def project(name: str) -> str:
    """Validate ``projects/{project}``; return the project id."""
    m = _PROJECT.fullmatch(name or "")
    if not m:
        raise invalid(f"Invalid [projects] name: (name={name})")
    return m.group(1)


def project_of(name: str) -> str:
    return name.split("/", 2)[1]
