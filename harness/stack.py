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
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from emulators.process import ServerProcess, StartError
from harness import containers
from harness.endpoints import Endpoints, StackError

BACKENDS = ("embedded", "docker", "testcontainers", "external")
ROOT = Path(__file__).resolve().parent.parent


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
    _processes: list[ServerProcess] = field(default_factory=list)
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
    def processes(self) -> list[ServerProcess]:
        return list(self._processes)

    def crash(self) -> None:
        """``kill -9`` every emulator of the embedded backend (no chance to flush)."""
        for process in self._processes:
            process.kill()

    def restart(self) -> Endpoints:
        """Start the emulators again after :meth:`crash`, on the same ports and data dirs, so
        clients (the pipeline's too) reconnect where they were."""
        restarted = []
        for process in self._processes:
            argv = list(process.argv)
            argv[argv.index("--port") + 1] = str(process.port)
            again = ServerProcess(argv, process.ready, process.log_path, process.env,
                                  process.detach, process.name)
            try:
                restarted.append(again.start())
            except StartError as exc:
                raise StackError(f"the {process.name} emulator did not restart: {exc}") from exc
        self._processes = restarted
        wait_healthy(self.endpoints)
        return self.endpoints

    def _data_dir(self, name: str) -> Path | None:
        return None if self.data_dir is None else Path(self.data_dir) / name

    def _start_embedded(self) -> Endpoints:
        # BigQuery first: Pub/Sub's BigQuery subscriptions write to it
        for name in ("bigquery", "pubsub"):
            extra = ("--bigquery-endpoint", self._processes[0].url) if name == "pubsub" else ()
            try:
                self._processes.append(
                    ServerProcess.emulator(
                        name,
                        *extra,
                        data_dir=self._data_dir(name),
                        log_path=self.run_dir / "logs" / f"{name}.log",
                        detach=True,  # `python -m harness up` leaves them running
                    )
                )
            except StartError as exc:
                raise StackError(f"the {name} emulator did not start: {exc}") from exc
        bigquery, pubsub = self._processes
        return Endpoints(pubsub.address, bigquery.url)

    def _start_external(self) -> Endpoints:
        pubsub = os.environ.get("PUBSUB_EMULATOR_HOST")
        bigquery = os.environ.get("BIGQUERY_EMULATOR_HOST")
        if not pubsub or not bigquery:
            raise StackError(
                "the external backend needs PUBSUB_EMULATOR_HOST and BIGQUERY_EMULATOR_HOST set."
            )
        if "://" not in bigquery:
            bigquery = f"http://{bigquery}"
        return Endpoints(pubsub, bigquery.rstrip("/"))

    def _start_docker(self) -> Endpoints:
        endpoints, stop = containers.compose_up(ROOT / "docker-compose.yml")
        self._cleanup.append(stop)
        return endpoints

    def _start_testcontainers(self) -> Endpoints:
        endpoints, stop = containers.testcontainers_up()
        self._cleanup.append(stop)
        return endpoints
