"""Sampling the running stack as a time series, and watching it with the alert rules.

:class:`Observer` takes one :class:`ops.samples.Snapshot` per call: both emulators'
``/_emulator/metrics`` (Cloud Monitoring's Pub/Sub and BigQuery metrics), and, while a pipeline
runs under the harness, what Dataflow would report for it under Cloud Monitoring's names: its
Beam counters as ``dataflow.googleapis.com/job/user_counter`` (``enriched`` and
``unknown_reference`` at least what its rows show: the streaming DirectRunner stops counting
after the first bundles), ``job/system_lag`` measured from
the rows (the p99 publish-to-BigQuery lag of the rows written since the last sample, or the
oldest unacked message's age when that is larger), ``job/is_failed`` and the memory of the
process running it. An emulator that does not answer contributes nothing to the snapshot (the
``emulator-down`` rule notices). :class:`AlertWatch` samples in the background, evaluates
``ops/alerts.toml`` and notifies.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from harness.endpoints import Endpoints
from harness.provision import HarnessConfig
from ops.samples import Sample, Snapshot, TimeSeries, parse, series_name

log = logging.getLogger("harness.observe")
LOCAL_JOB = "events-pipeline-local"


def rule_variables(config: HarnessConfig, webhook: str = "", job_name: str = LOCAL_JOB) -> dict:
    """The ``${...}`` of ``ops/alerts.toml`` for a stack provisioned from ``config``."""
    pipe = config.pipeline
    dataset, events_table = pipe["output_table"].split(".", 1)
    return {
        "project": config.project,
        "subscription": pipe["input_subscription"],
        "dataset": dataset,
        "events_table": events_table,
        "dead_letter_table": pipe["dead_letter_table"].split(".", 1)[1],
        "job_name": job_name,
        "alert_webhook": webhook or os.environ.get("STREAMBENCH_ALERT_WEBHOOK", ""),
    }


def subscription_metric(endpoints: Endpoints, subscription: str, metric_type: str,
                        timeout: float = 5.0) -> float | None:
    """One ``pubsub.googleapis.com/subscription/...`` value of ``subscription`` now, from the
    Pub/Sub emulator's metrics (None when it does not answer)."""
    import requests

    name = series_name(metric_type)
    wanted = {"project_id": subscription.split("/")[1],
              "subscription_id": subscription.rsplit("/", 1)[-1]}  # fmt: skip
    try:
        text = requests.get(f"http://{endpoints.pubsub}/_emulator/metrics", timeout=timeout).text
    except requests.RequestException:
        return None
    return next((s.value for s in parse(text) if s.name == name
                 and all(s.labels.get(k) == v for k, v in wanted.items())), None)


def _quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


