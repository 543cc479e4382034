"""harness.beam_local: every Beam patch installs, changes only what it claims, undoes cleanly,
and refuses with the Beam version when the attribute it replaces is gone."""

import apache_beam
import pytest
from apache_beam.io.gcp import bigquery_tools
from apache_beam.io.gcp.internal.clients.bigquery import bigquery_v2_client
from apache_beam.runners.direct.transform_evaluator import _PubSubReadEvaluator
from apache_beam.transforms import userstate

from harness import beam_local


@pytest.fixture(autouse=True)
def restore():
    beam_local.reset()  # a pipeline run earlier in the session may have applied patches
    yield
    beam_local.reset()


def originals():
    return (
        _PubSubReadEvaluator.__dict__["_get_subscriber_client"],
        userstate.get_dofn_specs,
    )


def test_all_tuning_installs_and_reset_restores_beam():
    before = originals()
    beam_local.tune(beam_local.ALL)
    after = originals()
    assert all(a is not b for a, b in zip(after, before, strict=True))
    beam_local.reset()
    assert originals() == before


def test_a_smaller_tuning_undoes_the_rest():
    before = originals()
    beam_local.tune(beam_local.ALL)
    beam_local.tune(beam_local.PULL_ONLY)
    now = originals()
    assert now[0] is not before[0]
    assert now[1:] == before[1:]
    assert set(beam_local.applied()) == {"larger_pulls"}


def test_cached_dofn_specs_match_beams_answer():
    from apache_beam.io.gcp.bigquery import BigQueryWriteFn

    fn = BigQueryWriteFn(batch_size=10)
    expected = userstate.get_dofn_specs(fn)
    beam_local.tune(beam_local.Tuning(cache_dofn_specs=True))
    assert userstate.get_dofn_specs(fn) == expected
    assert userstate.get_dofn_specs(BigQueryWriteFn(batch_size=5)) == expected


def test_a_pull_size_below_one_is_refused_and_nothing_is_installed():
    with pytest.raises(ValueError):
        beam_local.tune(beam_local.Tuning(pull_max_messages=-1))
    assert beam_local.applied() == {}


def test_endpoint_patches_point_beam_at_the_emulator_and_reset_undoes_them():
    base = bigquery_v2_client.BigqueryV2.BASE_URL
    module = bigquery_tools.gcp_bigquery
    beam_local.apply("bigquery_endpoint", host="http://127.0.0.1:9")
    beam_local.apply("bigquery_client", project="p")
    assert bigquery_v2_client.BigqueryV2.BASE_URL == "http://127.0.0.1:9/bigquery/v2/"
    assert bigquery_tools.gcp_bigquery.Client(client_options={
        "api_endpoint": "http://127.0.0.1:9"}).project == "p"
    beam_local.apply("bigquery_endpoint", host="http://127.0.0.1:9")  # same options: no-op
    beam_local.reset()
    assert bigquery_v2_client.BigqueryV2.BASE_URL == base
    assert bigquery_tools.gcp_bigquery is module


def test_pull_gate_pauses_one_subscription_only():
    calls = []

    class Evaluator:
        def __init__(self, name):
            self._sub_name = name

    gated = beam_local.pull_gate.wrap(lambda ev, ts: calls.append(ev._sub_name) or ["m"])
    beam_local.pull_gate.pause("a")
    assert gated(Evaluator("a"), None) == []
    assert gated(Evaluator("b"), None) == ["m"]
    beam_local.pull_gate.resume("a")
    assert gated(Evaluator("a"), None) == ["m"]
    assert calls == ["b", "a"] and beam_local.pull_gate.pulling("a") == 0


def test_a_missing_beam_attribute_names_the_version_and_the_tested_range(monkeypatch):
    monkeypatch.delattr(_PubSubReadEvaluator, "_read_from_pubsub")
    with pytest.raises(beam_local.BeamPatchError) as refused:
        beam_local.apply("pull_gate")
    message = str(refused.value)
    assert apache_beam.__version__ in message and beam_local.TESTED_BEAM in message
    assert "_PubSubReadEvaluator._read_from_pubsub" in message
    assert "pull_gate" not in beam_local.applied()


def test_every_patch_targets_an_attribute_this_beam_has():
    for patch in beam_local.PATCHES.values():
        owner = beam_local._resolve(patch.owner)
        for attr in patch.attrs:
            beam_local.require(owner, attr)
