"""Helpers for the BigQuery tests: our emulator as a subprocess, real google-cloud-bigquery clients."""

from __future__ import annotations

from emulators.process import ServerProcess

PROJECT = "test-project"


class Emulator:
    """``python -m emulators.bigquery --port 0 --project P ...`` (:class:`ServerProcess`);
    ``storage`` is where its Storage Read/Write API (gRPC) listens."""

    def __init__(self, server: ServerProcess, project: str):
        self.server = server
        self.process = server.process
        self.url = server.url
        self.project = project
        self.storage = server.storage_address


def start_emulator(*extra: str, project: str = PROJECT) -> Emulator:
    """Start the BigQuery emulator on a free port and wait for its ready line."""
    return Emulator(ServerProcess.emulator("bigquery", "--project", project, *extra), project)


def stop_emulator(emulator: Emulator) -> None:
    emulator.server.stop()


def make_client(url: str, project: str = PROJECT):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=project,
        client_options=ClientOptions(api_endpoint=url),
        credentials=AnonymousCredentials(),
    )


