"""The DirectRunner tuning installs, changes only what it claims, and undoes cleanly."""

import pytest
from apache_beam.runners.direct.transform_evaluator import _PubSubReadEvaluator
from apache_beam.transforms import userstate

from emulators import direct_runner_tuning as runner_tuning


@pytest.fixture(autouse=True)
def restore():
    runner_tuning.reset()  # a pipeline run earlier in the session may have applied LOCAL
    yield
    runner_tuning.reset()


def originals():
    return (
        _PubSubReadEvaluator.__dict__["_get_subscriber_client"],
        userstate.get_dofn_specs,
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


def test_cached_dofn_specs_match_beams_answer():
    from apache_beam.io.gcp.bigquery import BigQueryWriteFn

    fn = BigQueryWriteFn(batch_size=10)
    expected = userstate.get_dofn_specs(fn)
    runner_tuning.apply(runner_tuning.Tuning(cache_dofn_specs=True))
    assert userstate.get_dofn_specs(fn) == expected
    assert userstate.get_dofn_specs(BigQueryWriteFn(batch_size=5)) == expected


def test_a_pull_size_below_one_is_refused():
    with pytest.raises(ValueError):
        runner_tuning.apply(runner_tuning.Tuning(pull_max_messages=-1))
