"""``python -m loadtest`` (``nox -s load``): headless Locust against the local stack or staging.

Local (default): both emulators start, are provisioned from harness.toml in a project of
their own, and the pipeline runs in this process on the DirectRunner; Locust runs as a child
process (it monkey-patches with gevent, which the pipeline must not see). GCP: only with
``--target gcp --project P``; credentials from ADC; the pipeline is whatever runs there.

Reports go to ``--reports`` (default loadtest/reports/), named by run (``load-<UTC time>``)
unless ``--name`` is given: Locust's CSV files (full history), ``<name>_e2e.csv`` (every probe
with its measurement window), ``<name>_chart.png`` (throughput; publish latency percentiles and
every probe's publish -> row latency over time) and ``<name>.html`` (Locust's report with the
chart, the exact end-to-end percentiles and the run's configuration added).
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import os
import platform
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from harness.beam_local import ALL, PULL_ONLY, STOCK
from loadtest.shapes import KINDS as SHAPES
from loadtest.shapes import parse_duration
from loadtest.target import KINDS as TARGETS
from loadtest.target import Target, TargetError, gcp_target

HERE = Path(__file__).resolve().parent
TUNINGS = {"stock": STOCK, "pull500": PULL_ONLY, "tuned": ALL}
EMULATOR_VARIABLES = ("PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST")
VIAS = ("pubsub", "rest")
USERS = {"pubsub": ["EventPublisher", "EndToEndProbe"], "rest": ["RestEventSender", "EndToEndProbe"]}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.split("\n\n")[0])
    p.add_argument("--target", choices=TARGETS, default="local")
    p.add_argument("--project", help="GCP project for --target gcp (never implied)")
    p.add_argument("--topic", default="events", help="gcp: topic name or path")
    p.add_argument("--table", default="analytics.events", help="gcp: events table")
    p.add_argument("--run-time", default="60s", help="e.g. 60, 60s, 2m (default: %(default)s)")
    p.add_argument("--users", type=int, default=10, help="peak publishing users")
    p.add_argument("--shape", choices=SHAPES, default="steady")
    p.add_argument("--user-rate", type=float, default=1.0, help="tasks/s per publishing user")
    p.add_argument("--events-per-task", type=int, default=5)
    p.add_argument("--batch-max-messages", type=int, default=100)
    p.add_argument("--batch-max-latency", type=float, default=0.01, help="seconds")
    p.add_argument("--probe-interval", type=float, default=0.5,
                   help="seconds between probes (each is measured on its own: this is not the "
                   "resolution)")
    p.add_argument("--tuning", choices=TUNINGS, default="tuned",
                   help="local: DirectRunner tuning, as the harness applies it by default "
                   "(see bench/README.md)")
    p.add_argument("--via", choices=VIAS, default="pubsub",
                   help="pubsub: publish with the client; rest: POST to the REST ingestion edge "
                   "(started on the local stack, one API key per source)")
    p.add_argument("--invalid-ratio", type=float, default=0.05,
                   help="rest: share of invalid events in each request (default: %(default)s)")
    p.add_argument("--reports", default=str(HERE / "reports"))
    p.add_argument("--name", default=None,
                   help="report file prefix (default: load-<UTC date and time of the run>)")
    return p


def select_target(args) -> Target | None:
    """The GCP target, or None for local (built once the stack is up). Refuses GCP without
    an explicit project."""
    if args.target == "gcp":
        return gcp_target(args.project, args.topic, args.table)
    if args.project:
        raise TargetError("--project is only for --target gcp; the local stack makes its own")
    return None


def check_via(args) -> None:
    if args.via == "rest" and args.target == "gcp":
        raise TargetError("--via rest runs the REST edge on the local stack; against GCP, load "
                          "your deployed edge with locust -f loadtest/locustfile.py RestEventSender")


def locust_command(args, reports: Path) -> list[str]:
    prefix = reports / args.name
    return [
        sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
        "--users", str(args.users), "--spawn-rate", str(args.users),
        "--run-time", str(int(parse_duration(args.run_time))),
        "--csv", str(prefix), "--csv-full-history", "--html", f"{prefix}.html",
        "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10",
        *USERS[args.via],
    ]


def locust_env(args, target: Target, rest: tuple[str, str] | None = None,
               e2e_csv: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    if target.kind == "gcp":
        for name in EMULATOR_VARIABLES:  # the clients would follow them instead of GCP
            env.pop(name, None)
    env.update(target.to_env())
    env.update(
        LOADTEST_SHAPE=args.shape,
        LOADTEST_USER_RATE=str(args.user_rate),
        LOADTEST_EVENTS_PER_TASK=str(args.events_per_task),
        LOADTEST_BATCH_MAX_MESSAGES=str(args.batch_max_messages),
        LOADTEST_BATCH_MAX_LATENCY=str(args.batch_max_latency),
        LOADTEST_PROBE_INTERVAL=str(args.probe_interval),
        LOADTEST_RUN_ID=uuid.uuid4().hex[:8],
        LOADTEST_VIA=args.via,
        LOADTEST_INVALID_RATIO=str(args.invalid_ratio),
        LOADTEST_E2E_CSV=str(e2e_csv or ""),
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")])),
    )
    if rest is not None:
        env.update(LOADTEST_REST_URL=rest[0], LOADTEST_REST_KEYS=rest[1])
    return env


def summary(stats_csv: Path) -> list[str]:
    lines = []
    with open(stats_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            label = "(publishes only)" if row["Name"] == "Aggregated" else ""
            lines.append(
                f"  {row['Type'] or '':8} {row['Name']:14} requests {row['Request Count']:>7}"
                f"  failures {row['Failure Count']:>5}  req/s {float(row['Requests/s']):8.1f}"
                f"  p50 {row['50%']:>6} ms  p95 {row['95%']:>6} ms  p99 {row['99%']:>6} ms"
                f"  {label}".rstrip()
            )
    return lines


def read_landed(path: Path) -> list:
    """The probes ``<name>_e2e.csv`` holds, as :class:`loadtest.landing.Landed`."""
    from loadtest.landing import Landed

    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [
            Landed(row["event_id"], float(row["published"]),
                   float(row["processing"]) if row["processing"] else None,
                   float(row["lower"]), float(row["upper"]))
            for row in csv.DictReader(handle)
        ]


def configuration(args, target: Target, load_at_start: float | None) -> dict[str, str]:
    """What this run was: its options, target and machine (for the HTML report)."""
    import apache_beam

    offered = args.users * args.user_rate * args.events_per_task
    return {
        "run": args.name,
        "started (UTC)": args.started,
        **{f"--{k.replace('_', '-')}": str(v) for k, v in sorted(vars(args).items())
           if k not in ("name", "started")},
        "offered at peak (events/s, publishers)": f"{offered:,.0f}",
        "target": f"{target.kind}: project {target.project}, topic {target.topic}, "
                  f"table {target.events_table}",
        "machine": f"{os.cpu_count()} cores, load average {load_at_start} at the start, "
                   f"{platform.system()} {platform.machine()}",
        "software": f"Python {platform.python_version()}, apache-beam {apache_beam.__version__}",
    }


def embed(report_html: Path, png: Path | None, e2e_line: str, config: dict[str, str]) -> None:
    """Add our chart, the exact end-to-end figures and the configuration to Locust's report."""
    rows = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                   f"<td>{html.escape(v)}</td></tr>" for k, v in config.items())
    image = ""
    if png is not None and png.exists():
        data = base64.b64encode(png.read_bytes()).decode()
        image = (f"<img alt='throughput and latency over time' style='max-width:100%' "
                 f"src='data:image/png;base64,{data}'>")
    section = (
        "<section id='streambench' style='font-family:sans-serif;margin:2em;color:#222;"
        "background:#fff;padding:1em'>"
        "<h2>streambench: publish &rarr; row latency, per event</h2>"
        f"<p>{html.escape(e2e_line)}</p>{image}"
        "<h3>Configuration of this run</h3>"
        f"<table>{rows}</table></section>"
    )
    text = report_html.read_text(encoding="utf-8")
    at = text.rfind("</body>")
    report_html.write_text(text[:at] + section + text[at:] if at >= 0 else text + section,
                           encoding="utf-8")


