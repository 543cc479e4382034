"""Running our command-line tools as a user does: a subprocess, its exit code and its text."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Tests never take the fixed default ports: other test runs share this machine.
FREE_PORTS = {"STREAMBENCH_PUBSUB_PORT": "0", "STREAMBENCH_BIGQUERY_PORT": "0",
              "STREAMBENCH_STORAGE_PORT": "0", "STREAMBENCH_REST_PORT": "0",
              "STREAMBENCH_MQTT_PORT": "0"}


def run(module: str, *args: str, cwd: Path | None = None, env: dict | None = None,
        timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``python -m module *args`` with the emulator variables cleared unless ``env`` sets them."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "STORAGE_EMULATOR_HOST",
                         "BIGQUERY_STORAGE_EMULATOR_HOST",
                         "INGEST_URL", "MQTT_BROKER_URL")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
        cwd=cwd or ROOT, env={**base, **FREE_PORTS, **(env or {})}, input=stdin,
    )


def harness(*args: str, state_dir: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m harness [--state-dir D] *args`` on free ports."""
    prefix = ["--state-dir", str(state_dir)] if state_dir else []
    return run("harness", *prefix, *args, **kwargs)


def exports(text: str) -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=(\S+)$", text, re.M))


def one_sentence(result: subprocess.CompletedProcess) -> str:
    """The error line of a failed command, checked to be one line and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def fresh_copy(dest: Path) -> Path:
    """The project as a fresh clone has it: the tracked files, with their current contents."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:  # not a git checkout: copy the tree minus what is built
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv", ".nox", "__pycache__", "*.egg-info", "build", "dist", ".harness"))
        return dest
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest
