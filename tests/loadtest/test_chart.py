"""The chart builder on a small synthetic Locust stats-history CSV."""

import csv

import pytest

from loadtest.chart import build_chart, read_history

COLUMNS = [
    "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", "50%", "66%", "75%",
    "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%", "Total Request Count",
    "Total Failure Count", "Total Median Response Time", "Total Average Response Time",
    "Total Min Response Time", "Total Max Response Time", "Total Average Content Size",
]


def write_history(path, seconds=6):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for t in range(seconds):
            for kind, name, rps, p50 in (
                ("publish", "events", 40 + t, 12 + t),
                ("e2e", "publish->row", 2, 600 + 10 * t),
                ("", "Aggregated", 42 + t, 14),
            ):
                first = t == 0  # Locust writes N/A before the first response
                pct = ["N/A" if first else str(p50 * f) for f in (1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3)]
                writer.writerow([1_700_000_000 + t, 3, kind, name, rps, 0, *pct,
                                 10 * t, 0, p50, p50, 1, 99, 300])


def test_chart_is_a_non_empty_png(tmp_path):
    history = tmp_path / "run_stats_history.csv"
    write_history(history)
    out = build_chart(history, tmp_path / "charts" / "run.png", title="synthetic")
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000


def test_history_is_grouped_by_request_type_and_name(tmp_path):
    history = tmp_path / "h.csv"
    write_history(history, seconds=3)
    series = read_history(history)
    assert sorted(series) == ["Aggregated", "e2e publish->row", "publish events"]
    assert [r["Requests/s"] for r in series["publish events"]] == ["40", "41", "42"]


def test_a_history_without_rows_is_refused(tmp_path):
    history = tmp_path / "empty.csv"
    history.write_text(",".join(COLUMNS) + "\n")
    with pytest.raises(ValueError, match="no rows"):
        build_chart(history, tmp_path / "empty.png")


def test_per_event_probes_replace_the_rolling_e2e_percentiles(tmp_path):
    from loadtest.landing import Landed

    history = tmp_path / "run_stats_history.csv"
    write_history(history)
    landed = [Landed(f"p{i}", 1_700_000_000 + i * 0.5, None, 1_700_000_000.1 + i * 0.5,
                     1_700_000_000.12 + i * 0.5) for i in range(10)]
    out = build_chart(history, tmp_path / "run.png", title="synthetic", landed=landed)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
