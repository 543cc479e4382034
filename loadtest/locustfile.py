"""Locust users for the event pipeline: publishers through google-cloud-pubsub, and a probe
that measures end to end (publish -> row visible in BigQuery).

Start it with ``python -m loadtest`` (it sets the ``LOADTEST_*`` variables: the target and the
knobs below); ``locust -f loadtest/locustfile.py`` alone refuses to run without a target.

Distributed (Locust's master and workers: ``--processes N``, or ``--master`` and ``--worker
--master-host H``): the master holds the target and the knobs as Locust options and sends them to
every worker with its spawn messages; workers publish, the master merges their stats (Locust's
response-time histograms, merged, not averaged). The one probe runs on one worker; the probes it
saw land travel to the master with that worker's stats reports, and the master writes them.

Request types in Locust's stats:

* ``publish``: one per event; response time = publish() call -> its future resolved (the
  client's batching and flow control included); an exception from the future is a failure,
  named by its status code (``PublishFailed('UNAVAILABLE')``).
* ``e2e``: one per probe event; response time = publish() call -> its row visible in the events
  table, measured per event by :class:`loadtest.landing.VisibilityWatch` (checks back to back
  while probes are outstanding; each measurement's window is kept). A probe not seen within
  ``--loadtest-e2e-timeout`` is a failure. Every landed probe is also written, with its window,
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

import argparse
import csv
import json
import os
import time
import uuid
from types import SimpleNamespace

# Locust has monkey-patched the process with gevent by now; gRPC must be told before any
# channel exists, or its C-core threads block the gevent loop.
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

# Imported now, before a worker connects: importing the clients at the first spawn would stall
# the worker's loop (and its heartbeats) for seconds on a loaded machine.
import google.cloud.bigquery  # noqa: E402, F401
import google.cloud.pubsub_v1  # noqa: E402, F401
from locust import (  # noqa: E402
    FastHttpUser,
    LoadTestShape,
    User,
    constant_throughput,
    events,
    runners,
    task,
)

import harness.clients  # noqa: E402, F401
import pipeline.samples  # noqa: E402, F401
from loadtest.landing import CHECK_PAUSE, VisibilityWatch  # noqa: E402
from loadtest.shapes import ShapePlan, parse_duration  # noqa: E402
from loadtest.target import PublishFailed, Target  # noqa: E402

# Every knob is a Locust option of its own (``--loadtest-<name>``, or ``LOADTEST_<NAME>`` in the
# environment): a Locust master sends its options to its workers with every spawn message, so a
# worker started with nothing but ``--master-host`` runs exactly what the master was told.
SETTINGS: dict[str, tuple[type, object]] = {
    **{name: (str, "") for name in Target.__dataclass_fields__},  # kind, project, topic, ...
    "shape": (str, "steady"),
    "user_rate": (float, 1.0),  # tasks per second per publishing user
    "events_per_task": (int, 5),
    "batch_max_messages": (int, 100),
    "batch_max_latency": (float, 0.01),
    "flow_control_messages": (int, 1000),  # per worker process: publish() blocks beyond these
    "flow_control_bytes": (int, 10_000_000),
    "probe_interval": (float, 0.5),
    "e2e_timeout": (float, 60.0),
    "run_id": (str, ""),
    "via": (str, "pubsub"),
    "invalid_ratio": (float, 0.05),
    "rest_keys": (str, ""),
    "events": (int, 0),  # stop once this many events were handed over (0: --run-time only)
}
STOP_GRACE = 5.0  # seconds for outstanding probes to land once the run ends (< --stop-timeout)
# Workers report every second (Locust's default is 3 s): --events stops closer to its count.
runners.WORKER_REPORT_INTERVAL = 1.0
# A master gives a silent worker 10 s (Locust: 3) before it counts it missing and takes its
# users away: on a loaded machine a worker's loop can stall that long.
runners.HEARTBEAT_LIVENESS = 10
EVENTS = ("publish", "rest")  # request types that count events handed over
PROBES_KEY = "streambench_probes"  # the probes a worker saw land, in its reports to the master

S = SimpleNamespace(**{name: default for name, (_kind, default) in SETTINGS.items()})
_shared: dict[str, object] = {}  # this process's clients, built from S
# Probes landed: on the master (or a lone process) every one of the run; on a worker those not
# reported to the master yet.
LANDED: list = []
# Master: what each worker reported, by worker index (Locust's stable 0-based ordinal).
PER_WORKER: dict[int, dict[str, int]] = {}


@events.init_command_line_parser.add_listener
def _add_options(parser):
    for name, (kind, default) in SETTINGS.items():
        parser.add_argument(f"--loadtest-{name.replace('_', '-')}", type=kind, default=default,
                            env_var=f"LOADTEST_{name.upper()}", include_in_web_ui=False,
                            help=argparse.SUPPRESS)


def _load_settings(environment) -> None:
    """Take the knobs from Locust's options (on a worker: the master's, after its first spawn)."""
    options = environment.parsed_options
    for name, (kind, default) in SETTINGS.items():
        value = getattr(options, f"loadtest_{name}", None) if options else None
        setattr(S, name, kind(default if value is None else value))
    S.run_id = S.run_id or uuid.uuid4().hex[:8]
    _shared.clear()


def target() -> Target:
    if "target" not in _shared:
        _shared["target"] = Target.from_env(
            {f"LOADTEST_{k.upper()}": getattr(S, k) for k in Target.__dataclass_fields__})
    return _shared["target"]


def publisher():
    """One PublisherClient for the process: every user's events share its batches."""
    if "publisher" not in _shared:
        _shared["publisher"] = target().publisher(
            S.batch_max_messages, S.batch_max_latency,
            flow_control=(S.flow_control_messages, S.flow_control_bytes))
    return _shared["publisher"]


