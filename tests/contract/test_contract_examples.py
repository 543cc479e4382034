"""Every shipped example does exactly what it says, on both engines, which agree."""

import json
from pathlib import Path

import pytest

from contract_tests import engine
from contract_tests.samples import from_message, read_paths
from contract_tests.verify import verify

EXAMPLES = Path(__file__).resolve().parents[2] / "contract_tests" / "examples"
GOOD = read_paths([str(EXAMPLES / "good"), str(EXAMPLES / "samples.ndjson")])
BAD = read_paths([str(EXAMPLES / "bad")])
# Columns that depend on when the check ran, not on the message.
CLOCK_COLUMNS = ("publish_time", "processing_time", "lag_ms")


@pytest.fixture(scope="module", params=engine.ENGINES)
def engine_name(request):
    return request.param


@pytest.fixture(scope="module")
def bad_results(engine_name):
    return verify(BAD, expect_reject=True, engine_name=engine_name)


@pytest.fixture(scope="module")
def good_results(engine_name):
    return verify(GOOD, engine_name=engine_name)


def test_the_examples_cover_the_documented_failures():
    names = {Path(s.name.split(":")[0]).stem for s in BAD}
    for topic in ("missing", "timestamp", "wrong-type", "extra-field", "array-in-data",
                  "empty-event-id", "not-json", "oversize"):
        assert any(topic in name for name in names), topic
    producers = {json.loads(s.data)["metadata"]["source"] for s in GOOD}
    assert producers == {"checkout-service", "web-clickstream", "iot-gateway"}


@pytest.mark.parametrize("index", range(len(BAD)), ids=[s.name.split("/")[-1] for s in BAD])
def test_bad_example_fails_with_exactly_its_expected_reason(bad_results, index):
    result = bad_results[index]
    expect = result.sample.expect
    assert expect is not None and expect.error_type and expect.path, "every example says why"
    o = result.outcome
    assert not o.accepted
    assert (o.error_type, o.path) == (expect.error_type, expect.path), o.error_message
    assert (expect.message_contains or "") in o.error_message
    assert result.passed, result.problem


@pytest.mark.parametrize("index", range(len(GOOD)), ids=[s.name.split("/")[-1] for s in GOOD])
def test_good_example_passes(good_results, index):
    result = good_results[index]
    assert result.accepted and result.passed, result.describe_outcome()
    assert result.warning is None
    row = result.outcome.row
    event = json.loads(result.sample.data)
    assert row["event_id"] == event["event_id"]
    assert json.loads(row["data"]) == event["data"]
    assert row["source"] == event["metadata"]["source"]


def _comparable(result):
    o = result.outcome
    row = {k: v for k, v in (o.row or {}).items() if k not in CLOCK_COLUMNS}
    return row, o.error_type, o.error_message, o.failed_step, o.path, o.event_id


def test_beam_and_functions_engines_agree():
    samples = GOOD + BAD
    beam = verify(samples, {"k": "v"}, engine_name="beam")
    functions = verify(samples, {"k": "v"}, engine_name="functions")
    assert [_comparable(r) for r in beam] == [_comparable(r) for r in functions]


def test_engines_agree_with_a_reference_file(tmp_path):
    reference = tmp_path / "sources.ndjson"
    reference.write_text(json.dumps({"source": "iot-gateway", "tier": "bronze"}) + "\n")
    beam = verify(GOOD, engine_name="beam", reference_file=str(reference))
    functions = verify(GOOD, engine_name="functions", reference_file=str(reference))
    assert [_comparable(r) for r in beam] == [_comparable(r) for r in functions]
    found = {r.outcome.row["source"]: r.outcome.row["reference_found"] for r in beam}
    assert found == {"checkout-service": False, "web-clickstream": False, "iot-gateway": True}


@pytest.mark.slow
def test_thousands_of_messages_in_one_beam_run():
    base = json.loads(GOOD[0].data)
    samples = [from_message({**base, "event_id": f"bulk-{i}"}, f"bulk:{i}") for i in range(2000)]
    samples[1234] = from_message(b"{oops", "bulk:1234")
    results = verify(samples, engine_name="beam")
    assert [r.sample.name for r in results] == [s.name for s in samples]
    assert [i for i, r in enumerate(results) if not r.accepted] == [1234]
    assert results[1999].outcome.row["event_id"] == "bulk-1999"


@pytest.mark.parametrize("engine_name", engine.ENGINES)
def test_a_message_that_crashes_the_pipeline_is_a_failure_even_when_bad(monkeypatch, engine_name):
    import pipeline.validate

    real = pipeline.validate.parse_timestamp

    def parse_timestamp(text):
        if text.startswith("1999"):
            raise RuntimeError("boom")
        return real(text)

    monkeypatch.setattr(pipeline.validate, "parse_timestamp", parse_timestamp)
    base = json.loads(GOOD[0].data)
    samples = [from_message(base), from_message({**base, "timestamp": "1999-01-01T00:00:00Z"})]
    ok, crashed = verify(samples, expect_reject=True, engine_name=engine_name)
    assert not ok.passed and ok.accepted  # expected a rejection
    assert crashed.outcome.crashed and not crashed.passed
    assert crashed.outcome.failed_step == "validate"
    assert "raised RuntimeError: boom - not dead-lettered" in crashed.problem


def test_timestamp_at_the_edge_of_the_range_is_dead_lettered():
    base = json.loads(GOOD[0].data)
    (result,) = verify([from_message({**base, "timestamp": "0001-01-01T00:00:00+01:00"})],
                       engine_name="functions")
    assert result.outcome.error_type == "invalid_timestamp"


def test_unpublished_version_is_accepted_with_a_warning():
    base = json.loads(GOOD[0].data)
    (result,) = verify([from_message({**base, "metadata": {"source": "x", "version": "9.9"}})],
                       engine_name="functions")
    assert result.passed
    assert "'9.9' is not a published contract version" in result.warning
