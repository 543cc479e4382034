"""Google's BigQuery clients wired to the emulator's Storage APIs.

No Google client reads an environment variable for the Storage API endpoint, so these helpers
do the wiring: plaintext gRPC channels to `BIGQUERY_STORAGE_EMULATOR_HOST` (``host:port``), and a
`bigquery.Client` whose `to_dataframe()` / `to_arrow()` (and pandas-gbq's `read_gbq`, given the
client) read through the emulator's Storage Read API. google-cloud-bigquery creates its read
client in `Client._ensure_bqstorage_client`, with googleapis.com as the endpoint; `EmulatorClient`
overrides that one method.
"""

from __future__ import annotations

import functools
import os
from typing import Any

ENV_VAR = "BIGQUERY_STORAGE_EMULATOR_HOST"
_CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


def storage_host(host: str | None = None) -> str:
    """`host`, else BIGQUERY_STORAGE_EMULATOR_HOST; raises ValueError when neither is set."""
    host = host or os.environ.get(ENV_VAR, "")
    host = host.removeprefix("http://").removeprefix("https://").rstrip("/")
    if not host:
        raise ValueError(f"no Storage API endpoint: pass host:port or set {ENV_VAR}")
    return host


def _channel(host: str) -> Any:
    import grpc

    return grpc.insecure_channel(host, options=_CHANNEL_OPTIONS)


def read_client(host: str | None = None) -> Any:
    """A `BigQueryReadClient` talking plaintext gRPC to the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery_storage_v1
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
        BigQueryReadGrpcTransport,
    )

    transport = BigQueryReadGrpcTransport(
        channel=_channel(storage_host(host)), credentials=AnonymousCredentials()
    )
    return bigquery_storage_v1.BigQueryReadClient(transport=transport)


def write_client(host: str | None = None) -> Any:
    """A `BigQueryWriteClient` talking plaintext gRPC to the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery_storage_v1
    from google.cloud.bigquery_storage_v1.services.big_query_write.transports import (
        BigQueryWriteGrpcTransport,
    )

    transport = BigQueryWriteGrpcTransport(
        channel=_channel(storage_host(host)), credentials=AnonymousCredentials()
    )
    return bigquery_storage_v1.BigQueryWriteClient(transport=transport)


@functools.cache
def _emulator_client_class() -> type:
    from google.cloud import bigquery

    class EmulatorClient(bigquery.Client):
        """A `bigquery.Client` whose Storage Read client talks to the emulator."""

        storage_emulator_host: str | None = None

        def _ensure_bqstorage_client(self, bqstorage_client=None, *args, **kwargs):
            if bqstorage_client is not None:
                return bqstorage_client
            return read_client(self.storage_emulator_host)

    return EmulatorClient


def bigquery_client(
    project: str, rest_url: str | None = None, storage: str | None = None, **kwargs: Any
) -> Any:
    """A `bigquery.Client` for the emulator: REST at `rest_url` (else BIGQUERY_EMULATOR_HOST),
    anonymous credentials, and reads through the Storage Read API at `storage` (else
    BIGQUERY_STORAGE_EMULATOR_HOST)."""
    from google.auth.credentials import AnonymousCredentials

    rest_url = rest_url or os.environ.get("BIGQUERY_EMULATOR_HOST", "")
    if rest_url and "://" not in rest_url:
        rest_url = f"http://{rest_url}"
    options = kwargs.pop("client_options", None) or (
        {"api_endpoint": rest_url} if rest_url else None
    )
    client = _emulator_client_class()(
        project=project,
        credentials=kwargs.pop("credentials", AnonymousCredentials()),
        client_options=options,
        **kwargs,
    )
    client.storage_emulator_host = storage_host(storage)
    return client
