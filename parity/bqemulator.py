"""bqemulator (PyPI), the live rival of our BigQuery emulator, installed and started offline.

bqemulator (DuckDB + SQLGlot; REST and Storage APIs) loads DuckDB's `spatial` and `avro`
extensions at start and would download them; they come from PyPI wheels instead, linked into
the extension directory of a HOME of its own. It runs in a venv of its own with pinned versions
(DuckDB 1.4.x crashes it), under ``$STREAMBENCH_CACHE`` (default ``~/.cache/streambench``):
the first use installs it from the package index (about a minute), later uses start it
offline. Used by ``bench/bigquery_bench.py`` and the parity target ``bqemulator``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VERSION = "1.4.0"
DUCKDB = "1.5.5"
PINS = (
    f"bqemulator=={VERSION}",
    f"duckdb=={DUCKDB}",
    f"duckdb-extension-spatial=={DUCKDB}",
    f"duckdb-extension-avro=={DUCKDB}",
    "numpy==2.4.6",
)
EXTENSIONS = ("spatial", "avro")


class RivalError(RuntimeError):
    """bqemulator could not be installed or started; the message says why."""


def home() -> Path:
    cache = Path(os.environ.get("STREAMBENCH_CACHE") or Path.home() / ".cache" / "streambench")
    return cache / f"bqemulator-{VERSION}"


def _platform() -> str:
    machine = os.uname().machine
    return {"x86_64": "linux_amd64", "aarch64": "linux_arm64"}.get(machine, f"linux_{machine}")


def ensure_installed(log=print) -> Path:
    """The rival's directory (venv + HOME), installing it on first use."""
    root = home()
    marker = root / "installed.json"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time (bench and parity may race)
        if marker.exists() and json.loads(marker.read_text()).get("pins") == list(PINS):
            return root
        venv = root / "venv"
        shutil.rmtree(venv, ignore_errors=True)
        log(f"installing bqemulator {VERSION} into {venv} (first use only)")
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
              "--disable-pip-version-check", *PINS])  # fmt: skip
        site = next((venv / "lib").glob("python3*/site-packages"))
        target = root / "home" / ".duckdb" / "extensions" / f"v{DUCKDB}" / _platform()
        target.mkdir(parents=True, exist_ok=True)
        for name in EXTENSIONS:
            found = site / f"duckdb_extension_{name}" / "extensions" / f"v{DUCKDB}"
            source = found / f"{name}.duckdb_extension"
            if not source.exists():
                raise RivalError(f"the duckdb-extension-{name} wheel has no {source.name}")
            link = target / source.name
            link.unlink(missing_ok=True)
            link.symlink_to(source)
        marker.write_text(json.dumps({"pins": list(PINS)}))
    return root


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RivalError(f"{' '.join(command[:4])} failed: {' / '.join(tail)}")


@dataclass
class Running:
    """A started bqemulator: REST URL, Storage API host:port, the process."""

    url: str
    storage: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_path.unlink(missing_ok=True)


def start(project: str, timeout: float = 90.0, log=print) -> Running:
    """Install if needed, start on free ports and wait until its REST API answers."""
    from emulators.process import free_port

    root = ensure_installed(log)
    rest, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env["HOME"] = str(root / "home")
    log_path = root / f"run-{os.getpid()}-{rest}.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [str(root / "venv" / "bin" / "bqemulator"), "start", "--rest-host", "127.0.0.1",
             "--rest-port", str(rest), "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port),
             "--project", project, "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    running = Running(f"http://127.0.0.1:{rest}", f"127.0.0.1:{grpc_port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            urllib.request.urlopen(f"{running.url}/bigquery/v2/projects", timeout=2)
            return running
        except urllib.error.HTTPError:  # any HTTP answer: it is up
            return running
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    running.stop()
    raise RivalError(f"bqemulator did not start: {' / '.join(tail) or 'no output'}")
