"""The DirectRunner prototype fixes install, change only what they claim, and undo cleanly."""

import pytest
from apache_beam.io.gcp import bigquery
from apache_beam.runners.direct.transform_evaluator import _PubSubReadEvaluator
from apache_beam.transforms import userstate

from loadtest import runner_tuning
from pipeline import samples, validate


@pytest.fixture(autouse=True)
def restore():
    yield
    runner_tuning.reset()


def originals():
    return (
        _PubSubReadEvaluator.__dict__["_get_subscriber_client"],
        userstate.get_dofn_specs,
        bigquery.get_deep_size,
        validate._validator,
    )


def test_all_fixes_install_and_reset_restores_beam_and_the_pipeline():
    before = originals()
    runner_tuning.apply(runner_tuning.ALL)
    after = originals()
    assert all(a is not b for a, b in zip(after, before, strict=True))
    runner_tuning.reset()
    assert originals() == before


def test_applying_a_smaller_tuning_undoes_the_rest():
    before = originals()
    runner_tuning.apply(runner_tuning.ALL)
    runner_tuning.apply(runner_tuning.PULL_ONLY)
    now = originals()
    assert now[0] is not before[0]
    assert now[1:] == before[1:]


def test_the_crawled_validator_gives_the_same_verdicts_as_the_pipelines():
    import json

    events = [samples.valid_event() for _ in range(5)]
    for kind in samples.BAD_KINDS:
        payload, _ = samples.bad_payload(kind)
        try:
            decoded = json.loads(payload)
        except ValueError:
            continue  # not JSON at all: never reaches the validator
        if isinstance(decoded, dict):
            events.append(decoded)
    stock = [validate.contract_violation(e) for e in events]
    runner_tuning.apply(runner_tuning.Tuning(crawled_validator=True))
    assert [validate.contract_violation(e) for e in events] == stock
    assert any(v is not None for v in stock) and any(v is None for v in stock)


def test_cached_dofn_specs_match_beams_answer():
    from apache_beam.io.gcp.bigquery import BigQueryWriteFn

    fn = BigQueryWriteFn(batch_size=10)
    expected = userstate.get_dofn_specs(fn)
    runner_tuning.apply(runner_tuning.Tuning(cache_dofn_specs=True))
    assert userstate.get_dofn_specs(fn) == expected
    assert userstate.get_dofn_specs(BigQueryWriteFn(batch_size=5)) == expected


def test_row_size_is_the_json_length():
    runner_tuning.apply(runner_tuning.Tuning(cheap_row_size=True))
    row = ({"event_id": "e" * 100}, "e" * 100)
    assert bigquery.get_deep_size(row) == len('[{"event_id": "' + "e" * 100 + '"}, "' + "e" * 100 + '"]')


def test_a_pull_size_below_one_is_refused():
    with pytest.raises(ValueError):
        runner_tuning.apply(runner_tuning.Tuning(pull_max_messages=-1))
