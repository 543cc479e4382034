"""The real pipeline on the local emulator stack, through the pytest plugin's fixtures."""

import json
import random
import threading
import time

import pytest
from google.cloud import bigquery

from harness import traffic
from pipeline import errors, samples

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _landed(stack):
    return traffic.count_rows(stack.bigquery, stack.events_table) + traffic.count_rows(
        stack.bigquery, stack.dead_letter_table
    )


def _wait_landed(stack, total, timeout=120):
    traffic.wait_until(
        lambda: _landed(stack) >= total,
        timeout,
        describe=lambda: f"{_landed(stack)} of {total} landed",
    )


def test_every_message_lands_once_duplicates_do_not_add_rows(
    provisioned_stack, run_pipeline, publish_events
):
    stack = provisioned_stack
    batch = samples.mixed_batch(240, bad_ratio=0.15, seed=11)
    valid = [payload for payload, error in batch if error is None]
    duplicates = random.Random(3).sample(valid, 25)  # re-published on purpose
    run_pipeline()
    publish_events([payload for payload, _ in batch] + duplicates)

    expected_bad = sorted(error for _, error in batch if error)
    _wait_landed(stack, len(valid) + len(expected_bad))

    rows = traffic.query_rows(
        stack.bigquery,
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids FROM `{stack.events_table}`",
    )[0]
    valid_ids = {json.loads(p)["event_id"] for p in valid}
    assert rows == {"n": len(valid_ids), "ids": len(valid_ids)}
    landed_ids = traffic.query_rows(stack.bigquery, f"SELECT event_id FROM `{stack.events_table}`")
    assert {r["event_id"] for r in landed_ids} == valid_ids

    dead = traffic.query_rows(
        stack.bigquery,
        f"SELECT error_type, failed_step, raw_payload FROM `{stack.dead_letter_table}`",
    )
    assert sorted(d["error_type"] for d in dead) == expected_bad
    bad_payloads = sorted(p for p, error in batch if error)
    assert sorted(d["raw_payload"] for d in dead) == bad_payloads


def test_restart_mid_stream_loses_nothing(provisioned_stack, run_pipeline, publish_events):
    """Events keep coming while the pipeline is stopped and started again."""
    stack = provisioned_stack
    events = [samples.encode(samples.valid_event(event_id=f"e-{i}")) for i in range(1200)]
    published = []

    def produce():  # ~150 events/s, for about eight seconds
        for start in range(0, len(events), 30):
            publish_events(events[start : start + 30])
            published.append(start + 30)
            time.sleep(0.2)

    run = run_pipeline()
    producer = threading.Thread(target=produce)
    producer.start()
    try:
        traffic.wait_until(lambda: traffic.count_rows(stack.bigquery, stack.events_table) >= 50)
        run.stop()
        at_stop = traffic.count_rows(stack.bigquery, stack.events_table)
        assert at_stop < published[-1] < len(events)  # stopped mid-stream, while publishing
        run_pipeline()
    finally:
        producer.join()
    _wait_landed(stack, len(events))
    rows = traffic.query_rows(
        stack.bigquery,
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids FROM `{stack.events_table}`",
    )[0]
    assert rows == {"n": len(events), "ids": len(events)}
    assert traffic.count_rows(stack.bigquery, stack.dead_letter_table) == 0


def test_reference_side_input_is_applied(provisioned_stack, run_pipeline, publish_events):
    stack = provisioned_stack
    events = [
        samples.valid_event(event_id="ref-checkout"),
        samples.valid_event(event_id="ref-unknown"),
    ]
    events[0]["metadata"]["source"] = "checkout"
    events[1]["metadata"]["source"] = "not-in-reference"
    run_pipeline()
    publish_events(events)
    _wait_landed(stack, 2)
    rows = traffic.query_rows(
        stack.bigquery,
        f"SELECT event_id, reference_found, JSON_VALUE(reference, '$.team') AS team "
        f"FROM `{stack.events_table}` ORDER BY event_id",
    )
    assert rows == [
        {"event_id": "ref-checkout", "reference_found": True, "team": "payments"},
        {"event_id": "ref-unknown", "reference_found": False, "team": None},
    ]


def test_rows_bigquery_rejects_go_to_the_dead_letter_table(
    provisioned_stack, run_pipeline, publish_events
):
    """The events table lacks columns the pipeline writes: every insert fails permanently."""
    stack = provisioned_stack
    stack.bigquery.delete_table(stack.events_table)
    stack.bigquery.create_table(
        bigquery.Table(stack.events_table, schema=[bigquery.SchemaField("event_id", "STRING")])
    )
    run_pipeline()
    publish_events([samples.valid_event(event_id=f"rejected-{i}") for i in range(3)])
    traffic.wait_for_rows(stack.bigquery, stack.dead_letter_table, 3, timeout=120)
    dead = traffic.query_rows(
        stack.bigquery,
        f"SELECT event_id, error_type, failed_step FROM `{stack.dead_letter_table}` ORDER BY 1",
    )
    assert dead == [
        {"event_id": f"rejected-{i}", "error_type": errors.INSERT_FAILED, "failed_step": "write"}
        for i in range(3)
    ]
    assert traffic.count_rows(stack.bigquery, stack.events_table) == 0
