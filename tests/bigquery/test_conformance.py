"""The conformance corpus (tests/bigquery/conformance/*.yaml) through the real client.

Every case must pass, or fail with a known difference listed in the case itself; a known
difference that passes is a failure too, so its entry gets removed. The pass table is
emulators/bigquery/sql/CONFORMANCE.md (`nox -s conformance` rewrites it).
"""

from __future__ import annotations

import pytest

from tests.bigquery.conformance import runner

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECTIONS = runner.load_sections()


@pytest.fixture(scope="module")
def corpus_runner(bq_emulator):
    run = runner.Runner(bq_emulator.url)
    yield run
    run.close()


def test_corpus_has_every_statement_kind_and_enough_cases():
    names = {s.name for s in SECTIONS}
    assert {"dml", "ddl", "scripting", "routines", "query"} <= names
    assert sum(len(s.cases) for s in SECTIONS) >= 1500


@pytest.mark.parametrize("section", SECTIONS, ids=[s.name for s in SECTIONS])
def test_section(corpus_runner, section):
    dataset = corpus_runner.prepare(section)
    problems = []
    for case in section.cases:
        outcome = corpus_runner.run_case(case, dataset)
        if outcome.passed and case.known:
            problems.append(f"{case.id} now passes: remove its known difference ({case.known})")
        elif not outcome.passed and not case.known:
            problems.append(f"{case.id}: {' '.join(case.sql.split())[:120]}\n    {outcome.detail}")
    assert not problems, "\n".join(problems)
