"""Fixtures: our emulator (and Google's, when java and its jar exist) as real subprocesses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import google_emulator
from tests.support.pubsub import Emulator, Target


@pytest.fixture(scope="session")
def ours() -> Iterator[Emulator]:
    emulator = Emulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def google_host() -> Iterator[str]:
    if not google_emulator.available():
        pytest.skip("Google's Pub/Sub emulator (java + jar) is not installed")
    with google_emulator.start() as server:
        yield server.address


@pytest.fixture(scope="session")
def ours_target(ours: Emulator) -> Target:
    return Target("ours", ours.host)


@pytest.fixture(params=["ours", pytest.param("google", marks=pytest.mark.reference)])
def pubsub_target(request) -> Target:
    if request.param == "ours":
        return request.getfixturevalue("ours_target")
    return request.getfixturevalue("google_target")


@pytest.fixture(scope="session")
def google_target(google_host: str) -> Target:
    return Target("google", google_host)


@pytest.fixture(scope="module")
def emulator_host(ours):
    """The session's emulator process; the clients find it through PUBSUB_EMULATOR_HOST, like
    any application would."""
    env = pytest.MonkeyPatch()
    env.setenv("PUBSUB_EMULATOR_HOST", ours.host)
    yield ours.host
    env.undo()
