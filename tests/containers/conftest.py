"""One container stack per backend (docker compose, testcontainers) for this folder's tests;
the plugin's ``emulator_stack`` is overridden so its fixtures (``provisioned_stack``,
``run_pipeline``, ...) run against the containers. What the tests measured is printed at the end.
"""

from __future__ import annotations

import pytest

from harness.stack import Stack

_RESULTS: list[str] = []


@pytest.fixture(scope="module", params=["docker", "testcontainers"])
def container_stack(request):
    stack = Stack(backend=request.param)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def emulator_stack(container_stack):
    return container_stack.endpoints


@pytest.fixture(scope="session")
def report():
    """``report(line)``: printed in the summary of the run (``nox -s containers`` shows it)."""
    return _RESULTS.append


def pytest_terminal_summary(terminalreporter):
    if _RESULTS:
        terminalreporter.write_sep("=", "container results")
        for line in _RESULTS:
            terminalreporter.write_line(line)
