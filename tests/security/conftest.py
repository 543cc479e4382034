"""Fixtures of the hostile-client suite: one BigQuery emulator per module, started with
--data-dir from an empty working directory, a real client for it, and a fresh dataset."""

from __future__ import annotations

import uuid

import pytest

from tests.support.security import Server, assert_no_stray_files, assert_serves, client, start


@pytest.fixture(scope="module")
def bq(tmp_path_factory) -> Server:
    server = start("emulators.bigquery", tmp_path_factory.mktemp("bq"))
    yield server
    try:
        assert_serves(server)  # whatever the module threw at it, it still serves
        assert_no_stray_files(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bq_client(bq):
    bq_client = client(bq)
    yield bq_client
    bq_client.close()


@pytest.fixture
def dataset(bq_client) -> str:
    dataset_id = f"ds_{uuid.uuid4().hex[:10]}"
    bq_client.create_dataset(dataset_id)
    return dataset_id
