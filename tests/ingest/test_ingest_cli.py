"""``python -m ingest`` as a process: refusals with one sentence and exit 2, the ready line,
JSON logs with request ids, SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from ingest_support import event

from harness.edge import start_rest

pytestmark = pytest.mark.integration


def run(*args: str, env=None):
    return subprocess.run([sys.executable, "-m", "ingest", *args], capture_output=True,
                          text=True, timeout=60, env=env)


@pytest.mark.parametrize("args, says", [
    (["--topic", "projects/p/topics/t"], "no credentials are configured"),
    (["--topic", "events", "--allow-unauthenticated"], "--topic must be a topic path"),
    (["--topic", "projects/p/topics/t", "--config", "/nonexistent.toml"], "cannot read"),
])
def test_usage_mistakes_are_one_sentence_and_exit_2(args, says):
    done = run(*args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and says in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("toml, says", [
    ("[[sources]]\nname = 'a'\n", "neither api_key_hashes nor service_accounts"),
    ("[[sources]]\nname = 'a'\napi_key_hashes = ['plain-text-key']\n", "sha256:"),
    ("[[sources]]\nname='a'\napi_key_hashes=['sha256:" + "0" * 64 + "', 'sha256:" + "1" * 64
     + "', 'sha256:" + "2" * 64 + "']\n", "at most 2"),
    ("[service]\nordering_key = 'random'\n", "ordering_key"),
    ("[service]\nmax_body_bytes = -1\n", "must be a number >= 0"),
    ("[servce]\n", "unknown section"),
    ("not toml [", "not valid TOML"),
    ("[[sources]]\nname='a'\nservice_accounts=['x@y']\n", "no [id_token]"),
])
def test_bad_config_files_are_refused(tmp_path, toml, says):
    path = tmp_path / "ingest.toml"
    path.write_text(toml)
    done = run("--topic", "projects/p/topics/t", "--config", str(path))
    assert done.returncode == 2 and says in done.stderr, done.stderr


def test_keygen_prints_a_key_and_its_hash():
    from ingest.auth import hash_key

    done = run("keygen")
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines())
    key = next(v for k, v in lines.items() if k.startswith("api key")).strip()
    digest = next(v for k, v in lines.items() if k.startswith("hash")).strip()
    assert key.startswith("sbk_") and len(key) > 40
    assert "sha256:" + digest.split("sha256:", 1)[1] == hash_key(key)


def test_process_serves_logs_json_with_request_ids_and_stops_on_sigterm(
        tmp_path, pubsub_host, topic):
    service = start_rest(topic[0], tmp_path, allow_unauthenticated=True,
                         env={"PUBSUB_EMULATOR_HOST": pubsub_host})
    try:
        assert service.url.startswith("http://127.0.0.1:")
        response = requests.post(f"{service.url}/v1/events", json=event("cli-1"),
                                 headers={"X-Request-ID": "req-42"}, timeout=30)
        assert response.status_code == 200
        assert requests.get(f"{service.url}/readyz", timeout=10).status_code == 200
    finally:
        assert service.stop() == 0
    records = [json.loads(line) for line in service.log_path.read_text().splitlines()
               if line.startswith("{")]
    access = [r for r in records if r.get("request_id") == "req-42"]
    assert access and access[0]["httpRequest"]["status"] == 200
    assert all({"time", "severity", "message"} <= set(r) for r in records)


def test_a_port_in_use_is_one_sentence_and_exit_2():
    import os
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("--topic", "projects/p/topics/t", "--allow-unauthenticated", "--port",
                   str(port), env={**os.environ, "PUBSUB_EMULATOR_HOST": "127.0.0.1:1"})
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(f"error: cannot serve on 127.0.0.1:{port}")
    assert "Traceback" not in done.stderr
