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

from harness import beam_local
from harness.stack import Endpoints

_LOG = logging.getLogger(__name__)


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
        :class:`harness.beam_local.Tuning` to apply (default: ``LOCAL``, ~25x stock Beam)."""
        self.args = list(args)
        self.endpoints = endpoints
        self.progress = progress
        self.tuning = beam_local.LOCAL if tuning is None else tuning
        self.subscription = next(
            a.split("=", 1)[1] for a in self.args if a.startswith("--input_subscription=")
        )
        self.result = None
        self.plan = None
        self._saved_env: dict[str, str | None] = {}

    def start(self) -> PipelineRun:
        """Check what the run needs (:mod:`pipeline.preflight`: a ``PreflightError`` says what
        is missing in one sentence), then start the pipeline in the background."""
        from pipeline import preflight
        from pipeline.run import start

        # The variables must stay set while the pipeline runs: its clients are made lazily.
        # stop() puts back what was there, so nothing later in this process (or started by it)
        # is pointed at emulators that are gone.
        env = self.endpoints.env()
        self._saved_env = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            self.plan = preflight.check_args(self.args)
            beam_local.tune(self.tuning)
            beam_local.apply("pull_gate")
            beam_local.pull_gate.resume(self.subscription)
            self.result = start(self.args)
        except BaseException:
            self._restore_env()
            raise
        return self

    def counters(self) -> dict[str, int]:
        return counters(self.result)

    def stop(self, quiet_seconds: float = 2.0, timeout: float = 60.0) -> dict[str, int]:
        """Drain, then cancel. Returns the pipeline's final counters."""
        if self.result is None:
            return {}

        def progress():
            return _snapshot(self.result), self.progress() if self.progress else None

        if not beam_local.pull_gate.drain(self.subscription, progress, quiet_seconds, timeout):
            _LOG.warning("pipeline did not go quiet in %.0fs; cancelling anyway", timeout)
        final = self.counters()
        self.result.cancel()
        beam_local.pull_gate.resume(self.subscription)
        self.result = None
        self._restore_env()
        return final

    def cancel(self) -> dict[str, int]:
        """Stop at once, without draining (a benchmark may leave a backlog behind); the
        counters so far."""
        if self.result is None:
            return {}
        final = self.counters()
        self.result.cancel()
        self.result = None
        self._restore_env()
        return final

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def __enter__(self) -> PipelineRun:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
