"""The real pipeline on the local emulator stack, through the pytest plugin's fixtures."""

import json
import random

import pytest
from google.cloud import bigquery

from emulators import traffic
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
    stack = provisioned_stack
    first = [samples.encode(samples.valid_event(event_id=f"first-{i}")) for i in range(150)]
    second = [samples.encode(samples.valid_event(event_id=f"second-{i}")) for i in range(150)]
    run = run_pipeline()
    publish_events(first)
    traffic.wait_until(lambda: traffic.count_rows(stack.bigquery, stack.events_table) >= 20)
    run.stop()
    at_stop = traffic.count_rows(stack.bigquery, stack.events_table)
    assert 20 <= at_stop < len(first)  # stopped mid-stream: the rest is still in the subscription
    publish_events(second)  # published while the pipeline is down
    run_pipeline()
    _wait_landed(stack, 300)
    rows = traffic.query_rows(
        stack.bigquery,
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids FROM `{stack.events_table}`",
    )[0]
    assert rows == {"n": 300, "ids": 300}
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
