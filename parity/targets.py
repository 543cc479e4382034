"""Where scenarios run: our emulators, Google's Pub/Sub emulator, any endpoints, or real GCP.

Target specs (``--a`` / ``--b``):

* ``embedded``: our emulators, started by the runner on free ports (only the services needed);
* ``google-emulator``: Google's Pub/Sub emulator (java jar), Pub/Sub only;
* ``bqemulator``: bqemulator from PyPI, BigQuery only, installed in a venv of its own on first
  use and started offline (``parity/bqemulator.py``);
* ``external:pubsub=HOST:PORT,bigquery=URL``: endpoints already running (either or both);
* ``gcp:PROJECT``: real Google Cloud with application-default credentials. It costs money, so
  it runs only with ``--i-know-this-costs-money``; scenarios create uniquely named resources and
  delete them afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

EMULATOR_PROJECT = "parity-project"
COST_FLAG = "--i-know-this-costs-money"


class TargetError(RuntimeError):
    """A target spec is wrong or the target cannot start; the message says why."""


class Target:
    """Base: ``services`` it serves, ``start``/``stop``, and lazily made clients."""

    kind = "target"
    services: frozenset[str] = frozenset()
    project = EMULATOR_PROJECT

    def __init__(self) -> None:
        self._clients: dict[str, object] = {}
        self.pubsub_host: str | None = None
        self.bigquery_url: str | None = None

    @property
    def label(self) -> str:
        return self.kind

    def start(self, services: set[str]) -> None:
        """Make ``services`` (a subset of :attr:`services`) reachable."""

    def stop(self) -> None:
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    pass
        self._clients.clear()

    def clients(self, kind: str):
        if kind not in self._clients:
            self._clients[kind] = self._make_client(kind)
        return self._clients[kind]

    def _make_client(self, kind: str):
        if kind in ("publisher", "subscriber", "schemas"):
            if not self.pubsub_host:
                raise TargetError(f"{self.label} does not serve Pub/Sub")
            return _emulator_pubsub_client(kind, self.pubsub_host)
        if kind == "bigquery":
            if not self.bigquery_url:
                raise TargetError(f"{self.label} does not serve BigQuery")
            from harness import clients
            from harness.stack import Endpoints

            return clients.bigquery(Endpoints("", self.bigquery_url), self.project)
        raise KeyError(kind)


def _emulator_pubsub_client(kind: str, host: str):
    import grpc
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
    from google.pubsub_v1.services.schema_service import SchemaServiceClient
    from google.pubsub_v1.services.schema_service.transports import SchemaServiceGrpcTransport
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    channel = grpc.insecure_channel(
        host,
        options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
    )
    if kind == "publisher":
        return pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=channel))
    if kind == "subscriber":
        return pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
    return SchemaServiceClient(transport=SchemaServiceGrpcTransport(channel=channel))


class Embedded(Target):
    """Our emulators as subprocesses (``python -m emulators.pubsub`` / ``.bigquery``)."""

    kind = "embedded"
    services = frozenset({"pubsub", "bigquery"})

    def __init__(self) -> None:
        super().__init__()
        self._processes: list = []
        self._dir: Path | None = None

    def start(self, services: set[str]) -> None:
        from emulators.process import StartError

        try:
            self._start(services)
        except StartError as exc:
            self.stop()
            raise TargetError(str(exc)) from exc

    def _start(self, services: set[str]) -> None:
        from emulators.process import ServerProcess

        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="parity-"))
        if "pubsub" in services:
            proc = ServerProcess.emulator("pubsub", log_path=self._dir / "pubsub.log")
            self._processes.append(proc)
            self.pubsub_host = proc.address
        if "bigquery" in services:
            proc = ServerProcess.emulator(
                "bigquery", "--project", self.project, log_path=self._dir / "bigquery.log"
            )
            self._processes.append(proc)
            self.bigquery_url = proc.url

    def stop(self) -> None:
        super().stop()
        for proc in self._processes:
            proc.stop()
        self._processes.clear()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


class GoogleEmulator(Target):
    """Google's Pub/Sub emulator from the Cloud SDK (needs java and the jar)."""

    kind = "google-emulator"
    services = frozenset({"pubsub"})

    def __init__(self) -> None:
        super().__init__()
        self._server = None

    def start(self, services: set[str]) -> None:
        from emulators.process import StartError
        from harness import google_emulator

        if shutil.which("java") is None:
            raise TargetError("google-emulator needs java on PATH")
        if google_emulator.find_jar() is None:
            raise TargetError(
                f"google-emulator: no Pub/Sub emulator jar found (set {google_emulator.JAR_ENV})"
            )
        try:
            self._server = google_emulator.start()
        except StartError as exc:
            raise TargetError(f"Google's Pub/Sub emulator did not start: {exc}") from exc
        self.pubsub_host = self._server.address

    def stop(self) -> None:
        super().stop()
        if self._server:
            self._server.stop()
        self._server = None