def _is_worker(environment) -> bool:
    return isinstance(environment.runner, runners.WorkerRunner)


@events.init.add_listener
def _on_init(environment, **_kwargs):
    _publishes_only_in_the_aggregate(environment.stats)
    if _is_worker(environment):
        # A worker learns its target from the master's first spawn message (test_start).
        environment.events.report_to_master.add_listener(_report_probes)
        return
    _load_settings(environment)
    target()  # fail at start-up, with the reason, rather than in every task
    if isinstance(environment.runner, runners.MasterRunner):
        environment.events.worker_report.add_listener(
            lambda client_id, data: _collect_report(environment.runner, client_id, data))
    environment.events.quitting.add_listener(_write_reports)


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    if _is_worker(environment):
        _load_settings(environment)
        target()


def _report_probes(client_id, data, **_kwargs):
    """Worker: the probes landed since the last report travel with Locust's stats, so the master
    holds every probe counted in the ``e2e`` stats it merged, and nothing else."""
    if LANDED:
        data[PROBES_KEY] = [x.as_row() for x in LANDED]
        LANDED.clear()


def _collect_report(runner, client_id, data) -> None:
    """Master: the probes a worker reported, and its counts (its reports are deltas)."""
    from loadtest.landing import Landed

    fields = Landed.__dataclass_fields__
    LANDED.extend(Landed(**{k: row[k] for k in fields}) for row in data.get(PROBES_KEY, ()))
    counts = PER_WORKER.setdefault(runner.get_worker_index(client_id),
                                   {"events": 0, "failures": 0, "e2e": 0})
    for entry in data.get("stats", ()):
        kind = "e2e" if entry["method"] == "e2e" else "events" if entry["method"] in EVENTS else None
        if kind:
            counts[kind] += entry["num_requests"]
            if kind == "events":
                counts["failures"] += entry["num_failures"]


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
    """Publish ``payload``; report a ``publish`` request when its future resolves.

    The client's flow control applies (``S.flow_control_*``, blocking): under backpressure
    ``publish()`` itself waits, and that wait is part of the reported time."""
    started = time.perf_counter()
    future = publisher().publish(target().topic, payload)

    def done(fut):
        exception = fut.exception()
        environment.events.request.fire(
            request_type="publish",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(payload),
            exception=None if exception is None else PublishFailed(exception),
            context={},
        )
        if on_done is not None:
            on_done(exception)

    future.add_done_callback(done)
    return future


def _throughput(user) -> float:
    """``S.user_rate`` tasks per second per user (read when each wait starts: settings arrive on
    a worker only with the master's first spawn message)."""
    return constant_throughput(S.user_rate)(user)


