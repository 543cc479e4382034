"""Shared fixtures: the BigQuery emulator as a real subprocess and real google-cloud-bigquery clients.

`bq_client` is a session-wide `google.cloud.bigquery.Client` talking to the emulator over HTTP;
`bq_dataset` is a fresh dataset (id) per test; `bq_emulator` holds the URL and project.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "test-project"


@dataclasses.dataclass
class Emulator:
    url: str
    project: str
    process: subprocess.Popen
    storage: str = ""  # host:port of the Storage Read/Write API (gRPC)


def start_emulator(*extra: str, project: str = PROJECT) -> Emulator:
    """Start `python -m emulators.bigquery --port 0` and wait for its ready line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.bigquery", "--port", "0", "--project", project, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"emulator did not start: {line!r}")
    storage = process.stdout.readline()  # the Storage API's ready line comes right after
    return Emulator(
        url=line.strip().rsplit(" ", 1)[-1],
        project=project,
        process=process,
        storage=storage.strip().rsplit(" ", 1)[-1],
    )


def stop_emulator(emulator: Emulator) -> None:
    emulator.process.terminate()
    try:
        emulator.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        emulator.process.kill()


def make_client(url: str, project: str = PROJECT):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=project,
        client_options=ClientOptions(api_endpoint=url),
        credentials=AnonymousCredentials(),
    )


@pytest.fixture(scope="session")
def bq_emulator():
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
