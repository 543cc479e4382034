"""Helpers of the hostile-client suite: emulators started in an empty working directory, raw
HTTP, and the checks every probe ends with (the refusal's exact shape, the server still
serves, no file appeared outside --data-dir)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import requests

from emulators.process import ServerProcess

PROJECT = "sec-project"


@dataclasses.dataclass
class Server:
    """An emulator process, its --data-dir and its working directory."""

    server: ServerProcess
    data_dir: Path
    workdir: Path

    @property
    def process(self):
        return self.server.process

    @property
    def address(self) -> str:
        """The BigQuery emulator's URL, or Pub/Sub's ``host:port``."""
        return self.server.url if self.server.name == "bigquery" else self.server.address

    @property
    def api(self) -> str:
        return f"{self.address}/bigquery/v2/projects/{PROJECT}"

    def stop(self) -> None:
        self.server.stop(timeout=15)


def start(module: str, root: Path, *args: str) -> Server:
    """``python -m <module> --port 0 --data-dir <root>/data ...`` run from ``<root>/work``, an
    empty directory that must stay empty (relative paths in an attack land there)."""
    data_dir, workdir = root / "data", root / "work"
    data_dir.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    name = module.rsplit(".", 1)[-1]
    extra = ["--project", PROJECT] if name == "bigquery" else []
    server = ServerProcess.emulator(
        name, *extra, *args, data_dir=data_dir, cwd=workdir, log_path=root / "logs" / f"{name}.log"
    )
    return Server(server, data_dir, workdir)


def client(server: Server):
    """The real google-cloud-bigquery client, pointed at ``server``."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=PROJECT,
        client_options=ClientOptions(api_endpoint=server.address),
        credentials=AnonymousCredentials(),
    )


def query(server: Server, sql: str, **extra) -> requests.Response:
    body = {"query": sql, "useLegacySql": False, **extra}
    return requests.post(f"{server.api}/queries", json=body, timeout=120)


def assert_error(
    response: requests.Response, code: int, reason: str, message: str | None = None
) -> dict:
    """The answer is BigQuery's error shape with this code and reason (and exact message)."""
    assert response.status_code == code, (response.status_code, response.text[:500])
    error = response.json()["error"]
    assert error["code"] == code and isinstance(error["status"], str), error
    entry = error["errors"][0]
    assert entry["reason"] == reason and entry["domain"] == "global", error
    assert entry["message"] == error["message"], error
    if message is not None:
        assert error["message"] == message, error["message"]
    return error


def assert_serves(server: Server) -> None:
    """The server still answers a query."""
    response = query(server, "SELECT 1 AS one")
    assert response.status_code == 200, response.text[:500]
    assert response.json()["rows"] == [{"f": [{"v": "1"}]}]


def assert_no_stray_files(server: Server, *paths: Path, prefix: str = "bigquery.duckdb") -> None:
    """Nothing was written outside --data-dir: the working directory is still empty, the data
    directory holds only the store's own files (``prefix``: the DuckDB file, its WAL and spill
    directory), and none of ``paths`` exists."""
    assert sorted(os.listdir(server.workdir)) == []
    stray = [name for name in os.listdir(server.data_dir) if not name.startswith(prefix)]
    assert stray == []
    for path in paths:
        assert not path.exists(), path
