"""Locust users for the event pipeline: publishers through google-cloud-pubsub, and a probe
that measures end to end (publish -> row visible in BigQuery).

Start it with ``python -m loadtest`` (it sets the ``LOADTEST_*`` variables: the target and the
knobs below); ``locust -f loadtest/locustfile.py`` alone refuses to run without a target.

Request types in Locust's stats:

* ``publish``: one per event; response time = publish() call -> its future resolved (the
  client's batching included); an exception from the future is a failure.
* ``e2e``: one per probe event; response time = publish() call -> first poll of the events
  table that shows its row. A probe not seen within ``LOADTEST_E2E_TIMEOUT`` is a failure.
"""

from __future__ import annotations

import os
import time
import uuid

# Locust has monkey-patched the process with gevent by now; gRPC must be told before any
# channel exists, or its C-core threads block the gevent loop.
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

from locust import LoadTestShape, User, constant, constant_throughput, events, task  # noqa: E402

from loadtest.landing import LandingWatch  # noqa: E402
from loadtest.shapes import ShapePlan, parse_duration  # noqa: E402
from loadtest.target import Target  # noqa: E402


def _setting(name: str, default, kind=float):
    return kind(os.environ.get(f"LOADTEST_{name}", default))


EVENTS_PER_TASK = _setting("EVENTS_PER_TASK", 5, int)
USER_RATE = _setting("USER_RATE", 1.0)  # tasks per second per publishing user
BATCH_MAX_MESSAGES = _setting("BATCH_MAX_MESSAGES", 100, int)
BATCH_MAX_LATENCY = _setting("BATCH_MAX_LATENCY", 0.01)
PROBE_INTERVAL = _setting("PROBE_INTERVAL", 0.5)
E2E_TIMEOUT = _setting("E2E_TIMEOUT", 60.0)
RUN_ID = os.environ.get("LOADTEST_RUN_ID") or uuid.uuid4().hex[:8]

_shared: dict[str, object] = {}


def target() -> Target:
    if "target" not in _shared:
        _shared["target"] = Target.from_env()
    return _shared["target"]


def publisher():
    """One PublisherClient for the process: every user's events share its batches."""
    if "publisher" not in _shared:
        _shared["publisher"] = target().publisher(BATCH_MAX_MESSAGES, BATCH_MAX_LATENCY)
    return _shared["publisher"]


@events.init.add_listener
def _check_target(environment, **_kwargs):
    target()  # fail at start-up, with the reason, rather than in every task


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def publish_one(environment, payload: bytes, name: str, on_done=None):
    """Publish ``payload``; report a ``publish`` request when its future resolves."""
    started = time.perf_counter()
    future = publisher().publish(target().topic, payload)

    def done(fut):
        exception = fut.exception()
        environment.events.request.fire(
            request_type="publish",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(payload),
            exception=exception,
            context={},
        )
        if on_done is not None:
            on_done(exception)

    future.add_done_callback(done)
    return future


class EventPublisher(User):
    """Publishes ``LOADTEST_EVENTS_PER_TASK`` valid events per task, then waits for them."""

    wait_time = constant_throughput(USER_RATE)

    def on_start(self):
        import random

        self.rng = random.Random()

    @task
    def publish_events(self):
        from pipeline import samples

        name = _short(target().topic)
        futures = [
            publish_one(self.environment, samples.encode(samples.valid_event(self.rng)), name)
            for _ in range(EVENTS_PER_TASK)
        ]
        for future in futures:
            try:
                future.result(timeout=60)
            except Exception:  # noqa: BLE001 - reported as a failure by the callback
                pass


class EndToEndProbe(User):
    """Publishes a tagged event every ``LOADTEST_PROBE_INTERVAL`` s and reports, as ``e2e``,
    how long each took to become a row of the events table."""

    fixed_count = 1
    wait_time = constant(PROBE_INTERVAL)

    def on_start(self):
        self.prefix = f"probe-{RUN_ID}-"
        self.sent: dict[str, float] = {}
        self.count = 0
        self.watch = LandingWatch(target().bigquery_client(), target().events_table, self.prefix)

    @task
    def probe(self):
        from pipeline import samples

        event_id = f"{self.prefix}{self.count:08d}"
        self.count += 1
        payload = samples.encode(samples.valid_event(event_id=event_id))
        sent = time.monotonic()

        def published(exception):
            if exception is None:
                self.sent[event_id] = sent

        publish_one(self.environment, payload, "probe", published)
        self.check_landings()

    def check_landings(self):
        fire = self.environment.events.request.fire
        try:
            landed = self.watch.poll()
        except Exception as exc:  # noqa: BLE001 - a failed poll is worth seeing in the stats
            fire(request_type="e2e", name="poll", response_time=0, response_length=0,
                 exception=exc, context={})
            return
        for event_id, seen in landed.items():
            sent = self.sent.pop(event_id, None)
            if sent is not None:
                fire(request_type="e2e", name="publish->row", response_time=(seen - sent) * 1000,
                     response_length=0, exception=None, context={})
        now = time.monotonic()
        for event_id, sent in list(self.sent.items()):
            if now - sent > E2E_TIMEOUT:
                del self.sent[event_id]
                fire(request_type="e2e", name="publish->row", response_time=(now - sent) * 1000,
                     response_length=0, context={},
                     exception=TimeoutError(f"no row after {E2E_TIMEOUT:.0f}s"))


class StagedShape(LoadTestShape):
    """The schedule of :class:`loadtest.shapes.ShapePlan` named by ``LOADTEST_SHAPE``; peak
    users and run time come from ``--users`` and ``--run-time``."""

    use_common_options = True

    def tick(self):
        if "plan" not in _shared:
            options = self.runner.environment.parsed_options
            _shared["plan"] = ShapePlan(
                os.environ.get("LOADTEST_SHAPE", "steady"),
                parse_duration(options.run_time or 60),
                max(1, int(options.num_users or 10)),
                fixed_users=EndToEndProbe.fixed_count,
            )
        return _shared["plan"].tick(self.get_run_time())
