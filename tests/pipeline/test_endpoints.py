"""pipeline.endpoints and the BIGQUERY_EMULATOR_HOST route of google-cloud-bigquery."""

from __future__ import annotations

import pytest

from pipeline import endpoints

pytestmark = pytest.mark.integration


def test_nothing_configured_touches_nothing(monkeypatch):
    from apache_beam.io.gcp import bigquery_tools
    from apache_beam.io.gcp.internal.clients.bigquery import bigquery_v2_client

    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    before = (bigquery_v2_client.BigqueryV2.BASE_URL, bigquery_tools.gcp_bigquery)
    assert endpoints.use_emulators_from_env() is False
    assert (bigquery_v2_client.BigqueryV2.BASE_URL, bigquery_tools.gcp_bigquery) == before


def test_host_without_scheme_and_beam_clients(bq_emulator, monkeypatch):
    from apache_beam.io.gcp import bigquery_tools
    from apache_beam.io.gcp.internal.clients.bigquery import bigquery_v2_client

    bare = bq_emulator.url.removeprefix("http://")
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bare)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", bq_emulator.project)
    assert endpoints.use_emulators_from_env() is True
    import os

    assert os.environ["BIGQUERY_EMULATOR_HOST"] == bq_emulator.url
    assert bigquery_v2_client.BigqueryV2.BASE_URL == f"{bq_emulator.url}/bigquery/v2/"
    # Beam's wrapper builds both of its clients without credentials or a project argument.
    wrapper = bigquery_tools.BigQueryWrapper(temp_dataset_id="unused_temp")
    assert wrapper.gcp_bq_client.project == bq_emulator.project
    assert bq_emulator.project in [p.project_id for p in wrapper.gcp_bq_client.list_projects()]


def test_plain_client_through_emulator_host_env(bq_emulator, monkeypatch):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bq_emulator.url)
    client = bigquery.Client(project=bq_emulator.project, credentials=AnonymousCredentials())
    rows = list(client.query_and_wait("SELECT 40 + 2 AS answer"))
    assert rows[0].answer == 42


def test_patches_come_back_after_a_reset_elsewhere(monkeypatch):
    """Another part of the process may call beam_local.reset(); the next call puts the patches
    back instead of trusting a cache of its own."""
    from harness import beam_local

    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:8")
    assert endpoints.use_emulators_from_env()
    beam_local.reset()
    assert endpoints.use_emulators_from_env()
    assert {"bigquery_endpoint", "bigquery_client", "anonymous_credentials"} <= set(
        beam_local.applied())
    import os

    assert os.environ["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:8"
    beam_local.reset()
