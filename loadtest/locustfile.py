"""Locust users for the event pipeline: publishers through google-cloud-pubsub, and a probe
that measures end to end (publish -> row visible in BigQuery).

Start it with ``python -m loadtest`` (it sets the ``LOADTEST_*`` variables: the target and the
knobs below); ``locust -f loadtest/locustfile.py`` alone refuses to run without a target.

Request types in Locust's stats:

* ``publish``: one per event; response time = publish() call -> its future resolved (the
  client's batching included); an exception from the future is a failure.
* ``e2e``: one per probe event; response time = publish() call -> its row visible in the events
  table, measured per event by :class:`loadtest.landing.VisibilityWatch` (checks back to back
  while probes are outstanding; each measurement's window is kept). A probe not seen within
  ``LOADTEST_E2E_TIMEOUT`` is a failure. Every landed probe is also written, with its window,
  to ``LOADTEST_E2E_CSV`` for ``python -m loadtest`` to report exact percentiles (Locust rounds
  response times over 100 ms to 10 ms, over 1 s to 100 ms).

Locust's "Aggregated" row counts ``publish`` requests only: an average of 10 ms publishes and
200 ms end-to-end probes would describe neither.
"""

from __future__ import annotations

import csv
import os
import time
import uuid

# Locust has monkey-patched the process with gevent by now; gRPC must be told before any
# channel exists, or its C-core threads block the gevent loop.
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

from locust import LoadTestShape, User, constant, constant_throughput, events, task  # noqa: E402

from loadtest.landing import CHECK_PAUSE, VisibilityWatch  # noqa: E402
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
STOP_GRACE = 5.0  # seconds for outstanding probes to land once the run ends (< --stop-timeout)
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
    _publishes_only_in_the_aggregate(environment.stats)


class _NotCounted:
    """Stands in for Locust's "Aggregated" entry while an ``e2e`` result is logged."""

    def log(self, *args, **kwargs):
        pass

    log_error = log


def _publishes_only_in_the_aggregate(stats) -> None:
    """Keep ``e2e`` requests out of Locust's "Aggregated" row (they keep rows of their own)."""

    def without_total(log):
        def logged(method, name, *args):
            if method != "e2e":
                return log(method, name, *args)
            total, stats.total = stats.total, _NotCounted()  # no greenlet switch in between
            try:
                return log(method, name, *args)
            finally:
                stats.total = total

        return logged

    stats.log_request = without_total(stats.log_request)
    stats.log_error = without_total(stats.log_error)


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
    """Publishes a tagged event every ``LOADTEST_PROBE_INTERVAL`` s; a watcher greenlet reports,
    as ``e2e``, when each became a row of the events table (per event, see
    :mod:`loadtest.landing`)."""

    fixed_count = 1
    wait_time = constant(PROBE_INTERVAL)

    def on_start(self):
        import gevent

        self.prefix = f"probe-{RUN_ID}-"
        self.count = 0
        t = target()
        self.watch = VisibilityWatch(t.bigquery_client(), t.events_table,
                                     feed=t.kind == "local")
        self.watcher = gevent.spawn(self.watch_landings)

    def on_stop(self):
        import gevent

        # The probes of the last moments are still on their way: a few seconds to land.
        deadline = time.time() + STOP_GRACE
        while self.watch.outstanding and time.time() < deadline:
            gevent.sleep(0.05)
        self.watcher.kill()
        _write_landed(self.watch)

    @task
    def probe(self):
        from pipeline import samples

        event_id = f"{self.prefix}{self.count:08d}"
        self.count += 1
        payload = samples.encode(samples.valid_event(event_id=event_id))
        self.watch.expect(event_id, time.time())

        def published(exception):
            if exception is not None:  # reported as a failed publish; nothing to watch
                self.watch.forget(event_id)

        publish_one(self.environment, payload, "probe", published)

    def watch_landings(self):
        import gevent

        fire = self.environment.events.request.fire
        while True:
            if not self.watch.outstanding:
                gevent.sleep(CHECK_PAUSE)
                continue
            try:
                landed = self.watch.check()
            except Exception as exc:  # noqa: BLE001 - a failed check is worth seeing in the stats
                fire(request_type="e2e", name="check", response_time=0, response_length=0,
                     exception=exc, context={})
                gevent.sleep(0.1)
                continue
            for item in landed:
                fire(request_type="e2e", name="publish->row", response_time=item.latency_s * 1000,
                     response_length=0, exception=None, context={})
            now = time.time()
            for event_id, (sent, _lower) in list(self.watch.outstanding.items()):
                if now - sent > E2E_TIMEOUT:
                    self.watch.forget(event_id)
                    fire(request_type="e2e", name="publish->row", response_time=(now - sent) * 1000,
                         response_length=0, context={},
                         exception=TimeoutError(f"no row after {E2E_TIMEOUT:.0f}s"))
            gevent.sleep(CHECK_PAUSE)


def _write_landed(watch: VisibilityWatch) -> None:
    """Every landed probe with its window, for ``python -m loadtest``'s exact percentiles."""
    path = os.environ.get("LOADTEST_E2E_CSV")
    if not path:
        return
    rows = [x.as_row() for x in watch.landed]
    with open(path, "w", newline="") as handle:
        fields = ["event_id", "published", "processing", "lower", "upper", "latency_ms",
                  "resolution_ms"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"e2e: {len(rows)} probes landed; {watch.checks} checks", flush=True)


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
