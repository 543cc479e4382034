"""Replay against the local stack: ``pipeline.replay``'s procedure with the harness's own drain.

The DirectRunner has no drain API, and it acknowledges messages when it pulls them; the harness
runs the pipeline in its own process (:class:`harness.running.PipelineRun`) and drains it itself
(pulls paused, what was pulled written, then cancelled). :class:`LocalControl` gives the
procedure that drain and a relaunch; :func:`replay_local` adds what the report counts: the
backlog after the seek (the Pub/Sub emulator's ``num_undelivered_messages``) and the rows of the
pipeline's tables before and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from harness import traffic
from harness.endpoints import Endpoints
from harness.observe import subscription_metric
from harness.provision import HarnessConfig
from harness.running import PipelineRun
from pipeline.replay import ReplayReport, emulator_backlog, replay


class LocalControl:
    """Drain = :meth:`PipelineRun.stop`; relaunch = a new run from ``start``."""

    def __init__(self, run: PipelineRun | None, start: Callable[[], PipelineRun]):
        self.run = run
        self.start = start
        self.drained: dict | None = None

    def drain(self) -> None:
        if self.run is not None:
            self.drained = self.run.stop()
            self.run = None

    def relaunch(self) -> None:
        self.run = self.start()


def backlog(endpoints: Endpoints, subscription: str) -> int | None:
    """Messages waiting in ``subscription`` now (the emulator's num_undelivered_messages)."""
    return emulator_backlog(endpoints.pubsub, subscription)


def replay_local(
    endpoints: Endpoints,
    config: HarnessConfig,
    control: LocalControl,
    bq,
    subscriber,
    *,
    snapshot: str | None = None,
    time_: datetime | None = None,
    create_snapshot: bool = False,
    wait: float = 120.0,
) -> ReplayReport:
    """Replay ``config``'s subscription into the running pipeline ``control`` holds; waits
    (up to ``wait`` seconds) for the relaunched pipeline to work off the backlog."""
    pipe = config.pipeline
    subscription = config.subscription_path(pipe["input_subscription"])
    tables = [f"{config.project}.{pipe['output_table']}",
              f"{config.project}.{pipe['dead_letter_table']}"]  # fmt: skip
    if snapshot and not snapshot.startswith("projects/"):
        snapshot = f"projects/{config.project}/snapshots/{snapshot}"

    def rows() -> int:
        return sum(traffic.count_rows(bq, t) for t in tables)

    # Caught up: the relaunched pipeline acknowledged as many messages as the seek made
    # waiting, and then had five seconds to write them (traffic may go on meanwhile, and
    # counts in the rows written after the seek).
    marks: dict = {}

    def waiting() -> int | None:
        marks["replayed"] = backlog(endpoints, subscription)
        return marks["replayed"]

    class Relaunching:
        drain = staticmethod(control.drain)

        @staticmethod
        def relaunch() -> None:
            marks["acks"] = acknowledged(endpoints, subscription)
            control.relaunch()

    def caught_up() -> bool:
        if "done" not in marks:
            acked = acknowledged(endpoints, subscription)
            if None in (acked, marks.get("acks"), marks.get("replayed")):
                return False
            if acked - marks["acks"] < marks["replayed"]:
                return False
            marks["done"] = time.monotonic()
        return time.monotonic() - marks["done"] >= 5.0

    return replay(
        subscriber, subscription, Relaunching(), snapshot=snapshot, time_=time_,
        create_snapshot=create_snapshot, backlog=waiting, rows=rows, caught_up=caught_up,
        wait=wait,
    )


def acknowledged(endpoints: Endpoints, subscription: str) -> int | None:
    """The emulator's ack_message_count of ``subscription`` (acks since it started)."""
    value = subscription_metric(endpoints, subscription,
                                "pubsub.googleapis.com/subscription/ack_message_count")
    return None if value is None else int(value)
