"""Start and stop the emulators and hand back their endpoints.

Four backends:

* ``embedded`` (default): our emulators as local processes, health-checked, their logs kept in
  the run directory; on free ports unless ports are given (``python -m harness up`` gives
  8085, 9050 and 9023, and falls back to free ports when those are taken; BigQuery's Storage
  Read/Write API listens on 9060 next to a fixed BigQuery port, else on a free one).
* ``docker``: ``docker compose`` (or Compose v1's ``docker-compose``) with
  ``harness/docker-compose.yml``, profile ``ours``, on images built here (:mod:`harness.images`).
* ``testcontainers``: the same images, started from Python.
* ``external``: use ``PUBSUB_EMULATOR_HOST`` / ``BIGQUERY_EMULATOR_HOST`` (and
  ``STORAGE_EMULATOR_HOST``, if set) as given.

The embedded stack runs three emulators: Pub/Sub, BigQuery and Cloud Storage
(``python -m emulators.storage``); the BigQuery emulator reads and writes ``gs://`` URIs through
the Cloud Storage one (``--storage-endpoint``); so do the container backends.

:meth:`Stack.kill` and :meth:`Stack.restart` crash one emulator (SIGKILL) and start it again on
the same data (``data_dir`` for ``embedded``; the containers' volumes) and the same port.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from emulators.process import ServerProcess, StartError
from harness import containers
from harness.endpoints import Endpoints, StackError

BACKENDS = ("embedded", "docker", "testcontainers", "external")
ROOT = Path(__file__).resolve().parent.parent
BIGQUERY_STORAGE_PORT = 9060  # the BigQuery emulator's gRPC port next to a fixed REST port


def wait_healthy(endpoints: Endpoints, timeout: float = 30.0) -> None:
    """Block until every emulator answers: a gRPC call for Pub/Sub, an HTTP answer for REST."""
    deadline = time.monotonic() + timeout
    while True:
        silent = endpoints.unanswered()
        if not silent:
            return
        if time.monotonic() > deadline:
            which = "; ".join(f"the {name} emulator ({why})" for name, why in silent.items())
            raise StackError(f"no answer in {timeout:.0f}s from {which}")
        time.sleep(0.1)


def port_taken(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` (a port in TIME_WAIT counts as free, as it
    does for the emulators, which bind with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _bind_failure(exc: StartError) -> bool:
    text = str(exc)
    return "cannot listen on" in text or "cannot bind" in text


def _url(address: str) -> str:
    return (address if "://" in address else f"http://{address}").rstrip("/")


@dataclass
class Stack:
    """The emulators, started by one backend. Use as a context manager.

    ``pubsub_port`` / ``bigquery_port`` / ``storage_port`` (embedded backend): 0 picks a free port. A port that is
    taken is a :class:`StackError`, unless the emulator is named in ``free_port_fallback``: then
    a free port is used and :attr:`notes` says so.
    """

    backend: str = "embedded"
    run_dir: Path | None = None
    data_dir: Path | None = None
    endpoints: Endpoints | None = None
    detach: bool = False  # containers outlive this process (``python -m harness up``)
    host: str = "127.0.0.1"
    pubsub_port: int = 0
    bigquery_port: int = 0
    storage_port: int = 0
    free_port_fallback: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    _processes: list[ServerProcess] = field(default_factory=list)
    _extra: dict[str, tuple[str, ...]] = field(default_factory=dict)  # each emulator's arguments
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

    def crash(self) -> None:
        """``kill -9`` every emulator (no chance to flush); :meth:`restart` brings them back."""
        for name in self.endpoints.addresses():
            self.kill(name)

    def kill(self, name: str) -> None:
        """SIGKILL one emulator (``pubsub``, ``bigquery`` or ``storage``): no chance to flush."""
        if self._containers is not None:
            self._containers.kill(name)
        elif self.backend == "embedded":
            self._processes[self._index(name)].kill()
        else:
            raise StackError(f"the {self.backend} backend cannot kill its emulators")

    def restart(self, name: str | None = None) -> Endpoints:
        """Start a killed (or running) emulator again on the same data and port, so clients
        (the pipeline's too) reconnect where they were; every emulator without a name."""
        for one in [name] if name else list(self.endpoints.addresses()):
            if self._containers is not None:
                self.endpoints = self._containers.restart(one)
            elif self.backend == "embedded":
                index = self._index(one)
                old = self._processes[index]
                old.stop()
                extra = list(self._extra[one])
                if "--grpc-port" in extra and old.storage_address:  # the same one, not 0 again
                    extra[extra.index("--grpc-port") + 1] = old.storage_address.rpartition(":")[2]
                self._processes[index] = self._start_emulator(one, old.port, *extra)
            else:
                raise StackError(f"the {self.backend} backend cannot restart its emulators")
        wait_healthy(self.endpoints)
        return self.endpoints

    def _index(self, name: str) -> int:
        names = [process.name for process in self._processes]
        if name not in names:
            raise StackError(f"no {name} emulator in this stack (it runs {', '.join(names)})")
        return names.index(name)

    def _data_dir(self, name: str) -> Path | None:
        return None if self.data_dir is None else Path(self.data_dir) / name

    def _start_embedded(self) -> Endpoints:
        # Cloud Storage first: BigQuery loads from and extracts to it; then BigQuery, which
        # Pub/Sub's BigQuery subscriptions write to.
        storage = self._start_emulator("storage", self.storage_port)
        self._processes.append(storage)
        bigquery = self._start_emulator("bigquery", self.bigquery_port,
                                        "--storage-endpoint", storage.url,
                                        "--grpc-port", str(self._bigquery_storage_port()))
        self._processes.append(bigquery)
        pubsub = self._start_emulator("pubsub", self.pubsub_port, "--bigquery-endpoint", bigquery.url)
        self._processes.append(pubsub)
        return Endpoints(pubsub.address, bigquery.url, storage.url,
                         bigquery_storage=bigquery.storage_address)

    def _bigquery_storage_port(self) -> int:
        """The BigQuery Storage API's gRPC port: 9060 next to a fixed BigQuery port (a free one,
        with a note, when 9060 is taken), else a free one."""
        if not self.bigquery_port:
            return 0
        if port_taken(self.host, BIGQUERY_STORAGE_PORT):
            self.notes.append(
                f"port {BIGQUERY_STORAGE_PORT} is taken, so the BigQuery Storage API listens on "
                "a free port instead (BIGQUERY_STORAGE_EMULATOR_HOST says which)"
            )
            return 0
        return BIGQUERY_STORAGE_PORT

    def _start_emulator(self, name: str, port: int, *extra: str) -> ServerProcess:
        """``python -m emulators.<name>`` on ``port`` (a taken one: see the class docstring)."""
        self._extra[name] = extra
        if port and port_taken(self.host, port):
            port = self._port_in_use(name, port)
        log_path = self.run_dir / "logs" / f"{name}.log"
        for attempt in (1, 2):
            try:
                return ServerProcess.emulator(
                    name, *extra, host=self.host, port=port, data_dir=self._data_dir(name),
                    log_path=log_path,
                    detach=True,  # `python -m harness up` leaves them running
                )
            except StartError as exc:
                if attempt == 1 and port and _bind_failure(exc):
                    port = self._port_in_use(name, port)  # taken between the check and the bind
                    continue
                last = [line for line in exc.args[0].splitlines() if line.strip()][-1]
                raise StackError(
                    f"the {name} emulator did not start ({last.strip()}); its log is {log_path}"
                ) from exc
        raise AssertionError("unreachable")

    def _port_in_use(self, name: str, port: int) -> int:
        if name not in self.free_port_fallback:
            raise StackError(
                f"port {port} on {self.host} is taken, so the {name} emulator cannot listen "
                f"there; pass --{name}-port with another port (0 for any free one)"
            )
        self.notes.append(
            f"port {port} is taken, so the {name} emulator listens on a free port instead "
            f"(--{name}-port chooses one)"
        )
        return 0

    def _start_external(self) -> Endpoints:
        pubsub = os.environ.get("PUBSUB_EMULATOR_HOST")
        bigquery = os.environ.get("BIGQUERY_EMULATOR_HOST")
        if not pubsub or not bigquery:
            raise StackError(
                "the external backend needs PUBSUB_EMULATOR_HOST and BIGQUERY_EMULATOR_HOST set."
            )
        storage = os.environ.get("STORAGE_EMULATOR_HOST", "")
        return Endpoints(pubsub, _url(bigquery), _url(storage) if storage else "",
                         bigquery_storage=os.environ.get("BIGQUERY_STORAGE_EMULATOR_HOST", ""))

    def _start_containers(self, backend: containers.Compose | containers.Testcontainers):
        self._containers = backend
        self._cleanup.append(backend.down)
        return backend.up()

    def _start_docker(self) -> Endpoints:
        return self._start_containers(containers.Compose())

    def _start_testcontainers(self) -> Endpoints:
        return self._start_containers(containers.Testcontainers(detach=self.detach))
