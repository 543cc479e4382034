"""Point Apache Beam's Google Cloud IO at local emulators, configured by environment variables.

`use_emulators_from_env()` is idempotent and cheap; call it at pipeline start and in
`DoFn.setup` (so worker processes get it too). With `BIGQUERY_EMULATOR_HOST` set it applies
these patches of `harness.beam_local` (the one registry of Beam-internals patches):

* points Beam's apitools BigQuery client (`BigqueryV2.BASE_URL`, used for tables.get/insert)
  at `<host>/bigquery/v2/`;
* makes the google-cloud-bigquery client Beam builds for insertAll
  (`bigquery_tools.gcp_bigquery.Client`) use anonymous credentials and a default project
  (it already honours `BIGQUERY_EMULATOR_HOST` for the endpoint);
* makes Beam's credential lookup (`apache_beam.internal.gcp.auth`) return anonymous
  credentials instead of asking for Application Default Credentials.

With `STORAGE_EMULATOR_HOST` set (with or without `http://`), Beam's GCS filesystem
(`apache_beam.io.gcp.gcsio`, on google-cloud-storage) needs no patch: the client honours the
variable for its endpoint, and the same anonymous credentials serve it. That is what
`WriteToBigQuery(method=FILE_LOADS)` (temp files in `--temp_location`) and
`ReadFromBigQuery(method=EXPORT)` (extracts to `gcs_location`/`--temp_location`) need.

With only `PUBSUB_EMULATOR_HOST` or `STORAGE_EMULATOR_HOST` set, the client needs nothing, but
Beam's credential lookup is made anonymous unless ADC are available locally
(GOOGLE_APPLICATION_CREDENTIALS or the gcloud ADC file). With no variable set nothing is touched.
"""

from __future__ import annotations

import os
import threading

from harness import beam_local

BIGQUERY_ENV = "BIGQUERY_EMULATOR_HOST"
PUBSUB_ENV = "PUBSUB_EMULATOR_HOST"
STORAGE_ENV = "STORAGE_EMULATOR_HOST"
DEFAULT_PROJECT = "local-project"

_lock = threading.Lock()


def _normalize_host(host: str) -> str:
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    return host


def emulator_project() -> str:
    """The project Beam's clients use when none is given (GOOGLE_CLOUD_PROJECT or a default)."""
    return (
        os.environ.get("GOOGLE_CLOUD_PROJECT")
        or os.environ.get("CLOUDSDK_CORE_PROJECT")
        or DEFAULT_PROJECT
    )


def _local_adc_available() -> bool:
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    config_dir = os.environ.get("CLOUDSDK_CONFIG") or os.path.join(
        os.path.expanduser("~"), ".config", "gcloud"
    )
    return os.path.exists(os.path.join(config_dir, "application_default_credentials.json"))


def _client(make, env: str, project: str):
    """``make(project=...)``: anonymous and pointed at the emulator when ``env`` is set."""
    host = os.environ.get(env, "").strip()
    if not host:
        return make(project=project)
    from google.auth.credentials import AnonymousCredentials

    return make(
        project=project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": _normalize_host(host)},
    )


def bigquery_client(project: str):
    """A google-cloud-bigquery client; anonymous against ``BIGQUERY_EMULATOR_HOST`` when set."""
    from google.cloud import bigquery

    return _client(bigquery.Client, BIGQUERY_ENV, project)


def storage_client(project: str):
    """A google-cloud-storage client; anonymous against ``STORAGE_EMULATOR_HOST`` when set."""
    from google.cloud import storage

    return _client(storage.Client, STORAGE_ENV, project)


def use_emulators_from_env() -> bool:
    """Configure Beam for the emulators named in the environment; True if any is configured."""
    bigquery_host = os.environ.get(BIGQUERY_ENV, "").strip()
    pubsub_host = os.environ.get(PUBSUB_ENV, "").strip()
    storage_host = os.environ.get(STORAGE_ENV, "").strip()
    if not bigquery_host and not pubsub_host and not storage_host:
        return False
    with _lock:
        if storage_host:
            url = _normalize_host(storage_host)
            if url != storage_host:  # one spelling for google-cloud-storage and our helpers
                os.environ[STORAGE_ENV] = url
        # beam_local.apply is a no-op for a patch already in place with the same options, so
        # this re-installs whatever a beam_local.reset() elsewhere in the process took away.
        if bigquery_host:
            host = _normalize_host(bigquery_host)
            if host != bigquery_host:  # google-cloud-bigquery needs the scheme
                os.environ[BIGQUERY_ENV] = host
            beam_local.apply("bigquery_endpoint", host=host)
            beam_local.apply("bigquery_client", project=emulator_project())
            beam_local.apply("anonymous_credentials")
        elif not _local_adc_available():  # Pub/Sub or Cloud Storage only
            beam_local.apply("anonymous_credentials")
    return True

