"""The contract kit's end-to-end leg on the harness stack: local verdicts match what lands."""

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
