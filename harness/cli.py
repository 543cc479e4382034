"""``python -m harness up|down|env|status|logs|images|metrics|alerts|snapshots``: the stack from
the command line (the last three: the operations commands, harness/ops_cli.py).

``up`` starts both emulators in the background (they outlive the command), provisions them from
the harness file and records where they are in ``.harness/state.json``; ``env`` prints the
``export`` lines for your shell (like ``gcloud beta emulators pubsub env-init``):

    python -m harness up && eval "$(python -m harness env)"

The harness file is ``harness.toml`` from the working directory upward, else the one shipped with
the package; state goes to ``.harness/`` next to it (or in the working directory).
With ``[ingest] rest = true`` / ``mqtt = true`` in the harness file (or ``up --rest --mqtt``),
``up`` also starts the ingestion edge once Pub/Sub is provisioned: the REST edge
(``INGEST_URL``, port 8080) and the MQTT broker (``MQTT_BROKER_URL``, port 1883) with its bridge.

``start``/``stop`` are aliases of ``up``/``down``. Environment: STREAMBENCH_STATE_DIR,
STREAMBENCH_PUBSUB_PORT, STREAMBENCH_BIGQUERY_PORT, STREAMBENCH_REST_PORT, STREAMBENCH_MQTT_PORT
set the defaults of the options of those names.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from emulators.cli import port as port_number
from harness.config import (
    STATE_DIR_NAME,
    ConfigError,
    HarnessConfig,
    find_config,
    project_dir,
)
from harness.edge import DEFAULT_PORTS as EDGE_PORTS
from harness.edge import NAMES as EDGE_NAMES
from harness.stack import BACKENDS, Endpoints, Stack, StackError

DEFAULT_HOST = "127.0.0.1"
# gcloud's Pub/Sub port, goccy's BigQuery port, gcp-storage-emulator's (our Cloud Storage base),
# and the ingestion edge's (harness/edge.py)
DEFAULT_PORTS = {"pubsub": 8085, "bigquery": 9050, "storage": 9023, **EDGE_PORTS}
EMULATORS = ("pubsub", "bigquery", "storage")
SERVERS = (*EMULATORS, *EDGE_NAMES.values())  # what `logs` can name


def _state_file(state_dir: Path) -> Path:
    return state_dir / "state.json"


def _load_state(state_dir: Path) -> dict:
    path = _state_file(state_dir)
    if not path.exists():
        raise StackError(f"no stack is up (no {path}); start one with: python -m harness up")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StackError(f"{path} cannot be read ({exc}); delete it and run up again") from None


def process_identity(pid: int) -> str | None:
    """What makes a pid this process and no later one: its start time and command line
    (``/proc``, else ``ps``); None when no such process runs."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").is_dir():
        try:
            # field 22 of stat, counted after the parenthesised command name (it may hold spaces)
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
            if fields[0] == "Z":  # exited, not yet reaped by whoever adopted it
                return None
            start = fields[19]
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            return None
        return f"{start} {b' '.join(argv).decode(errors='replace').strip()}"
    done = subprocess.run(["ps", "-o", "lstart=,command=", "-p", str(pid)],
                          capture_output=True, text=True)
    return " ".join(done.stdout.split()) or None


def _alive(pid: int, state: dict) -> bool:
    """Whether ``pid`` still is the emulator `up` recorded in ``state`` (not merely some process
    that got the number since: a state file without identities matches nothing)."""
    identities = dict(zip(state.get("pids", []), state.get("identities", []), strict=False))
    started_as = identities.get(pid)
    return started_as is not None and process_identity(pid) == started_as


def _prepare_state_dir(state_dir: Path) -> None:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StackError(f"--state-dir {state_dir} cannot be created ({exc.strerror})") from None
    if not os.access(state_dir, os.W_OK):
        raise StackError(f"--state-dir {state_dir} is not writable")


def _port(args, section: dict, name: str) -> tuple[int, bool]:
    """The port for ``name`` and whether a taken one may fall back to a free one (only when
    nobody chose it: the default). ``section``: the harness file's table that may set it."""
    given = getattr(args, f"{name}_port")
    if given is not None:
        return given, False
    configured = section.get(f"{name}_port")
    if configured is not None:
        return configured, False
    return DEFAULT_PORTS[name], True


