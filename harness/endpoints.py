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
    """Where the emulators listen: ``host:port`` for Pub/Sub, a URL for BigQuery, ``host:port``
    for BigQuery's Storage Read/Write API (gRPC; empty when the stack has none)."""

    pubsub: str
    bigquery: str
    bigquery_storage: str = ""

    VARIABLES = ("PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "BIGQUERY_STORAGE_EMULATOR_HOST")

    def env(self) -> dict[str, str]:
        """The environment variables Google's clients (and our pipeline) honour; the Storage
        API's is read by our client helpers (``emulators.bigquery.storage_api.clients``)."""
        env = {"PUBSUB_EMULATOR_HOST": self.pubsub, "BIGQUERY_EMULATOR_HOST": self.bigquery}
        if self.bigquery_storage:
            env["BIGQUERY_STORAGE_EMULATOR_HOST"] = self.bigquery_storage
        return env

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Endpoints:
        """The endpoints that ``env`` (the variables of :meth:`env`) names."""
        return cls(
            env.get("PUBSUB_EMULATOR_HOST", ""),
            env.get("BIGQUERY_EMULATOR_HOST", ""),
            env.get("BIGQUERY_STORAGE_EMULATOR_HOST", ""),
        )

    @classmethod
    def of_state(cls, state: dict) -> Endpoints:
        """The endpoints recorded in a stack's state file."""
        return cls(state["pubsub"], state["bigquery"], state.get("bigquery_storage", ""))

    def export_lines(self) -> str:
        """``export`` lines, like ``gcloud beta emulators pubsub env-init``."""
        return "".join(f"export {k}={v}\n" for k, v in self.env().items())

    @classmethod
    def unset_lines(cls) -> str:
        """The ``unset`` line that undoes :meth:`export_lines`."""
        return f"unset {' '.join(cls.VARIABLES)}\n"

    def unanswered(self) -> dict[str, str]:
        """``{"pubsub"|"bigquery": why}`` for each emulator that does not answer now."""
        why = {"pubsub": pubsub_answers(self.pubsub), "bigquery": bigquery_answers(self.bigquery)}
        return {name: reason for name, reason in why.items() if reason}


def pubsub_answers(address: str, timeout: float = 1.0) -> str | None:
    """None when something accepts TCP connections at ``host:port``, else why not."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return _reason(exc)


def bigquery_answers(url: str, timeout: float = 2.0) -> str | None:
    """None when an HTTP server answers at ``url``, else why not."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/bigquery/v2/projects", timeout=timeout):
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
