"""A newcomer's first hour, as a script: on a fresh copy of the repository, the README's quick
start, every README block marked runnable (as written, in order, in one shell session), then
the mistakes a newcomer makes, each with the exit code and the sentence it must get.

    python tests/newcomer/walkthrough.py            # prints the transcript; exit 1 on a failure

Markers (HTML comments right above a ```bash block in README.md):

* ``<!-- runnable -->``: run it; it must exit 0;
* ``<!-- runnable: background until "TEXT" -->``: start it as a second terminal would, and go on
  once its output shows TEXT;
* ``<!-- runnable: after Ctrl-C -->``: first press Ctrl-C in the background terminals (each must
  stop with exit code 130 after saying what it did), then run it.

The harness runs on free ports (STREAMBENCH_*_PORT=0) with its state in a temporary directory:
other test runs share the machine.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.cli import fresh_copy  # noqa: E402

MARKER = re.compile(r"<!--\s*runnable(?::\s*(?P<options>.*?))?\s*-->")
UNTIL = re.compile(r'background until "(?P<text>[^"]+)"')


@dataclass
class Block:
    """A runnable shell block of a Markdown file."""

    line: int
    code: str
    mode: str  # "run", "background" or "after-ctrl-c"
    until: str | None = None


def runnable_blocks(markdown: str) -> list[Block]:
    """The blocks marked runnable, in order, with what their marker asks."""
    lines = markdown.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        marker = MARKER.fullmatch(line.strip())
        if not marker:
            continue
        fence = number + 1
        if fence >= len(lines) or not lines[fence].startswith("```bash"):
            raise ValueError(f"README line {number + 1}: a runnable marker must sit right above "
                             "a ```bash block")
        end = next(i for i in range(fence + 1, len(lines)) if lines[i].startswith("```"))
        options = (marker.group("options") or "").strip()
        until = UNTIL.fullmatch(options)
        mode = "background" if until else "after-ctrl-c" if options == "after Ctrl-C" else "run"
        if options and mode == "run":
            raise ValueError(f"README line {number + 1}: unknown runnable option {options!r}")
        blocks.append(Block(fence + 2, "\n".join(lines[fence + 1:end]), mode,
                            until.group("text") if until else None))
    return blocks


@dataclass
class Outcome:
    """One step of the walkthrough: what ran, what it printed and whether that was expected."""

    name: str
    code: int
    output: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def transcript(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        head = f"{mark} {self.name}  (exit {self.code})"
        tail = "".join(f"\n     !! {p}" for p in self.problems)
        shown = "\n".join(f"     | {line}" for line in self.output.strip().splitlines()[-12:])
        return f"{head}{tail}\n{shown}" if shown else head + tail


class Session:
    """One terminal on the fresh copy: variables set by a block stay set for the next ones."""

    def __init__(self, workdir: Path, state_dir: Path):
        self.workdir = workdir
        env = {k: v for k, v in os.environ.items() if k not in (
            "PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "PYTHONPATH",
            "GOOGLE_CLOUD_PROJECT")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(STREAMBENCH_STATE_DIR=str(state_dir), STREAMBENCH_PUBSUB_PORT="0",
                   STREAMBENCH_BIGQUERY_PORT="0", PYTHONUNBUFFERED="1")
        self.env = env
        self._env_file = state_dir.parent / "session.env"
        self.background: list[tuple[str, subprocess.Popen, list[str]]] = []

    def run(self, code: str, timeout: float = 300, env: dict | None = None
            ) -> tuple[int, str]:
        """Run ``code`` in bash (errexit, pipefail); keep the variables it exported."""
        script = f"set -eo pipefail\n{code}\nenv -0 > {self._env_file}\n"
        done = subprocess.run(["bash", "-c", script], cwd=self.workdir, env={**self.env,
                              **(env or {})}, capture_output=True, text=True, timeout=timeout)
        if done.returncode == 0 and env is None and self._env_file.exists():
            pairs = self._env_file.read_bytes().decode().split("\0")
            self.env = dict(p.split("=", 1) for p in pairs if "=" in p)
        return done.returncode, done.stdout + done.stderr

    def start(self, name: str, code: str, until: str, timeout: float = 120) -> tuple[int, str]:
        """Start ``code`` as a second terminal would; wait until its output shows ``until``."""
        process = subprocess.Popen(["bash", "-c", code], cwd=self.workdir, env=dict(self.env),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        seen: list[str] = []
        self.background.append((name, process, seen))
        deadline = time.monotonic() + timeout
        for line in process.stdout:
            seen.append(line)
            if until in line:
                return 0, "".join(seen)
            if time.monotonic() > deadline:
                break
        process.kill()
        return process.wait(), "".join(seen)

    def ctrl_c(self, timeout: float = 60) -> list[tuple[str, int, str]]:
        """Ctrl-C in every background terminal; each one's exit code and last output."""
        out = []
        for name, process, seen in self.background:
            os.killpg(process.pid, signal.SIGINT)
            rest, _ = process.communicate(timeout=timeout)
            seen.append(rest)
            code = process.returncode
            out.append((name, 130 if code == -signal.SIGINT else code, "".join(seen)))
        self.background.clear()
        return out

    def close(self) -> None:
        for _, process, _ in self.background:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.background.clear()


