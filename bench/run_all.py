"""``nox -s bench``: every benchmark, each side by side with its rival, in one run.

    python bench/run_all.py [--only pubsub,bigquery,pipeline,edge,producer,batch,scaling]
                            [--quick] [--no-readme]

Runs bench/pubsub_bench.py (ours vs Google's Pub/Sub emulator), bench/bigquery_bench.py
(ours vs bqemulator and raw DuckDB), bench/pipeline_bench.py (the pipeline end to end on
the embedded stack: stock DirectRunner vs the prototype fixes), bench/edge_bench.py (the REST
ingestion edge vs publishing with the client), bench/producer_bench.py (a 100-test producer
suite on the pytest plugin's warm pipeline vs a pipeline restart per test),
bench/batch_bench.py (a backfill vs a raw load of the same file) and bench/scaling_bench.py
(the load test's publish rate with 1 and 2 Locust worker processes, and the emulator's CPU
share), one process each, one after
the other (2 cores: running them together would measure contention). Writes
bench/results/latest.json and bench/results/latest.md, and puts the Markdown between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

# name -> (script, title, extra arguments for --quick)
BENCHES = {
    "pubsub": ("pubsub_bench.py", "Pub/Sub emulator: ours vs Google's emulator (Java)",
               ["--messages", "10000", "--starts", "2"]),
    "bigquery": ("bigquery_bench.py", "BigQuery emulator: ours vs bqemulator and raw DuckDB",
                 ["--batches", "20", "--query-rows", "200000", "--repeats", "3",
                  "--write-batches", "40"]),
    "pipeline": ("pipeline_bench.py",
                 "End to end: Pub/Sub -> pipeline (DirectRunner) -> BigQuery, embedded stack",
                 ["--time-box", "15", "--latency-seconds", "8", "--backlog", "15000"]),
    "edge": ("edge_bench.py", "Ingestion edge: REST (python -m ingest) vs publishing directly "
             "with the client", ["--events", "4000"]),
    "producer": ("producer_bench.py", "Producer tests on the pytest plugin: one warm pipeline vs "
                 "a restart per test", ["--tests", "30", "--cold-tests", "5", "--no-xdist"]),
    "batch": ("batch_bench.py",
              "Batch uploads: a backfill through the pipeline vs a raw BigQuery "
              "load of the same gs:// file, embedded stack",
              ["--events", "50000"]),
    "scaling": ("scaling_bench.py", "Load test on one machine: 1 vs 2 Locust worker processes "
                "publishing to our Pub/Sub emulator", ["--seconds", "10"]),
}
# Benchmarks that need longer than --timeout (seconds): batch at full size; bigquery installs
# its rival (bqemulator) on the first run.
MIN_TIMEOUT = {"batch": 3600.0, "bigquery": 1200.0}


def run_bench(name: str, quick: bool, timeout: float) -> dict:
    script, _title, quick_args = BENCHES[name]
    out = RESULTS / f"{name}.json"
    command = [sys.executable, str(ROOT / "bench" / script), "--out", str(out)]
    if quick:
        command += quick_args
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    timeout = max(timeout, MIN_TIMEOUT.get(name, 0.0))
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, stdout, stderr = None, exc.stdout or "", f"timed out after {timeout:.0f}s"
        stdout = stdout.decode(errors="replace") if isinstance(stdout, bytes) else stdout
    seconds = round(time.monotonic() - started, 1)
    print(stdout[-4000:], flush=True)
    result = {"seconds": seconds, "exit_code": code, "table": table_of(stdout)}
    if code == 0 and out.exists():
        result["results"] = json.loads(out.read_text())
    else:
        result["error"] = _last_lines(stderr or stdout)
        print(f"!! {name} failed: {result['error']}", file=sys.stderr, flush=True)
    return result


def table_of(stdout: str) -> str:
    """The Markdown a benchmark printed: its table rows and the bullet/notes lines after them."""
    lines = stdout.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if first is None:
        return ""
    kept = []
    for line in lines[first:]:
        if line.startswith(("|", "- ", "Goal")) or not line.strip():
            kept.append(line)
        else:
            break
    return "\n".join(kept).strip()


def _last_lines(text: str, count: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [
        f"Measured {report['date']} on {machine['cpus']} cores (load average "
        f"{machine['load_average_before'][0]} at the start), Python {machine['python']}, in one "
        f"run of `nox -s bench` ({report['seconds']:.0f} s). Each figure is set against its "
        "rival measured in the same run; see bench/README.md for what each one means.",
        "",
    ]
    for name, result in report["benches"].items():
        lines += [f"**{BENCHES[name][1]}**", ""]
        if result.get("table"):
            lines.append(result["table"])
        else:
            lines.append(f"_not measured: {result.get('error', 'no output')}_")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def update_readme(readme: Path, text: str) -> bool:
    """Replace what is between the markers; False (README untouched) if they are missing."""
    content = readme.read_text()
    start, end = content.find(START), content.find(END)
    if start < 0 or end < start:
        return False
    readme.write_text(content[: start + len(START)] + "\n" + text + content[end:])
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset")
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke check")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    parser.add_argument("--timeout", type=float, default=400, help="seconds per benchmark")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {', '.join(BENCHES)}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    started = time.monotonic()
    benches = {name: run_bench(name, args.quick, args.timeout) for name in names}
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load_average_before": load_before},
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
        "benches": benches,
    }
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (RESULTS / "latest.md").write_text(text)
    print(text)
    if not args.no_readme:
        if update_readme(ROOT / "README.md", text):
            print("README.md updated between the bench markers")
        else:
            print(f"README.md has no {START} / {END} markers: see bench/results/latest.md")
    print(f"all benchmarks in {report['seconds']:.0f} s")
    return 0 if all(b["exit_code"] == 0 for b in benches.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
