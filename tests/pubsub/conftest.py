"""Fixtures: our emulator (and Google's, when java and its jar exist) as real subprocesses."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
from pubsub_support import GOOGLE_JAR, Emulator, Target, _start_google


@pytest.fixture(scope="session")
def ours() -> Iterator[Emulator]:
    emulator = Emulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def google_host() -> Iterator[str]:
    if shutil.which("java") is None or not GOOGLE_JAR.exists():
        pytest.skip("Google's Pub/Sub emulator (java + jar) is not installed")
    proc, host = _start_google()
    yield host
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


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
