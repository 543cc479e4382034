"""Per-event publish -> row latency: when each probe became a visible row of the events table.

A row becomes visible at one moment; what a watcher can know is a window around it:

* **lower bound**: the later of the row's own ``processing_time`` (stamped by the pipeline
  before the insert, same machine clock) and the last check that proved the row was not visible
  yet;
* **upper bound**: the return of the first query that shows the row.

Checks run back to back while probes are outstanding. On the local emulator the table itself
is the change feed: it is append-only and lists rows in the order they were inserted, so each
check reads only the rows added since the last one (``tabledata.list`` from the row count seen
so far): one cheap call, and every probe not among them is known to be invisible as of that
call. Against BigQuery itself (no such order), each check queries the outstanding probes.
Each :class:`Landed` carries its window: the latency reported is its middle, the resolution its
half-width (so the true value is within ``latency ± resolution``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC

CHECK_PAUSE = 0.002  # between two checks: a breath for the emulator, below the resolution


@dataclass(frozen=True)
class Landed:
    """One probe: published at ``published``, visible somewhere in ``(lower, upper]``; wall-clock
    seconds. ``processing`` is the row's own processing_time."""

    event_id: str
    published: float
    processing: float | None
    lower: float
    upper: float

    @property
    def latency_s(self) -> float:
        return (self.lower + self.upper) / 2 - self.published

    @property
    def resolution_s(self) -> float:
        return (self.upper - self.lower) / 2

    def as_row(self) -> dict:
        return {**asdict(self), "latency_ms": round(self.latency_s * 1000, 3),
                "resolution_ms": round(self.resolution_s * 1000, 3)}


class VisibilityWatch:
    """Outstanding probes and the checks that find them: call :meth:`check` in a tight loop.

    ``feed``: read the rows added since the last check (the local emulator: append-only, in
    insertion order); otherwise query the outstanding event_ids (BigQuery itself).
    """

    def __init__(self, bq, table: str, feed: bool = True, clock=time.time):
        self.bq, self.table, self.feed, self.clock = bq, table, feed, clock
        self.outstanding: dict[str, tuple[float, float]] = {}  # event_id -> (published, lower)
        self.landed: list[Landed] = []
        self.checks = 0
        self._seen = 0  # rows of the table read so far (feed)
        self._fields = None

    def expect(self, event_id: str, published: float) -> None:
        """A probe was handed to ``publish()`` at ``published`` (``clock`` seconds)."""
        self.outstanding[event_id] = (published, published)

    def forget(self, event_id: str) -> tuple[float, float] | None:
        return self.outstanding.pop(event_id, None)

    def check(self) -> list[Landed]:
        """One check; the probes found visible by it."""
        if not self.outstanding:
            return []
        self.checks += 1
        sent = self.clock()
        found = self._new_rows() if self.feed else self._query(list(self.outstanding))
        done = self.clock()
        out = []
        for event_id, processing in found.items():
            if event_id not in self.outstanding:
                continue
            published, lower = self.outstanding.pop(event_id)
            lower = max(lower, processing) if processing is not None else lower
            out.append(Landed(event_id, published, processing, min(lower, done), done))
        # Not among the rows read by a call sent at `sent`: invisible at least until then.
        for event_id, (published, lower) in self.outstanding.items():
            self.outstanding[event_id] = (published, max(lower, sent))
        self.landed += out
        return out

    def _new_rows(self) -> dict[str, float | None]:
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        if self._fields is None:
            self._fields = [bigquery.SchemaField("event_id", "STRING"),
                            bigquery.SchemaField("processing_time", "TIMESTAMP")]
        try:
            rows = list(self.bq.list_rows(self.table, selected_fields=self._fields,
                                          start_index=self._seen))
        except NotFound:  # the pipeline creates the table on its first write
            return {}
        self._seen += len(rows)
        return _stamps(rows)

    def _query(self, event_ids: list[str]) -> dict[str, float | None]:
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ArrayQueryParameter("ids", "STRING", event_ids)]
        )
        try:
            rows = self.bq.query_and_wait(
                f"SELECT event_id, processing_time FROM `{self.table}` "
                "WHERE event_id IN UNNEST(@ids)", job_config=config)
        except NotFound:
            return {}
        return _stamps(rows)


def _stamps(rows) -> dict[str, float | None]:
    """``event_id -> processing_time`` (epoch seconds) of rows."""
    found = {}
    for row in rows:
        stamp = row["processing_time"]
        if stamp is not None and stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        found.setdefault(row["event_id"], stamp.timestamp() if stamp else None)
    return found


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (inclusive method); NaN for no values."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarise(landed: list[Landed]) -> dict:
    """p50/p95/p99 of the latencies (ms) and the resolution they were measured with."""
    latencies = sorted(x.latency_s * 1000 for x in landed)
    resolutions = sorted(x.resolution_s * 1000 for x in landed)
    if not latencies:
        return {"probes": 0}
    return {
        "probes": len(latencies),
        **{f"p{q}_ms": round(percentile(latencies, q), 1) for q in (50, 95, 99)},
        "max_ms": round(latencies[-1], 1),
        "resolution_median_ms": round(percentile(resolutions, 50), 1),
        "resolution_max_ms": round(resolutions[-1], 1),
    }


def describe(summary: dict) -> str:
    """``p50 123.4 ms, p95 ..., p99 ... (N probes; each within ±x ms, worst ±y ms)``."""
    if not summary.get("probes"):
        return "no probe landed"
    return (f"p50 {summary['p50_ms']:.1f} ms, p95 {summary['p95_ms']:.1f} ms, p99 "
            f"{summary['p99_ms']:.1f} ms ({summary['probes']} probes; each measured within "
            f"±{summary['resolution_median_ms']:.1f} ms, worst ±"
            f"{summary['resolution_max_ms']:.1f} ms)")
