"""``python -m harness up|down|env|status|images``: the emulator stack from the command line.

``up`` starts both emulators in the background (they outlive the command), provisions them from
``harness.toml`` and records where they are in ``.harness/state.json``; ``env`` prints the
``export`` lines for your shell (like ``gcloud beta emulators pubsub env-init``):

    python -m harness up && eval "$(python -m harness env)"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from harness.provision import DEFAULT_CONFIG
from harness.stack import BACKENDS, ROOT, Endpoints, Stack, StackError, wait_healthy

STATE_DIR = ROOT / ".harness"


def _state_file(state_dir: Path) -> Path:
    return state_dir / "state.json"


def _load_state(state_dir: Path) -> dict:
    path = _state_file(state_dir)
    if not path.exists():
        raise StackError(f"no stack is up (no {path}); start one with: python -m harness up")
    return json.loads(path.read_text())


def cmd_up(args) -> int:
    from harness import clients
    from harness.provision import HarnessConfig, provision

    state_dir = Path(args.state_dir)
    if _state_file(state_dir).exists():
        raise StackError("a stack is already up; see `python -m harness status` or run `down`")
    stack = Stack(backend=args.backend, run_dir=state_dir, data_dir=args.data_dir, detach=True)
    endpoints = stack.start()
    state = {
        "backend": args.backend,
        "pubsub": endpoints.pubsub,
        "bigquery": endpoints.bigquery,
        "pids": [p.process.pid for p in stack.processes],
        # what each pid was when we started it: `down` signals only a process that still is
        "identities": [process_identity(p.process.pid) for p in stack.processes],
        "logs": [str(p.log_path) for p in stack.processes],
    }
    if stack.container_backend is not None:
        state["containers"] = stack.container_backend.state()
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


def process_identity(pid: int) -> str | None:
    """What makes a pid this process and no later one: its start time and command line
    (``/proc``, else ``ps``); None when no such process runs."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").is_dir():
        try:
            # field 22 of stat, counted after the parenthesised command name (it may hold spaces)
            start = (proc / "stat").read_text().rpartition(")")[2].split()[19]
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            return None
        return f"{start} {b' '.join(argv).decode(errors='replace').strip()}"
    done = subprocess.run(["ps", "-o", "lstart=,command=", "-p", str(pid)],
                          capture_output=True, text=True)
    return " ".join(done.stdout.split()) or None


def cmd_down(args) -> int:
    state_dir = Path(args.state_dir)
    state = _load_state(state_dir)
    identities = state.get("identities") or [None] * len(state.get("pids", []))
    for pid, started_as in zip(state.get("pids", []), identities, strict=True):
        now = process_identity(pid)
        if now is None:
            continue  # already gone
        if now != started_as:
            print(f"pid {pid} is no longer the emulator `up` started; not signalled",
                  file=sys.stderr)
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    if "containers" in state:
        from harness.containers import from_state

        from_state(state["backend"], state["containers"]).down()
    _state_file(state_dir).unlink()
    print("emulators down", file=sys.stderr)
    return 0


def cmd_env(args) -> int:
    state = _load_state(Path(args.state_dir))
    print(Endpoints(state["pubsub"], state["bigquery"]).export_lines(), end="")
    return 0


def cmd_status(args) -> int:
    state = _load_state(Path(args.state_dir))
    endpoints = Endpoints(state["pubsub"], state["bigquery"])
    print(f"backend:  {state['backend']}")
    print(f"pubsub:   {endpoints.pubsub}")
    print(f"bigquery: {endpoints.bigquery}")
    identities = state.get("identities") or [None] * len(state.get("pids", []))
    for pid, started_as, log in zip(state.get("pids", []), identities, state.get("logs", []),
                                    strict=True):
        alive = process_identity(pid) == started_as
        print(f"pid {pid}: {'running' if alive else 'gone'}  (log {log})")
    try:
        wait_healthy(endpoints, timeout=3)
    except StackError as exc:
        print(f"health:   FAILING ({exc})")
        return 1
    print("health:   ok")
    return 0


def cmd_images(args) -> int:
    from harness import engine, images

    found = engine.ensure() if args.setup_engine else engine.find()
    print(found.describe())
    report = images.build_emulators(base=args.base)
    if args.google:
        tag = images.build_google_pubsub(base=report.base, report=report)
    print("\n".join(report.lines()))
    if args.google:
        for name, value in images.google_pubsub_compose_env(tag).items():
            print(f"export {name}={shlex.quote(value)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", default=str(STATE_DIR), help="where state and logs go")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start and provision the emulators in the background")
    up.add_argument("--backend", choices=BACKENDS, default="embedded")
    up.add_argument("--config", default=str(DEFAULT_CONFIG), help="harness file")
    up.add_argument("--project", default=None, help="override the harness file's project")
    up.add_argument("--data-dir", default=None, help="persist emulator data here")
    up.add_argument("--no-provision", action="store_true", help="start only")
    sub.add_parser("down", help="stop the emulators started by `up`")
    sub.add_parser("env", help="print export lines for PUBSUB/BIGQUERY_EMULATOR_HOST")
    sub.add_parser("status", help="show the endpoints and whether they answer")
    images = sub.add_parser(
        "images", help="build the emulators' container images here (no registry needed)"
    )
    images.add_argument("--base", default=None,
                        help="base image (default: python:3.11-slim, else a local Debian base)")
    images.add_argument("--google", action="store_true",
                        help="also Google's Pub/Sub emulator image for compose's google profile")
    images.add_argument("--setup-engine", action="store_true",
                        help="no Docker engine? install docker.io and start dockerd (root, apt)")
    args = parser.parse_args(argv)
    commands = {"up": cmd_up, "down": cmd_down, "env": cmd_env, "status": cmd_status,
                "images": cmd_images}
    try:
        return commands[args.command](args)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
