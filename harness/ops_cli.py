"""``python -m harness metrics|alerts|snapshots``: the operations commands of the harness CLI (registered by
``harness/cli.py``), against the stack ``python -m harness up`` started (or the emulators the
``*_EMULATOR_HOST`` variables point at).

    python -m harness metrics                 # every metric now, Cloud Monitoring's names
    python -m harness metrics --watch --grep subscription   # again every second, with rates
    python -m harness metrics --watch --json  # one JSON object per sample: a time series
    python -m harness alerts                  # evaluate ops/alerts.toml until Ctrl-C
    python -m harness alerts --webhook http://127.0.0.1:9000/hook --for 120
    python -m harness snapshots --every 1h    # scheduled snapshots (ops/snapshots.py's rule)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from harness.config import ConfigError, HarnessConfig, find_config
from harness.endpoints import Endpoints, StackError


def _state(state_dir: str) -> dict | None:
    path = Path(state_dir) / "state.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StackError(f"{path} cannot be read ({exc}); delete it and run up again") from None


def _endpoints(state_dir: str) -> Endpoints:
    pubsub = os.environ.get("PUBSUB_EMULATOR_HOST")
    bigquery = os.environ.get("BIGQUERY_EMULATOR_HOST")
    if pubsub and bigquery:
        storage = os.environ.get("STORAGE_EMULATOR_HOST", "")
        return Endpoints(pubsub, bigquery if "://" in bigquery else f"http://{bigquery}", storage)
    saved = _state(state_dir)
    if saved is None:
        raise StackError("no stack is up: start one with `python -m harness up` "
                         "(or set PUBSUB_EMULATOR_HOST and BIGQUERY_EMULATOR_HOST).")
    return Endpoints(saved["pubsub"], saved["bigquery"], saved.get("storage", ""))


def _config(args) -> HarnessConfig:
    """The harness file and project: as given, else the project ``up`` provisioned."""
    project = args.project
    if project is None:
        saved = _state(args.state_dir)
        project = saved.get("project") if saved else None
    try:
        return HarnessConfig.load(args.config, project=project)
    except ConfigError as exc:
        raise StackError(str(exc)) from None


def _observer(args):
    from harness import clients
    from harness.observe import Observer

    endpoints = _endpoints(args.state_dir)
    config = _config(args)
    return Observer(endpoints, config, clients.bigquery(endpoints, config.project)), config


def _line(sample, rate: float | None) -> str:
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
    text = f"{sample.name}{{{labels}}} {sample.value:g}"
    return text if rate is None else f"{text}   ({rate:+.2f}/s)"


def cmd_metrics(args) -> int:
    observer, _ = _observer(args)
    previous = None
    deadline = None if args.for_seconds is None else time.monotonic() + args.for_seconds
    while True:
        snapshot = observer.sample()
        if not snapshot.samples:
            raise StackError("neither emulator answered /_emulator/metrics; is the stack up?")
        chosen = [s for s in snapshot.samples.values() if (args.grep or "") in s.name]
        if args.json:
            print(json.dumps({"time": time.time(), "samples": [
                {"metric": s.name, "labels": s.labels, "value": s.value} for s in chosen]}),
                flush=True)  # fmt: skip
        else:
            if previous is not None:
                print(f"--- {time.strftime('%H:%M:%S')}")
            for sample in sorted(chosen, key=lambda s: (s.name, sorted(s.labels.items()))):
                rate = None
                before = previous.samples.get(sample.key()) if previous else None
                if before is not None and snapshot.at > previous.at:
                    rate = (sample.value - before.value) / (snapshot.at - previous.at)
                print(_line(sample, rate if args.watch else None), flush=True)
        if not args.watch or (deadline is not None and time.monotonic() >= deadline):
            return 0
        previous = snapshot
        time.sleep(args.interval)


def cmd_alerts(args) -> int:
    from harness.observe import AlertWatch, rule_variables
    from ops import rules as rules_module
    from ops.notify import Notifier

    observer, config = _observer(args)
    try:
        rules = rules_module.load(args.rules, rule_variables(config, args.webhook or ""))
    except rules_module.RulesError as exc:
        raise StackError(str(exc)) from None
    notifier = Notifier(rules, config.project)
    watch = AlertWatch(observer, rules, notifier, args.interval)
    print(f"evaluating {len(rules.rules)} rules from {args.rules} every {args.interval:g}s "
          "(Ctrl-C to stop)", file=sys.stderr)
    deadline = None if args.for_seconds is None else time.monotonic() + args.for_seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            started = time.monotonic()
            watch.step()
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    still = sorted(watch.open_now())
    print(f"open at exit: {', '.join(still) if still else 'none'}", file=sys.stderr)
    return 0


def cmd_snapshots(args) -> int:
    from harness import clients
    from harness.snapshots import ScheduledSnapshots
    from ops import snapshots as policy

    endpoints = _endpoints(args.state_dir)
    config = _config(args)
    try:
        every = policy.parse_every(args.every) if args.every else None
    except policy.RulesError as exc:
        raise StackError(str(exc)) from None
    schedule = ScheduledSnapshots(endpoints, config, clients.subscriber(endpoints), every,
                                  args.keep)
    print(f"a snapshot of {schedule.subscription} every {schedule.every:g}s, the newest "
          f"{schedule.keep} kept (Ctrl-C to stop)", file=sys.stderr)
    deadline = None if args.for_seconds is None else time.monotonic() + args.for_seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            print(f"took {schedule.take()}", flush=True)
            wait = schedule.every if deadline is None else min(
                schedule.every, max(0.0, deadline - time.monotonic()))
            time.sleep(wait)
    except KeyboardInterrupt:
        pass
    except policy.RulesError as exc:  # the backlog grew too old for the schedule
        raise StackError(str(exc)) from None
    return 0


def register(sub, parents: tuple = (), formatter_class=None) -> None:
    """Add ``metrics``, ``alerts`` and ``snapshots`` to the harness CLI's subcommands."""
    from ops.rules import DEFAULT_RULES

    extra = {"parents": list(parents)}
    if formatter_class is not None:
        extra["formatter_class"] = formatter_class

    def common(parser):
        parser.add_argument("--config", default=str(find_config()),
                            help="harness file (found from the working directory upward)")
        parser.add_argument("--project", default=None,
                            help="the project to watch (default: the one `up` provisioned)")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
        parser.add_argument("--for", dest="for_seconds", type=float, default=None,
                            metavar="SECONDS", help="stop after this long")

    metrics = sub.add_parser("metrics", help="sample the stack's metrics (Cloud Monitoring names)",
                             **extra)
    common(metrics)
    metrics.add_argument("--watch", action="store_true", help="sample again every --interval")
    metrics.add_argument("--json", action="store_true", help="one JSON object per sample")
    metrics.add_argument("--grep", default=None, help="only metrics whose name contains this")
    metrics.set_defaults(run=cmd_metrics)
    alerts = sub.add_parser("alerts", help="evaluate ops/alerts.toml against the running stack",
                            **extra)
    common(alerts)
    alerts.add_argument("--rules", default=str(DEFAULT_RULES), help="rules file")
    alerts.add_argument("--webhook", default=None, help="URL the oncall channel posts to "
                        "(default: $STREAMBENCH_ALERT_WEBHOOK; none: printed only)")
    alerts.set_defaults(run=cmd_alerts)
    snaps = sub.add_parser("snapshots", help="snapshot the pipeline's subscription on a "
                           "schedule (snapshot_every of harness.toml)", **extra)
    common(snaps)
    snaps.add_argument("--every", default=None, help='e.g. "1h" (default: snapshot_every)')
    snaps.add_argument("--keep", type=int, default=None,
                       help="how many to keep (default: snapshot_keep)")
    snaps.set_defaults(run=cmd_snapshots)
