"""``python -m emulators.storage``: gcp-storage-emulator started the stack's way, used through
the real google-cloud-storage client and Beam's GCS filesystem."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

pytestmark = pytest.mark.integration


def _client(url: str) -> storage.Client:
    return storage.Client(project="p", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": url})


def test_port_zero_ready_line_and_client_round_trip(emulator):
    server = emulator("storage")
    assert server.port > 0 and server.url.startswith("http://127.0.0.1:")
    client = _client(server.url)
    bucket = client.create_bucket("round-trip")
    bucket.blob("dir/a.txt").upload_from_string(b"hello")
    assert bucket.blob("dir/a.txt").download_as_bytes() == b"hello"
    assert [b.name for b in client.list_blobs("round-trip", prefix="dir/")] == ["dir/a.txt"]
    assert server.stop() == 0  # SIGTERM: a clean exit


def test_foreign_browser_origins_are_refused(emulator):
    server = emulator("storage")
    url = f"{server.url}/storage/v1/b?project=p"
    refused = requests.get(url, headers={"Origin": "https://evil.example"}, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["error"]["errors"][0]["reason"] == "forbidden"
    assert requests.get(url, headers={"Origin": "http://localhost:8080"}, timeout=10).ok
    assert requests.get(url, timeout=10).ok  # no Origin: not a browser


HOST_AND_ORIGIN_CASES = [
    ({"Origin": "http://127.0.0.1:3000"}, True), ({"Origin": "http://[::1]:1"}, True),
    ({"Origin": "http://127.0.0.1.evil.example"}, False), ({"Origin": "null"}, False),
    ({"Host": "localhost"}, True), ({"Host": "evil.example"}, False),  # DNS rebinding
    ({"Host": "storage:9023"}, True),  # named with --allow-host
]


def test_the_stacks_host_and_origin_rule(emulator):
    """The rule of emulators.http_guard, as the other emulators apply it."""
    server = emulator("storage", ("--allow-host", "storage"))
    for headers, allowed in HOST_AND_ORIGIN_CASES:
        response = requests.get(f"{server.url}/storage/v1/b?project=p", headers=headers,
                                timeout=10)  # fmt: skip
        assert response.status_code == (200 if allowed else 403), (headers, response.text)


def test_acknowledged_objects_survive_kill_9(emulator, tmp_path):
    server = emulator("storage", data_dir=tmp_path / "gcs")
    client = _client(server.url)
    bucket = client.create_bucket("durable")
    for i in range(20):
        bucket.blob(f"o/{i}").upload_from_string(f"v{i}".encode())
    bucket.delete_blob("o/3")
    server.kill()
    again = server.restarted()
    client = _client(again.url)
    names = sorted(b.name for b in client.list_blobs("durable"))
    assert names == sorted(f"o/{i}" for i in range(20) if i != 3)
    assert client.bucket("durable").blob("o/7").download_as_bytes() == b"v7"
    meta = json.loads((tmp_path / "gcs" / ".cloudstorage" / ".meta").read_text())
    assert "durable" in meta["buckets"]  # the library's own format, written atomically
    again.stop()


def test_beam_gcs_filesystem_works_unmodified(emulator, monkeypatch):
    """Beam's gcsio: resumable writes, ranged reads, listing, and the JSON batch API it uses
    for copy_batch / delete_batch (rename, cleanup of temp files)."""
    from apache_beam.io.gcp import gcsio

    server = emulator("storage")
    client = _client(server.url)
    client.create_bucket("beam")
    io = gcsio.GcsIO(storage_client=client)
    payload = b"line\n" * 300_000
    with io.open("gs://beam/tmp/f1", "wb") as handle:
        handle.write(payload)
    with io.open("gs://beam/tmp/f1", "rb") as handle:
        assert handle.read() == payload
    io.rename("gs://beam/tmp/f1", "gs://beam/tmp/f2")
    assert dict(io.list_files("gs://beam/tmp/")) == {"gs://beam/tmp/f2": len(payload)}
    assert io.delete_batch(["gs://beam/tmp/f2"]) == [("gs://beam/tmp/f2", None)]
    assert not io.exists("gs://beam/tmp/f2")


def test_cannot_bind_is_one_line_and_exit_1(emulator):
    server = emulator("storage")
    result = subprocess.run(
        [sys.executable, "-m", "emulators.storage", "--port", str(server.port)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("storage emulator: cannot bind")
    assert "Traceback" not in result.stderr
