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

Through the REST edge (``python -m loadtest --via rest``: ``LOADTEST_VIA=rest``), the user
class is :class:`RestEventSender` instead of :class:`EventPublisher` and the probe posts its
events to the edge:

* ``POST /v1/events``: Locust's HTTP stats of each request (429 and 503 are failures);
* ``rest accepted``: one per event the edge accepted (its req/s is accepted events/s), with
  the response time of the request that carried it.
"""

from __future__ import annotations

import csv
import json
import os
import time
import uuid

# Locust has monkey-patched the process with gevent by now; gRPC must be told before any
# channel exists, or its C-core threads block the gevent loop.
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

from locust import (  # noqa: E402
    FastHttpUser,
    LoadTestShape,
    User,
    constant,
    constant_throughput,
    events,
    task,
)

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
VIA = os.environ.get("LOADTEST_VIA", "pubsub")
INVALID_RATIO = _setting("INVALID_RATIO", 0.05)
REST_URL = os.environ.get("LOADTEST_REST_URL", "")

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


def rest_keys() -> list[tuple[str, str]]:
    """``(source, API key)`` pairs the edge accepts."""
    if "keys" not in _shared:
        from loadtest.edge import keys_from_env

        _shared["keys"] = keys_from_env(os.environ.get("LOADTEST_REST_KEYS", ""))
    return _shared["keys"]


def post_events(client, environment, key: str, lines: list[bytes]) -> dict | None:
    """POST NDJSON to the edge with Locust's HTTP client; report each accepted event."""
    started = time.perf_counter()
    with client.post("/v1/events", data=b"\n".join(lines), name="POST /v1/events",
                     headers={"X-API-Key": key, "content-type": "application/x-ndjson"},
                     catch_response=True) as response:
        if response.status_code not in (200, 207, 422):
            response.failure(f"HTTP {response.status_code}")
            return None
        response.success()
        body = response.json()
    elapsed = (time.perf_counter() - started) * 1000
    for _ in body["accepted"]:
        environment.events.request.fire(request_type="rest", name="accepted",
                                        response_time=elapsed, response_length=0,
                                        exception=None, context={})
    return body


class RestEventSender(FastHttpUser):
    """Posts ``LOADTEST_EVENTS_PER_TASK`` events per task to the REST edge as NDJSON, about
    ``LOADTEST_INVALID_RATIO`` of them invalid, with the API key of a source of its own."""

    wait_time = constant_throughput(USER_RATE)
    host = REST_URL or "http://127.0.0.1"

    def on_start(self):
        import random

        self.rng = random.Random()
        self.source, self.key = self.rng.choice(rest_keys())

    @task
    def post(self):
        from pipeline import samples

        kinds = sorted(samples.BAD_KINDS)
        lines = []
        for _ in range(EVENTS_PER_TASK):
            if self.rng.random() < INVALID_RATIO:
                lines.append(samples.bad_payload(self.rng.choice(kinds), self.rng)[0]
                             .replace(b"\n", b" "))
            else:
                event = samples.valid_event(self.rng)
                event["metadata"]["source"] = self.source
                lines.append(samples.encode(event))
        post_events(self.client, self.environment, self.key, lines)


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
        self.reported: list = []  # landed probes reported to Locust (the CSV holds these)
        self.watcher = gevent.spawn(self.watch_landings)

    def on_stop(self):
        import gevent

        # The probes of the last moments are still on their way: a few seconds to land.
        deadline = time.time() + STOP_GRACE
        while self.watch.outstanding and time.time() < deadline:
            gevent.sleep(0.05)
        self.watcher.kill()
        _write_landed(self.reported, self.watch.checks)

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

        if VIA == "rest":
            self._post_probe(event_id, payload)
        else:
            publish_one(self.environment, payload, "probe", published)

    def _post_probe(self, event_id: str, payload: bytes) -> None:
        from locust.contrib.fasthttp import FastHttpSession

        if not hasattr(self, "rest"):
            self.rest = FastHttpSession(REST_URL, self.environment.events.request, user=self)
        source, key = rest_keys()[0]
        event = json.loads(payload)
        event["metadata"]["source"] = source
        body = post_events(self.rest, self.environment, key, [json.dumps(event).encode()])
        if not (body and body["accepted"]):  # refused: nothing will land
            self.watch.forget(event_id)

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
                self.reported.append(item)
            now = time.time()
            for event_id, (sent, _lower) in list(self.watch.outstanding.items()):
                if now - sent > E2E_TIMEOUT:
                    self.watch.forget(event_id)
                    fire(request_type="e2e", name="publish->row", response_time=(now - sent) * 1000,
                         response_length=0, context={},
                         exception=TimeoutError(f"no row after {E2E_TIMEOUT:.0f}s"))
            gevent.sleep(CHECK_PAUSE)


def _write_landed(landed: list, checks: int) -> None:
    """Every landed probe reported to Locust, with its window, for ``python -m loadtest``'s exact
    percentiles (one the watcher saw but had no time to report is in neither)."""
    path = os.environ.get("LOADTEST_E2E_CSV")
    if not path:
        return
    rows = [x.as_row() for x in landed]
    with open(path, "w", newline="") as handle:
        fields = ["event_id", "published", "processing", "lower", "upper", "latency_ms",
                  "resolution_ms"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"e2e: {len(rows)} probes landed; {checks} checks", flush=True)


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
