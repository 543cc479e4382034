"""Locust users for the event pipeline: publishers through google-cloud-pubsub, and a probe
that measures end to end (publish -> row visible in BigQuery).

Start it with ``python -m loadtest`` (it sets the ``LOADTEST_*`` variables: the target and the
knobs below); ``locust -f loadtest/locustfile.py`` alone refuses to run without a target.

Request types in Locust's stats:

* ``publish``: one per event; response time = publish() call -> its future resolved (the
  client's batching included); an exception from the future is a failure.
* ``e2e``: one per probe event; response time = publish() call -> first poll of the events
  table that shows its row. A probe not seen within ``LOADTEST_E2E_TIMEOUT`` is a failure.

Through the REST edge (``python -m loadtest --via rest``: ``LOADTEST_VIA=rest``), the user
class is :class:`RestEventSender` instead of :class:`EventPublisher` and the probe posts its
events to the edge:

* ``POST /v1/events``: Locust's HTTP stats of each request (429 and 503 are failures);
* ``rest accepted``: one per event the edge accepted (its req/s is accepted events/s), with
  the response time of the request that carried it.
"""

from __future__ import annotations

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

        if VIA == "rest":
            self._post_probe(event_id, payload, sent)
        else:
            publish_one(self.environment, payload, "probe", published)
        self.check_landings()

    def _post_probe(self, event_id: str, payload: bytes, sent: float) -> None:
        from locust.contrib.fasthttp import FastHttpSession

        if not hasattr(self, "rest"):
            self.rest = FastHttpSession(REST_URL, self.environment.events.request, user=self)
        source, key = rest_keys()[0]
        event = json.loads(payload)
        event["metadata"]["source"] = source
        body = post_events(self.rest, self.environment, key, [json.dumps(event).encode()])
        if body and body["accepted"]:
            self.sent[event_id] = sent

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
