"""Producer-test fixtures of the ``streambench`` pytest plugin (loaded by
:mod:`harness.pytest_plugin`): the warm pipeline and its per-test namespaces, ``wait_for``, and
pytest-xdist support.

* ``warm_pipeline`` (session scope, or module with ``--pipeline-scope=module``): the production
  pipeline started once on a project of its own, drained once when the scope ends.
* ``producer`` (each test): a :class:`harness.warm.Namespace` of the warm pipeline; the test sees
  only the rows and dead letters of what it published.
* ``warm_pipeline_args`` (session): extra ``python -m pipeline`` arguments; override it in your
  ``conftest.py``.
* ``wait_for`` (each test): :meth:`harness.landing.Landing.wait_for` over ``provisioned_stack``'s
  tables, for tests that run their own pipeline with ``run_pipeline``.

Under ``pytest -n`` each worker runs its own pipeline on a project of its own, on its own
emulators, or with ``--shared-stack`` on one stack the controller starts for all of them.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from harness.endpoints import Endpoints

_WORKER_ENDPOINTS = "streambench_endpoints"
_SHARED_STACK = pytest.StashKey[object]()


def pytest_addoption(parser):
    group = parser.getgroup("streambench")
    group.addoption(
        "--pipeline-scope",
        choices=("session", "module"),
        default="session",
        help="how long one warm pipeline serves the `producer` fixture's tests (default: "
        "session; module: one pipeline per test module, drained at its end)",
    )
    group.addoption(
        "--shared-stack",
        action="store_true",
        help="with pytest -n: one emulator stack, started by the controller, for every worker "
        "(default: one stack per worker)",
    )


# -- pytest-xdist: one stack for every worker -------------------------------------------------


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """Controller side, once per worker: start the shared stack (once) and hand its endpoints
    to the worker."""
    config = node.config
    if not config.getoption("--shared-stack"):
        return
    stack = config.stash.get(_SHARED_STACK, None)
    if stack is None:
        from harness.stack import Stack, StackError

        stack = Stack(backend=config.getoption("--emulator-backend"))
        try:
            stack.start()
        except StackError as exc:
            raise pytest.UsageError(f"--shared-stack: {exc}") from exc
        config.stash[_SHARED_STACK] = stack
    endpoints = stack.endpoints
    node.workerinput[_WORKER_ENDPOINTS] = json.dumps(
        {"pubsub": endpoints.pubsub, "bigquery": endpoints.bigquery}
    )


def pytest_unconfigure(config):
    stack = config.stash.get(_SHARED_STACK, None)
    if stack is not None:
        stack.stop()


def shared_endpoints(config) -> Endpoints | None:
    """On a pytest-xdist worker run with ``--shared-stack``: the controller's stack."""
    raw = getattr(config, "workerinput", {}).get(_WORKER_ENDPOINTS)
    return Endpoints(**json.loads(raw)) if raw else None


# -- the warm pipeline ------------------------------------------------------------------------


def _pipeline_scope(fixture_name: str, config) -> str:
    return config.getoption("--pipeline-scope")


def _harness_config(config, project: str):
    from harness.config import HarnessConfig

    # None: found from the working directory, as for the CLI and provisioned_stack
    return HarnessConfig.load(config.getoption("--harness-config"), project=project)


@pytest.fixture(scope="session")
def warm_pipeline_args() -> list[str]:
    """Extra ``python -m pipeline`` arguments of the warm pipeline (none); override it."""
    return []


@pytest.fixture(scope=_pipeline_scope)
def warm_pipeline(emulator_stack, warm_pipeline_args, request):
    """The production pipeline, started once on a project of its own (``warm-...``) and
    drained once at the end of the session (or module): a :class:`harness.warm.WarmPipeline`."""
    from harness.warm import WarmPipeline

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    project = f"warm-{worker}-{uuid.uuid4().hex[:8]}"
    warm = WarmPipeline(
        emulator_stack, _harness_config(request.config, project), warm_pipeline_args
    )
    warm.start()
    yield warm
    warm.stop()


@pytest.fixture
def producer(warm_pipeline, request):
    """This test's namespace of the warm pipeline (:class:`harness.warm.Namespace`):
    ``publish``, ``wait_for``, ``rows``, ``dead_letters``, ``query``, ``unique_id``."""
    return warm_pipeline.namespace(request.node.nodeid)


# -- waiting on a test's own stack ------------------------------------------------------------


def landing_of(stack):
    """A :class:`harness.landing.Landing` over a ``provisioned_stack``'s whole tables."""
    from harness.landing import Landing

    return Landing(stack.bigquery, stack.events_table, stack.dead_letter_table)


@pytest.fixture
def wait_for(provisioned_stack):
    """``wait_for(events=..., dead_letters=..., timeout=30) -> Arrivals`` on the tables of
    ``provisioned_stack`` (the pipeline from ``run_pipeline``)."""
    return landing_of(provisioned_stack).wait_for


def rows_waiter(stack):
    """What the ``wait_for_rows`` fixture gives: ``wait(count, table=None, timeout=60) -> rows``,
    polling every 20 ms; on timeout the error says what landed, dead letters included."""
    from harness import traffic
    from harness.landing import POLL_INTERVAL

    landing = landing_of(stack)

    def wait(count: int, table: str | None = None, timeout: float = 60.0) -> int:
        if table in (None, stack.events_table):
            return len(landing.wait_for(events=count, timeout=timeout).events)
        if table == stack.dead_letter_table:
            return len(landing.wait_for(dead_letters=count, timeout=timeout).dead_letters)
        return traffic.wait_for_rows(stack.bigquery, table, count, timeout, POLL_INTERVAL)

    return wait
