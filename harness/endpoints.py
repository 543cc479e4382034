"""Where a running stack's emulators listen, whether they answer, and the one error the stack
raises."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from dataclasses import dataclass


class StackError(RuntimeError):
    """The stack could not start; the message says why in one sentence."""


@dataclass(frozen=True)
class Endpoints:
    """Where the emulators listen: ``host:port`` for Pub/Sub, URLs for BigQuery and Cloud
    Storage (empty when a backend runs no Cloud Storage emulator), ``host:port`` for BigQuery's
    Storage Read/Write API (gRPC; empty when the stack has none); and, when the harness file
    runs it, the ingestion edge: the REST edge's URL and the MQTT broker's ``mqtt://HOST:PORT``."""

    pubsub: str
    bigquery: str
    storage: str = ""
    bigquery_storage: str = ""
    ingest: str | None = None
    mqtt: str | None = None

    VARIABLES = ("PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST",
                 "BIGQUERY_STORAGE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "INGEST_URL",
                 "MQTT_BROKER_URL")

    def env(self) -> dict[str, str]:
        """The environment variables Google's clients (and our pipeline) honour, and where
        producers send events (``INGEST_URL``, ``MQTT_BROKER_URL``) when the edge runs. The
        Storage API's is read by our client helpers (``emulators.bigquery.storage_api.clients``):
        no Google client reads one."""
        env = {"PUBSUB_EMULATOR_HOST": self.pubsub, "BIGQUERY_EMULATOR_HOST": self.bigquery}
        for name, value in (("BIGQUERY_STORAGE_EMULATOR_HOST", self.bigquery_storage),
                            ("STORAGE_EMULATOR_HOST", self.storage), ("INGEST_URL", self.ingest),
                            ("MQTT_BROKER_URL", self.mqtt)):
            if value:
                env[name] = value
        return env

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Endpoints:
        """The endpoints that ``env`` (the variables of :meth:`env`) names."""
        return cls(
            env.get("PUBSUB_EMULATOR_HOST", ""),
            env.get("BIGQUERY_EMULATOR_HOST", ""),
            env.get("STORAGE_EMULATOR_HOST", ""),
            env.get("BIGQUERY_STORAGE_EMULATOR_HOST", ""),
            ingest=env.get("INGEST_URL"),
            mqtt=env.get("MQTT_BROKER_URL"),
        )

    def export_lines(self) -> str:
        """``export`` lines, like ``gcloud beta emulators pubsub env-init``."""
        return "".join(f"export {k}={v}\n" for k, v in self.env().items())

    @classmethod
    def unset_lines(cls) -> str:
        """The ``unset`` line that undoes :meth:`export_lines`."""
        return f"unset {' '.join(cls.VARIABLES)}\n"

    def addresses(self) -> dict[str, str]:
        """``{emulator: where it listens}`` for the emulators this stack runs."""
        where = {"pubsub": self.pubsub, "bigquery": self.bigquery, "storage": self.storage}
        return {name: address for name, address in where.items() if address}

    def unanswered(self) -> dict[str, str]:
        """``{"pubsub"|"bigquery"|"storage"|"ingest"|"mqtt": why}`` for each server that does
        not answer now (an empty endpoint is not asked: storage and the edge only when they run)."""
        probes = {"pubsub": lambda: pubsub_answers(self.pubsub),
                  "bigquery": lambda: http_answers(f"{self.bigquery}/bigquery/v2/projects"),
                  "storage": lambda: http_answers(
                      f"{self.storage}/storage/v1/b?project=health-check"),
                  "ingest": lambda: http_answers(f"{self.ingest}/healthz"),
                  "mqtt": lambda: tcp_answers((self.mqtt or "").removeprefix("mqtt://"))}
        where = {**self.addresses(), "ingest": self.ingest, "mqtt": self.mqtt}
        why = {name: probes[name]() for name, address in where.items() if address}
        return {name: reason for name, reason in why.items() if reason}


def pubsub_answers(address: str, timeout: float = 1.0) -> str | None:
    """None when a gRPC server answers at ``host:port``, else why not. One RPC, and any status
    but UNAVAILABLE or a deadline is an answer; a TCP accept is not one (Docker's port proxy
    accepts connections before the server in the container listens)."""
    import grpc

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return f"{address!r} is not host:port"
    with grpc.insecure_channel(address) as channel:
        list_topics = channel.unary_unary("/google.pubsub.v1.Publisher/ListTopics")
        try:
            list_topics(b"", timeout=timeout)  # an empty request: any error is answer enough
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                return "connection refused" if "refused" in str(exc.details()) else \
                    f"unavailable ({exc.details()})"
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return "no answer (timed out)"
    return None


def tcp_answers(address: str, timeout: float = 1.0) -> str | None:
    """None when something accepts TCP connections at ``host:port`` (the MQTT broker), else
    why not."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return _reason(exc)


def http_answers(url: str, timeout: float = 2.0) -> str | None:
    """None when an HTTP server answers at ``url``, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return None  # an HTTP answer, whatever it says, means a server is there
    except (OSError, ValueError) as exc:
        return _reason(getattr(exc, "reason", exc))
    return None


def _reason(exc) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer (timed out)"
    return str(getattr(exc, "strerror", None) or exc)
