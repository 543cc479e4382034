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

    seen = {"rows": -1, "since": time.monotonic()}

    def caught_up() -> bool:
        now_rows = rows()
        if now_rows != seen["rows"]:
            seen["rows"], seen["since"] = now_rows, time.monotonic()
            return False
        return backlog(endpoints, subscription) == 0 and time.monotonic() - seen["since"] >= 2

    return replay(
        subscriber, subscription, control, snapshot=snapshot, time_=time_,
        create_snapshot=create_snapshot, backlog=lambda: backlog(endpoints, subscription),
        rows=rows, caught_up=caught_up, wait=wait,
    )