def run(args) -> int:
    from loadtest.chart import build_chart
    from loadtest.landing import describe, summarise

    target = select_target(args)
    check_via(args)
    args.started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    args.name = args.name or f"load-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    reports = Path(args.reports)
    reports.mkdir(parents=True, exist_ok=True)
    load_at_start = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    e2e_csv = reports / f"{args.name}_e2e.csv"
    stack = None
    if target is None:
        from loadtest.local_stack import LocalStack

        print("starting the emulators and the pipeline ...", flush=True)
        stack = LocalStack(tuning=TUNINGS[args.tuning])
        target = stack.start()
    edge = rest = None
    try:
        if args.via == "rest":
            from loadtest.edge import keys_to_env, start_edge

            edge, keys = start_edge(target.topic, target.pubsub, reports / f"{args.name}-edge")
            rest = (edge.url, keys_to_env(keys))
            print(f"REST edge: {edge.url} ({len(keys)} sources, log {edge.log_path})", flush=True)
        print(f"target: {target.kind} project {target.project}, topic {target.topic}", flush=True)
        print(f"locust: {args.shape} shape, {args.users} users, {args.run_time}", flush=True)
        started = time.monotonic()
        code = subprocess.call(locust_command(args, reports),
                               env=locust_env(args, target, rest, e2e_csv))
        print(f"locust exited with {code} after {time.monotonic() - started:.0f}s", flush=True)
    finally:
        if edge is not None:
            edge.stop()
        if stack is not None:
            rows = stack.landed()
            stack.stop()
            print(f"pipeline stopped; events table rows {rows[0]}, dead letters {rows[1]}",
                  flush=True)
    landed = read_landed(e2e_csv)
    e2e_line = f"publish -> row: {describe(summarise(landed))}"
    history = reports / f"{args.name}_stats_history.csv"
    if history.exists():
        png = build_chart(history, reports / f"{args.name}_chart.png",
                          title=f"{args.shape} load on {target.kind}", landed=landed)
        print("\n".join(summary(reports / f"{args.name}_stats.csv")))
        print(e2e_line)
        html_report = reports / f"{args.name}.html"
        if html_report.exists():
            embed(html_report, png, e2e_line, configuration(args, target, load_at_start))
        print(f"reports: {reports}/{args.name}_*.csv, {args.name}.html, {png.name}")
    return code


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
