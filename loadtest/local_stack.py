"""The local target: both emulators, provisioned from harness.toml, and the pipeline running.

Used by ``python -m loadtest`` and the pipeline benchmark. The pipeline runs on Beam's
DirectRunner in this process (``harness.running.PipelineRun``); that is why the Locust
process, which gevent monkey-patches, is a separate process.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from harness.beam_local import STOCK, Tuning
from loadtest.target import Target


@dataclass
class LocalStack:
    """``with LocalStack() as stack: stack.target ...`` - emulators, provisioning, pipeline.

    ``tuning``: the prototype fixes of :mod:`harness.beam_local` to apply to the
    DirectRunner (default: none, Beam's stock behaviour; see bench/README.md).
    """

    backend: str = "embedded"
    project: str | None = None
    tuning: Tuning = STOCK
    warm_up_timeout: float = 120.0
    alerts: bool = False  # evaluate ops/alerts.toml while it runs (harness/observe.py)

    def __post_init__(self):
        self.stack = self.run = self.target = self.config = self.bq = self.watch = None
        self.warm_up_seconds = None

    def start(self) -> Target:
        """Emulators, provisioning, then the pipeline, warmed up by one event."""
        self.start_emulators()
        try:
            self.start_pipeline(warm_up=True)
        except BaseException:
            self.stop()
            raise
        return self.target

    def start_emulators(self) -> Target:
        """Emulators and provisioning only: publishing now builds a backlog."""
        from harness import clients
        from harness.provision import HarnessConfig, provision
        from harness.stack import Stack

        # A project of its own, so a run against long-lived (external) emulators starts empty.
        self.config = HarnessConfig.load(project=self.project or f"load-{uuid.uuid4().hex[:8]}")
        config = self.config
        self.stack = Stack(backend=self.backend)
        endpoints = self.stack.start()
        try:
            self.bq = clients.bigquery(endpoints, config.project)
            publisher = clients.publisher(endpoints)
            provision(config, publisher, clients.subscriber(endpoints), self.bq)
            publisher.transport.close()
        except BaseException:
            self.stop()
            raise
        self.target = Target(
            kind="local",
            project=config.project,
            topic=config.topic_path(config.subscriptions[0]["topic"]),
            events_table=f"{config.project}.{config.pipeline['output_table']}",
            pubsub=endpoints.pubsub,
            bigquery=endpoints.bigquery,
        )
        return self.target

    def start_pipeline(self, warm_up: bool = True) -> None:
        from harness import traffic
        from harness.running import PipelineRun
        from pipeline import samples

        self.run = PipelineRun(
            self.config.pipeline_args(), self.stack.endpoints, self.landed, self.tuning
        ).start()
        if warm_up:
            # The first event pays for Beam's start-up (side input, clients, table lookups).
            event = samples.valid_event(event_id=f"warm-up-{uuid.uuid4().hex[:8]}")
            started = time.monotonic()
            publisher = self.target.publisher()
            traffic.publish(publisher, self.target.topic, [samples.encode(event)])
            publisher.transport.close()
            traffic.wait_for_rows(self.bq, self.target.events_table, 1, self.warm_up_timeout)
            self.warm_up_seconds = time.monotonic() - started
        if self.alerts and self.watch is None:
            from harness.observe import watch_alerts

            self.watch = watch_alerts(self.stack.endpoints, self.config, self.bq,
                                      lambda: self.run)

    def landed(self) -> tuple[int, int]:
        """Rows in the events table and in the dead-letter table."""
        from harness import traffic

        dead = f"{self.config.project}.{self.config.pipeline['dead_letter_table']}"
        return (
            traffic.count_rows(self.bq, self.target.events_table),
            traffic.count_rows(self.bq, dead),
        )

    def counters(self) -> dict[str, int]:
        return self.run.counters() if self.run else {}

    def stop(self, drain: bool = True) -> dict[str, int]:
        """Stop the pipeline (draining it first unless ``drain`` is false: a benchmark may
        leave a backlog behind), then the emulators; the pipeline's final counters."""
        final = {}
        if self.watch is not None:
            from harness.observe import alert_summary

            self.watch.stop()
            print("alerts during the run:\n" + alert_summary(self.watch), flush=True)
            self.watch = None
        try:
            if self.run is not None:
                if drain:
                    final = self.run.stop(timeout=120)
                else:
                    final = self.run.cancel()
                self.run = None
        finally:
            if self.stack is not None:
                self.stack.stop()
                self.stack = None
        return final

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
