"""The edge's pieces on their own: token buckets, the recent-ids window, MQTT verdicts."""

from __future__ import annotations

import asyncio
import json

import pytest
from ingest_support import event

from ingest.limits import RecentIds, TokenBucket
from ingest.mqtt import UsageError, device_level, judge
from pipeline import errors


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_token_bucket_refills_at_its_rate_and_says_how_long_to_wait():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=20, clock=clock)
    assert bucket.take(20) == 0
    assert bucket.take(5) == pytest.approx(0.5)
    clock.now = 0.5
    assert bucket.take(5) == 0
    assert bucket.take(21) == float("inf")
    assert TokenBucket(rate=4, burst=0, clock=clock).burst == 8  # default: two seconds' worth


def test_recent_ids_forget_after_the_window_and_stay_bounded():
    async def scenario():
        clock = Clock()
        recent = RecentIds(window=60, max_entries=3, clock=clock)
        for n in range(5):
            future = recent.begin(("s", f"e{n}"))
            recent.finish(("s", f"e{n}"), future, f"m{n}")
        assert len(recent) == 3  # bounded: the oldest went early
        assert recent.get(("s", "e0")) is None and recent.get(("s", "e4")) == "m4"
        clock.now = 61
        assert recent.get(("s", "e4")) is None and len(recent) == 0
        pending = recent.begin(("s", "x"))
        assert recent.get(("s", "x")) is pending  # a resubmission waits for this one
        recent.finish(("s", "x"), pending, None)  # not published: forgotten
        assert pending.result() is None and recent.get(("s", "x")) is None

    asyncio.run(scenario())


@pytest.mark.parametrize("topic_filter, level", [("devices/+/events", 1), ("+/up", 0),
                                                 ("a/b/+/#", 2)])
def test_device_level(topic_filter, level):
    assert device_level(topic_filter) == level


@pytest.mark.parametrize("topic_filter", ["devices/#", "devices/+/+/x", "devices/a+/x", "#/+"])
def test_device_level_refuses_filters_without_one_device_level(topic_filter):
    with pytest.raises(UsageError):
        device_level(topic_filter)


def test_mqtt_verdicts_use_the_pipelines_rules_and_the_device_identity():
    good = json.dumps(event("m-1", source="dev-7")).encode()
    verdict = judge(good, "devices/dev-7/events", "dev-7", ordering=True)
    assert verdict.error_type is None and verdict.message.ordering_key == "dev-7"
    assert verdict.message.attributes["source"] == "dev-7"

    spoofed = judge(good, "devices/dev-8/events", "dev-8", ordering=True)
    assert spoofed.error_type == errors.SOURCE_NOT_OWNED
    assert spoofed.message.data == good and spoofed.message.ordering_key == ""
    assert spoofed.message.attributes[errors.EDGE_ERROR_TYPE] == errors.SOURCE_NOT_OWNED
    assert "'dev-7'" in spoofed.message.attributes[errors.EDGE_ERROR_MESSAGE]

    for payload, error_type in [(b"\xff", errors.INVALID_UTF8), (b"{", errors.MALFORMED_JSON),
                                (b"{}", errors.SCHEMA_VIOLATION)]:
        verdict = judge(payload, "devices/d/events", "d", ordering=False)
        assert verdict.error_type == error_type
        assert verdict.message.attributes[errors.EDGE_ERROR_TYPE] == error_type