def _edge_wanted(args, config: HarnessConfig) -> tuple[bool, bool]:
    """``(rest, mqtt)``: what of the ingestion edge ``up`` starts; checked before anything
    starts (the edge's config file, the ingest extra)."""
    from harness import edge

    rest = bool(args.rest or config.ingest.get("rest"))
    mqtt = bool(args.mqtt or config.ingest.get("mqtt"))
    if not (rest or mqtt):
        return False, False
    if config.ingest_topic_path() is None:
        raise ConfigError(f"{config.path}: the ingestion edge needs a topic to publish to: add "
                          "[ingest] topic = \"NAME\" (or a [pipeline] input_subscription)")
    if rest and not config.ingest.get("config") and \
            not config.ingest.get("allow_unauthenticated"):
        raise ConfigError(f"{config.path}: --rest needs [ingest] config = \"FILE\" (the edge's "
                          "sources and API keys) or allow_unauthenticated = true (local use only)")
    problem = edge.missing_extra()
    if problem:
        raise StackError(problem)
    if rest and config.ingest_path("config"):
        edge.check_rest_config(config.ingest_path("config"))
    return rest, mqtt


def _start_edge(args, config: HarnessConfig, endpoints: Endpoints, state_dir: Path,
                rest: bool, mqtt: bool):
    from harness.edge import Edge

    ingest = config.ingest
    return Edge(
        log_dir=state_dir / "logs", pubsub=endpoints.pubsub, topic=config.ingest_topic_path(),
        host=ingest.get("host", DEFAULT_HOST),
        ports={kind: _port(args, ingest, kind) for kind in ("rest", "mqtt")},
        rest_config=config.ingest_path("config"),
        allow_unauthenticated=bool(ingest.get("allow_unauthenticated")),
        topic_filter=ingest.get("topic_filter", "devices/+/events"),
        dead_letter_topic=config.topic_path(ingest["dead_letter_topic"])
        if ingest.get("dead_letter_topic") else None,
    ).start(rest, mqtt)


def _environment(name: str, project: str | None):
    """The deploy spec ``environments/NAME.toml``, checked before anything starts."""
    from deploy import spec as specs

    try:
        environment = specs.load(name, project=project)
    except specs.SpecError as exc:
        raise StackError(" ".join(exc.errors)) from None
    if environment.target != "emulators":
        raise StackError(
            f"environment '{name}' targets Google Cloud; `up --env` provisions only an emulator "
            "environment (Google Cloud: python -m deploy plan/apply with --project and the flag)"
        )
    return environment


def _apply_environment(environment, endpoints: Endpoints) -> None:
    """``python -m deploy apply`` of ``environment`` on the emulators just started: the code
    path staging and production are provisioned with."""
    from deploy.clients import Clients
    from deploy.plan import DeployError, apply

    clients = Clients.for_emulators(environment.project, endpoints.pubsub, endpoints.bigquery,
                                    endpoints.storage or None)
    try:
        done = apply(environment, clients)
    except DeployError as exc:
        raise StackError(f"provisioning environment {environment.name} failed: {exc}") from None
    finally:
        clients.close()
    print(f"provisioned environment {environment.name} (project {environment.project}) from "
          f"{', '.join(map(str, environment.files))}: {len(done.changes)} changes", file=sys.stderr)


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (e.g. localhost:8085), not {value!r}")
    return host.strip("[]"), int(port)


