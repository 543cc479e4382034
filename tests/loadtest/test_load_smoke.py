"""A tiny headless Locust run of the real users against the embedded stack and the pipeline."""

import base64
import csv
import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]


def test_publishers_and_the_probe_report_to_locust_and_the_chart_is_drawn(tmp_path):
    # Two worker processes under one Locust master (issue 22): one merged report.
    done = subprocess.run(
        [sys.executable, "-m", "loadtest", "--run-time", "5", "--users", "2", "--processes", "2",
         "--probe-interval", "0.3", "--reports", str(tmp_path)],
        capture_output=True, text=True, timeout=170,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    # Reports are named by run unless --name says otherwise.
    names = {p.name.split("_")[0].removesuffix(".html") for p in tmp_path.iterdir()}
    assert len(names) == 1
    name = names.pop()
    assert re.fullmatch(r"load-\d{8}-\d{6}", name)
    with open(tmp_path / f"{name}_stats.csv", newline="") as handle:
        stats = {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}
    published = [row for (kind, _), row in stats.items() if kind == "publish"]
    assert sum(int(row["Request Count"]) for row in published) > 0
    assert all(int(row["Failure Count"]) == 0 for row in published)
    e2e = stats[("e2e", "publish->row")]
    assert int(e2e["Request Count"]) > 0  # probes came back as rows in BigQuery
    assert int(e2e["Failure Count"]) == 0
    # Issue 14, finding 4: the Aggregated row is publishes only, never mixed with probes.
    assert int(stats[("", "Aggregated")]["Request Count"]) == \
        sum(int(row["Request Count"]) for row in published)
    # Every probe measured on its own, with its window; the summary says the resolution.
    with open(tmp_path / f"{name}_e2e.csv", newline="") as handle:
        probes = list(csv.DictReader(handle))
    assert len(probes) == int(e2e["Request Count"])
    for probe in probes:
        lower, upper = float(probe["lower"]), float(probe["upper"])
        assert float(probe["published"]) <= lower <= upper
        if probe["processing"]:
            assert lower >= float(probe["processing"])
    assert re.search(r"publish -> row: p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms \(\d+ probes; "
                     r"each measured within ±[\d.]+ ms, worst ±[\d.]+ ms\)", done.stdout)
    png = (tmp_path / f"{name}_chart.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    page = (tmp_path / f"{name}.html").read_text()
    assert f"src='data:image/png;base64,{base64.b64encode(png).decode()}'" in page
    assert "Configuration of this run" in page and "--probe-interval" in page
    assert "events table rows" in done.stdout
    # Both workers published, and the master's merged counts are exactly the sum of theirs; the
    # one probe ran on one worker and every probe it reported is in the report.
    with open(tmp_path / f"{name}_workers.csv", newline="") as handle:
        workers = list(csv.DictReader(handle))
    assert [row["worker"] for row in workers] == ["0", "1"]
    assert all(int(row["events"]) > 0 for row in workers)
    assert sum(int(row["events"]) for row in workers) == \
        sum(int(row["Request Count"]) for row in published)
    assert sorted(int(row["e2e"]) for row in workers) == [0, len(probes)]
    assert re.search(r"worker 1: events +\d+", done.stdout)


def test_rest_users_go_through_the_edge_and_report_accepted_events(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "loadtest", "--via", "rest", "--run-time", "5", "--users", "3",
         "--user-rate", "4", "--invalid-ratio", "0.2", "--probe-interval", "0.3",
         "--reports", str(tmp_path), "--name", "rest"],
        capture_output=True, text=True, timeout=110,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    with open(tmp_path / "rest_stats.csv", newline="") as handle:
        stats = {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}
    posts = stats[("POST", "POST /v1/events")]
    assert int(posts["Request Count"]) > 0 and int(posts["Failure Count"]) == 0
    accepted = int(stats[("rest", "accepted")]["Request Count"])
    assert 0 < accepted < 5 * int(posts["Request Count"])  # some events were invalid
    assert ("publish", "events") not in stats  # nothing bypassed the edge
    e2e = stats[("e2e", "publish->row")]
    assert int(e2e["Request Count"]) > 0 and int(e2e["Failure Count"]) == 0
    assert "REST edge: http://127.0.0.1:" in done.stdout