def check(name: str, code: int, output: str, expect_code: int = 0,
          expect: tuple[str, ...] = (), absent: tuple[str, ...] = ()) -> Outcome:
    problems = [f"exit code {code}, expected {expect_code}"] if code != expect_code else []
    problems += [f"missing: {text!r}" for text in expect if text not in output]
    problems += [f"should not say: {text!r}" for text in absent if text in output]
    return Outcome(name, code, output, problems)


#: What the README's blocks must print, by a piece of their code.
README_EXPECTS = {
    "python -m harness up": ("emulators up (embedded); for your shell:",
                             "export PUBSUB_EMULATOR_HOST=", "topics:        events"),
    "contract_tests verify --e2e": ("4 sample(s): 4 accepted, 0 rejected, 0 failed - OK",),
    "harness logs bigquery": ("analytics.events: 4 rows",),
    "AnonymousCredentials": ("checkout-service 2",),
    "pipeline --help": ("--input_subscription", "--help-beam"),
    "--expect-reject": ("0 failed - OK",),
    "compat contract_tests": ("compatible: ",),
}


def readme_steps(session: Session, readme: Path) -> list[Outcome]:
    outcomes = []
    for block in runnable_blocks(readme.read_text()):
        name = f"README.md:{block.line}: {block.code.splitlines()[0][:70]}"
        if block.mode == "background":
            code, output = session.start(name, block.code, block.until)
            outcomes.append(check(name, code, output, expect=(block.until,),
                                  absent=("Traceback", "prism", "Prism")))
            continue
        if block.mode == "after-ctrl-c":
            for bg_name, bg_code, bg_output in session.ctrl_c():
                outcomes.append(check(f"Ctrl-C in {bg_name}", bg_code, bg_output, 130,
                                      expect=("interrupted: draining", "stopped: ")))
        code, output = session.run(block.code)
        expect = tuple(x for key, e in README_EXPECTS.items() if key in block.code for x in e)
        outcomes.append(check(name, code, output, expect=expect, absent=("Traceback",)))
    return outcomes


PIPELINE = ("python -m pipeline --input_subscription events-pipeline --output_table "
            "analytics.events --dead_letter_table analytics.events_dlq")
E2E = ("python -m contract_tests verify --e2e --project local-project --topic events --table "
       "analytics.events --dead-letter-table analytics.events_dlq contract_tests/examples/good")
BAD_HARNESS = """project = "local-project"

[[topics]]
name = "events"

[[subscriptions]]
name = "events-pipeline"
topik = "events"
"""


