"""The real pipeline on a Pub/Sub emulator that injects faults: nothing lost, nothing doubled.

Faults (moderate, seeded): UNAVAILABLE on a share of Publish, Pull, Acknowledge and
ModifyAckDeadline calls, latency on every call, and dropped acks (the message is redelivered).
google-api-core retries UNAVAILABLE on all four, so the DirectRunner never sees them; the
redeliveries reach the pipeline and must be absorbed by its insertIds.
"""

from __future__ import annotations

import json

import pytest

from harness import clients, traffic
from harness.provision import HarnessConfig, provision
from harness.running import PipelineRun
from pipeline import samples
from tests.support.emulators import endpoints, unique, write_faults

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(120)]

FAULTS = {
    "seed": 11,
    "methods": {
        "Publish": {"error_rate": 0.2, "error_code": "UNAVAILABLE", "latency_ms": 5},
        "Pull": {"error_rate": 0.25, "error_code": "UNAVAILABLE", "latency_ms": 10},
        "Acknowledge": {"error_rate": 0.2, "error_code": "UNAVAILABLE", "latency_ms": 5},
        "ModifyAckDeadline": {"error_rate": 0.2, "error_code": "UNAVAILABLE"},
        "*": {"latency_ms": 5},
    },
    "duplicate_rate": 0.15,
}


def _count_deliveries(monkeypatch) -> list[str]:
    """Message ids the DirectRunner's Pub/Sub read received (its metrics lag in streaming)."""
    from apache_beam.runners.direct.transform_evaluator import _PubSubReadEvaluator

    from harness import beam_local

    beam_local.apply("pull_gate")  # wrap the harness's gate, so teardown restores it intact
    seen: list[str] = []
    inner = _PubSubReadEvaluator._read_from_pubsub

    def counting(self, timestamp_attribute):
        results = inner(self, timestamp_attribute)
        seen.extend(message.message_id for _, message in results)
        return results

    monkeypatch.setattr(_PubSubReadEvaluator, "_read_from_pubsub", counting)
    return seen


def test_faults_lose_nothing_and_duplicate_nothing(emulator, tmp_path, monkeypatch):
    fault_file = tmp_path / "faults.json"
    write_faults(fault_file, {})  # provision without faults
    pubsub = emulator("pubsub", extra_args=("--faults", str(fault_file)))
    bigquery = emulator("bigquery")
    ends = endpoints(pubsub, bigquery)
    config = HarnessConfig.load(project=unique("faults"))
    publisher, subscriber = clients.publisher(ends), clients.subscriber(ends)
    bq = clients.bigquery(ends, config.project)
    provision(config, publisher, subscriber, bq)
    events = f"{config.project}.{config.pipeline['output_table']}"
    dead = f"{config.project}.{config.pipeline['dead_letter_table']}"

    def landed() -> tuple[int, int]:
        return traffic.count_rows(bq, events), traffic.count_rows(bq, dead)

    batch = samples.mixed_batch(150, bad_ratio=0.1, seed=5)
    payloads = [payload for payload, _ in batch]
    valid_ids = {json.loads(p)["event_id"] for p, error in batch if error is None}
    bad = sum(1 for _, error in batch if error)

    delivered = _count_deliveries(monkeypatch)
    write_faults(fault_file, FAULTS)
    run = PipelineRun(config.pipeline_args(), ends, landed).start()
    try:
        ids = traffic.publish(publisher, config.topic_path("events"), payloads)
        assert len(set(ids)) == len(payloads)  # every publish got through (retried)
        traffic.wait_until(
            lambda: sum(landed()) >= len(payloads),
            timeout=90,
            describe=lambda: f"landed {landed()} of {len(payloads)}",
        )
        write_faults(fault_file, {})  # let the drain and the final reads run clean
    finally:
        run.stop()

    # Dropped acks really redelivered messages to the pipeline, so the checks below mean something.
    assert len(set(delivered)) == len(payloads) < len(delivered)

    rows = traffic.query_rows(
        bq, f"SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids FROM `{events}`"
    )[0]
    assert rows == {"n": len(valid_ids), "ids": len(valid_ids)}  # no duplicate rows
    landed_ids = {r["event_id"] for r in traffic.query_rows(bq, f"SELECT event_id FROM `{events}`")}
    assert landed_ids == valid_ids
    assert traffic.count_rows(bq, dead) == bad  # published == rows + dead letters
    log = pubsub.log_path.read_text()
    assert "ignoring fault file" not in log  # the faults really were in force
