"""``nox -s drill`` (``python -m harness.drill``): disasters on purpose, with the pipeline running
and traffic flowing, each with its expected alert and recovery, ending with a report.

Scenarios, in order (ops/RUNBOOK.md has the same steps, with the GCP commands):

a. the pipeline is killed for 30 s: "pipeline-down" fires; it is restarted, the backlog drains,
   the alert resolves.
b. BigQuery answers insertAll with 503 for 20 s (the emulator's fault hook): "bigquery-errors"
   fires; Beam and the client retry; nothing is lost.
c. a bad deploy (a wrong reference file) writes wrong values for a minute: "unknown-references"
   fires; the bad pipeline is drained, the tables are put back to the moment before the deploy
   (CREATE OR REPLACE TABLE ... CLONE ... FOR SYSTEM_TIME AS OF), the subscription seeks to the
   snapshot taken before the deploy and the good pipeline replays it: the table equals the good
   run's.
d. both emulators are killed with SIGKILL (``--data-dir``): "emulator-down" fires; they restart
   on the same ports; nothing acknowledged is lost.
e. a flood of poison messages: "dead-letter-rate" fires; the dead-letter table holds each one
   with its reason.

After each: every event Pub/Sub acknowledged is a row or a dead letter (by event_id), none twice,
the expected alert fired and resolved; the report (Markdown and JSON) gives the times.
``--short`` is the CI form: the same five, with shorter outages and less traffic (under three
minutes on two cores).

Locally the pipeline is "killed" by the harness's drain (pulls stop, what was pulled is written,
then it is cancelled): the DirectRunner acknowledges messages when it pulls them, so a hard kill
would lose what it held, which Dataflow (acknowledging after the bundle is committed) does not.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness import clients, traffic
from harness.observe import AlertWatch, Observer, WebhookReceiver, rule_variables
from harness.provision import HarnessConfig, provision
from harness.replay import LocalControl, replay_local
from harness.running import PipelineRun
from harness.stack import ROOT, Stack
from pipeline import samples

log = logging.getLogger("harness.drill")
DEFAULT_OUT = ROOT / "ops" / "results"
POISON_KINDS = ("array_in_data", "extra_field", "bad_timestamp")  # event_id still readable


@dataclass
class Timing:
    """Every duration of a run (seconds); ``short`` is the CI form."""

    rate: float = 40.0
    kill: float = 30.0
    fault: float = 20.0
    bad: float = 60.0
    crash: float = 8.0
    flood: float = 300
    settle: float = 90.0  # at most this long for alerts to fire or resolve, rows to land

    @classmethod
    def short(cls) -> Timing:
        return cls(rate=25.0, kill=22.0, fault=10.0, bad=15.0, crash=5.0, flood=150,
                   settle=60.0)


def _say(text: str) -> None:
    print(text, flush=True)


def _wall() -> datetime:
    return datetime.now(timezone.utc)


class Traffic(threading.Thread):
    """Valid events at ``rate`` per second; ``acked`` maps each event_id Pub/Sub acknowledged
    to when it was; ``poison`` adds bad ones (recorded apart, with the error they must get)."""

    def __init__(self, publisher, topic: str, rate: float):
        super().__init__(name="drill-traffic", daemon=True)
        self.publisher, self.topic, self.rate = publisher, topic, rate
        self.acked: dict[str, float] = {}
        self.poisoned: dict[str, str] = {}  # event_id -> expected error_type
        self.sources: dict[str, str] = {}  # event_id -> metadata.source
        self.failed = 0
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._rng = random.Random(19)
        self._n = 0

    def _publish(self, payload: bytes, event_id: str, source: str, error: str | None) -> None:
        future = self.publisher.publish(self.topic, payload)

        def done(f) -> None:
            with self._lock:
                if f.exception() is not None:
                    self.failed += 1
                    return
                self.acked[event_id] = time.monotonic()
                self.sources[event_id] = source
                if error:
                    self.poisoned[event_id] = error

        future.add_done_callback(done)

    def run(self) -> None:
        started = time.monotonic()
        while not self._halt.is_set():
            self._n += 1
            event = samples.valid_event(self._rng, event_id=f"drill-{self._n:06d}")
            self._publish(samples.encode(event), event["event_id"],
                          event["metadata"]["source"], None)
            self._halt.wait(max(0.0, started + self._n / self.rate - time.monotonic()))

    def poison(self, count: int) -> None:
        rng = random.Random(23)  # not the publishing thread's
        for i in range(count):
            kind = POISON_KINDS[i % len(POISON_KINDS)]
            event = samples.valid_event(rng, event_id=f"poison-{uuid.uuid4().hex[:12]}")
            error_type, make = samples.BAD_KINDS[kind]
            self._publish(make(dict(event)), event["event_id"], event["metadata"]["source"],
                          error_type)

    def acked_before(self, moment: float) -> set[str]:
        with self._lock:
            return {e for e, at in self.acked.items() if at <= moment}

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


@dataclass
class Outcome:
    """One scenario's results, as the report shows them."""

    key: str
    title: str
    expected_alerts: list[str]
    started: str = ""
    recovery_started: float = 0.0  # seconds from the scenario's start
    recovered: float | None = None  # seconds from the scenario's start: all landed again
    alerts: list[dict] = field(default_factory=list)
    published: int = 0
    rows: int = 0
    dead_letters: int = 0
    missing: list[str] = field(default_factory=list)
    duplicates: int = 0
    notes: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    since: datetime | None = field(default=None, repr=False)  # when it started (wall clock)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def time_to_recover(self) -> float | None:
        if self.recovered is None:
            return None
        return round(self.recovered - self.recovery_started, 1)


