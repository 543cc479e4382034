"""Start and stop both emulators and hand back their endpoints.

Four backends:

* ``embedded`` (default): our emulators as local processes on free ports, health-checked,
  their logs kept in the run directory.
* ``docker``: ``docker compose`` (or Compose v1's ``docker-compose``) with
  ``harness/docker-compose.yml``, profile ``ours``, on images built here (:mod:`harness.images`).
* ``testcontainers``: the same images, started from Python.
* ``external``: use ``PUBSUB_EMULATOR_HOST`` / ``BIGQUERY_EMULATOR_HOST`` as given.

:meth:`Stack.kill` and :meth:`Stack.restart` crash one emulator (SIGKILL) and start it again on
the same data (``data_dir`` for ``embedded``; the containers' volumes) and the same port.
"""

from __future__ import annotations

import os
import shutil
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


def _pubsub_answers(address: str) -> None:
    """One RPC; any status but UNAVAILABLE is an answer. (A TCP accept is not: Docker's port
    proxy accepts connections before the server in the container listens.)"""
    import grpc

    with grpc.insecure_channel(address) as channel:
        list_topics = channel.unary_unary("/google.pubsub.v1.Publisher/ListTopics")
        try:
            list_topics(b"", timeout=2)  # an empty request: the server's error is answer enough
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ConnectionError(f"Pub/Sub at {address}: {exc.code().name}") from None


def wait_healthy(endpoints: Endpoints, timeout: float = 30.0) -> None:
    """Block until both emulators answer (an empty endpoint is not waited for): a gRPC call for
    Pub/Sub, an HTTP answer for BigQuery."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if endpoints.pubsub:
                _pubsub_answers(endpoints.pubsub)
            try:
                if endpoints.bigquery:
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
    detach: bool = False  # containers outlive this process (``python -m harness up``)
    _processes: list[ServerProcess] = field(default_factory=list)
    _containers: containers.Compose | containers.Testcontainers | None = None
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
            try:
                wait_healthy(self.endpoints)
            except StackError as exc:
                if self._containers is None:
                    raise
                raise StackError(
                    f"{exc}; the containers' logs end:\n{self._containers.logs()}"
                ) from None
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

    @property
    def container_backend(self) -> containers.Compose | containers.Testcontainers | None:
        """The container backend in use, if any (its ``state()`` goes to the CLI's state file)."""
        return self._containers

    def kill(self, name: str) -> None:
        """SIGKILL one emulator (``pubsub`` or ``bigquery``): no chance to flush."""
        if self._containers is not None:
            self._containers.kill(name)
        elif self.backend == "embedded":
            self._processes[self._index(name)].kill()
        else:
            raise StackError(f"the {self.backend} backend cannot kill its emulators")

    def restart(self, name: str) -> Endpoints:
        """Start a killed (or running) emulator again on the same data and port."""
        if self._containers is not None:
            self.endpoints = self._containers.restart(name)
        elif self.backend == "embedded":
            index = self._index(name)
            old = self._processes[index]
            old.stop()
            self._processes[index] = self._start_emulator(name, port=old.port)
            pubsub, bigquery = self._processes
            self.endpoints = Endpoints(pubsub.address, bigquery.url)
        else:
            raise StackError(f"the {self.backend} backend cannot restart its emulators")
        wait_healthy(self.endpoints)
        return self.endpoints

    @staticmethod
    def _index(name: str) -> int:
        return ("pubsub", "bigquery").index(name)

    def _data_dir(self, name: str) -> Path | None:
        return None if self.data_dir is None else Path(self.data_dir) / name

    def _start_emulator(self, name: str, port: int = 0) -> ServerProcess:
        try:
            return ServerProcess.emulator(
                name,
                port=port,
                data_dir=self._data_dir(name),
                log_path=self.run_dir / "logs" / f"{name}.log",
                detach=True,  # `python -m harness up` leaves them running
            )
        except StartError as exc:
            raise StackError(f"the {name} emulator did not start: {exc}") from exc

    def _start_embedded(self) -> Endpoints:
        for name in ("pubsub", "bigquery"):
            self._processes.append(self._start_emulator(name))
        pubsub, bigquery = self._processes
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

    def _start_containers(self, backend: containers.Compose | containers.Testcontainers):
        self._containers = backend
        self._cleanup.append(backend.down)
        return backend.up()

    def _start_docker(self) -> Endpoints:
        return self._start_containers(containers.Compose())

    def _start_testcontainers(self) -> Endpoints:
        return self._start_containers(containers.Testcontainers(detach=self.detach))
