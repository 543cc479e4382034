"""Rules for topic and subscription configs: bounds, defaults, update masks, paging."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from emulators.pubsub import names
from emulators.pubsub.durations import duration, seconds
from emulators.pubsub.errors import ApiError, invalid, not_found
from emulators.pubsub.subscriptions import (
    DEFAULT_ACK_DEADLINE,
    DEFAULT_MAX_BACKOFF_S,
    DEFAULT_MIN_BACKOFF_S,
    DEFAULT_RETENTION_S,
    MAX_ACK_DEADLINE,
)

MIN_RETENTION_S = 600
MAX_RETENTION_S = 31 * 24 * 3600
# a subscription without an expiration policy gets this one; an empty policy never expires
DEFAULT_EXPIRATION_TTL_S = 31 * 24 * 3600
MIN_EXPIRATION_TTL_S = 24 * 3600
TOPIC_UPDATABLE = {
    "labels",
    "message_storage_policy",
    "kms_key_name",
    "schema_settings",
    "message_retention_duration",
    "ingestion_data_source_settings",
    "message_transforms",
}
SUBSCRIPTION_UPDATABLE = {
    "push_config",
    "bigquery_config",
    "cloud_storage_config",
    "ack_deadline_seconds",
    "retain_acked_messages",
    "message_retention_duration",
    "labels",
    "expiration_policy",
    "dead_letter_policy",
    "retry_policy",
    "enable_exactly_once_delivery",
    "message_transforms",
}
# policies an explicitly empty value in an update removes, as if unset (an empty
# expiration_policy is kept: it means "never expires")
CLEARED_WHEN_EMPTY = {"dead_letter_policy", "message_storage_policy"}


def page(names_: list[str], page_size: int, page_token: str) -> tuple[list[str], str]:
    items = sorted(names_)
    if page_token:
        items = [n for n in items if n > page_token]
    if page_size and len(items) > page_size:
        return items[:page_size], items[page_size - 1]
    return items, ""


def apply_mask(config: dict, update: dict, paths: list[str], allowed: set[str], kind: str) -> dict:
    if not paths:
        raise invalid(
            f"The update_mask in the Update{kind}Request must be set, and must contain a "
            "non-empty paths list."
        )
    result = copy.deepcopy(config)
    for path in paths:
        if path.split(".", 1)[0] not in allowed:
            raise invalid(
                f"Invalid update_mask provided in the Update{kind}Request: {path} is not a "
                f"known {kind} field. Note that field paths must be of the form 'push_config' "
                "rather than 'pushConfig'."
            )
        parts = path.split(".")
        src: Any = update
        for part in parts:
            src = src.get(part) if isinstance(src, dict) else None
        dst = result
        for part in parts[:-1]:
            dst = dst.setdefault(part, {})
        # an empty retry_policy means its defaults (check_subscription fills them in)
        if src is None or src == {} and parts[-1] in CLEARED_WHEN_EMPTY:
            dst.pop(parts[-1], None)
        else:
            dst[parts[-1]] = copy.deepcopy(src)
    return result


def check_topic(config: dict[str, Any]) -> None:
    """Retention bounds of a topic config (its schema is the broker's business); a
    subscription's retention has the same bounds."""
    retention = config.get("message_retention_duration")
    if retention and not MIN_RETENTION_S <= seconds(retention) <= MAX_RETENTION_S:
        raise invalid("Invalid message_retention_duration: must be between 10 minutes and 31 days.")


def check_subscription(config: dict[str, Any], topic_exists: Callable[[str], bool]) -> None:
    """Validate a subscription config and fill in the defaults the service fills in."""
    deadline = int(config.get("ack_deadline_seconds") or 0)
    if deadline == 0:
        config["ack_deadline_seconds"] = DEFAULT_ACK_DEADLINE
    elif not DEFAULT_ACK_DEADLINE <= deadline <= MAX_ACK_DEADLINE:
        raise invalid(
            f"Invalid ack_deadline_seconds: {deadline}. It must be between "
            f"{DEFAULT_ACK_DEADLINE} and {MAX_ACK_DEADLINE} seconds."
        )
    retention = config.get("message_retention_duration")
    if not retention:
        config["message_retention_duration"] = duration(DEFAULT_RETENTION_S)
    else:
        check_topic(config)
    expiration = config.get("expiration_policy")
    if expiration is None:
        config["expiration_policy"] = {"ttl": duration(DEFAULT_EXPIRATION_TTL_S)}
    elif expiration.get("ttl") and seconds(expiration["ttl"]) < MIN_EXPIRATION_TTL_S:
        raise invalid("Invalid expiration_policy: ttl must be at least 1 day.")
    dlp = config.get("dead_letter_policy")
    if dlp:
        names.topic(dlp.get("dead_letter_topic", ""))
        if not topic_exists(dlp["dead_letter_topic"]):
            raise not_found(dlp["dead_letter_topic"])
        attempts = int(dlp.get("max_delivery_attempts") or 5)
        if not 5 <= attempts <= 100:
            small = attempts < 5
            raise ApiError(
                "OUT_OF_RANGE",
                f"The value for max_delivery_attempts is too {'small' if small else 'large'}. "
                f"You passed {attempts} in the request, but the "
                f"{'minimum value is 5' if small else 'maximum value is 100'}.",
            )
        dlp["max_delivery_attempts"] = attempts
    rp = config.get("retry_policy")
    if rp is not None:
        # the documented defaults; the service echoes them for an empty policy
        rp.setdefault("minimum_backoff", duration(DEFAULT_MIN_BACKOFF_S))
        rp.setdefault("maximum_backoff", duration(DEFAULT_MAX_BACKOFF_S))
        low = seconds(rp["minimum_backoff"])
        high = seconds(rp["maximum_backoff"])
        if not (0 <= low <= 600 and 0 <= high <= 600 and low <= high):
            raise invalid(
                "Invalid retry_policy: backoffs must be between 0 and 600 seconds and "
                "minimum_backoff must not exceed maximum_backoff."
            )
    endpoint = (config.get("push_config") or {}).get("push_endpoint", "")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise invalid(f"Invalid push_endpoint given: {endpoint}. It must be an http(s) URL.")