class Observer:
    """One snapshot of the stack (and of the pipeline, if one runs) per :meth:`sample`."""

    def __init__(self, endpoints: Endpoints, config: HarnessConfig, bigquery=None,
                 pipeline: Callable[[], object] = lambda: None, job_name: str = LOCAL_JOB,
                 clock: Callable[[], float] = time.monotonic, timeout: float = 2.0):
        """``pipeline``: returns the running :class:`harness.running.PipelineRun` or None."""
        import requests

        self.endpoints = endpoints
        self.config = config
        self.bigquery = bigquery
        self.pipeline = pipeline
        self.job_name = job_name
        self.clock = clock
        self.timeout = timeout
        self.http = requests.Session()
        pipe = config.pipeline
        self.events_table = f"{config.project}.{pipe['output_table']}"
        self.subscription_id = pipe["input_subscription"]
        self._since: datetime | None = None
        self.lag_quantiles: dict[str, float] = {}  # p50/p95/p99 seconds, rows since last sample
        # rows the current run wrote, as counts (see _pipeline_samples); reset for a new run
        self._run_id: int | None = None
        self._row_counts = {"enriched": 0, "unknown_reference": 0}

    def scrape(self, base: str) -> list[Sample]:
        """One emulator's metrics; [] when it does not answer."""
        try:
            response = self.http.get(f"{base}/_emulator/metrics", timeout=self.timeout)
            response.raise_for_status()
            return parse(response.text)
        except Exception as exc:  # noqa: BLE001 - a down emulator is data, not a crash
            log.debug("no metrics from %s: %s", base, exc)
            return []

    def sample(self) -> Snapshot:
        snapshot = Snapshot(self.clock())
        snapshot.add(self.scrape(f"http://{self.endpoints.pubsub}"))
        bigquery = self.scrape(self.endpoints.bigquery)
        snapshot.add(bigquery)
        run = self.pipeline()
        if run is not None and getattr(run, "result", None) is not None:
            # no lag query while BigQuery is down: a sample must not wait for it
            snapshot.add(self._pipeline_samples(run, snapshot, rows=bool(bigquery)))
        return snapshot

    def _job_labels(self) -> dict:
        return {"project_id": self.config.project, "job_name": self.job_name, "region": "local"}

    def _pipeline_samples(self, run, snapshot: Snapshot, rows: bool = True) -> list[Sample]:
        from emulators.exposition import resident_memory_bytes

        job = self._job_labels()
        out = []
        try:
            counters = run.counters()
            state = str(run.result.state)
        except Exception as exc:  # noqa: BLE001 - a pipeline stopping under us
            log.debug("no pipeline metrics: %s", exc)
            return []
        if id(run) != self._run_id:  # a new job: its counters start from zero
            self._run_id = id(run)
            self._row_counts = dict.fromkeys(self._row_counts, 0)
        lag = self._row_lag() if rows else None
        # The streaming DirectRunner stops updating user counters after the first bundles
        # (measured: 25 of 975 events counted), so the two counters the rules read are at least
        # what the rows this run wrote show.
        for name, seen in self._row_counts.items():
            counters[name] = max(counters.get(name, 0), seen)
        for name, value in sorted(counters.items()):
            out.append(Sample(series_name("dataflow.googleapis.com/job/user_counter"),
                              {**job, "metric_name": name, "ptransform": ""}, float(value)))
        out.append(Sample(series_name("dataflow.googleapis.com/job/is_failed"), job,
                          1.0 if "FAILED" in state else 0.0))
        worker = {"project_id": self.config.project, "job_id": self.job_name,
                  "container": "python"}  # fmt: skip
        out.append(Sample(series_name("dataflow.googleapis.com/worker/memory/bytes_used"),
                          worker, float(resident_memory_bytes())))
        oldest = [s.value for s in snapshot.matching(
            series_name("pubsub.googleapis.com/subscription/oldest_unacked_message_age"),
            {"project_id": self.config.project, "subscription_id": self.subscription_id})]
        system_lag = max([lag or 0.0, *oldest])
        out.append(Sample(series_name("dataflow.googleapis.com/job/system_lag"), job, system_lag))
        for q, value in self.lag_quantiles.items():
            out.append(Sample("harness_end_to_end_lag_seconds", {**job, "quantile": q}, value))
        return out

    def _row_lag(self) -> float | None:
        """p99 lag (s) of the rows written since the last call (also keeps p50/p95, and counts
        them and those without a reference row)."""
        if self.bigquery is None:
            return None
        from google.cloud import bigquery
        from google.cloud.bigquery.retry import DEFAULT_RETRY

        since = self._since or datetime.now(timezone.utc)
        config = bigquery.QueryJobConfig(query_parameters=[
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", since)])
        try:  # short deadlines: a sample must not wait for a BigQuery that is down
            job = self.bigquery.query(
                f"SELECT lag_ms, processing_time, reference_found FROM `{self.events_table}` "
                f"WHERE processing_time > @since", job_config=config,
                retry=DEFAULT_RETRY.with_deadline(self.timeout), timeout=self.timeout,
                job_retry=None)
            rows = [dict(r.items()) for r in job.result(timeout=self.timeout * 2)]
        except Exception as exc:  # noqa: BLE001 - BigQuery down: no lag this time
            log.debug("no lag from rows: %s", exc)
            return None
        if self._since is None:
            self._since = since
        lags = [r["lag_ms"] / 1000 for r in rows if r["lag_ms"] is not None]
        if rows:
            self._since = max(r["processing_time"] for r in rows)
            self._row_counts["enriched"] += len(rows)
            self._row_counts["unknown_reference"] += sum(1 for r in rows
                                                         if r["reference_found"] is False)
        if not lags:
            return None
        self.lag_quantiles = {q: _quantile(lags, float(q)) for q in ("0.5", "0.95", "0.99")}
        return self.lag_quantiles["0.99"]


class AlertWatch:
    """Samples every ``interval`` seconds in a background thread, evaluates the rules and
    notifies; ``incidents`` holds every incident in order. Use as a context manager."""

    def __init__(self, observer: Observer, rules, notifier=None, interval: float = 1.0):
        from ops.evaluate import Evaluator

        self.observer = observer
        self.series = TimeSeries()
        self.evaluator = Evaluator(rules, self.series)
        self.notifier = notifier
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alert-watch", daemon=True)
        self.lock = threading.Lock()

    @property
    def incidents(self):
        with self.lock:
            return list(self.evaluator.history)

    def open_now(self) -> set[str]:
        with self.lock:
            return set(self.evaluator.open)

    def step(self) -> list:
        snapshot = self.observer.sample()
        with self.lock:
            self.series.append(snapshot)
            changed = self.evaluator.evaluate(snapshot.at)
        for incident in changed:
            if self.notifier is not None:
                self.notifier(incident)
        return changed

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.step()
            except Exception:  # noqa: BLE001 - the watch must outlive any one bad sample
                log.exception("alert evaluation failed")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> AlertWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def __enter__(self) -> AlertWatch:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def watch_alerts(endpoints: Endpoints, config: HarnessConfig, bigquery=None,
                 pipeline: Callable[[], object] = lambda: None, webhook: str = "",
                 say: Callable[[str], None] = print) -> AlertWatch:
    """``ops/alerts.toml`` evaluated every second against this stack, started (the demo and the
    load test run it with ``--alerts``); ``stop()`` it at the end."""
    from ops import rules as rules_module
    from ops.notify import Notifier

    rules = rules_module.load(variables=rule_variables(config, webhook))
    observer = Observer(endpoints, config, bigquery, pipeline)
    return AlertWatch(observer, rules, Notifier(rules, config.project, say=say)).start()


def alert_summary(watch: AlertWatch) -> str:
    """One line per incident of a run, for the end of a demo or load test."""
    lines = []
    for incident in watch.incidents:
        ended = "still open" if incident.ended_at is None else \
            f"resolved after {incident.ended_at - incident.started_at:.0f}s"
        lines.append(f"  {incident.rule.name} ({incident.rule.severity}): fired "
                     f"{incident.started_wall:%H:%M:%S}, {ended}")
    return "\n".join(lines) or "  none fired"


class WebhookReceiver:
    """A local receiver for a webhook channel (what production's on-call tool gets): every
    POSTed JSON body lands in ``received``. For the drill and tests."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
