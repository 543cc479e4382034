"""Watch events land in BigQuery: when each tracked event_id first becomes a visible row."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

# A row becomes visible after its processing_time (the insert comes at the end of the write
# bundle, seconds later at most); re-reading this far back keeps a slow insert from being
# skipped by the cursor.
VISIBILITY_MARGIN = timedelta(seconds=10)


class LandingWatch:
    """Polls ``table`` for event_ids starting with ``prefix``; notes the first time each is seen.

    Each poll reads only rows processed since (latest processing_time seen - margin), so the
    cost of a poll stays flat as the table grows.
    """

    def __init__(self, bq, table: str, prefix: str, clock=time.monotonic):
        self.bq, self.table, self.prefix, self.clock = bq, table, prefix, clock
        self.first_seen: dict[str, float] = {}
        self._latest: datetime | None = None

    def poll(self) -> dict[str, float]:
        """Query once; return the event_ids seen for the first time, with when."""
        from harness import traffic

        since = ""
        if self._latest is not None:
            cursor = (self._latest - VISIBILITY_MARGIN).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            since = f" AND processing_time >= TIMESTAMP '{cursor}'"
        rows = traffic.query_rows(
            self.bq,
            f"SELECT event_id, processing_time FROM `{self.table}` "
            f"WHERE STARTS_WITH(event_id, @prefix){since}",
            prefix=self.prefix,
        )
        now, new = self.clock(), {}
        for row in rows:
            seen = row["processing_time"]
            if seen is not None:
                seen = seen if seen.tzinfo else seen.replace(tzinfo=UTC)
                self._latest = seen if self._latest is None else max(self._latest, seen)
            if row["event_id"] not in self.first_seen:
                self.first_seen[row["event_id"]] = now
                new[row["event_id"]] = now
        return new
