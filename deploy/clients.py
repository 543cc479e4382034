"""The real Google clients ``plan``/``apply`` talk through, for one target.

``Clients.for_emulators(...)`` wires them to given endpoints (plaintext gRPC for Pub/Sub,
anonymous credentials for BigQuery and Cloud Storage); ``Clients.from_environment()`` reads those
endpoints from ``PUBSUB_EMULATOR_HOST`` / ``BIGQUERY_EMULATOR_HOST`` / ``STORAGE_EMULATOR_HOST``
(what ``python -m harness env`` prints); ``Clients.for_gcp(project)`` uses Application Default
Credentials against Google Cloud. A service the target does not have is ``None`` and ``plan``
says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

PUBSUB_ENV = "PUBSUB_EMULATOR_HOST"
BIGQUERY_ENV = "BIGQUERY_EMULATOR_HOST"
STORAGE_ENV = "STORAGE_EMULATOR_HOST"


class TargetError(RuntimeError):
    """The target cannot be reached as asked; one sentence."""


@dataclass
class Clients:
    """One client per service; ``target`` is ``"emulators"`` or ``"gcp"``."""

    target: str
    project: str
    publisher: Any
    subscriber: Any
    bigquery: Any
    storage: Any = None
    monitoring: Any = None

    @classmethod
    def for_emulators(cls, project: str, pubsub: str, bigquery: str,
                      storage: str | None = None) -> Clients:
        """Clients of the emulators at ``pubsub`` (``HOST:PORT``), ``bigquery`` and ``storage``
        (URLs; ``storage`` optional)."""
        import grpc
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery as bq
        from google.cloud import pubsub_v1
        from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
        from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

        channel = grpc.insecure_channel(pubsub)
        storage_client = None
        if storage:
            from google.cloud import storage as gcs

            storage_client = gcs.Client(
                project=project, credentials=AnonymousCredentials(),
                client_options={"api_endpoint": _url(storage)},
            )
        return cls(
            target="emulators",
            project=project,
            publisher=pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=channel)),
            subscriber=pubsub_v1.SubscriberClient(
                transport=SubscriberGrpcTransport(channel=channel)
            ),
            bigquery=bq.Client(project=project, credentials=AnonymousCredentials(),
                               client_options={"api_endpoint": _url(bigquery)}),
            storage=storage_client,
        )

    @classmethod
    def from_environment(cls, project: str) -> Clients:
        """The emulators named by the environment variables (``python -m harness env``)."""
        pubsub = os.environ.get(PUBSUB_ENV, "").strip()
        bigquery = os.environ.get(BIGQUERY_ENV, "").strip()
        missing = [name for name, value in ((PUBSUB_ENV, pubsub), (BIGQUERY_ENV, bigquery))
                   if not value]
        if missing:
            raise TargetError(
                f"{' and '.join(missing)} not set: start the stack and export its endpoints "
                "(python -m harness up && eval \"$(python -m harness env)\")"
            )
        return cls.for_emulators(project, pubsub, bigquery,
                                 os.environ.get(STORAGE_ENV, "").strip() or None)

    @classmethod
    def for_gcp(cls, project: str) -> Clients:
        """Google Cloud itself, with Application Default Credentials. Never used by the tests."""
        for name in (PUBSUB_ENV, BIGQUERY_ENV, STORAGE_ENV):
            if os.environ.get(name):
                raise TargetError(f"{name} is set, so the clients would talk to an emulator, "
                                  "not Google Cloud: unset it for a gcp environment")
        from google.cloud import bigquery as bq
        from google.cloud import monitoring_v3, pubsub_v1
        from google.cloud import storage as gcs

        return cls(
            target="gcp",
            project=project,
            publisher=pubsub_v1.PublisherClient(),
            subscriber=pubsub_v1.SubscriberClient(),
            bigquery=bq.Client(project=project),
            storage=gcs.Client(project=project),
            monitoring=monitoring_v3.AlertPolicyServiceClient(),
        )

    def close(self) -> None:
        for client in (self.bigquery, self.storage):
            if client is not None and hasattr(client, "close"):
                client.close()
        for client in (self.publisher, self.subscriber):
            transport = getattr(client, "transport", None) or getattr(client, "_transport", None)
            if transport is not None:
                transport.close()


def _url(host: str) -> str:
    host = host.strip().rstrip("/")
    return host if "://" in host else f"http://{host}"
