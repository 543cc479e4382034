"""The warm pipeline's per-test namespaces, through the plugin's fixtures: every test here shares
one running pipeline (this module's, or the session's) and sees only what it published."""

import json

import pytest

from harness import traffic
from harness.landing import LandingTimeout, NotLanded
from harness.warm import NAMESPACE_ATTRIBUTE, EventIdReused
from pipeline import errors, samples

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _event(event_id, **data):
    event = samples.valid_event(event_id=event_id)
    event["data"] = data or {"n": 1}
    return event


def test_valid_events_land_as_rows_of_this_test_only(producer):
    ids = [producer.unique_id("order") for _ in range(3)]
    message_ids = producer.publish([_event(i, n=k) for k, i in enumerate(ids)], origin="shop")

    arrived = producer.wait_for(events=ids, dead_letters=None)

    assert arrived.event_ids == sorted(ids)
    rows = producer.rows()
    assert [r["event_id"] for r in rows] == sorted(ids)
    assert {r["message_id"] for r in rows} == set(message_ids)
    # The harness's namespace attribute is left out of what the test reads back.
    assert {json.dumps(r["attributes"], sort_keys=True) for r in rows} == {'{"origin": "shop"}'}
    assert producer.dead_letters() == []


def test_invalid_events_are_dead_letters_with_their_reason(producer):
    bad_json, kind = samples.bad_payload("not_json")
    event = _event(producer.unique_id())
    del event["metadata"]["source"]

    arrived = producer.wait_for(dead_letters=None, events=None)  # nothing asked: returns at once
    assert arrived.events == [] and arrived.dead_letters == []
    producer.publish([bad_json, event])
    arrived = producer.wait_for(dead_letters={kind: 1, errors.SCHEMA_VIOLATION: 1})

    assert arrived.error_types == sorted([kind, errors.SCHEMA_VIOLATION])
    violation = next(d for d in arrived.dead_letters if d.error_type == errors.SCHEMA_VIOLATION)
    assert violation.event_id == event["event_id"]
    assert "source" in violation.error_message and violation.failed_step == "validate"
    assert {d["raw_payload"] for d in arrived.dead_letter_rows} == {
        bad_json,
        json.dumps(event).encode(),
    }


def test_a_duplicate_event_lands_once(producer):
    event = _event(producer.unique_id("dup"))
    producer.publish([event])
    producer.publish([event, event])

    producer.wait_for(events=[event["event_id"]])

    assert producer.query("SELECT COUNT(*) AS n FROM {events}") == [{"n": 1}]
    assert len(producer.message_ids) == 3


def test_what_another_namespace_publishes_is_not_seen(producer, warm_pipeline):
    other = warm_pipeline.namespace("another test")
    theirs = _event(other.unique_id("theirs"))
    other.publish([theirs])
    other.wait_for(events=1)

    # A message labelled with this test's namespace, but not published through it.
    forged = _event(producer.unique_id("forged"))
    traffic.publish(
        warm_pipeline.publisher,
        warm_pipeline.topic,
        [json.dumps(forged).encode()],
        **{NAMESPACE_ATTRIBUTE: producer.label},
    )
    traffic.wait_until(
        lambda: traffic.query_rows(
            warm_pipeline.bigquery,
            f"SELECT COUNT(*) AS n FROM `{warm_pipeline.events_table}` WHERE event_id = @id",
            id=forged["event_id"],
        )[0]["n"],
        timeout=60,
        interval=0.05,
    )  # it did land, in the shared table

    mine = _event(producer.unique_id("mine"))
    producer.publish([mine])
    arrived = producer.wait_for(events=1)
    assert arrived.event_ids == [mine["event_id"]]
    assert [r["event_id"] for r in producer.rows()] == [mine["event_id"]]
    assert producer.query("SELECT event_id FROM {events}") == [{"event_id": mine["event_id"]}]
    assert [r["event_id"] for r in other.rows()] == [theirs["event_id"]]


def test_an_event_that_cannot_arrive_fails_at_once_with_the_reason(producer):
    event = _event(producer.unique_id())
    event["timestamp"] = "yesterday"
    producer.publish([event])

    with pytest.raises(NotLanded) as raised:
        producer.wait_for(events=[event["event_id"]], timeout=60)

    assert not isinstance(raised.value, LandingTimeout)
    text = str(raised.value)
    assert f"event(s) '{event['event_id']}'" in text and "cannot arrive" in text
    assert errors.SCHEMA_VIOLATION in text or errors.INVALID_TIMESTAMP in text
    assert "Messages published in this namespace: 1." in text


def test_on_timeout_it_says_what_did_arrive(producer):
    event = _event(producer.unique_id("twice"))
    bad, kind = samples.bad_payload("not_object")
    producer.publish([event, event, bad])  # the second copy never lands: it is a duplicate
    producer.wait_for(events=1, dead_letters=1)

    with pytest.raises(LandingTimeout) as raised:
        producer.wait_for(events=2, timeout=0.5)

    text = str(raised.value)
    assert "at least 2 event(s): not there after 0.5s" in text
    assert f"events (1): '{event['event_id']}'" in text
    assert "dead letters (1): message " in text and f"{kind} in parse" in text
    assert "The warm pipeline has run for" in text


def test_an_event_id_of_another_test_is_refused_before_publishing(producer, warm_pipeline):
    other = warm_pipeline.namespace("another test")
    shared_id = other.unique_id("taken")
    other.publish([_event(shared_id)])

    with pytest.raises(EventIdReused, match="already published by another test"):
        producer.publish([_event(shared_id)])
    assert producer.message_ids == []

    # The same id on an event the pipeline rejects cannot collide with a row: allowed.
    rejected = _event(shared_id)
    rejected["unexpected"] = True
    producer.publish([rejected])
    assert producer.wait_for(dead_letters=[errors.SCHEMA_VIOLATION]).events == []


def test_the_namespace_attribute_is_the_harnesss_own(producer):
    with pytest.raises(ValueError, match=NAMESPACE_ATTRIBUTE):
        producer.publish([_event(producer.unique_id())], **{NAMESPACE_ATTRIBUTE: "x"})
