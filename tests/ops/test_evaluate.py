"""Local evaluation: rules fire after their duration and resolve, on synthetic samples (counts
with restarts, ratios, absence), and notifications reach a real webhook in Cloud Monitoring's
payload shape."""

from __future__ import annotations

from harness.observe import WebhookReceiver
from ops import rules as rules_module
from ops.evaluate import Evaluator, _align
from ops.notify import Notifier
from ops.rules import DEFAULT_RULES
from ops.samples import Sample, Snapshot, TimeSeries

SUB = {"project_id": "p", "subscription_id": "events-pipeline"}
VARIABLES = {"project": "p", "subscription": "events-pipeline", "dataset": "analytics",
             "events_table": "events", "dead_letter_table": "events_dlq",
             "job_name": "local", "alert_webhook": ""}  # fmt: skip


def run(rules, frames):
    """Feed ``frames`` ([(t, [Sample, ...]), ...]); returns (time, 'FIRING'|'RESOLVED', rule)."""
    series = TimeSeries()
    evaluator = Evaluator(rules, series)
    events = []
    for at, samples in frames:
        snapshot = Snapshot(at)
        snapshot.add(samples)
        series.append(snapshot)
        for incident in evaluator.evaluate():
            state = "FIRING" if incident.state == "open" else "RESOLVED"
            events.append((at, state, incident.rule.name))
    return events


def pubsub(sent: float, backlog: float) -> list[Sample]:
    return [
        Sample("pubsub_googleapis_com:subscription_sent_message_count", SUB, sent),
        Sample("pubsub_googleapis_com:subscription_num_undelivered_messages", SUB, backlog),
        Sample("pubsub_googleapis_com:subscription_oldest_unacked_message_age", SUB, 0),
    ]


def test_pipeline_down_fires_after_its_duration_and_resolves():
    rules = rules_module.load(DEFAULT_RULES, VARIABLES)
    frames = []
    sent = 0
    for t in range(0, 60):
        reading = not 10 <= t < 35  # the pipeline stops reading for 25 s
        sent += 50 if reading else 0
        frames.append((float(t), pubsub(sent, 5 if reading else 5 + 50 * (t - 9))))
    events = [e for e in run(rules, frames) if e[2] == "pipeline-down"]
    assert [e[1] for e in events] == ["FIRING", "RESOLVED"]
    fired, resolved = events[0][0], events[1][0]
    # the 8 s window must see no reads, then the condition must hold 10 s
    assert 10 + 8 + 10 - 2 <= fired <= 10 + 8 + 10 + 1
    assert 35 <= resolved <= 37


def test_nothing_fires_while_the_pipeline_keeps_up():
    rules = rules_module.load(DEFAULT_RULES, VARIABLES)
    frames = [(float(t), pubsub(50 * t, 3)) for t in range(60)]
    assert [e for e in run(rules, frames) if e[2] == "pipeline-down"] == []


def test_dead_letter_ratio_and_counter_restarts():
    rules = rules_module.load(DEFAULT_RULES, VARIABLES)
    frames, events, dead = [], 0.0, 0.0
    for t in range(60):
        poison = 20 <= t < 30
        events += 50
        dead += 40 if poison else 2
        if t == 40:  # the emulator restarted: its counts begin again
            events, dead = 50.0, 2.0
        labels = {"project_id": "p", "dataset_id": "analytics", "api": "streaming"}
        frames.append((float(t), [
            Sample("bigquery_googleapis_com:storage_uploaded_row_count",
                   {**labels, "table": "events"}, events),
            Sample("bigquery_googleapis_com:storage_uploaded_row_count",
                   {**labels, "table": "events_dlq"}, dead),
        ]))
    found = [e for e in run(rules, frames) if e[2] == "dead-letter-rate"]
    assert [e[1] for e in found] == ["FIRING", "RESOLVED"]
    assert 20 < found[0][0] < 30 < found[1][0] < 42


def test_a_count_that_appears_inside_the_window_counts_from_zero():
    """The dead-letter table's count first appears with the whole flood in it (one insertAll)."""
    rules = rules_module.load(DEFAULT_RULES, VARIABLES)
    labels = {"project_id": "p", "dataset_id": "analytics", "api": "streaming"}
    frames = []
    for t in range(30):
        samples = [Sample("bigquery_googleapis_com:storage_uploaded_row_count",
                          {**labels, "table": "events"}, 25.0 * t)]
        if t >= 10:
            samples.append(Sample("bigquery_googleapis_com:storage_uploaded_row_count",
                                  {**labels, "table": "events_dlq"}, 150.0))
        frames.append((float(t), samples))
    found = [e for e in run(rules, frames) if e[2] == "dead-letter-rate"]
    assert [e[1] for e in found] == ["FIRING", "RESOLVED"]


def test_absence_fires_only_for_series_seen_before():
    rules = rules_module.load(DEFAULT_RULES, VARIABLES)
    frames = []
    for t in range(40):
        samples = [Sample("process_resident_memory_bytes", {"emulator": "bigquery"}, 1e8)]
        if not 15 <= t < 25:  # the Pub/Sub emulator is gone for 10 s
            samples.append(Sample("process_resident_memory_bytes", {"emulator": "pubsub"}, 1e8))
        frames.append((float(t), samples))
    found = [e for e in run(rules, frames) if e[2] == "emulator-down"]
    assert [e[1] for e in found] == ["FIRING", "RESOLVED"]
    assert 17 <= found[0][0] <= 21 and found[1][0] == 25


def test_alignment():
    points = [(0.0, 10.0), (1.0, 20.0), (2.0, 5.0), (3.0, 15.0)]  # a restart after t=1
    assert _align(points, "delta") == 10 + 5 + 10
    assert _align(points, "rate") == 25 / 3
    assert _align(points, "max") == 20 and _align(points, "latest") == 15
    assert _align(points[:1], "rate") is None


def test_webhook_gets_cloud_monitorings_payload():
    hook = WebhookReceiver()
    try:
        rules = rules_module.load(DEFAULT_RULES, {**VARIABLES, "alert_webhook": hook.url})
        printed = []
        notifier = Notifier(rules, "p", say=printed.append)
        series = TimeSeries()
        evaluator = Evaluator(rules, series)
        sent = 0
        for t in range(40):
            sent += 0 if 5 <= t < 25 else 10
            snapshot = Snapshot(float(t))
            snapshot.add(pubsub(sent, 100))
            series.append(snapshot)
            for incident in evaluator.evaluate():
                notifier(incident)
    finally:
        hook.stop()
    states = [(r["incident"]["policy_user_labels"]["rule"], r["incident"]["state"])
              for r in hook.received]
    assert ("pipeline-down", "open") in states and ("pipeline-down", "closed") in states
    first = hook.received[0]
    assert first["version"] == "1.2" and first["incident"]["severity"] == "CRITICAL"
    assert any(line.startswith("FIRING") for line in printed)
    assert notifier.failed == []
