"""``--log-format json --log-level INFO``: one JSON line per RPC, with status and latency."""

import json

import pytest
from google.api_core.exceptions import NotFound

from harness import clients
from harness.stack import Endpoints

pytestmark = pytest.mark.integration


def test_rpcs_are_logged_as_json(emulator):
    emulator = emulator("pubsub", extra_args=("--log-level", "INFO", "--log-format", "json"))
    try:
        publisher = clients.publisher(Endpoints(f"127.0.0.1:{emulator.port}", "http://unused"))
        publisher.create_topic(name="projects/p/topics/logged")
        with pytest.raises(NotFound):
            publisher.get_topic(topic="projects/p/topics/missing")
    finally:
        emulator.stop()
    lines = [json.loads(line) for line in emulator.log_path.read_text().splitlines()
             if line.startswith("{")]
    rpcs = [line for line in lines if line["logger"] == "emulators.pubsub.requests"]
    assert [(r["method"], r["status"]) for r in rpcs] == [
        ("CreateTopic", "OK"),
        ("GetTopic", "NOT_FOUND"),
    ]
    assert all(r["latency_ms"] >= 0 for r in rpcs)
