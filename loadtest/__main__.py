"""``python -m loadtest`` (``nox -s load``): headless Locust against the local stack or staging.

Always Locust's distributed mode: a master that holds the target, the schedule and the report,
and workers that publish. ``--processes N`` forks N workers on this machine (default: the cores
available); ``--master --workers W`` waits for W workers started elsewhere with ``python -m
loadtest --worker --master-host H`` (they take every setting from the master). A run ends by
itself at ``--run-time`` or once ``--events`` were handed over, whichever comes first.

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

from emulators.process import free_port
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
MASTER_PORT = 5557  # Locust's own default, for --master / --worker across machines
WORKERS_MAX_WAIT = 120  # seconds a master waits for its workers before giving up


def cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.split("\n\n")[0])
    p.add_argument("--target", choices=TARGETS, default="local")
    p.add_argument("--project", help="GCP project for --target gcp (never implied)")
    p.add_argument("--topic", default="events", help="gcp: topic name or path")
    p.add_argument("--table", default="analytics.events", help="gcp: events table")
    p.add_argument("--run-time", default="60s", help="e.g. 60, 60s, 2m (default: %(default)s)")
    p.add_argument("--events", type=int, default=0,
                   help="stop once this many events were published (or accepted by the edge), "
                   "if --run-time has not ended the run before; counted from the workers' reports "
                   "(every second), so a run may overshoot by up to a second of traffic")
    p.add_argument("--users", type=int, default=10, help="peak publishing users")
    p.add_argument("--shape", choices=SHAPES, default="steady")
    p.add_argument("--user-rate", type=float, default=1.0, help="tasks/s per publishing user")
    p.add_argument("--events-per-task", type=int, default=5)
    p.add_argument("--batch-max-messages", type=int, default=100)
    p.add_argument("--batch-max-latency", type=float, default=0.01, help="seconds")
    p.add_argument("--flow-control-messages", type=int, default=1000,
                   help="outstanding publishes per worker process before publish() blocks "
                   "(the client's flow control; default: %(default)s)")
    p.add_argument("--flow-control-bytes", type=int, default=10_000_000,
                   help="outstanding bytes per worker process (default: %(default)s)")
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
    dist = p.add_argument_group("distribution (Locust's master and workers)")
    dist.add_argument("--processes", type=int, default=None,
                      help="worker processes on this machine (default: the cores available, "
                      f"{cores()} here); with --worker, the worker processes this command forks")
    dist.add_argument("--master", action="store_true",
                      help="run the master (and the local stack, unless --target gcp) and wait "
                      "for --workers started elsewhere")
    dist.add_argument("--workers", type=int, default=1,
                      help="--master: workers to wait for before the run starts "
                      "(default: %(default)s)")
    dist.add_argument("--workers-wait", type=float, default=WORKERS_MAX_WAIT,
                      help="--master: seconds to wait for them (default: %(default)s)")
    dist.add_argument("--hold", action="store_true",
                      help="after the report, stay up until stopped (a pod: its reports can be "
                      "copied out, and its Deployment does not start a second run)")
    dist.add_argument("--master-bind-host", default="127.0.0.1",
                      help="--master: the address workers connect to (default: %(default)s; "
                      "0.0.0.0 in a pod)")
    dist.add_argument("--worker", action="store_true",
                      help="run workers only, for the master at --master-host; every other "
                      "setting comes from the master")
    dist.add_argument("--master-host", default="127.0.0.1", help="--worker: the master's address")
    dist.add_argument("--master-port", type=int, default=MASTER_PORT,
                      help="--master / --worker: the master's port (default: %(default)s)")
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


def check_distribution(args) -> None:
    """Refuse combinations of the distribution options that cannot mean anything."""
    if args.master and args.worker:
        raise TargetError("--master and --worker exclude each other: a process is one of them")
    if args.master and args.processes is not None:
        raise TargetError("--master runs no workers itself; start them with --worker "
                          "(and --processes there), or drop --master to fork them here")
    if args.processes is not None and args.processes < 1:
        raise TargetError("--processes needs at least 1 worker process")
    if args.workers < 1:
        raise TargetError("--workers needs at least 1 worker")
    if args.events < 0:
        raise TargetError("--events needs a positive count (or 0: --run-time only)")
    try:
        parse_duration(args.run_time)  # one sentence here, not a traceback in Locust
    except ValueError as exc:
        raise TargetError(f"--run-time: {exc}") from None


def worker_command(args) -> list[str]:
    """Locust workers for the master at ``--master-host``: they take every setting from it."""
    processes = args.processes or cores()
    return [
        sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--worker",
        "--master-host", args.master_host, "--master-port", str(args.master_port),
        "--loglevel", "WARNING", *(["--processes", str(processes)] if processes > 1 else []),
    ]


def locust_command(args, reports: Path, host: str | None = None,
                   user_classes: list[str] | None = None) -> list[str]:
    """The Locust master (with its forked workers unless ``--master``): schedule and reports.
    ``user_classes``: instead of ``--via``'s (a benchmark without the probe)."""
    prefix = reports / args.name
    if args.master:
        distribution = ["--master", "--expect-workers", str(args.workers),
                        "--expect-workers-max-wait", str(int(args.workers_wait)),
                        "--master-bind-host", args.master_bind_host,
                        "--master-bind-port", str(args.master_port)]
    else:  # forked workers find their master on loopback, on a port nobody else uses
        port = free_port()
        distribution = ["--processes", str(args.processes or cores()),
                        "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                        "--master-host", "127.0.0.1", "--master-port", str(port)]
    return [
        sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
        "--users", str(args.users), "--spawn-rate", str(args.users),
        "--run-time", str(int(parse_duration(args.run_time))),
        "--csv", str(prefix), "--csv-full-history", "--html", f"{prefix}.html",
        "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10",
        *distribution, *(["--host", host] if host else []),
        *(user_classes or USERS[args.via]),
    ]


def locust_env(args, target: Target | None, rest: tuple[str, str] | None = None,
               prefix: Path | None = None) -> dict[str, str]:
    """The environment of the Locust process: the target and knobs as ``LOADTEST_*`` (which the
    locustfile reads as Locust options). ``target`` None: a worker, which gets them from its
    master and must not follow an emulator variable to the wrong place."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    if target is None or target.kind == "gcp":
        for name in EMULATOR_VARIABLES:  # the clients would follow them instead of GCP
            env.pop(name, None)
    if target is None:
        return env
    env.update(target.to_env())
    env.update(
        LOADTEST_SHAPE=args.shape,
        LOADTEST_USER_RATE=str(args.user_rate),
        LOADTEST_EVENTS_PER_TASK=str(args.events_per_task),
        LOADTEST_BATCH_MAX_MESSAGES=str(args.batch_max_messages),
        LOADTEST_BATCH_MAX_LATENCY=str(args.batch_max_latency),
        LOADTEST_FLOW_CONTROL_MESSAGES=str(args.flow_control_messages),
        LOADTEST_FLOW_CONTROL_BYTES=str(args.flow_control_bytes),
        LOADTEST_PROBE_INTERVAL=str(args.probe_interval),
        LOADTEST_RUN_ID=uuid.uuid4().hex[:8],
        LOADTEST_VIA=args.via,
        LOADTEST_INVALID_RATIO=str(args.invalid_ratio),
        LOADTEST_EVENTS=str(args.events),
    )
    if prefix is not None:  # what only the master writes
        env.update(LOADTEST_E2E_CSV=f"{prefix}_e2e.csv", LOADTEST_WORKERS_CSV=f"{prefix}_workers.csv")
    if rest is not None:
        env.update(LOADTEST_REST_KEYS=rest[1])
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


def rows_of(path: Path) -> list[dict]:
    """The rows of a report CSV; none when the run did not write it."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def failures(failures_csv: Path) -> list[str]:
    """Failed requests by type and status code, from Locust's failures CSV."""
    return [f"  failed {row['Method']} {row['Name']}: {row['Error']} x {row['Occurrences']}"
            for row in rows_of(failures_csv)]


def per_worker(workers_csv: Path) -> list[str]:
    """What each worker reported (events handed over, failures, probes), from the master."""
    return [f"  worker {row['worker']}: events {row['events']:>7}  failures {row['failures']:>5}"
            f"  e2e probes {row['e2e']}" for row in rows_of(workers_csv)]


def read_landed(path: Path) -> list:
    """The probes ``<name>_e2e.csv`` holds, as :class:`loadtest.landing.Landed`."""
    from loadtest.landing import Landed

    return [Landed(row["event_id"], float(row["published"]),
                   float(row["processing"]) if row["processing"] else None,
                   float(row["lower"]), float(row["upper"]))
            for row in rows_of(path)]


def configuration(args, target: Target, load_at_start: float | None) -> dict[str, str]:
    """What this run was: its options, target and machine (for the HTML report)."""
    try:
        from apache_beam import __version__ as beam
    except ImportError:  # the load-test image has no Beam: it runs no pipeline
        beam = "not installed"

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
        "software": f"Python {platform.python_version()}, apache-beam {beam}",
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


def run_worker(args) -> int:
    """Workers only: no stack, no report; every setting arrives from the master."""
    print(f"locust workers ({args.processes or cores()}) for the master at "
          f"{args.master_host}:{args.master_port}", flush=True)
    return subprocess.call(worker_command(args), env=locust_env(args, None))


def run(args) -> int:
    from loadtest.chart import build_chart
    from loadtest.landing import describe, summarise

    check_distribution(args)
    if args.worker:
        return run_worker(args)
    target = select_target(args)
    check_via(args)
    args.started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    args.name = args.name or f"load-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    reports = Path(args.reports)
    reports.mkdir(parents=True, exist_ok=True)
    load_at_start = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
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
        workers = (f"master on {args.master_bind_host}:{args.master_port}, waiting for "
                   f"{args.workers} worker(s)" if args.master
                   else f"{args.processes or cores()} worker process(es)")
        bound = args.run_time + (f" or {args.events:,} events" if args.events else "")
        print(f"locust: {args.shape} shape, {args.users} users, {bound}; {workers}", flush=True)
        started = time.monotonic()
        code = subprocess.call(locust_command(args, reports, rest and rest[0]),
                               env=locust_env(args, target, rest, reports / args.name))
        print(f"locust exited with {code} after {time.monotonic() - started:.0f}s", flush=True)
    finally:
        if edge is not None:
            edge.stop()
        if stack is not None:
            rows = stack.landed()
            stack.stop()
            print(f"pipeline stopped; events table rows {rows[0]}, dead letters {rows[1]}",
                  flush=True)
    landed = read_landed(reports / f"{args.name}_e2e.csv")
    e2e_line = f"publish -> row: {describe(summarise(landed))}"
    history = reports / f"{args.name}_stats_history.csv"
    if history.exists():
        png = build_chart(history, reports / f"{args.name}_chart.png",
                          title=f"{args.shape} load on {target.kind}", landed=landed)
        print("\n".join(summary(reports / f"{args.name}_stats.csv")
                        + failures(reports / f"{args.name}_failures.csv")
                        + per_worker(reports / f"{args.name}_workers.csv")))
        print(e2e_line)
        html_report = reports / f"{args.name}.html"
        if html_report.exists():
            embed(html_report, png, e2e_line, configuration(args, target, load_at_start))
        print(f"reports: {reports}/{args.name}_*.csv, {args.name}.html, {png.name}")
    if args.hold:
        hold(reports)
    return code


def hold(reports: Path) -> None:
    """Stay up until SIGTERM or Ctrl-C: a pod keeps its reports, and does not run again."""
    import signal

    print(f"holding: the reports are in {reports}; stop this process when you have them",
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
