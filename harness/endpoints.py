"""Where a running stack's emulators listen, and the one error the stack raises."""

from __future__ import annotations

from dataclasses import dataclass


class StackError(RuntimeError):
    """The stack could not start; the message says why in one sentence."""


@dataclass(frozen=True)
class Endpoints:
    """Where the emulators listen: ``host:port`` for Pub/Sub, URLs for BigQuery and Cloud
    Storage (empty when a backend runs no Cloud Storage emulator)."""

    pubsub: str
    bigquery: str
    storage: str = ""

    def env(self) -> dict[str, str]:
        """The environment variables Google's clients (and our pipeline) honour."""
        env = {"PUBSUB_EMULATOR_HOST": self.pubsub, "BIGQUERY_EMULATOR_HOST": self.bigquery}
        if self.storage:
            env["STORAGE_EMULATOR_HOST"] = self.storage
        return env

    def export_lines(self) -> str:
        """``export`` lines, like ``gcloud beta emulators pubsub env-init``."""
        return "".join(f"export {k}={v}\n" for k, v in self.env().items())
