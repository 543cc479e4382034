"""A PNG of a Locust run: throughput and latency percentiles over time, from
``<prefix>_stats_history.csv`` (written with ``--csv-full-history``)."""

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


def build_chart(history_csv: str | Path, out_png: str | Path, title: str = "load test") -> Path:
    """Draw throughput (requests/s per request type, users) and p50/p95/p99 per request type."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in any process
    import matplotlib.pyplot as plt

    series = read_history(history_csv)
    named = {k: v for k, v in series.items() if not k.endswith("Aggregated")}
    if not named:
        named = series
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
        for pct, style in zip(PERCENTILES, ("-", "--", ":"), strict=True):
            values = [_number(r.get(pct)) for r in rows]
            points = [(x, y) for x, y in zip(t, values, strict=True) if y is not None and y > 0]
            if points:
                bottom.plot(*zip(*points, strict=True), style, color=color,
                            label=f"{label} p{pct[:-1]}")
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
    bottom.set_title("latency percentiles (Locust's rolling window)")
    bottom.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.07, 1.0))
    bottom.grid(alpha=0.3, which="both")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
