"""Start and stop both emulators and hand back their endpoints.

Four backends:

* ``embedded`` (default): our emulators as local processes on free ports, health-checked,
  their logs kept in the run directory.
* ``docker``: ``docker compose`` with the top-level ``docker-compose.yml`` (profile ``ours``
  builds our emulators; profile ``google`` runs Google's Pub/Sub emulator image and goccy's
  BigQuery emulator image).
* ``testcontainers``: the same images, started from Python.
* ``external``: use ``PUBSUB_EMULATOR_HOST`` / ``BIGQUERY_EMULATOR_HOST`` as given.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BACKENDS = ("embedded", "docker", "testcontainers", "external")
ROOT = Path(__file__).resolve().parent.parent
_READY = re.compile(r"listening on (?:https?://)?([\w.\-\[\]:]+):(\d+)")
# the BigQuery emulator's second ready line: its Storage Read/Write API (gRPC)
_STORAGE_READY = re.compile(r"storage API \(gRPC\) listening on ([\w.\-\[\]:]+:\d+)")


class StackError(RuntimeError):
    """The stack could not start; the message says why in one sentence."""


@dataclass(frozen=True)
class Endpoints:
    """Where the emulators listen: ``host:port`` for Pub/Sub, a URL for BigQuery."""

    pubsub: str
    bigquery: str
    bigquery_storage: str = ""  # host:port of BigQuery's Storage Read/Write API (gRPC)

    def env(self) -> dict[str, str]:
        """The environment variables Google's clients (and our pipeline) honour; the Storage
        API's is read by our client helpers (emulators.bigquery.storage_api.clients)."""
        env = {"PUBSUB_EMULATOR_HOST": self.pubsub, "BIGQUERY_EMULATOR_HOST": self.bigquery}
        if self.bigquery_storage:
            env["BIGQUERY_STORAGE_EMULATOR_HOST"] = self.bigquery_storage
        return env

    def export_lines(self) -> str:
        """``export`` lines, like ``gcloud beta emulators pubsub env-init``."""
        return "".join(f"export {k}={v}\n" for k, v in self.env().items())


@dataclass
class EmulatorProcess:
    """One emulator running as a child process."""

    name: str
    process: subprocess.Popen
    host: str
    port: int
    log_path: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for servers that cannot be given port 0)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_emulator(
    name: str,
    log_dir: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: str | Path | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 30.0,
) -> EmulatorProcess:
    """Run ``python -m emulators.<name>``, output to ``<log_dir>/<name>.log``; await its ready line.

    The process gets a session of its own and writes to a file, not a pipe, so it can outlive
    the caller (``python -m emulators up``).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    args = [sys.executable, "-m", f"emulators.{name}", "--host", host, "--port", str(port)]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    args += list(extra_args)
    with open(log_path, "ab") as log:
        offset = log.tell()
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with open(log_path, "rb") as log:
            log.seek(offset)
            ready = _READY.search(log.read().decode(errors="replace"))
        if ready:
            return EmulatorProcess(name, process, host, int(ready.group(2)), log_path)
        time.sleep(0.02)
    if process.poll() is None:
        process.kill()
        process.wait()
    tail = log_path.read_text(errors="replace")[-2000:]
    raise StackError(f"the {name} emulator did not start; its log ({log_path}) ends:\n{tail}")


def wait_healthy(endpoints: Endpoints, timeout: float = 30.0) -> None:
    """Block until both emulators answer: a TCP accept for gRPC, an HTTP answer for REST."""
    deadline = time.monotonic() + timeout
    host, _, port = endpoints.pubsub.rpartition(":")
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                pass
            try:
                urllib.request.urlopen(f"{endpoints.bigquery}/bigquery/v2/projects", timeout=2)
            except urllib.error.HTTPError:
                pass  # any HTTP answer means the server is up
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise StackError(f"the emulators did not answer in {timeout:.0f}s: {exc}") from exc
            time.sleep(0.1)


@dataclass
class Stack:
    """Both emulators, started by one backend. Use as a context manager."""

    backend: str = "embedded"
    run_dir: Path | None = None
    data_dir: Path | None = None
    endpoints: Endpoints | None = None
    _processes: list[EmulatorProcess] = field(default_factory=list)
    _cleanup: list = field(default_factory=list)

    def start(self) -> Endpoints:
        if self.backend not in BACKENDS:
            raise StackError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix="streambench-"))
            self._cleanup.append(lambda: shutil.rmtree(self.run_dir, ignore_errors=True))
        starter = getattr(self, f"_start_{self.backend}")
        try:
            self.endpoints = starter()
            wait_healthy(self.endpoints)
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        while self._cleanup:
            self._cleanup.pop()()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def processes(self) -> list[EmulatorProcess]:
        return list(self._processes)

    def _data_dir(self, name: str) -> Path | None:
        return None if self.data_dir is None else Path(self.data_dir) / name

    def _start_embedded(self) -> Endpoints:
        logs = self.run_dir / "logs"
        pubsub = start_emulator("pubsub", logs, data_dir=self._data_dir("pubsub"))
        self._processes.append(pubsub)
        bigquery = start_emulator("bigquery", logs, data_dir=self._data_dir("bigquery"))
        self._processes.append(bigquery)
        storage = _STORAGE_READY.findall(bigquery.log_path.read_text(errors="replace"))
        return Endpoints(
            f"{pubsub.host}:{pubsub.port}",
            f"http://{bigquery.host}:{bigquery.port}",
            storage[-1] if storage else "",  # the ready lines of this run come last
        )

    def _start_external(self) -> Endpoints:
        pubsub = os.environ.get("PUBSUB_EMULATOR_HOST")
        bigquery = os.environ.get("BIGQUERY_EMULATOR_HOST")
        if not pubsub or not bigquery:
            raise StackError(
                "the external backend needs PUBSUB_EMULATOR_HOST and BIGQUERY_EMULATOR_HOST set."
            )
        if "://" not in bigquery:
            bigquery = f"http://{bigquery}"
        storage = os.environ.get("BIGQUERY_STORAGE_EMULATOR_HOST", "")
        return Endpoints(pubsub, bigquery.rstrip("/"), storage)

    def _start_docker(self) -> Endpoints:
        from emulators import containers

        endpoints, stop = containers.compose_up(ROOT / "docker-compose.yml")
        self._cleanup.append(stop)
        return endpoints

    def _start_testcontainers(self) -> Endpoints:
        from emulators import containers

        endpoints, stop = containers.testcontainers_up()
        self._cleanup.append(stop)
        return endpoints
