"""Issue 14, item 7: a newcomer's first hour on a fresh copy of the repository: the quick start,
every README block marked runnable, and the usual mistakes, each with its exit code and its
sentence (tests/newcomer/walkthrough.py; run it by hand for the transcript)."""

import pytest

from tests.newcomer.walkthrough import runnable_blocks, walk
from tests.support.cli import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]


def test_the_readme_marks_the_first_hour_runnable():
    blocks = runnable_blocks((ROOT / "README.md").read_text())
    modes = [b.mode for b in blocks]
    assert modes.count("background") == 1 and modes.count("after-ctrl-c") == 1
    assert modes.index("background") < modes.index("after-ctrl-c")
    assert blocks[0].code.startswith("python -m harness up")


def test_the_first_hour(tmp_path):
    transcript = []
    outcomes = walk(tmp_path, say=transcript.append)
    failed = [o for o in outcomes if not o.ok]
    assert not failed, "\n".join(transcript)
    assert len(outcomes) >= 20