def cmd_up(args) -> int:
    from harness import clients
    from harness.provision import provision, read_seeds

    # Everything that can be wrong with the files is found before anything starts.
    config = HarnessConfig.load(args.config, project=args.project)
    seeds = read_seeds(config, args.seed)
    rest, mqtt = _edge_wanted(args, config)
    environment = _environment(args.env, args.project) if args.env else None
    state_dir = Path(args.state_dir)
    _prepare_state_dir(state_dir)
    if _state_file(state_dir).exists():
        state = _load_state(state_dir)
        if any(_alive(pid, state) for pid in state.get("pids", [])) \
                or state["backend"] != "embedded":
            raise StackError(
                "a stack is already up; see `python -m harness status`, or `down` first"
            )
        _state_file(state_dir).unlink()
        print("note: the stack recorded in "
              f"{_state_file(state_dir)} is gone; starting a new one", file=sys.stderr)
    if args.host_port:
        args.host, args.pubsub_port = args.host_port
    ports = {name: _port(args, config.emulators, name) for name in EMULATORS}
    stack = Stack(
        backend=args.backend, run_dir=state_dir, data_dir=args.data_dir, detach=True,
        host=args.host or config.emulators.get("host", DEFAULT_HOST),
        **{f"{name}_port": port for name, (port, _) in ports.items()},
        free_port_fallback=tuple(name for name, (_, fallback) in ports.items() if fallback),
    )
    edge = None
    try:
        endpoints = stack.start()
        state = {
            "backend": args.backend,
            "pubsub": endpoints.pubsub,
            "bigquery": endpoints.bigquery,
            "storage": endpoints.storage,
            "bigquery_storage": endpoints.bigquery_storage,
            "pids": [p.process.pid for p in stack.processes],
            # what each pid was when we started it: `down` signals only a process that still is
            "identities": [process_identity(p.process.pid) for p in stack.processes],
            "logs": [str(p.log_path) for p in stack.processes],
            "names": [p.name for p in stack.processes],  # in the order of pids and logs
            "project": environment.project if environment else config.project,
            "config": str(environment.files[-1]) if environment else str(config.path),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if stack.container_backend is not None:
            state["containers"] = stack.container_backend.state()
        _state_file(state_dir).write_text(json.dumps(state, indent=2))
        for note in stack.notes:
            print(f"note: {note}", file=sys.stderr)
        if environment is not None and not args.no_provision:
            _apply_environment(environment, endpoints)
        elif not args.no_provision:
            publisher, subscriber = clients.publisher(endpoints), clients.subscriber(endpoints)
            bigquery = clients.bigquery(endpoints, config.project)
            gcs = clients.storage(endpoints, config.project) if endpoints.storage else None
            try:
                seeded = provision(config, publisher, subscriber, bigquery, seeds, gcs)
            finally:
                subscriber.close()
                publisher.transport.close()
                bigquery.close()
            print(f"provisioned project {config.project} from {config.path}", file=sys.stderr)
            for line in seeded:
                print(f"seeded {line}", file=sys.stderr)
        if rest or mqtt:  # after Pub/Sub is up and its topics exist
            edge = _start_edge(args, config, endpoints, state_dir, rest, mqtt)
            state["pids"] += [p.process.pid for p in edge.processes]
            state["identities"] += [process_identity(p.process.pid) for p in edge.processes]
            state["logs"] += [str(p.log_path) for p in edge.processes]
            state["names"] += [p.name for p in edge.processes]
            state.update(edge.urls)
            _state_file(state_dir).write_text(json.dumps(state, indent=2))
            for note in edge.notes:
                print(f"note: {note}", file=sys.stderr)
            endpoints = _endpoints(state)
            print(f"ingestion edge up: {', '.join(f'{k} {v}' for k, v in edge.urls.items())}",
                  file=sys.stderr)
    except BaseException:
        # Nothing is left running after a failed `up`: the next `up` starts clean.
        if edge is not None:
            edge.stop()
        stack.stop()
        _state_file(state_dir).unlink(missing_ok=True)
        raise
    print(f"emulators up ({args.backend}); for your shell:", file=sys.stderr)
    print(endpoints.export_lines(), end="")
    return 0


def cmd_down(args) -> int:
    state_dir = Path(args.state_dir)
    if not _state_file(state_dir).exists():
        print(f"nothing to stop: no stack is up (no {_state_file(state_dir)})", file=sys.stderr)
        return 0
    state = _load_state(state_dir)
    names = state.get("names", [])
    # Newest first, and the edge's processes waited for: they flush to Pub/Sub on SIGTERM.
    for index, pid in reversed(list(enumerate(state.get("pids", [])))):
        if process_identity(pid) is None:
            continue  # already gone
        if not _alive(pid, state):
            print(f"pid {pid} is no longer the process `up` started; not signalled",
                  file=sys.stderr)
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        if index < len(names) and names[index] in EDGE_NAMES.values():
            deadline = time.monotonic() + 15
            while _alive(pid, state) and time.monotonic() < deadline:
                time.sleep(0.1)
    if "containers" in state:
        from harness.containers import from_state

        from_state(state["backend"], state["containers"]).down()
    _state_file(state_dir).unlink()
    print("emulators down", file=sys.stderr)
    return 0


def _endpoints(state: dict) -> Endpoints:
    return Endpoints(state["pubsub"], state["bigquery"], state.get("storage", ""),
                     state.get("bigquery_storage", ""), ingest=state.get("ingest"),
                     mqtt=state.get("mqtt"))


def cmd_env(args) -> int:
    if args.unset:
        print(Endpoints.unset_lines(), end="")
        return 0
    state = _load_state(Path(args.state_dir))
    print(_endpoints(state).export_lines(), end="")
    return 0


def cmd_status(args) -> int:
    from harness import inventory

    state = _load_state(Path(args.state_dir))
    endpoints = _endpoints(state)
    names = state.get("names", list(EMULATORS))
    pids = dict(zip(names, state.get("pids", []), strict=False))
    logs = dict(zip(names, state.get("logs", []), strict=False))
    silent = endpoints.unanswered()
    if state.get("bridge"):
        from harness.endpoints import http_answers

        if why := http_answers(state["bridge"]):
            silent["bridge"] = why
    started = f", started {state['started']}" if state.get("started") else ""
    print(f"backend:  {state['backend']}{started}")
    # status line -> (address, process name, what it is)
    shown = {name: (where, name, f"{name} emulator")
             for name, where in endpoints.addresses().items()}
    shown.update({"ingest": (endpoints.ingest, EDGE_NAMES["rest"], "REST ingestion edge"),
                  "mqtt": (endpoints.mqtt, EDGE_NAMES["broker"], "MQTT broker"),
                  "bridge": (state.get("bridge"), EDGE_NAMES["bridge"], "MQTT bridge")})
    for name, (where, process_name, _) in shown.items():
        if not where:
            continue
        process = ""
        if process_name in pids:
            alive = "running" if _alive(pids[process_name], state) else "gone"
            process = f"  pid {pids[process_name]} {alive}  log {logs.get(process_name, '-')}"
        health = f"NOT ANSWERING ({silent[name]})" if name in silent else "answering"
        print(f"{name + ':':9} {where}  {health}{process}")
    if endpoints.bigquery_storage:
        print(f"{'':9} {endpoints.bigquery_storage}  (BigQuery Storage Read/Write API, gRPC)")
    if silent:
        for name, why in silent.items():
            where, process_name, what = shown[name]
            pid = pids.get(process_name)
            gone = f" (its process {pid} is gone)" if pid and not _alive(pid, state) else ""
            print(f"error: the {what} at {where} does not answer: {why}{gone}; see "
                  f"`python -m harness logs {process_name}`, then `down` and `up`",
                  file=sys.stderr)
        return 1
    project = args.project or state.get("project") or "local-project"
    for line in inventory.take(endpoints, project).lines():
        print(line)
    return 0


def cmd_logs(args) -> int:
    state = _load_state(Path(args.state_dir))
    names = state.get("names", list(EMULATORS))
    logs = dict(zip(names, state.get("logs", []), strict=False))
    if "containers" in state:
        from harness.containers import from_state

        print(from_state(state["backend"], state["containers"]).logs(args.emulator, args.tail),
              end="")
        return 0
    if not logs:
        raise StackError(f"the {state['backend']} backend keeps no log files here")
    if args.emulator and args.emulator not in logs:
        raise StackError(f"the stack has no {args.emulator} log; it has: {', '.join(logs)}")
    chosen = [args.emulator] if args.emulator else list(logs)
    prefix = len(chosen) > 1
    handles = {}
    for name in chosen:
        try:
            handles[name] = open(logs[name], errors="replace")  # noqa: SIM115 - held while following
        except OSError as exc:
            raise StackError(f"the {name} log {logs[name]} cannot be read ({exc.strerror})") \
                from None
    try:
        for name, handle in handles.items():
            lines = handle.readlines()
            for line in lines[-args.tail:] if args.tail else lines:
                print(f"[{name}] {line}" if prefix else line, end="")
        sys.stdout.flush()
        while args.follow:
            quiet = True
            for name, handle in handles.items():
                for line in handle.readlines():
                    quiet = False
                    print(f"[{name}] {line}" if prefix else line, end="")
            sys.stdout.flush()
            if quiet:
                time.sleep(0.2)
    except KeyboardInterrupt:
        return 0
    finally:
        for handle in handles.values():
            handle.close()
    return 0


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and every option's default (when it has one)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.option_strings and "%(default)" not in text and \
                action.default not in (None, False, [], 0, argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    try:
        return None if value in (None, "") else int(value)
    except ValueError:
        raise StackError(f"{name}={value!r} is not a port number") from None


def parser() -> argparse.ArgumentParser:
    default_state = os.environ.get("STREAMBENCH_STATE_DIR") or str(project_dir() / STATE_DIR_NAME)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", default=argparse.SUPPRESS,
                        help=f"where state and logs go (default: {default_state})")
    main_parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__,
                                          formatter_class=_Formatter)
    main_parser.add_argument("--state-dir", default=default_state,
                             help="where state and logs go")
    sub = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_default = find_config()
    for name, aliases in (("up", ["start"]),):
        up = sub.add_parser(name, aliases=aliases, parents=[common], formatter_class=_Formatter,
                            help="start and provision the emulators in the background")
        up.add_argument("--backend", choices=BACKENDS, default="embedded",
                        help="embedded: local processes; docker/testcontainers: containers; "
                        "external: PUBSUB_EMULATOR_HOST/BIGQUERY_EMULATOR_HOST as set")
        up.add_argument("--config", default=str(config_default),
                        help="harness file (found from the working directory upward)")
        up.add_argument("--project", default=None, help="override the harness file's project")
        up.add_argument("--env", default=None, metavar="NAME",
                        help="provision from the deploy spec environments/NAME.toml (an "
                        "emulator environment, e.g. local) with python -m deploy's apply, "
                        "instead of the harness file's resources")
        up.add_argument("--host", default=None,
                        help=f"address the emulators bind to (harness file [emulators] host, "
                        f"else {DEFAULT_HOST})")
        for emulator in EMULATORS:
            env = f"STREAMBENCH_{emulator.upper()}_PORT"
            up.add_argument(f"--{emulator}-port", type=port_number, default=_env_int(env),
                            metavar="PORT",
                            help=f"{emulator} emulator port; 0 for any free one (harness file "
                            f"[emulators] {emulator}_port, else {DEFAULT_PORTS[emulator]}, or a "
                            f"free port with a note when that is taken; env {env})")
        for kind, what in (("rest", "REST ingestion edge"), ("mqtt", "MQTT broker")):
            env = f"STREAMBENCH_{kind.upper()}_PORT"
            up.add_argument(f"--{kind}-port", type=port_number, default=_env_int(env), metavar="PORT",
                            help=f"{what} port; 0 for any free one (harness file [ingest] "
                            f"{kind}_port, else {DEFAULT_PORTS[kind]}, or a free port with a "
                            f"note when that is taken; env {env})")
        up.add_argument("--rest", action="store_true",
                        help="also start the REST ingestion edge (python -m ingest), as "
                        "[ingest] rest = true does")
        up.add_argument("--mqtt", action="store_true",
                        help="also start the MQTT broker and the bridge to Pub/Sub, as "
                        "[ingest] mqtt = true does")
        up.add_argument("--host-port", type=_host_port, default=None, metavar="HOST:PORT",
                        help="gcloud's spelling: the Pub/Sub emulator's address")
        up.add_argument("--data-dir", default=None, help="persist emulator data here")
        up.add_argument("--seed", action="append", default=[], metavar="FILE",
                        help="BigQuery rows to load: YAML/JSON in goccy's layout, or "
                        "DATASET.TABLE.ndjson (repeatable; also the harness file's seed list)")
        up.add_argument("--no-provision", action="store_true", help="start only")
    sub.add_parser("down", aliases=["stop"], parents=[common], formatter_class=_Formatter,
                   help="stop the emulators started by `up` (nothing up: says so, exit 0)")
    env = sub.add_parser("env", parents=[common], formatter_class=_Formatter,
                         help="print export lines for PUBSUB/BIGQUERY/STORAGE_EMULATOR_HOST (and "
                         "INGEST_URL, MQTT_BROKER_URL when the edge runs)")
    env.add_argument("--unset", action="store_true",
                     help="print the unset line instead: eval \"$(python -m harness env --unset)\"")
    status = sub.add_parser("status", parents=[common], formatter_class=_Formatter,
                            help="endpoints, whether each answers, and the provisioned resources")
    status.add_argument("--project", default=None,
                        help="list this project's resources (default: the one `up` provisioned)")
    logs = sub.add_parser("logs", parents=[common], formatter_class=_Formatter,
                          help="print the emulators' (and the edge's) logs (-f to follow)")
    logs.add_argument("emulator", nargs="?", choices=SERVERS, metavar="NAME",
                      help=f"one of {', '.join(SERVERS)} (default: all that run)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--tail", type=int, default=0, metavar="N",
                      help="only the last N lines of each log (0: all)")
    images = sub.add_parser(
        "images", parents=[common], formatter_class=_Formatter,
        help="build the emulators' container images here (no registry needed)",
    )
    images.add_argument("--base", default=None,
                        help="base image (default: python:3.11-slim, else a local Debian base)")
    images.add_argument("--google", action="store_true",
                        help="also Google's Pub/Sub emulator image for compose's google profile")
    images.add_argument("--python", action="store_true",
                        help="also streambench-python:local (the base with python and pip, as "
                             "Google's Flex Template launcher base has them) for the template")
    images.add_argument("--setup-engine", action="store_true",
                        help="no Docker engine? install docker.io and start dockerd (root, apt)")

    from harness import ops_cli

    ops_cli.register(sub, (common,), _Formatter)  # metrics, alerts, snapshots
    return main_parser


