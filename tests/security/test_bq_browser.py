"""Browser and network safety: foreign Origins and unknown Host names get 403 in BigQuery's
shape and change nothing; loopback pages and names, and the ones allowed by flag, go through."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from emulators.http_guard import HostPolicy, is_loopback
from tests.support.security import PROJECT, assert_error, assert_no_stray_files, start

pytestmark = pytest.mark.integration


def _post_dataset(server, dataset_id: str, headers: dict) -> requests.Response:
    """A CORS simple request: POST with text/plain, as any web page can send blind."""
    body = json.dumps({"datasetReference": {"datasetId": dataset_id}})
    headers = {"Content-Type": "text/plain", **headers}
    return requests.post(f"{server.api}/datasets", data=body, headers=headers, timeout=30)


def _exists(server, dataset_id: str) -> bool:
    return requests.get(f"{server.api}/datasets/{dataset_id}", timeout=30).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://localhost.evil.example"},
        {"Origin": "http://127.0.0.1.nip.io:9050"},
        {"Origin": "null"},
        {"Host": "evil.example"},
        {"Host": "rebind.evil.example:9050"},
        {"Host": "0.0.0.0:9050"},
        {"Host": "192.168.1.10:9050"},
        {"Host": "evil.example", "Origin": "http://localhost:3000"},
    ],
)
def test_foreign_origins_and_hosts_are_refused(bq, headers):
    dataset_id = f"ds_{uuid.uuid4().hex[:8]}"
    error = assert_error(_post_dataset(bq, dataset_id, headers), 403, "accessDenied")
    assert error["status"] == "PERMISSION_DENIED"
    which = "Host" if "Host" in headers else "Origin"
    assert error["message"].startswith(f"{which} {headers[which]!r} is not allowed")
    assert not _exists(bq, dataset_id)
    assert_no_stray_files(bq)


@pytest.mark.parametrize(
    "headers",
    [
        {},  # the Google clients send no Origin
        {"Origin": "http://localhost:3000"},
        {"Origin": "http://127.0.0.1:8080"},
        {"Origin": "http://[::1]:8080"},
        {"Host": "localhost:9050"},
        {"Host": "app.localhost"},
        {"Host": "127.0.0.2"},
    ],
)
def test_loopback_origins_and_hosts_go_through(bq, headers):
    dataset_id = f"ds_{uuid.uuid4().hex[:8]}"
    response = _post_dataset(bq, dataset_id, headers)
    assert response.status_code == 200, response.text
    assert _exists(bq, dataset_id)


def test_every_route_is_guarded(bq):
    """The guard sits in front of routing: even unknown paths and methods get the 403."""
    for method, path in [("GET", "/bigquery/v2/projects"), ("DELETE", "/nope"),
                         ("PUT", f"/upload/bigquery/v2/projects/{PROJECT}/jobs")]:  # fmt: skip
        response = requests.request(
            method, bq.address + path, headers={"Origin": "https://evil.example"}, timeout=30
        )
        assert_error(response, 403, "accessDenied")


def test_allow_flags(tmp_path):
    server = start(
        "emulators.bigquery", tmp_path,
        "--allow-origin", "https://app.example:8443", "--allow-host", "bigquery",
    )  # fmt: skip
    try:
        allowed = {"Origin": "https://app.example:8443", "Host": "bigquery:9050"}
        assert _post_dataset(server, "allowed", allowed).status_code == 200
        assert_error(_post_dataset(server, "other", {"Origin": "https://app.example"}), 403,
                     "accessDenied")  # fmt: skip
        assert_error(_post_dataset(server, "other", {"Host": "bigquery2"}), 403, "accessDenied")
        assert not _exists(server, "other")
    finally:
        server.stop()


def test_policy_rules():
    """The rule itself, as the Pub/Sub REST surface will reuse it."""
    policy = HostPolicy("0.0.0.0", allow_hosts=["pubsub"], allow_origins=["http://ui:8080"])
    assert policy.check("localhost:8085", None) is None
    assert policy.check("[::1]:8085", "http://localhost") is None
    assert policy.check("0.0.0.0:8085", None) is None  # the bind address (an IP: not rebindable)
    assert policy.check("pubsub:8085", "http://ui:8080") is None
    assert policy.check("pubsub", "http://ui:8081") is not None
    assert policy.check("evil.example", None) is not None
    assert policy.check(None, None) is not None
    assert HostPolicy(allow_hosts=["*"], allow_origins=["*"]).check("x", "null") is None
    assert [is_loopback(h) for h in ("LOCALHOST", "a.localhost.", "127.1.2.3", "::1", "10.0.0.1",
                                     "localhost.evil", "")] == [True, True, True, True, False,
                                                                 False, False]  # fmt: skip
