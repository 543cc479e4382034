"""``python -m parity``: compare two targets, or record / replay one target's results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from parity import report, runner
from parity.scenario import discover
from parity.targets import COST_FLAG, TargetError, parse_target

DEFAULT_OUT = Path(__file__).resolve().parent / "reports"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m parity",
        description="Run the same scenarios on two targets and report where they differ.",
        epilog="targets: embedded | google-emulator | bqemulator"
        " | external:pubsub=HOST:PORT,bigquery=URL | gcp:PROJECT (needs " + COST_FLAG + ")",
    )
    p.add_argument(
        "--a", default="embedded", metavar="TARGET", help="the target under test (embedded)"
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--b", metavar="TARGET", help="the target to compare with")
    mode.add_argument("--replay", metavar="DIR", type=Path, help="compare with recorded results")
    mode.add_argument("--record", metavar="DIR", type=Path, help="record --a's results here")
    p.add_argument("--scenarios", default="*", metavar="GLOB", help="e.g. 'pubsub_*' (default *)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report directory")
    p.add_argument("--strict", action="store_true", help="exit 1 when any scenario differs")
    p.add_argument(
        COST_FLAG,
        dest="allow_cost",
        action="store_true",
        help="allow a gcp:PROJECT target (real resources, real bills)",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = discover(args.scenarios)
    if args.list:
        for s in scenarios:
            print(f"{s.name:40} {s.service:9} {s.description}")
        return 0
    if not scenarios:
        print(f"parity: no scenario matches {args.scenarios!r}", file=sys.stderr)
        return 2
    try:
        a = runner.Live(parse_target(args.a, args.allow_cost))
        if args.b:
            b = runner.Live(parse_target(args.b, args.allow_cost))
        elif args.replay:
            b = runner.Replay(args.replay)
    except (TargetError, FileNotFoundError) as exc:
        print(f"parity: {exc}", file=sys.stderr)
        return 2

    if args.record:
        try:
            results = runner.record(scenarios, a, args.record, progress=_print_recorded)
        except TargetError as exc:
            print(f"parity: {exc}", file=sys.stderr)
            return 2
        finally:
            a.close()
        print(f"recorded {len(results)} scenario(s) of {a.label} in {args.record}")
        return 0

    try:
        outcomes = runner.compare(scenarios, a, b, progress=_print_outcome)
    except TargetError as exc:
        print(f"parity: {exc}", file=sys.stderr)
        return 2
    finally:
        a.close()
        b.close()
    json_path, md_path = report.write(outcomes, a.label, b.label, args.out)
    print(report.score_line(outcomes, a.label, b.label))
    print(f"report: {md_path} and {json_path}")
    different = any(o.status == "different" for o in outcomes)
    return 1 if args.strict and different else 0


def _print_outcome(outcome: runner.Outcome) -> None:
    extra = f" ({', '.join(outcome.differing)})" if outcome.differing else ""
    print(f"{outcome.status:12} {outcome.scenario}{extra}", flush=True)


def _print_recorded(result: dict) -> None:
    print(f"recorded     {result['scenario']} ({len(result['steps'])} steps)", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
