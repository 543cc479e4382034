"""Where load goes: the local emulator stack, or a staging GCP project named explicitly.

The choice travels from ``python -m loadtest`` to the Locust process in ``LOADTEST_*``
environment variables. A GCP target exists only with an explicit project: nothing here falls
back to a default project, so a run without ``--project`` can never reach Google Cloud.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

KINDS = ("local", "gcp")
ENV_PREFIX = "LOADTEST_"


class TargetError(ValueError):
    """The target configuration is incomplete or unsafe; the message says which."""


class PublishFailed(Exception):
    """A failed publish, named by its status code alone (gRPC's name, else ``HTTP <code>``, else
    the exception's type): Locust's failure table groups by message, so one row per code."""

    def __init__(self, exc: BaseException):
        code = getattr(exc, "grpc_status_code", None)
        if code is not None:
            status = code.name
        elif isinstance(getattr(exc, "code", None), int):
            status = f"HTTP {exc.code}"
        else:
            status = type(exc).__name__
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Target:
    """What the load test publishes to and where it watches rows land.

    ``topic`` is ``projects/P/topics/T``; ``events_table`` is ``P.dataset.table``. For a local
    target ``pubsub`` is ``host:port`` and ``bigquery`` a URL; both are empty for GCP.
    """

    kind: str
    project: str
    topic: str
    events_table: str
    pubsub: str = ""
    bigquery: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise TargetError(f"unknown target {self.kind!r}; choose one of {', '.join(KINDS)}")
        if not self.project:
            raise TargetError("a target needs a project")
        if self.kind == "local" and not (self.pubsub and self.bigquery):
            raise TargetError("a local target needs both emulator endpoints")
        if self.kind == "gcp" and (self.pubsub or self.bigquery):
            raise TargetError("a gcp target must not name emulator endpoints")

    def to_env(self) -> dict[str, str]:
        return {f"{ENV_PREFIX}{k.upper()}": v for k, v in asdict(self).items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Target:
        environ = os.environ if environ is None else environ
        kind = environ.get(f"{ENV_PREFIX}KIND")
        if not kind:
            raise TargetError(
                "no load-test target configured: start the test with `python -m loadtest` "
                "(local emulators by default, or --target gcp --project P)"
            )
        values = {k: environ.get(f"{ENV_PREFIX}{k.upper()}", "") for k in cls.__dataclass_fields__}
        return cls(**values)

    def publisher(self, max_messages: int = 100, max_latency: float = 0.01,
                  flow_control: tuple[int, int] | None = None):
        """A ``PublisherClient`` with the given batching, for this target only.

        ``flow_control``: ``(messages, bytes)`` outstanding at most; ``publish()`` blocks beyond
        them (the client's own flow control, ``LimitExceededBehavior.BLOCK``)."""
        from google.cloud import pubsub_v1
        from google.cloud.pubsub_v1.types import LimitExceededBehavior

        options = {"batch_settings": pubsub_v1.types.BatchSettings(
            max_messages=max_messages, max_latency=max_latency)}
        if flow_control is not None:
            options["publisher_options"] = pubsub_v1.types.PublisherOptions(
                flow_control=pubsub_v1.types.PublishFlowControl(
                    message_limit=flow_control[0], byte_limit=flow_control[1],
                    limit_exceeded_behavior=LimitExceededBehavior.BLOCK))
        if self.kind == "gcp":
            return pubsub_v1.PublisherClient(**options)  # ADC
        from harness import clients
        from harness.stack import Endpoints

        return clients.publisher(Endpoints(self.pubsub, self.bigquery), **options)

    def bigquery_client(self):
        if self.kind == "gcp":
            from google.cloud import bigquery

            return bigquery.Client(project=self.project)  # ADC
        from harness import clients
        from harness.stack import Endpoints

        return clients.bigquery(Endpoints(self.pubsub, self.bigquery), self.project)


def gcp_target(project: str | None, topic: str = "events", events_table: str = "analytics.events"):
    """A staging-project target. Refuses to exist without an explicit ``project``."""
    if not project:
        raise TargetError(
            "--target gcp needs an explicit --project (credentials come from ADC); "
            "without it the load test only runs against the local emulators"
        )
    return Target(
        kind="gcp",
        project=project,
        topic=topic if topic.startswith("projects/") else f"projects/{project}/topics/{topic}",
        events_table=events_table if events_table.count(".") == 2 else f"{project}.{events_table}",
    )
