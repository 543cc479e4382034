"""Do the load test and the pipeline benchmark measure the same end-to-end latency?

    python bench/latency_agreement.py --rate 500 --seconds 40

Runs, one after the other on fresh embedded stacks with the same DirectRunner tuning, the
benchmark's latency phase (``bench/pipeline_bench.py``: paced publishing from a spawned process,
~25 probes/s) and the Locust load test (``python -m loadtest``: publisher users sized to the same
offered rate, one probe user) and prints both p50/p99 (publish -> row, per event) with their
ratio. Both use ``loadtest.landing.VisibilityWatch``, so a difference is the load generator's,
not the measurement's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="events/s offered")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--users", type=int, default=20, help="Locust publishing users")
    parser.add_argument("--tuning", default="tuned", choices=("stock", "pull500", "tuned"))
    parser.add_argument("--processes", type=int, default=1,
                        help="Locust worker processes of the load test (default: %(default)s)")
    args = parser.parse_args(argv)

    import pipeline_bench  # noqa: I001 - bench/ is on sys.path when run as a script

    load = os.getloadavg()[0]
    print(f"load average at the start: {load:.2f} on {os.cpu_count()} cores", flush=True)
    bench = pipeline_bench.latency(pipeline_bench.VARIANTS[args.tuning], args.rate, args.seconds)
    print("bench:", json.dumps(bench), flush=True)

    events_per_task = 5
    user_rate = args.rate / args.users / events_per_task
    with tempfile.TemporaryDirectory() as reports:
        done = subprocess.run(
            [sys.executable, "-m", "loadtest", "--run-time", f"{int(args.seconds)}s",
             "--users", str(args.users), "--user-rate", f"{user_rate:.4f}",
             "--events-per-task", str(events_per_task), "--tuning", args.tuning,
             "--probe-interval", "0.2", "--processes", str(args.processes),
             "--reports", reports, "--name", "agreement"],
            capture_output=True, text=True, cwd=ROOT,
        )
    print(done.stdout[-1500:], flush=True)
    found = re.search(r"publish -> row: p50 ([\d.]+) ms, p95 ([\d.]+) ms, p99 ([\d.]+) ms",
                      done.stdout)
    if done.returncode or not found:
        print(done.stderr[-3000:], file=sys.stderr)
        return 1
    load_p50, load_p99 = float(found.group(1)), float(found.group(3))
    bench_p50, bench_p99 = bench["p50_s"] * 1000, bench["p99_s"] * 1000
    print(f"at {args.rate:.0f} events/s: bench p50 {bench_p50:.1f} ms, p99 {bench_p99:.1f} ms "
          f"(±{bench['resolution_median_ms']} ms); load test p50 {load_p50:.1f} ms, p99 "
          f"{load_p99:.1f} ms; load/bench p50 {load_p50 / bench_p50:.2f}, p99 "
          f"{load_p99 / bench_p99:.2f}; load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