class Drill:
    def __init__(self, timing: Timing, scenarios: str = "abcde", keep: Path | None = None):
        self.timing = timing
        self.scenarios = scenarios
        self.run_dir = Path(tempfile.mkdtemp(prefix="streambench-drill-"))
        self.keep = keep
        self.outcomes: list[Outcome] = []

    # ------------------------------------------------------------------ set-up

    def setup(self) -> None:
        self.config = HarnessConfig.load(project=f"drill-{uuid.uuid4().hex[:6]}")
        pipe = self.config.pipeline
        self.events_table = f"{self.config.project}.{pipe['output_table']}"
        self.dlq_table = f"{self.config.project}.{pipe['dead_letter_table']}"
        self.stack = Stack(run_dir=self.run_dir, data_dir=self.run_dir / "data")
        ep = self.endpoints = self.stack.start()
        self.publisher = clients.publisher(ep)
        self.subscriber = clients.subscriber(ep)
        self.bq = clients.bigquery(ep, self.config.project)
        provision(self.config, self.publisher, self.subscriber, self.bq)
        self.topic = self.config.topic_path(self.config.subscriptions[0]["topic"])
        self.args = self.config.pipeline_args()
        bad_refs = self.run_dir / "bad-reference.ndjson"  # the bad deploy's reference data
        bad_refs.write_text("".join(json.dumps({"source": s.upper(), "team": "nobody"}) + "\n"
                                    for s in ("checkout", "web", "iot")))  # fmt: skip
        self.bad_args = [a for a in self.args if not a.startswith("--reference_table")]
        self.bad_args.append(f"--reference_file={bad_refs}")
        self.control = LocalControl(None, self.start_good)
        self.control.relaunch()
        self.webhook = WebhookReceiver()
        from ops import rules as rules_module
        from ops.notify import Notifier

        rules = rules_module.load(variables=rule_variables(self.config, self.webhook.url))
        observer = Observer(ep, self.config, self.bq, lambda: self.control.run)
        self.notifier = Notifier(rules, self.config.project, say=lambda t: _say(f"      {t}"))
        self.watch = AlertWatch(observer, rules, self.notifier, interval=1.0).start()
        self.traffic = Traffic(self.publisher, self.topic, self.timing.rate)
        self.traffic.start()
        warm = time.monotonic()
        self.wait_landed(self.traffic.acked_before(warm + 2) or {"drill-000001"}, "warm-up")

    def start_good(self) -> PipelineRun:
        return PipelineRun(self.args, self.endpoints, self.landed).start()

    def start_bad(self) -> PipelineRun:
        return PipelineRun(self.bad_args, self.endpoints, self.landed).start()

    def landed(self) -> tuple[int, int]:
        return traffic.count_rows(self.bq, self.events_table), traffic.count_rows(
            self.bq, self.dlq_table)

    # ------------------------------------------------------------------ checks

    def tables(self) -> tuple[dict[str, int], dict[str, int]]:
        """{event_id: copies} of the events table and of the dead-letter table."""
        def counts(table: str) -> dict[str, int]:
            rows = traffic.query_rows(self.bq, f"SELECT event_id, COUNT(*) AS n FROM `{table}` "
                                               "WHERE event_id IS NOT NULL GROUP BY event_id")
            return {r["event_id"]: r["n"] for r in rows}

        return counts(self.events_table), counts(self.dlq_table)

    def wait_landed(self, ids: set[str], what: str) -> bool:
        deadline = time.monotonic() + self.timing.settle
        while time.monotonic() < deadline:
            try:
                rows, dead = self.tables()
            except Exception as exc:  # noqa: BLE001 - BigQuery restarting
                log.debug("tables not readable yet: %s", exc)
                time.sleep(1)
                continue
            if ids <= rows.keys() | dead.keys():
                return True
            time.sleep(1)
        _say(f"      {what}: not everything landed in {self.timing.settle:.0f}s")
        return False

    def wait_alert(self, outcome: Outcome, since: datetime, *, resolved: bool) -> None:
        deadline = time.monotonic() + self.timing.settle
        while time.monotonic() < deadline:
            fired = {i.rule.name: i for i in self.watch.incidents if i.started_wall >= since}
            done = all(name in fired and (not resolved or fired[name].ended_wall is not None)
                       for name in outcome.expected_alerts)  # fmt: skip
            if done:
                return
            time.sleep(0.5)

    def wait_quiet(self) -> None:
        """No incident open (so the next scenario starts clean), or give up after settle."""
        deadline = time.monotonic() + self.timing.settle
        while self.watch.open_now() and time.monotonic() < deadline:
            time.sleep(0.5)

    def account(self, outcome: Outcome, started_wall: datetime, started: float,
                moment: float) -> None:
        """Published (acknowledged by ``moment``) vs rows + dead letters by event_id,
        duplicates, alerts."""
        acked = self.traffic.acked_before(moment)
        rows, dead = self.tables()
        poisoned = dict(self.traffic.poisoned)
        outcome.published = len(acked)
        outcome.rows = sum(1 for e in acked if e in rows)
        outcome.dead_letters = sum(1 for e in acked if e in dead)
        outcome.missing = sorted(e for e in acked if e not in rows and e not in dead)[:20]
        outcome.duplicates = sum(n - 1 for n in rows.values() if n > 1) + sum(
            n - 1 for n in dead.values() if n > 1)
        wrong_place = [e for e in acked if (e in poisoned) != (e in dead) or
                       (e in poisoned and e in rows)]  # fmt: skip
        if outcome.missing:
            outcome.problems.append(f"{len([e for e in acked if e not in rows and e not in dead])}"
                                    " acknowledged events neither a row nor a dead letter")
        if outcome.duplicates:
            outcome.problems.append(f"{outcome.duplicates} duplicate rows")
        if wrong_place:
            outcome.problems.append(f"{len(wrong_place)} events in the wrong table")
        if outcome.published != outcome.rows + outcome.dead_letters:
            outcome.problems.append(f"published {outcome.published} != rows {outcome.rows} + "
                                    f"dead letters {outcome.dead_letters}")
        for incident in self.watch.incidents:
            if incident.started_wall < started_wall:
                continue
            outcome.alerts.append({
                "rule": incident.rule.name,
                "severity": incident.rule.severity,
                "expected": incident.rule.name in outcome.expected_alerts,
                "fired_at": round(incident.started_at - started, 1),
                "resolved_at": None if incident.ended_at is None
                else round(incident.ended_at - started, 1),
                "fired_wall": incident.started_wall.isoformat(timespec="seconds"),
            })  # fmt: skip
        for name in outcome.expected_alerts:
            mine = [a for a in outcome.alerts if a["rule"] == name]
            if not mine:
                outcome.problems.append(f"expected alert {name} did not fire")
            elif mine[-1]["resolved_at"] is None:
                outcome.problems.append(f"alert {name} did not resolve")

    # ------------------------------------------------------------------ scenarios

    def scenario(self, key: str, title: str, expected: list[str], body) -> None:
        outcome = Outcome(key, title, expected)
        started, started_wall = time.monotonic(), _wall()
        outcome.started = started_wall.isoformat(timespec="seconds")
        outcome.since = started_wall
        _say(f"[{key}] {title}")
        try:
            body(outcome, started)
            if outcome.recovery_started == 0.0:
                outcome.recovery_started = round(time.monotonic() - started, 1)
            moment = time.monotonic()
            if self.wait_landed(self.traffic.acked_before(moment), title):
                outcome.recovered = round(time.monotonic() - started, 1)
            self.wait_alert(outcome, started_wall, resolved=True)
            self.wait_quiet()
        except Exception as exc:  # noqa: BLE001 - one scenario failing must not hide the rest
            log.exception("scenario %s failed", key)
            outcome.problems.append(f"{type(exc).__name__}: {exc}")
            moment = time.monotonic()
        self.account(outcome, started_wall, started, moment)
        verdict = "ok" if outcome.passed else "FAILED: " + "; ".join(outcome.problems)
        _say(f"    {verdict} (recovered in {outcome.time_to_recover}s)")
        self.outcomes.append(outcome)

    @staticmethod
    def outage(outcome: Outcome, started: float, seconds: float, what: str,
               restore=None, restored: str = "") -> None:
        """``what`` has just broken: wait ``seconds``, then ``restore`` (recovery starts)."""
        _say(f"    {what} for {seconds:.0f}s")
        time.sleep(seconds)
        outcome.recovery_started = round(time.monotonic() - started, 1)
        if restore is not None:
            restore()
            _say(f"    {restored}")

    def kill_pipeline(self, outcome: Outcome, started: float) -> None:
        self.control.drain()
        self.outage(outcome, started, self.timing.kill, "pipeline stopped, traffic flowing",
                    self.control.relaunch, "pipeline restarted")

    def bigquery_errors(self, outcome: Outcome, started: float) -> None:
        from emulators.bigquery.monitoring import AdminClient

        AdminClient(self.endpoints.bigquery).fail("tabledata.insertAll", 503, "backendError",
                                                  seconds=self.timing.fault)
        self.outage(outcome, started, self.timing.fault, "insertAll answers 503 backendError")

    def bad_deploy(self, outcome: Outcome, started: float) -> None:
        from google.cloud import bigquery

        # the deploy procedure: drain, snapshot, then the new version
        self.control.drain()
        snapshot = f"projects/{self.config.project}/snapshots/before-deploy-{uuid.uuid4().hex[:6]}"
        self.subscriber.create_snapshot(request={"name": snapshot,
                                                 "subscription": self.config.subscription_path(
                                                     self.config.pipeline["input_subscription"])})
        time.sleep(0.1)
        before = _wall()
        time.sleep(0.1)
        self.control.run = self.start_bad()
        _say(f"    bad version deployed (wrong reference file) for {self.timing.bad:.0f}s")
        time.sleep(self.timing.bad)
        self.wait_alert(outcome, outcome.since, resolved=False)
        outcome.recovery_started = round(time.monotonic() - started, 1)
        # recovery: drain the bad version, tables back to before the deploy, replay the snapshot
        self.control.drain()
        job = bigquery.QueryJobConfig(query_parameters=[
            bigquery.ScalarQueryParameter("t", "TIMESTAMP", before)])
        for table in (self.events_table, self.dlq_table):
            self.bq.query(f"CREATE OR REPLACE TABLE `{table}` CLONE `{table}` "
                          "FOR SYSTEM_TIME AS OF @t", job_config=job).result()
        _say(f"    tables restored to {before.isoformat(timespec='seconds')}; replaying "
             "the snapshot")
        report = replay_local(self.endpoints, self.config, self.control, self.bq,
                              self.subscriber, snapshot=snapshot, wait=self.timing.settle)
        outcome.notes["replay"] = {"replayed": report.replayed, "new_rows": report.new_rows,
                                   "steps": report.steps}  # fmt: skip
        outcome.notes["wrong_rows_after_recovery"] = self.wrong_values()
        if outcome.notes["wrong_rows_after_recovery"]:
            outcome.problems.append(f"{outcome.notes['wrong_rows_after_recovery']} rows differ "
                                    "from the good run's")

    def wrong_values(self) -> int:
        """Rows whose reference differs from what the good version writes."""
        known = {"checkout": "payments", "web": "growth", "iot": "devices"}
        rows = traffic.query_rows(self.bq, f"SELECT event_id, reference_found, "
                                           f"JSON_VALUE(reference, '$.team') AS team "
                                           f"FROM `{self.events_table}`")
        wrong = 0
        for row in rows:
            source = self.traffic.sources.get(row["event_id"])
            expected = known.get(source)
            if (row["reference_found"], row["team"]) != (expected is not None, expected):
                wrong += 1
        return wrong

    def crash_emulators(self, outcome: Outcome, started: float) -> None:
        self.stack.crash()
        self.outage(outcome, started, self.timing.crash, "both emulators killed (SIGKILL)",
                    self.stack.restart, "emulators restarted on the same ports and data dirs")

    def poison_flood(self, outcome: Outcome, started: float) -> None:
        count = int(self.timing.flood)
        self.traffic.poison(count)
        _say(f"    {count} poison messages published")
        outcome.recovery_started = round(time.monotonic() - started, 1)
        self.wait_alert(outcome, outcome.since, resolved=False)
        reasons = traffic.query_rows(self.bq, f"SELECT error_type, COUNT(*) AS n FROM "
                                              f"`{self.dlq_table}` WHERE event_id LIKE 'poison-%'"
                                              " GROUP BY error_type ORDER BY error_type")
        outcome.notes["dead_letter_reasons"] = {r["error_type"]: r["n"] for r in reasons}

    # ------------------------------------------------------------------ the run

    def run(self) -> int:
        started = time.monotonic()
        _say(f"drill: {'short form' if self.timing.rate < 40 else 'full'}, scenarios "
             f"{', '.join(self.scenarios)}; working in {self.run_dir}")
        plan = {
            "a": ("The pipeline is killed", ["pipeline-down"], self.kill_pipeline),
            "b": ("BigQuery returns errors", ["bigquery-errors"], self.bigquery_errors),
            "c": ("A bad deploy writes wrong values", ["unknown-references"], self.bad_deploy),
            "d": ("The emulators are killed (kill -9)", ["emulator-down"], self.crash_emulators),
            "e": ("A poison-message flood", ["dead-letter-rate"], self.poison_flood),
        }
        try:
            self.setup()
            for key in self.scenarios:
                title, expected, body = plan[key]
                self.scenario(key, title, expected, body)
            self.traffic.stop()
            time.sleep(2)  # the last publishes' acknowledgements
            final = Outcome("end", "All traffic, at the end", [])
            moment = time.monotonic()
            self.wait_landed(self.traffic.acked_before(moment), "the end")
            self.account(final, _wall(), moment, moment)
            final.alerts = []
            # publishes Pub/Sub refused (none expected: the client retries through outages)
            final.notes["publishes_refused"] = self.traffic.failed
            self.outcomes.append(final)
        finally:
            self.teardown()
        self.elapsed = round(time.monotonic() - started, 1)
        return 0 if all(o.passed for o in self.outcomes) else 1

    def teardown(self) -> None:
        for stop in (lambda: self.traffic.stop(), lambda: self.watch.stop(),
                     lambda: self.control.drain(), lambda: self.webhook.stop(),
                     lambda: self.stack.stop()):  # fmt: skip
            try:
                stop()
            except Exception:  # noqa: BLE001 - tear down whatever exists
                pass
        if self.keep is None:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    from harness.drill_report import write_report

    parser = argparse.ArgumentParser(prog="python -m harness.drill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="the CI form (under 3 minutes)")
    parser.add_argument("--scenarios", default="abcde", help="which, in order (default abcde)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="where drill.md/.json go")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (logs)")
    args = parser.parse_args(argv)
    if not args.scenarios or set(args.scenarios) - set("abcde"):
        parser.error("--scenarios takes letters among a, b, c, d, e")
    logging.basicConfig(level=logging.WARNING)
    timing = Timing.short() if args.short else Timing()
    drill = Drill(timing, args.scenarios)
    if args.keep:
        drill.keep = drill.run_dir
    code = drill.run()
    paths = write_report(drill, Path(args.out), "short" if args.short else "full")
    _say(f"report: {paths[0]} and {paths[1]}")
    _say("drill PASSED" if code == 0 else "drill FAILED")
    return code


if __name__ == "__main__":
    sys.exit(main())
