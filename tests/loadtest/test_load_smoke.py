"""A tiny headless Locust run of the real users against the embedded stack and the pipeline."""

import csv
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(120)]


def test_publishers_and_the_probe_report_to_locust_and_the_chart_is_drawn(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "loadtest", "--run-time", "4", "--users", "2",
         "--probe-interval", "0.3", "--reports", str(tmp_path), "--name", "smoke"],
        capture_output=True, text=True, timeout=110,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    with open(tmp_path / "smoke_stats.csv", newline="") as handle:
        stats = {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}
    published = stats[("publish", "events")]
    assert int(published["Request Count"]) > 0
    assert int(published["Failure Count"]) == 0
    e2e = stats[("e2e", "publish->row")]
    assert int(e2e["Request Count"]) > 0  # probes came back as rows in BigQuery
    assert int(e2e["Failure Count"]) == 0
    assert (tmp_path / "smoke_chart.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "smoke.html").stat().st_size > 0
    assert "events table rows" in done.stdout


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