def mistake_steps(session: Session, workdir: Path, tmp: Path) -> list[Outcome]:
    """The mistakes of a first hour, each with its one sentence and exit code."""
    steps: list[tuple[str, str, int, tuple[str, ...], dict | None]] = [
        ("up", "python -m harness up\n", 0, ("emulators up",), None),
        ("up twice", "python -m harness up", 2,
         ("error: a stack is already up; see `python -m harness status`, or `down` first",), None),
        ("the subscription from an old README",
         PIPELINE.replace("events-pipeline", "events-sub"), 2,
         ("error: --input_subscription projects/local-project/subscriptions/events-sub: no such "
          "subscription (project local-project has events-pipeline)",), None),
        ("a misspelt flag", f"{PIPELINE} --refrence_table analytics.sources", 2,
         ("error: unknown option --refrence_table; did you mean --reference_table?",), None),
        ("a misspelt output table", PIPELINE.replace("analytics.events ", "analytics.evnts ")
         + " --create_tables never", 2,
         ("error: --output_table local-project:analytics.evnts: no such table and "
          "--create_tables is never; did you mean events?",), None),
        ("no pipeline is reading", E2E, 2,
         ("error: no pipeline is reading subscription "
          "projects/local-project/subscriptions/events-pipeline",), None),
        ("emulator variables pointing at nothing", PIPELINE, 2,
         ("nothing answers there (connection refused); start the emulators",),
         {"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{_closed_port()}"}),
        ("no emulator variables and no credentials",
         "unset PUBSUB_EMULATOR_HOST BIGQUERY_EMULATOR_HOST BIGQUERY_STORAGE_EMULATOR_HOST\n"
         + PIPELINE, 2,
         ("error: neither PUBSUB_EMULATOR_HOST nor BIGQUERY_EMULATOR_HOST is set and there are "
          "no Google credentials",),
         {"HOME": str(tmp), "CLOUDSDK_CONFIG": str(tmp / "gcloud"), "NO_GCE_CHECK": "True",
          "GOOGLE_APPLICATION_CREDENTIALS": ""}),
        ("down", "python -m harness down", 0, ("emulators down",), None),
        ("down again", "python -m harness down", 0, ("nothing to stop: no stack is up",), None),
    ]
    outcomes = []
    for name, code_text, expect_code, expect, env in steps:
        if name == "up":
            code, output = session.run(code_text + 'eval "$(python -m harness env)"')
        else:
            code, output = session.run(code_text, env=env or {})
        outcomes.append(check(name, code, output, expect_code, expect, absent=("Traceback",)))
    (workdir / "harness.toml").write_text(BAD_HARNESS)
    code, output = session.run("python -m harness up", env={})
    outcomes.append(check("a typo in my harness.toml", code, output, 2, (
        f"error: {workdir / 'harness.toml'}:8: unknown key 'topik' in [[subscriptions]] #1 "
        "(events-pipeline); did you mean 'topic'?",), absent=("Traceback",)))
    code, output = session.run("python -m harness status", env={})
    outcomes.append(check("... and nothing was left running", code, output, 2,
                          ("error: no stack is up",)))
    (workdir / "harness.toml").unlink()
    return outcomes


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def walk(tmp: Path, say: Callable[[str], None] = lambda _: None) -> list[Outcome]:
    """The whole walkthrough in ``tmp``; one outcome per step, in order."""
    workdir = fresh_copy(tmp / "streambench")
    state = tmp / "state"
    state.mkdir()
    session = Session(workdir, state / "harness")
    outcomes = []

    def note(outcome: Outcome) -> None:
        outcomes.append(outcome)
        say(outcome.transcript())

    try:
        # The quick start: `nox -s demo` runs this in a venv of its own.
        code, output = session.run("python -m harness.demo --events 300 --rate 0", env={})
        note(check("quick start: the demo (nox -s demo)", code, output,
                   expect=("[5/5] summary", "OK: published 300 == written"),
                   absent=("Traceback",)))
        for outcome in readme_steps(session, workdir / "README.md"):
            note(outcome)
        for outcome in mistake_steps(session, workdir, tmp):
            note(outcome)
    finally:
        session.close()
        subprocess.run([sys.executable, "-m", "harness", "down"], cwd=workdir, env=session.env,
                       capture_output=True, timeout=60)
    return outcomes


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="newcomer-") as tmp:
        outcomes = walk(Path(tmp), say=lambda text: print(text, flush=True))
    failed = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes) - len(failed)}/{len(outcomes)} steps as expected")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
