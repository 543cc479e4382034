"""Do two ways of measuring end-to-end latency agree at the same offered rate?

    python bench/latency_agreement.py --rate 500 --seconds 40 --repeat 3
    python bench/latency_agreement.py --rate 500 --seconds 40 --repeat 3 --processes 1,2

Without ``--processes``: the benchmark's latency phase (``bench/pipeline_bench.py``: paced
publishing from a spawned process) against the Locust load test (``python -m loadtest``:
publisher users sized to the same offered rate, one probe user). With ``--processes A,B``: the
load test with A worker processes against the load test with B (issue 22's question).

Each side runs ``--repeat`` times, the two interleaved (A, B, A, B, ...), every run in a
process of its own on a fresh embedded stack with the same DirectRunner tuning and the same probe rate (``--probes-per-s``).
Both sides measure with ``loadtest.landing.VisibilityWatch``, so a difference is the load
generator's, not the measurement's. Printed and written to ``--out``: each run's p50/p99
(publish -> row, per probe) and, per side, the percentiles of all its runs' probes pooled, with
the pooled ratio B/A. Pooling matters: on 2 cores one run's p50 moves by half between identical
runs, so a single pair says little.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from emulators.cli import positive_int  # noqa: E402


def bench_side(args) -> list[float]:
    """One benchmark latency phase, in a process of its own like the load test (a stack run in
    this process first slowed every later run measurably); every probe's latency (ms)."""
    done = subprocess.run(
        [sys.executable, __file__, "--one-bench", "--rate", str(args.rate), "--seconds",
         str(args.seconds), "--probes-per-s", str(args.probes_per_s), "--tuning", args.tuning],
        capture_output=True, text=True, cwd=ROOT,
    )
    if done.returncode:
        sys.stderr.write(done.stdout[-1500:] + done.stderr[-3000:])
        raise SystemExit(f"the bench's latency phase failed (exit {done.returncode}); output above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_bench(args) -> None:
    import pipeline_bench

    result = pipeline_bench.latency(pipeline_bench.VARIANTS[args.tuning], args.rate,
                                    args.seconds, probes_per_s=args.probes_per_s, keep=True)
    print(json.dumps(result["latencies_ms"]), flush=True)


def load_side(args, processes: int) -> list[float]:
    """One ``python -m loadtest`` run with ``processes`` workers; every probe's latency (ms)."""
    from loadtest.__main__ import read_landed

    user_rate = args.rate / args.users / args.events_per_task
    with tempfile.TemporaryDirectory() as reports:
        done = subprocess.run(
            [sys.executable, "-m", "loadtest", "--run-time", f"{int(args.seconds)}s",
             "--users", str(args.users), "--user-rate", f"{user_rate:.4f}",
             "--events-per-task", str(args.events_per_task), "--tuning", args.tuning,
             "--probe-interval", f"{1 / args.probes_per_s:.4f}", "--processes", str(processes),
             "--reports", reports, "--name", "agreement"],
            capture_output=True, text=True, cwd=ROOT,
        )
        if done.returncode or not re.search(r"publish -> row: p50", done.stdout):
            sys.stderr.write(done.stdout[-1500:] + done.stderr[-3000:])
            raise SystemExit(f"the load test failed (exit {done.returncode}); output above")
        return [x.latency_s * 1000 for x in read_landed(Path(reports) / "agreement_e2e.csv")]


def figures(latencies: list[float]) -> dict:
    from loadtest.landing import percentile

    ordered = sorted(latencies)
    return {"probes": len(ordered), "p50_ms": round(percentile(ordered, 50), 1),
            "p99_ms": round(percentile(ordered, 99), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0,
                        help="events/s offered (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=40.0,
                        help="length of each run (default: %(default)s)")
    parser.add_argument("--repeat", type=positive_int, default=3,
                        help="runs of each side, interleaved (default: %(default)s)")
    parser.add_argument("--users", type=positive_int, default=20,
                        help="Locust publishing users (default: %(default)s)")
    parser.add_argument("--events-per-task", type=positive_int, default=5,
                        help="events each Locust task publishes at once (default: %(default)s; "
                             "1 is the bench's even pace)")
    parser.add_argument("--probes-per-s", type=float, default=25.0,
                        help="probes a second on both sides (default: %(default)s)")
    parser.add_argument("--tuning", default="tuned", choices=("stock", "pull500", "tuned"),
                        help="DirectRunner tuning (default: %(default)s)")
    parser.add_argument("--processes", default=None, metavar="A,B",
                        help="compare the load test with A and B worker processes instead of "
                             "the bench with the load test")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the figures as JSON here as well")
    parser.add_argument("--one-bench", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for flag in ("rate", "seconds", "probes_per_s"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be above zero, not {getattr(args, flag)}")
    if args.one_bench:
        one_bench(args)
        return 0
    if args.processes:
        try:
            a, b = (positive_int(n) for n in args.processes.split(","))
        except (ValueError, argparse.ArgumentTypeError):
            parser.error(f"--processes takes two counts like 1,2, not {args.processes!r}")
        sides = {f"load test, {a} process(es)": lambda: load_side(args, a),
                 f"load test, {b} process(es)": lambda: load_side(args, b)}
    else:
        sides = {"bench": lambda: bench_side(args), "load test": lambda: load_side(args, 1)}

    runs: list[dict] = []
    pooled: dict[str, list[float]] = {name: [] for name in sides}
    for i in range(args.repeat):
        for name, run in sides.items():
            load = os.getloadavg()[0]
            started = time.monotonic()
            latencies = run()
            pooled[name] += latencies
            row = {"run": i + 1, "side": name, **figures(latencies),
                   "load_average_at_start": round(load, 2),
                   "wall_s": round(time.monotonic() - started, 1)}
            runs.append(row)
            print(json.dumps(row), flush=True)

    (first, a_lat), (second, b_lat) = pooled.items()
    fa, fb = figures(a_lat), figures(b_lat)
    ratio = {q: round(fb[f"{q}_ms"] / fa[f"{q}_ms"], 2) for q in ("p50", "p99")}
    print(f"at {args.rate:.0f} events/s, {args.repeat} run(s) each, pooled: {first} p50 "
          f"{fa['p50_ms']} ms, p99 {fa['p99_ms']} ms ({fa['probes']} probes); {second} p50 "
          f"{fb['p50_ms']} ms, p99 {fb['p99_ms']} ms ({fb['probes']} probes); "
          f"{second} / {first}: p50 {ratio['p50']}, p99 {ratio['p99']}")
    if args.out:
        args.out.write_text(json.dumps({
            "rate": args.rate, "seconds": args.seconds, "repeat": args.repeat,
            "probes_per_s": args.probes_per_s, "events_per_task": args.events_per_task,
            "tuning": args.tuning, "cores": os.cpu_count(),
            "runs": runs, "pooled": {first: fa, second: fb}, "ratio": ratio,
        }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
