"""``wait_for`` and ``wait_for_rows`` on a test's own stack (``run_pipeline``): what they wait
for, and what their errors say."""

import pytest

from harness.landing import Landed, LandingTimeout, _Expectation
from pipeline import errors, samples


def _landed(kind, value):
    if kind == "event":
        return Landed("event", value, "1")
    return Landed("dead_letter", None, "1", value, "why", "parse")


@pytest.mark.parametrize(
    "what, key, landed, missing",
    [
        (None, "event_id", [], 0),
        (0, "event_id", [], 0),
        (2, "event_id", ["a"], 1),
        (["a", "b"], "event_id", ["a"], 1),
        (["a", "a"], "event_id", ["a"], 0),  # an event id lands once, however often published
        ("a", "event_id", ["a"], 0),
        (["x", "x"], "error_type", ["x"], 1),  # dead letters: one per message
        ({"x": 2, "y": 1}, "error_type", ["x", "y", "z"], 1),
    ],
)
def test_what_is_still_missing(what, key, landed, missing):
    kind = "event" if key == "event_id" else "dead_letter"
    assert _Expectation(what, key).missing([_landed(kind, v) for v in landed]) == missing


@pytest.mark.parametrize("what, error", [(-1, ValueError), (True, TypeError), (1.5, TypeError)])
def test_nonsense_expectations_are_refused(what, error):
    with pytest.raises(error):
        _Expectation(what, "event_id")


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_classic_fixtures_say_what_landed(run_pipeline, publish_events, wait_for, wait_for_rows):
    run_pipeline()
    bad, kind = samples.bad_payload("missing_event_id")
    publish_events([samples.valid_event(event_id="classic-1"), bad])

    arrived = wait_for(events=["classic-1"], dead_letters=[errors.SCHEMA_VIOLATION])
    assert arrived.event_ids == ["classic-1"] and arrived.error_types == [kind]
    assert wait_for_rows(1) == 1

    with pytest.raises(TimeoutError) as raised:  # what wait_for_rows raised before, too
        wait_for_rows(2, timeout=0.2)
    assert isinstance(raised.value, LandingTimeout)
    text = str(raised.value)
    assert "at least 2 event(s): not there after 0.2s" in text
    assert "events (1): 'classic-1'" in text
    assert f"{kind} in validate: $: 'event_id' is a required property" in text
