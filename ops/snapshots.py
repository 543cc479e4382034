"""Scheduled Pub/Sub snapshots: the ``snapshot_every`` setting and the rule it must keep.

A snapshot keeps the subscription's unacked messages and what is published after it, and
expires seven days after the oldest message it holds was published (Pub/Sub's documented
lifetime: "7 days minus the age of the oldest unacked message"). So snapshots taken every
``every`` seconds leave a restore point at all times only if ``every`` plus the backlog's age stays
under seven days; :func:`check` refuses a schedule that cannot, :func:`lifetime` says how long a
snapshot taken now lives, :func:`name` names them so they sort by time, and :func:`to_delete`
picks the ones beyond ``keep``. The harness runs the schedule (``harness/snapshots.py``); a deploy
environment gives the same setting to its scheduler.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ops.rules import RulesError, seconds

SNAPSHOT_LIFETIME_S = 7 * 24 * 3600
MIN_EVERY_S = 60.0


def parse_every(text: str) -> float:
    """``snapshot_every`` ("10m", "6h", ...) in seconds, at least a minute."""
    every = seconds(text, "snapshot_every")
    if every < MIN_EVERY_S:
        raise RulesError(f"snapshot_every: {text!r} is under a minute.")
    return every


def lifetime(backlog_age_s: float) -> float:
    """Seconds a snapshot taken now lives, with the oldest unacked message this old."""
    return max(0.0, SNAPSHOT_LIFETIME_S - backlog_age_s)


def check(every_s: float, backlog_age_s: float) -> None:
    """Refuse a schedule whose snapshots expire before the next one is taken."""
    if every_s >= lifetime(backlog_age_s):
        raise RulesError(
            f"snapshot_every ({every_s:.0f}s) must stay under 7 days minus the backlog's age "
            f"({backlog_age_s:.0f}s): each snapshot would expire before the next is taken."
        )


def name(subscription_id: str, at: datetime | None = None) -> str:
    """``<subscription>-snap-YYYYmmddTHHMMSSZ`` (names sort by time; at most 255 characters)."""
    at = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{subscription_id[:220]}-snap-{at.strftime('%Y%m%dT%H%M%SZ')}"


def to_delete(names: list[str], subscription_id: str, keep: int) -> list[str]:
    """Scheduled snapshots of this subscription beyond the newest ``keep``."""
    prefix = f"{subscription_id[:220]}-snap-"
    ours = sorted(n for n in names if n.rsplit("/", 1)[-1].startswith(prefix))
    return ours[: max(0, len(ours) - keep)]
