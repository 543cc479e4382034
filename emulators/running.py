"""Run the production pipeline on Beam's DirectRunner in streaming mode, and stop it cleanly.

Beam's DirectRunner acknowledges Pub/Sub messages as soon as it pulls them, before they are
processed (Dataflow acknowledges only after the bundle is committed). Cancelling it mid-stream
would therefore drop the messages in flight. :meth:`PipelineRun.stop` drains instead: it pauses
the DirectRunner's pulls for this pipeline's subscription, waits for the pull under way to
return, then until the pipeline's output stops moving (everything pulled has been written or
dead-lettered), and only then cancels.

Beam's metrics alone cannot tell: the streaming DirectRunner (Beam 2.77) reuses the first
bundle's metrics container for later bundles of a DoFn, so user counters under-report there
(they are right on Dataflow). Give ``progress`` (e.g. the tables' row counts) to watch as well.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from emulators.stack import Endpoints

_LOG = logging.getLogger(__name__)
_paused: set[str] = set()
_pulling: dict[str, int] = {}  # pulls under way, per subscription
_gate_lock = threading.Lock()
_gate_installed = False


def _install_pull_gate() -> None:
    """Let ``_paused`` hold back the DirectRunner's Pub/Sub pulls, per subscription, and count
    the pulls under way in ``_pulling``."""
    global _gate_installed
    with _gate_lock:
        if _gate_installed:
            return
        from apache_beam.runners.direct.transform_evaluator import _PubSubReadEvaluator

        original = _PubSubReadEvaluator._read_from_pubsub

        def gated(self, timestamp_attribute):
            with _gate_lock:
                paused = self._sub_name in _paused
                if not paused:
                    _pulling[self._sub_name] = _pulling.get(self._sub_name, 0) + 1
            if paused:
                time.sleep(0.05)
                return []
            try:
                return original(self, timestamp_attribute)
            finally:
                with _gate_lock:
                    _pulling[self._sub_name] -= 1

        _PubSubReadEvaluator._read_from_pubsub = gated
        _gate_installed = True


def _snapshot(result) -> tuple:
    return tuple(sorted((str(c.key), c.attempted) for c in result.metrics().query()["counters"]))


def counters(result, namespace: str = "events") -> dict[str, int]:
    """The counters of a pipeline result, by name.

    Attempted values: the streaming DirectRunner does not keep committed ones up to date, and
    it does not retry bundles, so attempted is what happened.
    """
    out: dict[str, int] = {}
    for counter in result.metrics().query()["counters"]:
        if counter.key.metric.namespace == namespace:
            name = counter.key.metric.name
            out[name] = out.get(name, 0) + (counter.attempted or 0)
    return out


class PipelineRun:
    """The event pipeline running in the background of this process."""

    def __init__(self, args: list[str], endpoints: Endpoints, progress=None, tuning=None):
        """``progress``: a callable whose value changes while the pipeline still writes (e.g.
        the row counts of its tables); :meth:`stop` waits for it to settle. ``tuning``: the
        :mod:`emulators.direct_runner_tuning` to apply (default: ``LOCAL``, ~25x stock Beam)."""
        from emulators import direct_runner_tuning

        self.args = list(args)
        self.endpoints = endpoints
        self.progress = progress
        self.tuning = direct_runner_tuning.LOCAL if tuning is None else tuning
        self.subscription = next(
            a.split("=", 1)[1] for a in self.args if a.startswith("--input_subscription=")
        )
        self.result = None

    def start(self) -> PipelineRun:
        from emulators import direct_runner_tuning
        from pipeline.run import run

        direct_runner_tuning.apply(self.tuning)
        _install_pull_gate()
        _paused.discard(self.subscription)
        # The variables must stay set while the pipeline runs: its clients are made lazily.
        os.environ.update(self.endpoints.env())
        self.result = run(self.args, wait=False)
        return self

    def counters(self) -> dict[str, int]:
        return counters(self.result)

    def stop(self, quiet_seconds: float = 2.0, timeout: float = 60.0) -> dict[str, int]:
        """Drain, then cancel. Returns the pipeline's final counters."""
        if self.result is None:
            return {}
        with _gate_lock:
            _paused.add(self.subscription)
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            if _pulling.get(self.subscription):
                # A pull already sent may still return messages (and ack them): wait for it.
                time.sleep(0.05)
                continue
            now = (_snapshot(self.result), self.progress() if self.progress else None)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                break
            time.sleep(0.1)
        else:
            _LOG.warning("pipeline did not go quiet in %.0fs; cancelling anyway", timeout)
        final = self.counters()
        self.result.cancel()
        with _gate_lock:
            _paused.discard(self.subscription)
        self.result = None
        return final

    def __enter__(self) -> PipelineRun:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
