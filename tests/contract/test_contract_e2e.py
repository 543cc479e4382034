"""The contract kit's end-to-end leg on the harness stack: local verdicts match what lands."""

import json
from pathlib import Path

import pytest

from contract_tests import e2e
from contract_tests.samples import read_paths
from contract_tests.verify import verify

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
EXAMPLES = Path(__file__).resolve().parents[2] / "contract_tests" / "examples"


def test_examples_land_where_the_kit_says(provisioned_stack, run_pipeline, monkeypatch):
    good = read_paths([str(EXAMPLES / "good")])
    bad = read_paths([str(EXAMPLES / "bad")])
    results = verify(good) + verify(bad, expect_reject=True)
    assert all(r.passed for r in results), [r.problem for r in results if not r.passed]

    run_pipeline()
    # run_e2e exports the emulator variables for the clients it makes; undo that after the test.
    for name, value in provisioned_stack.endpoints.env().items():
        monkeypatch.setenv(name, value)
    landings = e2e.run_e2e(good + bad, e2e.Endpoints.of_stack(provisioned_stack), timeout=120)
    e2e.merge(results, landings)
    assert [r.problem for r in results if r.problem] == []
    assert {ln.table for ln in landings[: len(good)]} == {e2e.EVENTS}
    assert {ln.table for ln in landings[len(good) :]} == {e2e.DEAD_LETTER}


# -- issue 14, finding 5 ------------------------------------------------------------------------


def _verified(names):
    samples = read_paths([str(EXAMPLES / "good" / n) for n in names])
    results = verify(samples, engine_name="functions")
    return samples, results


@pytest.fixture
def stack_env(provisioned_stack, monkeypatch):
    for name, value in provisioned_stack.endpoints.env().items():
        monkeypatch.setenv(name, value)
    return e2e.Endpoints.of_stack(provisioned_stack)


def test_running_the_same_samples_twice_passes_twice(stack_env, run_pipeline):
    """Each run publishes the samples accepted locally with fresh event_ids, so BigQuery's
    insertId de-duplication does not swallow the second run."""
    run_pipeline()
    samples, results = _verified(["checkout-order-placed.json", "iot-sensor-reading.json"])
    for _ in range(2):
        landings = e2e.run_e2e(samples, stack_env, timeout=120,
                               accepted=[r.accepted for r in results])
        assert [ln.table for ln in landings] == [e2e.EVENTS, e2e.EVENTS]
        assert all(ln.published_event_id.startswith(
            json.loads(ln.sample.data)["event_id"] + "-e2e-") for ln in landings)
        assert [e2e.problem(r, ln) for r, ln in zip(results, landings, strict=True)] == [None, None]
    assert landings[0].describe().endswith(f", published as event_id "
                                           f"{landings[0].published_event_id!r})")


def test_kept_event_ids_seen_before_are_reported_as_de_duplicated(stack_env, run_pipeline):
    run_pipeline()
    samples, results = _verified(["checkout-refund-issued.json"])
    accepted = [r.accepted for r in results]
    first = e2e.run_e2e(samples, stack_env, timeout=120, accepted=accepted, fresh_ids=False)
    assert first[0].table == e2e.EVENTS and first[0].deduplicated is None
    second = e2e.run_e2e(samples, stack_env, timeout=120, accepted=accepted, fresh_ids=False)
    assert second[0].table == e2e.EVENTS
    event_id = json.loads(samples[0].data)["event_id"]
    assert second[0].deduplicated.startswith(
        f"event_id {event_id!r} was already written by message_id {first[0].message_id} "
        "(published ")
    assert second[0].describe().endswith(
        "and the pipeline's insertId is the event_id, which BigQuery de-duplicates; counted as "
        "accepted")
    assert e2e.problem(results[0], second[0]) is None


def test_no_pipeline_reading_the_subscription_is_said(stack_env, provisioned_stack):
    samples, results = _verified(["web-clickstream-page-view.json"])
    with pytest.raises(e2e.StackProblem) as problem:
        e2e.run_e2e(samples, stack_env, timeout=60, accepted=[True], no_reader_after=2)
    assert str(problem.value).startswith(
        f"no pipeline is reading subscription {provisioned_stack.subscription}: all 1 samples are "
        "still in its backlog after ")
    assert "python -m pipeline --input_subscription events-pipeline" in str(problem.value)


def test_an_empty_sample_is_not_published_and_says_why(stack_env, run_pipeline):
    from contract_tests.samples import Sample

    run_pipeline()
    empty = [Sample("empty.json", b"")]
    results = verify(empty, expect_reject=True, engine_name="functions")
    landings = e2e.run_e2e(empty, stack_env, timeout=30, accepted=[False])
    assert landings[0].not_published == e2e.EMPTY
    e2e.merge(results, landings)
    assert results[0].passed and results[0].landed == e2e.EMPTY


def test_a_missing_topic_is_one_sentence_and_exit_2(provisioned_stack):
    from tests.support.cli import one_sentence, run

    stack = provisioned_stack
    result = run("contract_tests", "verify", "--e2e", "--project", stack.project, "--topic",
                 "evnts", "--table", "analytics.events", "--dead-letter-table",
                 "analytics.events_dlq", str(EXAMPLES / "good"), env=stack.endpoints.env())
    assert result.returncode == 2
    assert one_sentence(result) == (
        f"error: --topic projects/{stack.project}/topics/evnts: no such topic (project "
        f"{stack.project} has events, events-unprocessable); is the stack up (python -m harness "
        "up)?"
    )
