"""Hypothesis profiles. With ``CI`` set (``.ci/run`` sets it) every property test is
derandomized: the same examples on every run, so a red build means a regression rather than an
unlucky draw. Elsewhere each run draws new examples and keeps exploring."""

import os
import signal
import uuid

import pytest
from hypothesis import HealthCheck, settings

from tests.support.bigquery import make_client, start_emulator, stop_emulator

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
if os.environ.get("CI"):
    settings.load_profile("ci")

# A suite started in the background (`nohup ... &`, some CI launchers) inherits SIGINT ignored,
# and so would every process it starts: the tests that press Ctrl-C on a pipeline, a replay or
# `harness logs -f` would wait forever. Exec keeps an ignored signal ignored but resets a
# handled one, so handling it here gives the children Python's usual KeyboardInterrupt.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser):
    parser.addoption(
        "--run-containers", action="store_true",
        help="run the tests marked `containers` (they need a Docker engine; nox -s containers)",
    )


def pytest_collection_modifyitems(config, items):
    """Tests marked ``containers`` run only when asked for: the default suite needs no Docker."""
    if config.getoption("--run-containers"):
        return
    skip = pytest.mark.skip(reason="needs a Docker engine: nox -s containers (--run-containers)")
    for item in items:
        if item.get_closest_marker("containers"):
            item.add_marker(skip)


@pytest.fixture
def emulator(tmp_path):
    """``emulator(name, **kwargs) -> ServerProcess`` (``python -m emulators.<name>`` on a free
    port, its log in the test's tmp dir); every process is stopped after the test."""
    from emulators.process import ServerProcess

    started: list[ServerProcess] = []

    def start(name: str, extra_args: tuple[str, ...] = (), **kwargs) -> ServerProcess:
        kwargs.setdefault("log_path", tmp_path / "logs" / f"{name}-{len(started)}.log")
        server = ServerProcess.emulator(name, *extra_args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- BigQuery: one emulator process per session, real google-cloud-bigquery clients --


@pytest.fixture(scope="session")
def bq_emulator():
    emulator = start_emulator()
    yield emulator
    stop_emulator(emulator)


@pytest.fixture(scope="module")
def own_bq_emulator():
    """A BigQuery emulator process for one test module alone: for tests that change what the
    whole server does (injected faults, server-wide counters) or read its history."""
    emulator = start_emulator()
    yield emulator
    stop_emulator(emulator)


@pytest.fixture(scope="session")
def bq_client(bq_emulator):
    client = make_client(bq_emulator.url, bq_emulator.project)
    yield client
    client.close()


@pytest.fixture(scope="session")
def bq_storage_client(bq_emulator):
    """A `bigquery.Client` whose to_dataframe/to_arrow read through the Storage Read API."""
    from emulators.bigquery.storage_api.clients import bigquery_client

    client = bigquery_client(bq_emulator.project, bq_emulator.url, bq_emulator.storage)
    yield client
    client.close()


@pytest.fixture(scope="session")
def read_client(bq_emulator):
    from emulators.bigquery.storage_api.clients import read_client

    return read_client(bq_emulator.storage)


@pytest.fixture(scope="session")
def write_client(bq_emulator):
    from emulators.bigquery.storage_api.clients import write_client

    return write_client(bq_emulator.storage)


@pytest.fixture
def bq_dataset(bq_client):
    """A fresh dataset id (in the client's project) for one test; deleted afterwards."""
    dataset_id = f"ds_{uuid.uuid4().hex[:12]}"
    bq_client.create_dataset(dataset_id)
    yield dataset_id
    bq_client.delete_dataset(dataset_id, delete_contents=True, not_found_ok=True)
