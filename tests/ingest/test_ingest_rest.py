"""The REST edge on a real socket, publishing with the real client to our Pub/Sub emulator."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests
from ingest_support import KEYS, JwksServer, SigningKey, drain, event, pull, sources_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CHECKOUT = {"X-API-Key": KEYS["checkout"][0]}


def post(server, body, headers=None, content_type="application/json", **kwargs):
    data = json.dumps(body) if isinstance(body, (dict, list)) else body
    return requests.post(f"{server.url}/v1/events", data=data,
                         headers={"content-type": content_type, **(headers or {})},
                         timeout=30, **kwargs)


def test_mixed_batch_gets_per_event_results_and_only_valid_events_are_published(
        edge, topic, pubsub_clients):
    server = edge(sources_config())
    good = [event("a-1"), event("a-2", n=2.5)]
    bad_timestamp = {**event("a-3"), "timestamp": "yesterday"}
    missing_source = event("a-4")
    del missing_source["metadata"]["source"]
    response = post(server, [good[0], bad_timestamp, good[1], missing_source, [1]], CHECKOUT)
    assert response.status_code == 207
    body = response.json()
    assert [(a["index"], a["event_id"]) for a in body["accepted"]] == [(0, "a-1"), (2, "a-2")]
    assert all(a["message_id"] for a in body["accepted"])
    rejected = {r["index"]: r for r in body["rejected"]}
    assert rejected[1]["error_type"] == "invalid_timestamp"
    assert rejected[1]["path"] == "$.timestamp"
    assert rejected[3]["error_type"] == "schema_violation"
    assert rejected[3]["path"] == "$.metadata" and "'source'" in rejected[3]["reason"]
    assert rejected[4]["error_type"] == "not_an_object" and rejected[4]["event_id"] is None
    assert body["request_id"] == response.headers["x-request-id"]

    messages = drain(pubsub_clients[1], topic[1])
    assert sorted(json.loads(m.data)["event_id"] for m in messages) == ["a-1", "a-2"]
    published = {json.loads(m.data)["event_id"]: m for m in messages}
    assert json.loads(published["a-2"].data) == good[1]
    assert dict(published["a-1"].attributes) == {
        "source": "checkout", "schema_version": "1.0", "content_type": "application/json",
        "ingest": "rest"}
    assert {a["message_id"] for a in body["accepted"]} == {m.message_id for m in messages}


def test_ndjson_single_event_and_all_invalid(edge, topic, pubsub_clients):
    server = edge(sources_config())
    lines = [json.dumps(event("n-1")), "{broken", "", json.dumps(event("n-2"))]
    response = post(server, "\n".join(lines), CHECKOUT, "application/x-ndjson; charset=utf-8")
    assert response.status_code == 207
    assert [a["event_id"] for a in response.json()["accepted"]] == ["n-1", "n-2"]
    assert response.json()["rejected"][0]["error_type"] == "malformed_json"

    assert post(server, event("n-3"), CHECKOUT).status_code == 200
    invalid = post(server, [{"event_id": "x"}], CHECKOUT)
    assert invalid.status_code == 422 and invalid.json()["accepted"] == []
    assert len(pull(pubsub_clients[1], topic[1], 3)) == 3


@pytest.mark.parametrize("body, content_type, code, says", [
    (b"{not json", "application/json", 400, "not JSON"),
    (b"\xff\xfe", "application/json", 400, "not UTF-8"),
    (b"[]", "application/json", 400, "no events"),
    (b'"text"', "application/json", 400, "JSON str"),
    (b"NaN", "application/json", 400, "not JSON"),
    (b"[" * 60_000, "application/json", 400, "not JSON"),
    (b"{}", "text/plain", 415, "application/json"),
    (b"{}", "", 415, "application/json"),
    (b"x" * (64 * 1024 + 1), "application/json", 413, "limit"),
])
def test_bad_bodies_are_refused_in_googles_error_shape(edge, body, content_type, code, says):
    server = edge(sources_config(max_body_bytes=64 * 1024))
    response = post(server, body, CHECKOUT, content_type)
    assert response.status_code == code
    error = response.json()["error"]
    assert error["code"] == code and says in error["message"]
    assert post(server, event(), CHECKOUT).status_code == 200  # still serving


def test_streamed_body_over_the_limit_and_too_many_events_are_413(edge):
    server = edge(sources_config(max_body_bytes=64 * 1024, max_events_per_request=5))
    chunks = (b"[" + b'"x",' * 1000 for _ in range(100))  # chunked: no Content-Length
    assert post(server, chunks, CHECKOUT).status_code == 413
    assert post(server, [event() for _ in range(6)], CHECKOUT).status_code == 413
    assert post(server, [event() for _ in range(5)], CHECKOUT).status_code == 200


def test_resubmitted_events_are_accepted_without_a_second_publish(edge, topic, pubsub_clients):
    server = edge(sources_config())
    first = post(server, [event("d-1"), event("d-2"), event("d-1")], CHECKOUT).json()
    assert [a.get("duplicate", False) for a in first["accepted"]] == [False, False, True]
    again = post(server, [event("d-2"), event("d-3")], CHECKOUT).json()
    assert again["accepted"][0] == {"index": 0, "event_id": "d-2", "duplicate": True,
                                    "message_id": first["accepted"][1]["message_id"]}
    assert "duplicate" not in again["accepted"][1]
    ids = sorted(json.loads(m.data)["event_id"] for m in drain(pubsub_clients[1], topic[1]))
    assert ids == ["d-1", "d-2", "d-3"]
    # Another source's event with the same id is its own event, not a duplicate.
    web = post(server, event("d-1", source="web"), {"X-API-Key": KEYS["web"][0]}).json()
    assert "duplicate" not in web["accepted"][0]


def test_credentials(edge, topic, pubsub_clients):
    server = edge(sources_config())
    missing = post(server, event())
    assert missing.status_code == 401 and "missing credentials" in missing.json()["error"]["message"]
    wrong = post(server, event(), {"X-API-Key": "sbk_guess"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["error"]["message"]
    no_id_tokens = post(server, event(), {"Authorization": "Bearer abc.def.ghi"})
    assert no_id_tokens.status_code == 401
    # the key of another source: checkout may not publish web's events (nothing is published)
    other = post(server, [event("o-1"), event("o-2", source="web")], CHECKOUT)
    assert other.status_code == 403
    assert "'web'" in other.json()["error"]["message"]
    # rotation: both of checkout's keys work at once
    for key in KEYS["checkout"]:
        assert post(server, event(), {"X-API-Key": key}).status_code == 200
    assert len(drain(pubsub_clients[1], topic[1])) == 2


def test_google_signed_id_tokens_against_a_local_jwks(edge):
    signer, stranger = SigningKey("key-1"), SigningKey("key-1")  # same kid, other key: forged
    jwks = JwksServer(signer)
    audience = "https://ingest.example.run.app"
    account = "checkout-pub@proj.iam.gserviceaccount.com"
    raw = sources_config()
    raw["id_token"] = {"audience": audience, "certs_url": jwks.url}
    raw["sources"][0]["service_accounts"] = [account]
    server = edge(raw)

    def send(token):
        return post(server, event(), {"Authorization": f"Bearer {token}"})

    try:
        assert send(signer.token(audience, account)).status_code == 200
        cases = {
            "expired": signer.token(audience, account, issued_at=int(time.time()) - 7200),
            "forged": stranger.token(audience, account),
            "audience": signer.token("https://elsewhere.example", account),
            "issuer": signer.token(audience, account, issuer="https://evil.example"),
            "garbage": "not-a-token",
        }
        for case, token in cases.items():
            response = send(token)
            assert response.status_code == 401, case
            assert "token" in response.json()["error"]["message"], case
        unknown = send(signer.token(audience, "someone@proj.iam.gserviceaccount.com"))
        assert unknown.status_code == 403
        assert send(signer.token(audience, account)).status_code == 200  # still serving
    finally:
        jwks.close()


def test_rate_limit_per_source_answers_429_with_retry_after(edge):
    server = edge(sources_config(rate=2, burst=10))
    assert post(server, [event() for _ in range(10)], CHECKOUT).status_code == 200
    limited = post(server, [event() for _ in range(10)], CHECKOUT)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "rate limit" in limited.json()["error"]["message"]
    # each source has its own bucket
    assert post(server, event(source="web"), {"X-API-Key": KEYS["web"][0]}).status_code == 200
    assert post(server, [event() for _ in range(11)], CHECKOUT).status_code == 413  # > burst


def test_pubsub_down_gives_503_with_retry_after_and_a_bounded_budget(edge):
    with socket.socket() as placeholder:  # a port where nothing answers
        placeholder.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{placeholder.getsockname()[1]}"
    server = edge(sources_config(publish_timeout_seconds=1, max_in_flight_events=3,
                                 retry_after_seconds=4), pubsub=dead)
    slow = post(server, [event("u-1"), event("u-2")], CHECKOUT)
    assert slow.status_code == 503 and slow.headers["Retry-After"] == "4"
    assert [u["event_id"] for u in slow.json()["unavailable"]] == ["u-1", "u-2"]
    assert slow.json()["accepted"] == []
    budget = post(server, [event("u-3"), event("u-4")], CHECKOUT)  # 2 in flight + 2 > 3
    assert budget.status_code == 503 and "waiting for Pub/Sub" in budget.json()["error"]["message"]
    ready = requests.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 503
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    assert 'ingest_throttled_total{reason="in_flight_budget",service="rest"} 1.0' in metrics
    assert 'ingest_in_flight_events{service="rest"} 2.0' in metrics


def test_browser_origins_and_foreign_host_headers_are_refused(edge):
    server = edge(sources_config(allowed_origins=["https://console.example"]))
    foreign = post(server, event(), {**CHECKOUT, "Origin": "https://evil.example"})
    assert foreign.status_code == 403 and "origin" in foreign.json()["error"]["message"]
    assert post(server, event(), {**CHECKOUT, "Origin": "https://console.example"}).status_code == 200
    rebound = post(server, event(), {**CHECKOUT, "Host": "attacker.example:80"})
    assert rebound.status_code == 403 and "Host" in rebound.json()["error"]["message"]
    assert post(server, event(), {**CHECKOUT, "Host": "localhost:1"}).status_code == 200


def _read_all(sock) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_slowloris_headers_are_cut_off_and_slow_bodies_get_408(edge):
    server = edge(sources_config(header_timeout_seconds=1, body_timeout_seconds=1))
    port = int(server.url.rsplit(":", 1)[1])
    trickler = socket.create_connection(("127.0.0.1", port))
    trickler.settimeout(15)
    closed = threading.Event()

    def trickle():  # a header byte every 0.3 s, never finishing the headers
        try:
            trickler.sendall(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for _ in range(40):
                trickler.sendall(b"X")
                time.sleep(0.3)
        except OSError:
            closed.set()

    thread = threading.Thread(target=trickle)
    thread.start()
    assert post(server, event(), CHECKOUT).status_code == 200  # others are served meanwhile
    thread.join(20)
    assert closed.is_set() or trickler.recv(1) == b""
    trickler.close()

    with socket.create_connection(("127.0.0.1", port), timeout=15) as slow_body:
        slow_body.sendall(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 1000\r\n"
                          b"X-API-Key: " + KEYS["checkout"][0].encode() + b"\r\n\r\n[{")
        assert _read_all(slow_body).startswith(b"HTTP/1.1 408 ")
    assert post(server, event(), CHECKOUT).status_code == 200


def test_metrics_count_requests_and_events_by_reason(edge):
    server = edge(sources_config())
    post(server, [event(), {"event_id": "bad"}], CHECKOUT)
    post(server, event())
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    assert 'ingest_requests_total{code="207",service="rest"} 1.0' in text
    assert 'ingest_requests_total{code="401",service="rest"} 1.0' in text
    assert 'ingest_events_total{outcome="accepted",reason="",service="rest"} 1.0' in text
    assert ('ingest_events_total{outcome="rejected",reason="schema_violation",service="rest"} 1.0'
            in text)
    assert 'ingest_publish_latency_seconds_count{service="rest"} 1.0' in text
    echoed = requests.get(f"{server.url}/healthz", headers={"X-Request-ID": "abc-123"}, timeout=5)
    assert echoed.headers["x-request-id"] == "abc-123"


def test_shutdown_flushes_batches_so_requests_in_flight_get_their_answer(
        edge, topic, pubsub_clients):
    raw = sources_config()
    raw["batching"] = {"max_latency_seconds": 60, "max_messages": 1000}  # would wait a minute
    server = edge(raw)
    answers = []
    sender = threading.Thread(target=lambda: answers.append(post(server, event("s-1"), CHECKOUT)))
    sender.start()
    while server.service.publisher.in_flight == 0:
        time.sleep(0.02)
    server.stop()
    sender.join(30)
    assert answers and answers[0].status_code == 200
    assert [json.loads(m.data)["event_id"] for m in pull(pubsub_clients[1], topic[1], 1)] == ["s-1"]
