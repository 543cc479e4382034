"""``--log-format json --log-level info``: one JSON line per request, with status and latency."""

import json

import pytest
import requests

pytestmark = pytest.mark.integration


def test_requests_are_logged_as_json(emulator):
    emulator = emulator("bigquery", extra_args=("--log-level", "info", "--log-format", "json"))
    base = f"http://127.0.0.1:{emulator.port}/bigquery/v2"
    try:
        assert requests.get(f"{base}/projects", timeout=10).status_code == 200
        bad = requests.post(f"{base}/projects/p/datasets", data="{broken", timeout=10)
        assert bad.status_code == 400
    finally:
        emulator.stop()
    lines = [json.loads(line) for line in emulator.log_path.read_text().splitlines()
             if line.startswith("{")]
    requests_logged = [line for line in lines if line["logger"] == "emulators.bigquery.requests"]
    assert [(r["method"], r["path"], r["status"]) for r in requests_logged] == [
        ("GET", "/bigquery/v2/projects", 200),
        ("POST", "/bigquery/v2/projects/p/datasets", 400),
    ]
    assert all(r["latency_ms"] >= 0 and r["level"] == "INFO" for r in requests_logged)
