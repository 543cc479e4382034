"""The load test's ceiling on one machine: publish msgs/s with 1 and 2 Locust worker processes.

    python bench/scaling_bench.py --out bench/results/scaling.json [--seconds 20] [--processes 1,2]

Our Pub/Sub emulator runs as a process of its own; for each process count, ``python -m locust``
runs the load test's ``EventPublisher`` users (no probe, no pipeline) as a master with that
many forked workers, publishing as fast as the client lets them (``--users`` per worker,
``--events-per-task`` events per task, no wait between tasks, the load test's batching and flow
control). Measured between 20 % and 90 % of each run (ramp-up and stop left out), from Locust's
own stats history (the master's merged counts):

* publish msgs/s: publishes that resolved, per second;
* emulator CPU: the emulator process's CPU seconds over that window (from /proc), in cores
  and as a share of the machine's cores;
* load-test CPU: every Locust process's CPU (master and workers), in cores, over the whole run,
  and per event published (start-up included: an upper bound).

On a 2-core machine the workers, the master and the emulator share the cores: this measures
how far a second worker process carries one machine, not the emulator's capacity
(bench/pubsub_bench.py does that).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.process import ServerProcess  # noqa: E402
from harness import clients  # noqa: E402
from harness.stack import Endpoints  # noqa: E402
from loadtest.__main__ import cores, locust_command, locust_env, parser  # noqa: E402
from loadtest.target import Target  # noqa: E402

PROJECT = "bench-scaling"
TOPIC = f"projects/{PROJECT}/topics/events"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(processes: int, args, target: Target, emulator_pid: int, work: Path) -> dict:
    """One Locust run with ``processes`` workers; its rates and CPU shares."""
    options = parser().parse_args([
        "--users", str(args.users * processes), "--user-rate", "1000",
        "--events-per-task", str(args.events_per_task), "--batch-max-messages", "1000",
        "--run-time", str(args.seconds), "--processes", str(processes), "--name", f"p{processes}"])
    prefix = work / options.name
    command = locust_command(options, work, user_classes=["EventPublisher"])
    samples: list[tuple[float, float]] = []  # (epoch seconds, emulator CPU seconds)
    started = time.monotonic()
    stop = threading.Event()

    def sample():  # on Locust's clock (its history rows carry epoch seconds)
        while not stop.wait(0.1):
            samples.append((time.time(), cpu_seconds(emulator_pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    children_before = children_cpu()
    sampler.start()
    done = subprocess.run(command, env=locust_env(options, target), capture_output=True,
                          text=True, timeout=args.seconds + 120)
    stop.set()
    sampler.join()
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"locust exited with {done.returncode}: {done.stderr[-2000:]}")
    locust_cpu = children_cpu() - children_before
    # The window: 20 % to 90 % of the run, in Locust's history (one row a second, cumulative).
    with open(f"{prefix}_stats_history.csv", newline="") as handle:
        history = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]
    points = [(int(r["Timestamp"]), int(r["Total Request Count"])
               - int(r["Total Failure Count"])) for r in history]
    first = points[0][0]
    low, high = first + 0.2 * args.seconds, first + 0.9 * args.seconds
    inside = [p for p in points if low <= p[0] <= high]
    (t0, n0), (t1, n1) = inside[0], inside[-1]
    rate = (n1 - n0) / (t1 - t0)
    # The emulator's CPU over the same window.
    window = [(t, c) for t, c in samples if t0 <= t <= t1]
    emulator_cores = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
    with open(f"{prefix}_stats.csv", newline="") as handle:
        publishes = [r for r in csv.DictReader(handle) if r["Type"] == "publish"]
    failures = sum(int(r["Failure Count"]) for r in publishes)
    published = sum(int(r["Request Count"]) for r in publishes)
    return {
        "processes": processes,
        "publish_msgs_per_s": round(rate, 1),
        "failures": failures,
        "emulator_cores": round(emulator_cores, 3),
        "emulator_share": round(emulator_cores / cores(), 3),
        "loadtest_cores": round(locust_cpu / wall, 3),
        # start-up included: an upper bound of what one event costs the load test
        "loadtest_cpu_us_per_event": round(locust_cpu / max(1, published) * 1e6, 1),
        "seconds": round(wall, 1),
    }


def markdown(report: dict) -> str:
    rows = report["runs"]
    base = rows[0]["publish_msgs_per_s"]
    lines = [
        "| Locust worker processes | publish msgs/s | vs 1 process | emulator CPU (cores) | "
        f"emulator share of {report['cores']} cores | load-test CPU (cores) | "
        "load-test CPU per event (µs) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['processes']} | {row['publish_msgs_per_s']:,.0f} | "
            f"{row['publish_msgs_per_s'] / base:.2f} | {row['emulator_cores']:.2f} | "
            f"{row['emulator_share']:.0%} | {row['loadtest_cores']:.2f} | "
            f"{row['loadtest_cpu_us_per_event']:.0f} |")
    lines.append("")
    lines.append(f"- {report['users_per_process']} publishing users per worker process, "
                 f"{report['events_per_task']} events per task, no wait; window 20-90 % of "
                 f"{report['seconds']} s runs; load average {report['load_before']} before")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "bench/results/scaling.json"))
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--processes", default="1,2", help="comma-separated worker process counts")
    p.add_argument("--users", type=int, default=10, help="publishing users per worker process")
    p.add_argument("--events-per-task", type=int, default=50)
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="scaling-bench-"))
    load_before = round(os.getloadavg()[0], 2)
    pubsub = ServerProcess.emulator("pubsub", log_path=work / "pubsub.log")
    try:
        ends = Endpoints(pubsub.address, "")
        publisher = clients.publisher(ends)
        publisher.create_topic(name=TOPIC)
        publisher.transport.close()
        # EventPublisher never reads BigQuery; a local target names an endpoint all the same.
        target = Target("local", PROJECT, TOPIC, f"{PROJECT}.unused.unused", pubsub.address,
                        "http://127.0.0.1:9")
        runs = []
        for count in (int(n) for n in args.processes.split(",")):
            runs.append(run(count, args, target, pubsub.pid, work))
            print(f"[{count} process(es)] {runs[-1]}", flush=True)
    finally:
        pubsub.stop()
    report = {"cores": cores(), "seconds": args.seconds, "users_per_process": args.users,
              "events_per_task": args.events_per_task, "load_before": load_before, "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
