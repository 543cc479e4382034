"""pytest plugin (entry point ``streambench``): the emulator stack and the pipeline as fixtures.

Servers are started once per test session; each test that asks for ``provisioned_stack`` gets a
project of its own (unique name), so tests do not see each other's topics, tables or rows.

Options: ``--emulator-backend {embedded,docker,testcontainers,external}`` (default embedded; or
the ``STREAMBENCH_BACKEND`` variable) and ``--harness-config PATH`` (default: the nearest
``harness.toml`` from the working directory upward, else the one shipped with the package).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest

from harness.resources import PipelineResources
from harness.stack import BACKENDS, Endpoints

# The warm pipeline, per-test namespaces, wait_for and pytest-xdist support.
pytest_plugins = ("harness.pytest_producer",)


def pytest_addoption(parser):
    group = parser.getgroup("streambench", "local Pub/Sub and BigQuery emulators")
    group.addoption(
        "--emulator-backend",
        choices=BACKENDS,
        default=os.environ.get("STREAMBENCH_BACKEND", "embedded"),
        help="how the emulator stack is started (default: embedded local processes)",
    )
    group.addoption(
        "--harness-config",
        default=None,
        help="harness file (default: the nearest harness.toml from the working directory "
        "upward, else the packaged one)",
    )


@dataclass
class ProvisionedStack(PipelineResources):
    """Emulators provisioned from the harness file under a project of this test's own."""

    endpoints: Endpoints
    config: object  # harness.config.HarnessConfig
    publisher: object
    subscriber: object
    bigquery: object
    storage: object = None  # google.cloud.storage.Client, when the stack has Cloud Storage


@pytest.fixture(scope="session")
def emulator_stack(request):
    """Both emulators, started once per session; yields :class:`harness.stack.Endpoints`."""
    from harness.pytest_producer import shared_endpoints
    from harness.stack import Stack

    shared = shared_endpoints(request.config)
    if shared is not None:  # a pytest-xdist worker under --shared-stack: the controller's
        yield shared
        return

    stack = Stack(backend=request.config.getoption("--emulator-backend"))
    stack.start()
    yield stack.endpoints
    stack.stop()


@pytest.fixture(scope="session")
def pubsub_emulator(emulator_stack) -> str:
    """``host:port`` of the Pub/Sub emulator."""
    return emulator_stack.pubsub


@pytest.fixture(scope="session")
def bigquery_emulator(emulator_stack) -> str:
    """Base URL of the BigQuery emulator."""
    return emulator_stack.bigquery


@pytest.fixture(scope="session")
def storage_emulator(emulator_stack) -> str:
    """Base URL of the Cloud Storage emulator (``STORAGE_EMULATOR_HOST``)."""
    if not emulator_stack.storage:
        pytest.skip("this emulator backend runs no Cloud Storage emulator")
    return emulator_stack.storage


@pytest.fixture
def provisioned_stack(emulator_stack, request) -> ProvisionedStack:
    """The harness file provisioned under a fresh project name."""
    from harness import clients
    from harness.provision import HarnessConfig, provision

    path = request.config.getoption("--harness-config")  # None: found from the working directory
    project = f"test-{uuid.uuid4().hex[:10]}"
    config = HarnessConfig.load(path, project=project)
    publisher = clients.publisher(emulator_stack)
    subscriber = clients.subscriber(emulator_stack)
    bq = clients.bigquery(emulator_stack, project)
    gcs = clients.storage(emulator_stack, project) if emulator_stack.storage else None
    provision(config, publisher, subscriber, bq, storage_client=gcs)
    yield ProvisionedStack(emulator_stack, config, publisher, subscriber, bq, gcs)
    subscriber.close()


@pytest.fixture
def run_pipeline(provisioned_stack):
    """Start the pipeline on the provisioned stack: ``run = run_pipeline(*extra_args)``.

    Returns an :class:`harness.running.PipelineRun`; it is drained and stopped after the test
    (or earlier with ``run.stop()``, which returns the pipeline's counters).
    """
    from harness.running import PipelineRun

    runs: list[PipelineRun] = []

    def start(*extra_args: str) -> PipelineRun:
        args = provisioned_stack.config.pipeline_args() + list(extra_args)
        run = PipelineRun(args, provisioned_stack.endpoints, provisioned_stack.landed).start()
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


@pytest.fixture
def publish_events(provisioned_stack) -> Callable[..., list[str]]:
    """``publish_events(events_or_payloads, **attributes) -> message ids``.

    Dicts are sent as JSON; bytes as they are.
    """
    import json

    from harness import traffic

    def publish(items: Iterable[dict | bytes], **attributes: str) -> list[str]:
        payloads = [i if isinstance(i, bytes) else json.dumps(i).encode() for i in items]
        return traffic.publish(
            provisioned_stack.publisher, provisioned_stack.topic, payloads, **attributes
        )

    return publish


@pytest.fixture
def wait_for_rows(provisioned_stack) -> Callable[..., int]:
    """``wait_for_rows(count, table=events_table, timeout=60) -> rows``, polled every 20 ms;
    on timeout the error says what landed, dead letters with their reasons."""
    from harness.pytest_producer import rows_waiter

    return rows_waiter(provisioned_stack)