def cmd_images(args) -> int:
    from harness import engine, images

    found = engine.ensure() if args.setup_engine else engine.find()
    print(found.describe())
    report = images.build_emulators(base=args.base)
    if args.google:
        tag = images.build_google_pubsub(base=report.base, report=report)
    if args.python:
        images.build_python_base(base=report.base, report=report)
    print("\n".join(report.lines()))
    if args.google:
        for name, value in images.google_pubsub_compose_env(tag).items():
            print(f"export {name}={shlex.quote(value)}")
    return 0


COMMANDS = {"up": cmd_up, "start": cmd_up, "down": cmd_down, "stop": cmd_down, "env": cmd_env,
            "status": cmd_status, "logs": cmd_logs, "images": cmd_images}


def _one_sentence(exc: BaseException) -> str | None:
    """A backend failure (Docker, testcontainers, the clients) as one sentence, or None."""
    if isinstance(exc, subprocess.CalledProcessError):
        command = " ".join(exc.cmd[:2]) if isinstance(exc.cmd, list) else str(exc.cmd)
        hint = ""
        if "compose" in (exc.cmd if isinstance(exc.cmd, list) else [exc.cmd]):
            hint = ": is the Docker Compose plugin installed (`docker compose version`)?"
        return f"`{command} ...` failed with exit code {exc.returncode}{hint} " \
            "(--backend embedded needs no Docker)"
    if isinstance(exc, ImportError) and exc.name and exc.name.split(".")[0] == "testcontainers":
        return ("the testcontainers backend needs the testcontainers package: "
                "pip install 'streambench[containers]' (or use --backend embedded)")
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"{exc.filename}: not found ({exc.strerror})"
    module = type(exc).__module__ or ""
    if module.startswith(("google.", "docker.", "testcontainers", "grpc", "requests")):
        text = " ".join(str(exc).split())[:300]
        return f"{type(exc).__name__}: {text}"
    return None


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        if hasattr(args, "run"):  # the operations commands (harness/ops_cli.py)
            return args.run(args)
        return COMMANDS[args.command](args)
    except (StackError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        sentence = _one_sentence(exc)
        if sentence is None:
            raise
        print(f"error: {sentence}", file=sys.stderr)
        return 2
