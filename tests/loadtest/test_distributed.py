"""Locust's master and a worker started as separate commands on loopback (issue 22)."""

import csv
import subprocess
import sys

import pytest

from emulators.process import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]


def test_a_master_and_a_worker_started_apart_make_one_report_and_stop_at_events(tmp_path):
    port = str(free_port())
    master = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "--master", "--workers", "1", "--master-port", port,
         "--run-time", "120", "--events", "60", "--users", "2", "--user-rate", "4",
         "--probe-interval", "0.3", "--reports", str(tmp_path), "--name", "apart"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Nothing but the master's address: target, users and knobs come from the master.
        worker = subprocess.run(
            [sys.executable, "-m", "loadtest", "--worker", "--master-port", port,
             "--processes", "1"], capture_output=True, text=True, timeout=150)
        out, _ = master.communicate(timeout=60)
    finally:
        master.kill()
    assert master.returncode == 0, out[-3000:]
    assert worker.returncode == 0, worker.stdout[-1000:] + worker.stderr[-2000:]
    assert "master on 127.0.0.1:" in out and "events table rows" in out
    with open(tmp_path / "apart_stats.csv", newline="") as handle:
        stats = {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}
    with open(tmp_path / "apart_workers.csv", newline="") as handle:
        workers = list(csv.DictReader(handle))
    with open(tmp_path / "apart_e2e.csv", newline="") as handle:
        probes = list(csv.DictReader(handle))
    published = sum(int(row["Request Count"]) for (kind, _), row in stats.items()
                    if kind == "publish")
    # --events ended the run, long before --run-time's 120 s at 40 events/s (4,800 events).
    assert 60 <= published < 1000
    assert [row["worker"] for row in workers] == ["0"]
    assert int(workers[0]["events"]) == published
    e2e = stats[("e2e", "publish->row")]
    assert int(e2e["Request Count"]) == len(probes) == int(workers[0]["e2e"]) > 0
    assert int(e2e["Failure Count"]) == 0


def test_publish_errors_from_every_worker_are_merged_by_status_code(tmp_path):
    from emulators.process import ServerProcess
    from loadtest.__main__ import locust_command, locust_env, parser
    from loadtest.target import Target

    pubsub = ServerProcess.emulator("pubsub", log_path=tmp_path / "pubsub.log")
    try:
        # No such topic: every publish fails, NOT_FOUND, on both workers. (The publishers never
        # read BigQuery; a local target names an endpoint all the same.)
        target = Target("local", "errors", "projects/errors/topics/missing", "errors.d.t",
                        pubsub.address, "http://127.0.0.1:9")
        options = parser().parse_args(["--users", "2", "--user-rate", "2", "--run-time", "3",
                                       "--processes", "2", "--name", "errors"])
        done = subprocess.run(locust_command(options, tmp_path, user_classes=["EventPublisher"]),
                              env=locust_env(options, target, prefix=tmp_path / "errors"),
                              capture_output=True, text=True, timeout=90)
    finally:
        pubsub.stop()
    assert done.returncode == 1, done.stderr[-3000:]  # Locust's exit code when requests failed
    with open(tmp_path / "errors_failures.csv", newline="") as handle:
        failures = list(csv.DictReader(handle))
    assert [(f["Method"], f["Name"], f["Error"]) for f in failures] == [
        ("publish", "missing", "PublishFailed('NOT_FOUND')")]
    with open(tmp_path / "errors_workers.csv", newline="") as handle:
        workers = list(csv.DictReader(handle))
    assert len(workers) == 2 and all(int(w["failures"]) > 0 for w in workers)
    assert int(failures[0]["Occurrences"]) == sum(int(w["failures"]) for w in workers)