class BqEmulator(Target):
    """bqemulator (PyPI), the other BigQuery emulator with Storage APIs; BigQuery only."""

    kind = "bqemulator"
    services = frozenset({"bigquery"})

    def __init__(self) -> None:
        super().__init__()
        self._running = None

    def start(self, services: set[str]) -> None:
        from parity import bqemulator

        try:
            self._running = bqemulator.start(self.project)
        except bqemulator.RivalError as exc:
            raise TargetError(str(exc)) from exc
        self.bigquery_url = self._running.url

    def stop(self) -> None:
        super().stop()
        if self._running is not None:
            self._running.stop()
            self._running = None


class External(Target):
    """Endpoints already running: ``external:pubsub=HOST:PORT,bigquery=URL``."""

    kind = "external"

    def __init__(self, pubsub: str | None, bigquery: str | None) -> None:
        super().__init__()
        self.pubsub_host = pubsub
        self.bigquery_url = bigquery.rstrip("/") if bigquery else None
        self.services = frozenset(s for s, v in (("pubsub", pubsub), ("bigquery", bigquery)) if v)

    @property
    def label(self) -> str:
        parts = [f"pubsub={self.pubsub_host}"] if self.pubsub_host else []
        parts += [f"bigquery={self.bigquery_url}"] if self.bigquery_url else []
        return "external:" + ",".join(parts)


class Gcp(Target):
    """Real Google Cloud, application-default credentials. Costs money: opt-in only."""

    kind = "gcp"
    services = frozenset({"pubsub", "bigquery"})
    remote = True  # cannot reach push endpoints on this machine

    def __init__(self, project: str) -> None:
        super().__init__()
        self.project = project

    @property
    def label(self) -> str:
        return f"gcp:{self.project}"

    def start(self, services: set[str]) -> None:
        # An emulator variable left in the environment would silently redirect the clients.
        for var in ("PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST"):
            os.environ.pop(var, None)

    def _make_client(self, kind: str):
        from google.cloud import bigquery, pubsub_v1

        if kind == "publisher":
            return pubsub_v1.PublisherClient()
        if kind == "subscriber":
            return pubsub_v1.SubscriberClient()
        if kind == "schemas":
            return pubsub_v1.SchemaServiceClient()
        if kind == "bigquery":
            return bigquery.Client(project=self.project)
        raise KeyError(kind)


def parse_target(spec: str, allow_cost: bool = False) -> Target:
    """A :class:`Target` from its spec; :class:`TargetError` when it is wrong or not allowed."""
    kind, _, rest = spec.partition(":")
    if kind == "embedded" and not rest:
        return Embedded()
    if kind == "google-emulator" and not rest:
        return GoogleEmulator()
    if kind == "bqemulator" and not rest:
        return BqEmulator()
    if kind == "external":
        fields: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = part.partition("=")
            if not eq or key not in ("pubsub", "bigquery") or not value or key in fields:
                raise TargetError(
                    f"bad external target {spec!r}: use "
                    "external:pubsub=HOST:PORT,bigquery=http://HOST:PORT (either or both)"
                )
            fields[key] = value
        if not fields:
            raise TargetError("external: give pubsub=HOST:PORT and/or bigquery=URL")
        if "bigquery" in fields and "://" not in fields["bigquery"]:
            fields["bigquery"] = "http://" + fields["bigquery"]
        return External(fields.get("pubsub"), fields.get("bigquery"))
    if kind == "gcp":
        if not rest or not all(c.isalnum() or c in "-:." for c in rest):
            raise TargetError("gcp needs an explicit project: gcp:PROJECT_ID")
        if not allow_cost:
            raise TargetError(
                f"gcp:{rest} runs against real Google Cloud and costs money; "
                f"add {COST_FLAG} to confirm"
            )
        return Gcp(rest)
    raise TargetError(
        f"unknown target {spec!r}: embedded, google-emulator, bqemulator, "
        "external:pubsub=HOST:PORT,bigquery=URL or gcp:PROJECT"
    )