class EventPublisher(User):
    """Publishes ``--loadtest-events-per-task`` valid events per task, then waits for them."""

    wait_time = _throughput

    def on_start(self):
        import random

        self.rng = random.Random()

    @task
    def publish_events(self):
        from pipeline import samples

        name = _short(target().topic)
        futures = [
            publish_one(self.environment, samples.encode(samples.valid_event(self.rng)), name)
            for _ in range(S.events_per_task)
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

        _shared["keys"] = keys_from_env(S.rest_keys)
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
    """Posts ``--loadtest-events-per-task`` events per task to the REST edge (Locust's
    ``--host``) as NDJSON, about ``--loadtest-invalid-ratio`` of them invalid, with the API key
    of a source of its own."""

    wait_time = _throughput
    host = "http://127.0.0.1"  # replaced by --host (python -m loadtest: the edge it started)

    def on_start(self):
        import random

        self.rng = random.Random()
        self.source, self.key = self.rng.choice(rest_keys())

    @task
    def post(self):
        from pipeline import samples

        kinds = sorted(samples.BAD_KINDS)
        lines = []
        for _ in range(S.events_per_task):
            if self.rng.random() < S.invalid_ratio:
                lines.append(samples.bad_payload(self.rng.choice(kinds), self.rng)[0]
                             .replace(b"\n", b" "))
            else:
                event = samples.valid_event(self.rng)
                event["metadata"]["source"] = self.source
                lines.append(samples.encode(event))
        post_events(self.client, self.environment, self.key, lines)


class EndToEndProbe(User):
    """Publishes a tagged event every ``--loadtest-probe-interval`` s; a watcher greenlet reports,
    as ``e2e``, when each became a row of the events table (per event, see
    :mod:`loadtest.landing`). ``fixed_count = 1``: one probe in the whole run, on one worker,
    whatever the number of workers, so latency is measured the same way at any scale."""

    fixed_count = 1

    def wait_time(self):
        return S.probe_interval

    def on_start(self):
        import gevent

        self.prefix = f"probe-{S.run_id}-"
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
        print(f"e2e: {self.count} probes sent; {self.watch.checks} checks", flush=True)

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

        if S.via == "rest":
            self._post_probe(event_id, payload)
        else:
            publish_one(self.environment, payload, "probe", published)

    def _post_probe(self, event_id: str, payload: bytes) -> None:
        from locust.contrib.fasthttp import FastHttpSession

        if not hasattr(self, "rest"):
            self.rest = FastHttpSession(self.environment.host, self.environment.events.request,
                                        user=self)
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
                # Stats and the list change together (no greenlet switch): whatever report
                # carries one carries the other.
                fire(request_type="e2e", name="publish->row", response_time=item.latency_s * 1000,
                     response_length=0, exception=None, context={})
                LANDED.append(item)
            now = time.time()
            for event_id, (sent, _lower) in list(self.watch.outstanding.items()):
                if now - sent > S.e2e_timeout:
                    self.watch.forget(event_id)
                    fire(request_type="e2e", name="publish->row", response_time=(now - sent) * 1000,
                         response_length=0, context={},
                         exception=TimeoutError(f"no row after {S.e2e_timeout:.0f}s"))
            gevent.sleep(CHECK_PAUSE)


def _write_reports(environment, **_kwargs) -> None:
    """Master (or a lone process), as Locust quits: every landed probe counted in the merged
    ``e2e`` stats, with its window, in ``LOADTEST_E2E_CSV`` (for ``python -m loadtest``'s exact
    percentiles), and what each worker reported in ``LOADTEST_WORKERS_CSV``."""
    if path := os.environ.get("LOADTEST_E2E_CSV"):
        with open(path, "w", newline="") as handle:
            fields = ["event_id", "published", "processing", "lower", "upper", "latency_ms",
                      "resolution_ms"]
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(x.as_row() for x in LANDED)
    if (path := os.environ.get("LOADTEST_WORKERS_CSV")) and PER_WORKER:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["worker", "events", "failures", "e2e"])
            writer.writeheader()
            writer.writerows({"worker": index, **counts}
                             for index, counts in sorted(PER_WORKER.items()))


def events_handed_over(stats) -> int:
    """Events given to Pub/Sub (publishes, failed ones included) or accepted by the REST edge,
    probes included: what ``--loadtest-events`` counts, from the (merged) stats."""
    return sum(entry.num_requests for (_name, method), entry in stats.entries.items()
               if method in EVENTS)


class StagedShape(LoadTestShape):
    """The schedule of :class:`loadtest.shapes.ShapePlan` named by ``--loadtest-shape``; peak
    users and run time come from ``--users`` and ``--run-time``.

    The run ends here, the same way in one process or on a master: at ``--run-time`` (or once
    ``--loadtest-events`` were handed over) every user is stopped first (the probe's grace
    included), and the shape ends only once every worker has reported no users left, or after
    ``--stop-timeout`` and a few seconds more. Returning None at once would make a headless
    master quit and keep only what its workers report within half a second."""

    use_common_options = True

    def tick(self):
        if "plan" not in _shared:
            options = self.runner.environment.parsed_options
            _shared["plan"] = ShapePlan(
                S.shape,
                parse_duration(options.run_time or 60),
                max(1, int(options.num_users or 10)),
                fixed_users=EndToEndProbe.fixed_count,
            )
        now = self.get_run_time()
        plan: ShapePlan = _shared["plan"]
        ending = _shared.get("ending")
        if ending is None:
            step = plan.tick(now)
            if step is not None and not (S.events and
                                         events_handed_over(self.runner.stats) >= S.events):
                return step
            ending = _shared["ending"] = now
        stop_timeout = self.runner.environment.stop_timeout or 0
        if self.runner.user_count == 0 and now - ending >= 2 * runners.WORKER_REPORT_INTERVAL \
                or now - ending > stop_timeout + 10:
            return None
        return 0, float(plan.peak_users + plan.fixed_users)
