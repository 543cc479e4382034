"""``python -m emulators up|down|env|status``: the emulator stack from the command line.

``up`` starts both emulators in the background (they outlive the command), provisions them from
``harness.toml`` and records where they are in ``.harness/state.json``; ``env`` prints the
``export`` lines for your shell (like ``gcloud beta emulators pubsub env-init``):

    python -m emulators up && eval "$(python -m emulators env)"
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from emulators.stack import BACKENDS, ROOT, Endpoints, Stack, StackError, wait_healthy

STATE_DIR = ROOT / ".harness"


def _state_file(state_dir: Path) -> Path:
    return state_dir / "state.json"


def _load_state(state_dir: Path) -> dict:
    path = _state_file(state_dir)
    if not path.exists():
        raise StackError(f"no stack is up (no {path}); start one with: python -m emulators up")
    return json.loads(path.read_text())


def cmd_up(args) -> int:
    from emulators import clients
    from emulators.provision import HarnessConfig, provision

    state_dir = Path(args.state_dir)
    if _state_file(state_dir).exists():
        raise StackError("a stack is already up; see `python -m emulators status` or run `down`")
    stack = Stack(backend=args.backend, run_dir=state_dir, data_dir=args.data_dir)
    endpoints = stack.start()
    state = {
        "backend": args.backend,
        "pubsub": endpoints.pubsub,
        "bigquery": endpoints.bigquery,
        "bigquery_storage": endpoints.bigquery_storage,
        "pids": [p.process.pid for p in stack.processes],
        "logs": [str(p.log_path) for p in stack.processes],
    }
    _state_file(state_dir).write_text(json.dumps(state, indent=2))
    if not args.no_provision:
        config = HarnessConfig.load(args.config, project=args.project)
        provision(
            config,
            clients.publisher(endpoints),
            clients.subscriber(endpoints),
            clients.bigquery(endpoints, config.project),
        )
        print(f"provisioned project {config.project} from {args.config}", file=sys.stderr)
    print(f"emulators up ({args.backend}); for your shell:", file=sys.stderr)
    print(endpoints.export_lines(), end="")
    return 0


def cmd_down(args) -> int:
    state_dir = Path(args.state_dir)
    state = _load_state(state_dir)
    for pid in state.get("pids", []):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    if state["backend"] == "docker":
        from emulators.containers import compose_down

        compose_down(ROOT / "docker-compose.yml")
    _state_file(state_dir).unlink()
    print("emulators down", file=sys.stderr)
    return 0


def _endpoints(state: dict) -> Endpoints:
    return Endpoints(state["pubsub"], state["bigquery"], state.get("bigquery_storage", ""))


def cmd_env(args) -> int:
    state = _load_state(Path(args.state_dir))
    print(_endpoints(state).export_lines(), end="")
    return 0


def cmd_status(args) -> int:
    state = _load_state(Path(args.state_dir))
    endpoints = _endpoints(state)
    print(f"backend:  {state['backend']}")
    print(f"pubsub:   {endpoints.pubsub}")
    print(f"bigquery: {endpoints.bigquery}")
    if endpoints.bigquery_storage:
        print(f"bigquery storage API: {endpoints.bigquery_storage}")
    for pid, log in zip(state.get("pids", []), state.get("logs", []), strict=True):
        alive = Path(f"/proc/{pid}").exists()
        print(f"pid {pid}: {'running' if alive else 'gone'}  (log {log})")
    try:
        wait_healthy(endpoints, timeout=3)
    except StackError as exc:
        print(f"health:   FAILING ({exc})")
        return 1
    print("health:   ok")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", default=str(STATE_DIR), help="where state and logs go")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start and provision the emulators in the background")
    up.add_argument("--backend", choices=BACKENDS, default="embedded")
    up.add_argument("--config", default=str(ROOT / "harness.toml"), help="harness file")
    up.add_argument("--project", default=None, help="override the harness file's project")
    up.add_argument("--data-dir", default=None, help="persist emulator data here")
    up.add_argument("--no-provision", action="store_true", help="start only")
    sub.add_parser("down", help="stop the emulators started by `up`")
    sub.add_parser("env", help="print export lines for PUBSUB/BIGQUERY_EMULATOR_HOST")
    sub.add_parser("status", help="show the endpoints and whether they answer")
    args = parser.parse_args(argv)
    try:
        return {"up": cmd_up, "down": cmd_down, "env": cmd_env, "status": cmd_status}[
            args.command
        ](args)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
