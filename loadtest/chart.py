"""A PNG of a Locust run: throughput and latency over time, from ``<prefix>_stats_history.csv``
(written with ``--csv-full-history``) and, for the end-to-end probes, every probe's own
publish -> row latency (``loadtest.landing.Landed``) rather than Locust's rolling percentiles."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

PERCENTILES = ("50%", "95%", "99%")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None  # Locust writes "N/A" before the first response


def read_history(path: str | Path) -> dict[str, list[dict]]:
    """Rows of the history CSV by request name (``Aggregated`` included), in time order."""
    series: dict[str, list[dict]] = defaultdict(list)
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            name = row.get("Name") or "Aggregated"
            label = name if not row.get("Type") else f"{row['Type']} {name}"
            series[label].append(row)
    return dict(series)


def _buckets(landed, start: float, width: float = 5.0) -> list[tuple[float, float, float]]:
    """``(middle of bucket, p50, p99)`` of the probes published in each ``width``-s bucket."""
    from loadtest.landing import percentile

    groups: dict[int, list[float]] = defaultdict(list)
    for item in landed:
        groups[int((item.published - start) // width)].append(item.latency_s * 1000)
    return [((k + 0.5) * width, percentile(v, 50), percentile(v, 99))
            for k, v in sorted(groups.items())]


def build_chart(history_csv: str | Path, out_png: str | Path, title: str = "load test",
                landed=None) -> Path:
    """Draw throughput (requests/s per request type, users) and p50/p95/p99 per request type;
    with ``landed`` (per-event probes), the ``e2e`` latency is drawn from those instead: one
    point per probe with its measurement window, and p50/p99 per 5-second bucket."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in any process
    import matplotlib.pyplot as plt

    series = read_history(history_csv)
    named = {k: v for k, v in series.items() if not k.endswith("Aggregated")}
    if not named:
        named = series
    per_event = bool(landed)
    if not any(named.values()):
        raise ValueError(f"{history_csv} holds no rows to chart")
    start = min(float(rows[0]["Timestamp"]) for rows in named.values() if rows)

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 7.5), sharex=True)
    users_axis = top.twinx()
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, rows) in enumerate(sorted(named.items())):
        color = palette[i % len(palette)]  # one colour per request, one line style per percentile
        t = [float(r["Timestamp"]) - start for r in rows]
        top.plot(t, [_number(r["Requests/s"]) or 0.0 for r in rows], color=color,
                 label=f"{label} req/s")
        if per_event and label.startswith("e2e"):
            continue  # drawn from the probes themselves below
        for pct, style in zip(PERCENTILES, ("-", "--", ":"), strict=True):
            values = [_number(r.get(pct)) for r in rows]
            points = [(x, y) for x, y in zip(t, values, strict=True) if y is not None and y > 0]
            if points:
                bottom.plot(*zip(*points, strict=True), style, color=color,
                            label=f"{label} p{pct[:-1]}")
    if per_event:
        color = palette[len(named) % len(palette)]
        xs = [x.published - start for x in landed]
        ys = [x.latency_s * 1000 for x in landed]
        errors = [x.resolution_s * 1000 for x in landed]
        bottom.errorbar(xs, ys, yerr=errors, fmt=".", ms=3, color=color, alpha=0.45,
                        elinewidth=0.8, label="e2e publish->row, each probe (± its window)")
        buckets = _buckets(landed, start)
        if buckets:
            mid, p50, p99 = zip(*buckets, strict=True)
            bottom.plot(mid, p50, "-", color=color, label="e2e p50 (5 s buckets)")
            bottom.plot(mid, p99, ":", color=color, label="e2e p99 (5 s buckets)")
    user_rows = series.get("Aggregated") or next(iter(named.values()))
    users_axis.plot(
        [float(r["Timestamp"]) - start for r in user_rows],
        [_number(r["User Count"]) or 0 for r in user_rows],
        color="grey", alpha=0.5, linewidth=1, label="users",
    )
    top.set_ylabel("requests / s")
    users_axis.set_ylabel("users")
    top.set_title(f"{title}: throughput (Locust's rolling average)")
    lines, labels = top.get_legend_handles_labels()
    more_lines, more_labels = users_axis.get_legend_handles_labels()
    # Legends outside the axes: inside, they hide the lines they name.
    top.legend(lines + more_lines, labels + more_labels, loc="upper left", fontsize=8,
               bbox_to_anchor=(1.07, 1.0))
    top.grid(alpha=0.3)
    bottom.set_yscale("log")
    bottom.set_ylabel("latency (ms, log scale)")
    bottom.set_xlabel("seconds since start")
    bottom.set_title("publish: Locust's rolling percentiles; end to end: every probe"
                     if per_event else "latency percentiles (Locust's rolling window)")
    bottom.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.07, 1.0))
    bottom.grid(alpha=0.3, which="both")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
