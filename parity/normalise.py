"""Take out of recorded steps what always differs between targets and runs.

* the run token in resource names (``topic_r1a2b3c4d_3`` -> ``topic_<run>_3``) and the project
  id (-> ``<project>``), since each run and each target has its own;
* server-assigned values, by key: message and ack ids, publish and creation times, etags,
  revision ids, job ids, self links (they hold the server's address) ... (not ``id``:
  that is a common column name, and BigQuery's resource ids hold only names): replaced with
  ``<key>`` when present, so *that* a value is there is still compared;
* RFC 3339 timestamps and epoch-millisecond strings anywhere else -> ``<time>``.
"""

from __future__ import annotations

import re
from typing import Any

MASKED_KEYS = frozenset(
    {
        "message_id", "messageId", "ack_id", "ackId", "publish_time", "publishTime",
        "etag", "creationTime", "lastModifiedTime", "revision_id", "revision_create_time",
        "jobId", "selfLink", "creation_time", "last_modified_time", "startTime", "endTime",
        "numBytes", "numLongTermBytes", "numTotalLogicalBytes", "numActiveLogicalBytes",
        "numLongTermLogicalBytes", "expire_time", "expiration_time",
    }
)  # fmt: skip
DROPPED_KEYS = frozenset({"statistics", "kind", "user_email", "user_email_address"})

_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)?\b"
)


def normalise(value: Any, token: str | None = None, project: str | None = None) -> Any:
    """A copy of ``value`` (plain JSON data) with the volatile parts replaced."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in DROPPED_KEYS:
                continue
            if key in MASKED_KEYS and item not in (None, "", [], {}):
                out[key] = f"<{key}>"
            else:
                out[key] = normalise(item, token, project)
        return out
    if isinstance(value, list):
        return [normalise(v, token, project) for v in value]
    if isinstance(value, str):
        return normalise_text(value, token, project)
    return value


def normalise_text(text: str, token: str | None = None, project: str | None = None) -> str:
    if token:
        text = text.replace(token, "<run>")
    if project:
        text = re.sub(rf"(?<![\w-]){re.escape(project)}(?![\w-])", "<project>", text)
    return _TIMESTAMP.sub("<time>", text)


def normalise_steps(steps: list[dict], token: str | None, project: str | None) -> list[dict]:
    """Normalise recorded steps (``{"label", "value", "note"?}``); notes get names fixed only."""
    out = []
    for step in steps:
        item = {"label": step["label"], "value": normalise(step.get("value"), token, project)}
        if step.get("note"):
            item["note"] = normalise_text(step["note"], token, project)
        out.append(item)
    return out
