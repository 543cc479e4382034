"""Scheduled snapshots of the pipeline's subscription (``snapshot_every`` in ``harness.toml``'s
``[pipeline]``, policy in ``ops/snapshots.py``): a background thread that takes one every period,
checks the schedule against the backlog's age and keeps the newest ``snapshot_keep``."""

from __future__ import annotations

import logging
import threading

from harness.endpoints import Endpoints
from harness.observe import subscription_metric
from harness.provision import HarnessConfig
from ops import snapshots as policy

log = logging.getLogger("harness.snapshots")


def oldest_unacked_age(endpoints: Endpoints, subscription: str) -> float:
    """The emulator's oldest_unacked_message_age of ``subscription`` (0 when unknown)."""
    return subscription_metric(
        endpoints, subscription, "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
    ) or 0.0


class ScheduledSnapshots:
    """Takes a snapshot every ``every`` seconds (first one at start); ``taken`` lists them."""

    def __init__(self, endpoints: Endpoints, config: HarnessConfig, subscriber,
                 every: float | None = None, keep: int | None = None):
        pipe = config.pipeline
        self.endpoints = endpoints
        self.subscriber = subscriber
        self.project = config.project
        self.subscription_id = pipe["input_subscription"]
        self.subscription = config.subscription_path(self.subscription_id)
        self.every = every if every is not None else policy.parse_every(
            pipe.get("snapshot_every", "1h"))
        self.keep = keep if keep is not None else int(pipe.get("snapshot_keep", 24))
        self.taken: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="snapshots", daemon=True)

    def take(self) -> str:
        age = oldest_unacked_age(self.endpoints, self.subscription)
        policy.check(self.every, age)
        name = f"projects/{self.project}/snapshots/{policy.name(self.subscription_id)}"
        if name in self.taken:  # two in one second: the name is taken already
            return name
        self.subscriber.create_snapshot(request={"name": name, "subscription": self.subscription})
        self.taken.append(name)
        self.prune()
        return name

    def prune(self) -> list[str]:
        """Delete the scheduled snapshots beyond the newest ``keep``; returns their names."""
        gone = policy.to_delete(self.taken, self.subscription_id, self.keep)
        for old in gone:
            self.subscriber.delete_snapshot(request={"snapshot": old})
            self.taken.remove(old)
        return gone

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.take()
            except Exception:  # noqa: BLE001 - a missed snapshot must not end the schedule
                log.exception("scheduled snapshot failed")
            self._stop.wait(self.every)

    def start(self) -> ScheduledSnapshots:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
