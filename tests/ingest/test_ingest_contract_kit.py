"""``python -m contract_tests verify --endpoint URL --api-key K``: the kit's samples through the
REST edge, which must agree with the pipeline on every one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.auth import hash_key

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
EXAMPLES = Path(__file__).resolve().parents[2] / "contract_tests" / "examples"
KEY, OTHER_KEY = "sbk_contract_kit_key_0123456789", "sbk_someone_else_0123456789"


def verify(*args):
    return subprocess.run([sys.executable, "-m", "contract_tests", "verify", "--engine",
                           "functions", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def url(edge):
    owns = ["checkout-service", "iot-gateway", "web", "web-clickstream"]
    server = edge({"sources": [
        {"name": "producer", "api_key_hashes": [hash_key(KEY)], "owns": owns},
        {"name": "someone-else", "api_key_hashes": [hash_key(OTHER_KEY)]},
    ]})
    return server.url


def test_good_samples_are_accepted_by_the_edge_too(url):
    done = verify("--format", "json", "--endpoint", url, "--api-key", KEY, EXAMPLES / "good",
                  EXAMPLES / "samples.ndjson")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    results = json.loads(done.stdout)["results"]
    assert results and all(r["edge"].startswith("accepted (HTTP 200") for r in results)


def test_bad_samples_are_rejected_by_the_edge_for_the_pipelines_reason(url):
    done = verify("--expect-reject", "--endpoint", url, "--api-key", KEY, EXAMPLES / "bad")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "REST edge: rejected (HTTP 422): schema_violation" in done.stdout
    assert "REST edge: accepted" not in done.stdout


def test_a_key_that_does_not_own_the_source_fails_the_run(url):
    done = verify("--endpoint", url, "--api-key", OTHER_KEY, EXAMPLES / "good")
    assert done.returncode == 1
    assert "edge: refused (HTTP 403)" in done.stdout and "may not publish" in done.stdout


def test_endpoint_usage_mistakes_exit_2(url):
    missing = verify("--endpoint", url, EXAMPLES / "good")
    assert missing.returncode == 2 and "--api-key" in missing.stderr
    unreachable = verify("--endpoint", "http://127.0.0.1:9", "--api-key", KEY, EXAMPLES / "good")
    assert unreachable.returncode == 2 and "cannot reach the edge" in unreachable.stderr
