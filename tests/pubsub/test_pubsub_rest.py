"""The REST (HTTP/JSON) surface on the gRPC port: raw HTTP and the client's transport="rest",
side by side with Google's emulator where it serves the same thing."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time

import pytest
import requests
from google.api_core import exceptions

from emulators.pubsub.rest import MAX_BODY_BYTES, ROUTES
from tests.support.pubsub import PROJECT, Emulator, rest_clients

pytestmark = pytest.mark.integration
JSON = {"content-type": "application/json"}  # Google's emulator answers 404 without it


class Rest:
    """Raw HTTP/JSON calls to one emulator."""

    def __init__(self, host: str):
        self.base = f"http://{host}"
        self.http = requests.Session()

    def call(self, verb: str, path: str, body=None, headers=None, **params):
        response = self.http.request(
            verb, self.base + path, json=body, params=params or None,
            headers={**JSON, **(headers or {})}, timeout=30,
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text


@pytest.fixture
def rest(pubsub_target) -> Rest:
    return Rest(pubsub_target.host)


@pytest.fixture(scope="module")
def ours_rest(ours) -> Rest:
    return Rest(ours.host)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def names(target, rest: Rest):
    topic = target.topic_path()
    sub = target.sub_path()
    return topic, sub, f"/v1/{topic}", f"/v1/{sub}"


def test_root_answers_ok(rest):
    status, text = rest.call("GET", "/")
    assert (status, text.strip()) == (200, "Ok")


def test_curl_round_trip(pubsub_target, rest):
    topic, sub, topic_url, sub_url = names(pubsub_target, rest)
    status, created = rest.call("PUT", topic_url, {"labels": {"team": "a"}})
    assert status == 200 and created["name"] == topic and created["labels"] == {"team": "a"}
    status, created = rest.call(
        "PUT", sub_url, {"topic": topic, "ackDeadlineSeconds": 20, "retainAckedMessages": True}
    )
    assert status == 200
    assert created["ackDeadlineSeconds"] == 20
    assert created["messageRetentionDuration"] == "604800s"  # proto3 JSON duration
    status, published = rest.call(
        "POST", f"{topic_url}:publish",
        {"messages": [{"data": b64(b"hello"), "attributes": {"k": "v"}},
                      {"data": b64(b"world"), "orderingKey": "key"}]},
    )
    assert status == 200 and len(published["messageIds"]) == 2
    status, pulled = rest.call("POST", f"{sub_url}:pull", {"maxMessages": 10})
    assert status == 200
    messages = pulled["receivedMessages"]
    assert sorted(base64.b64decode(m["message"]["data"]) for m in messages) == [b"hello", b"world"]
    first = next(m for m in messages if m["message"].get("attributes"))
    assert first["message"]["attributes"] == {"k": "v"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", first["message"]["publishTime"])
    assert {m["message"]["messageId"] for m in messages} == set(published["messageIds"])
    ack_ids = [m["ackId"] for m in messages]
    status, _ = rest.call(
        "POST", f"{sub_url}:modifyAckDeadline", {"ackIds": ack_ids, "ackDeadlineSeconds": 30}
    )
    assert status == 200
    status, body = rest.call("POST", f"{sub_url}:acknowledge", {"ackIds": ack_ids})
    assert (status, body) == (200, {})
    status, pulled = rest.call("POST", f"{sub_url}:pull", {"maxMessages": 10,
                                                           "returnImmediately": True})
    assert status == 200 and not pulled.get("receivedMessages")
    # seek to the beginning of time: both (retained) come back
    status, _ = rest.call("POST", f"{sub_url}:seek", {"time": "2000-01-01T00:00:00Z"})
    assert status == 200
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        got += rest.call("POST", f"{sub_url}:pull", {"maxMessages": 10})[1].get(
            "receivedMessages", [])
    assert len(got) == 2
    status, listed = rest.call("GET", f"{topic_url}/subscriptions")
    assert status == 200 and listed["subscriptions"] == [sub]
    assert rest.call("DELETE", sub_url)[0] == 200
    assert rest.call("DELETE", topic_url) == (200, {})
    assert rest.call("GET", topic_url)[0] == 404


def test_list_pages(pubsub_target, rest):
    project = f"projects/{pubsub_target.name('restpages')}"
    made = [f"{project}/topics/t{i}-topic" for i in range(5)]
    for name in made:
        assert rest.call("PUT", f"/v1/{name}")[0] == 200
    seen, token = [], None
    for _ in range(10):
        params = {"pageSize": 2, **({"pageToken": token} if token else {})}
        status, page = rest.call("GET", f"/v1/{project}/topics", **params)
        assert status == 200 and len(page["topics"]) <= 2
        seen += [t["name"] for t in page["topics"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == made


def test_update_subscription_with_a_mask(pubsub_target, rest):
    topic, sub, topic_url, sub_url = names(pubsub_target, rest)
    rest.call("PUT", topic_url)
    rest.call("PUT", sub_url, {"topic": topic})
    status, updated = rest.call(
        "PATCH", sub_url,
        {"subscription": {"ackDeadlineSeconds": 33}, "updateMask": "ackDeadlineSeconds"},
    )
    assert status == 200 and updated["ackDeadlineSeconds"] == 33
    assert rest.call("GET", sub_url)[1]["ackDeadlineSeconds"] == 33


@pytest.mark.parametrize(
    "verb, suffix, body, code, status",
    [
        ("GET", "", None, 404, "NOT_FOUND"),
        ("PUT", "", None, 409, "ALREADY_EXISTS"),
        ("POST", ":publish", {"messages": []}, 400, "INVALID_ARGUMENT"),
        ("POST", ":publish", {"messages": [{"data": "not base64!!"}]}, 400, "INVALID_ARGUMENT"),
        ("POST", ":publish", {"messages": [{"data": "eA==", "bogus": 1}]}, 400,
         "INVALID_ARGUMENT"),
    ],
)
def test_errors_in_google_json_shape(pubsub_target, rest, verb, suffix, body, code, status):
    topic, _, topic_url, _ = names(pubsub_target, rest)
    if status != "NOT_FOUND":
        rest.call("PUT", topic_url)
    got, error = rest.call(verb, topic_url + suffix, body)
    assert got == code
    assert set(error) == {"error"}
    assert error["error"]["code"] == code and error["error"]["status"] == status
    assert error["error"]["message"]


def test_bad_resource_names(rest):
    status, error = rest.call("PUT", f"/v1/projects/{PROJECT}/topics/ab")
    assert status == 400
    assert error["error"]["message"] == f"Invalid [topics] name: (name=projects/{PROJECT}/topics/ab)"


def test_ours_error_texts_are_the_services(ours_target, ours_rest):
    topic = ours_target.topic_path("missing")
    status, error = ours_rest.call("GET", f"/v1/{topic}")
    assert error["error"]["message"] == f"Resource not found (resource={topic.rsplit('/')[-1]})."
    status, error = ours_rest.call("POST", f"/v1/{topic}:frobnicate", {})
    assert (status, error["error"]["status"]) == (404, "NOT_FOUND")


def test_malformed_bodies_are_400_and_the_server_keeps_serving(ours_target, ours_rest):
    topic = ours_target.topic()
    url = f"{ours_rest.base}/v1/{topic}:publish"
    bad = [
        b"{bad json",
        b"[]",
        b'"a string"',
        b"[" * 100_000 + b"]" * 100_000,  # deeper than any parser's recursion
        b'{"messages": ' + b'{"data": ' * 5000 + b"1" + b"}" * 5000 + b"}",
        b'{"messages": [{"data": "eA==", "attributes": {"k": 1}}]}',
        b"\xff\xfe\x00",
        b'{"messages": [{"data": "eA==", "attributes": {"k": "v"}}], "topic": 7}',
    ]
    for body in bad:
        response = requests.post(url, data=body, headers=JSON, timeout=30)
        assert response.status_code == 400, body[:40]
        error = response.json()["error"]
        assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400
    assert ours_target.publish(topic, b"still serving")


def test_oversized_body_is_invalid_argument_with_pubsubs_text(ours_target, ours_rest):
    topic = ours_target.topic()
    body = b'{"messages": [{"data": "' + b"A" * (MAX_BODY_BYTES + 8) + b'"}]}'
    response = requests.post(f"{ours_rest.base}/v1/{topic}:publish", data=body, headers=JSON,
                             timeout=60)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message == (f"The value for request_size is too large. You passed {len(body)} in the "
                       "request, but the maximum value is 10000000.")
    # under the HTTP cap but over the service's 10 MB of messages: the same error
    data = b64(b"x" * 7_600_000)
    status, error = ours_rest.call(
        "POST", f"/v1/{topic}:publish", {"messages": [{"data": data}, {"data": data}]}
    )
    assert status == 400 and "request_size is too large" in error["error"]["message"]
    assert ours_target.publish(topic, b"still serving")


def test_enums_as_integers_when_the_client_asks(ours_target, ours_rest):
    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    _, named = ours_rest.call("GET", f"/v1/{sub}")
    _, numbered = ours_rest.call("GET", f"/v1/{sub}", **{"$alt": "json;enum-encoding=int"})
    assert (named["state"], numbered["state"]) == ("ACTIVE", 1)


def test_query_parameters_bind_or_are_refused(ours_target, ours_rest):
    topic = ours_target.topic()
    status, error = ours_rest.call("GET", f"/v1/{topic}", color="blue")
    assert status == 400 and 'Unknown name "color"' in error["error"]["message"]
    status, policy = ours_rest.call(
        "GET", f"/v1/{topic}:getIamPolicy", **{"options.requestedPolicyVersion": "3",
                                               "prettyPrint": "false"}
    )
    assert status == 200 and "etag" in policy


def test_exactly_once_ack_failure_carries_error_info(ours_target, ours_rest):
    topic = ours_target.topic()
    sub = ours_target.subscription(topic, enable_exactly_once_delivery=True)
    status, error = ours_rest.call("POST", f"/v1/{sub}:acknowledge", {"ackIds": ["0000-1"]})
    assert status == 400
    [detail] = error["error"]["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert detail["reason"] == "EXACTLY_ONCE_ACKID_FAILURE"
    assert detail["metadata"] == {"0000-1": "PERMANENT_FAILURE_INVALID_ACK_ID"}


def test_long_poll_pull_returns_what_arrives_while_it_waits(ours_target, ours_rest):
    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    result = {}
    puller = threading.Thread(
        target=lambda: result.update(r=ours_rest.call("POST", f"/v1/{sub}:pull",
                                                      {"maxMessages": 5}))
    )
    puller.start()
    time.sleep(0.2)
    ours_target.publish(topic, b"late")
    puller.join(30)
    status, body = result["r"]
    got = body.get("receivedMessages", [])
    if not got:  # the poll ended before the publish: the message waits for the next one
        got = ours_rest.call("POST", f"/v1/{sub}:pull", {"maxMessages": 5})[1]["receivedMessages"]
    assert base64.b64decode(got[0]["message"]["data"]) == b"late"


def test_empty_pull_answers_within_a_short_server_timeout(ours_target, ours_rest):
    sub = ours_target.subscription(ours_target.topic())
    status, body = ours_rest.call("POST", f"/v1/{sub}:pull", {"maxMessages": 1},
                                  headers={"X-Server-Timeout": "0.1"})
    assert (status, body) == (200, {})


def test_schema_service_over_rest(ours_target, ours_rest):
    project = f"projects/{PROJECT}"
    schema_id = ours_target.name("schema")
    definition = json.dumps({"type": "record", "name": "R", "fields": [
        {"name": "n", "type": "int"}]})
    status, created = ours_rest.call("POST", f"/v1/{project}/schemas",
                                     {"type": "AVRO", "definition": definition},
                                     schemaId=schema_id)
    assert status == 200 and created["name"] == f"{project}/schemas/{schema_id}"
    assert created["type"] == "AVRO"
    status, _ = ours_rest.call(
        "POST", f"/v1/{project}/schemas:validateMessage",
        {"name": created["name"], "encoding": "JSON", "message": b64(b'{"n": 1}')},
    )
    assert status == 200
    status, error = ours_rest.call(
        "POST", f"/v1/{project}/schemas:validateMessage",
        {"name": created["name"], "encoding": "JSON", "message": b64(b'{"n": "x"}')},
    )
    assert status == 400 and error["error"]["status"] == "INVALID_ARGUMENT"
    status, revisions = ours_rest.call("GET", f"/v1/{created['name']}:listRevisions")
    assert status == 200 and len(revisions["schemas"]) == 1
    assert ours_rest.call("DELETE", f"/v1/{created['name']}")[0] == 200
    assert ours_rest.call("GET", f"/v1/{created['name']}")[0] == 404


def test_every_documented_rest_route_is_served():
    """Each HTTP rule in the client library's REST transports has a route here."""
    import importlib

    ours = {(verb, template) for verb, template, _, _ in ROUTES}
    theirs = set()
    for service in ("publisher", "subscriber", "schema_service"):
        module = importlib.import_module(
            f"google.pubsub_v1.services.{service}.transports.rest_base"
        )
        for holder in vars(module).values():
            for attr in vars(holder).values() if isinstance(holder, type) else ():
                options = getattr(attr, "_get_http_options", None)
                if options is not None:
                    theirs |= {(o["method"].upper(), o["uri"]) for o in options()}
    assert theirs and theirs <= ours, theirs - ours


# ---- the client library's REST transport --------------------------------------------------


def test_rest_transport_round_trip(pubsub_target):
    publisher, subscriber = rest_clients(pubsub_target.host)
    topic, sub = pubsub_target.topic_path(), pubsub_target.sub_path()
    assert publisher.create_topic(name=topic).name == topic
    created = subscriber.create_subscription(name=sub, topic=topic, ack_deadline_seconds=30)
    assert created.ack_deadline_seconds == 30
    futures = [publisher.publish(topic, b"m%d" % i, n=str(i)) for i in range(20)]
    ids = {f.result(timeout=30) for f in futures}
    got = {}
    deadline = time.monotonic() + 20
    while len(got) < 20 and time.monotonic() < deadline:
        response = subscriber.pull(subscription=sub, max_messages=20, timeout=10)
        for received in response.received_messages:
            got[received.message.message_id] = received
    assert set(got) == ids
    assert {m.message.data for m in got.values()} == {b"m%d" % i for i in range(20)}
    subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in got.values()])
    assert list(publisher.list_topic_subscriptions(topic=topic)) == [sub]
    assert sub in {s.name for s in subscriber.list_subscriptions(project=f"projects/{PROJECT}")}
    with pytest.raises(exceptions.NotFound):
        publisher.get_topic(topic=pubsub_target.topic_path("missing"))
    with pytest.raises(exceptions.Conflict):  # REST errors map by HTTP status: 409
        publisher.create_topic(name=topic)
    subscriber.delete_subscription(subscription=sub)
    publisher.delete_topic(topic=topic)


def test_rest_transport_snapshots_seek_and_iam(ours_target):
    publisher, subscriber = rest_clients(ours_target.host)
    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    snapshot = ours_target.snapshot_path()
    ours_target.publish(topic, b"before")
    made = subscriber.create_snapshot(name=snapshot, subscription=sub)
    assert made.topic == topic and made.expire_time
    [received] = subscriber.pull(subscription=sub, max_messages=5, timeout=10).received_messages
    subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
    subscriber.seek(request={"subscription": sub, "snapshot": snapshot})
    [again] = subscriber.pull(subscription=sub, max_messages=5, timeout=10).received_messages
    assert again.message.data == b"before"
    policy = publisher.get_iam_policy(request={"resource": topic})
    policy.bindings.add(role="roles/pubsub.viewer", members=["group:team@example.com"])
    stored = publisher.set_iam_policy(request={"resource": topic, "policy": policy})
    assert publisher.get_iam_policy(request={"resource": topic}).bindings == stored.bindings
    allowed = publisher.test_iam_permissions(
        request={"resource": topic, "permissions": ["pubsub.topics.get"]}
    )
    assert list(allowed.permissions) == ["pubsub.topics.get"]
    subscriber.detach_subscription = publisher.detach_subscription
    publisher.detach_subscription(request={"subscription": sub})
    assert subscriber.get_subscription(subscription=sub).detached


# ---- one port, two protocols ----------------------------------------------------------------


def test_grpc_and_rest_share_the_port_and_state(ours_target, ours_rest):
    topic = ours_target.topic()  # made over gRPC
    status, got = ours_rest.call("GET", f"/v1/{topic}")
    assert status == 200 and got["name"] == topic
    sub = ours_target.sub_path()
    ours_rest.call("PUT", f"/v1/{sub}", {"topic": topic})
    assert ours_target.subscriber.get_subscription(subscription=sub).topic == topic


def test_junk_and_idle_connections_do_not_hurt(ours_target, ours):
    host, port = ours.host.rsplit(":", 1)
    junk = [b"P", b"PR", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00garbage", b"\x16\x03\x01junk",
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]
    sockets = []
    for payload in junk:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(payload)
        sockets.append(s)
    sockets.append(socket.create_connection((host, int(port)), timeout=5))  # silent
    for s in sockets[2:4]:
        s.shutdown(socket.SHUT_WR)
    topic = ours_target.topic()
    assert ours_target.publish(topic, b"fine")
    assert requests.get(f"http://{ours.host}/", timeout=10).text.strip() == "Ok"
    for s in sockets:
        s.close()


# ---- who may call: Host and Origin ----------------------------------------------------------


def test_foreign_origin_and_rebinding_host_are_refused(ours_rest):
    for headers in ({"Origin": "http://evil.example"}, {"Host": "evil.example"},
                    {"Host": "evil.example:8085"}, {"Origin": "null"}):
        status, error = ours_rest.call("GET", f"/v1/projects/{PROJECT}/topics", headers=headers)
        assert status == 403, headers
        assert error["error"]["status"] == "PERMISSION_DENIED" and error["error"]["code"] == 403
    for headers in ({"Host": "localhost"}, {"Host": "[::1]:1"}, {"Host": "127.0.0.5"}):
        assert ours_rest.call("GET", f"/v1/projects/{PROJECT}/topics", headers=headers)[0] == 200
    same_origin = {"Origin": ours_rest.base}
    assert ours_rest.call("GET", f"/v1/projects/{PROJECT}/topics", headers=same_origin)[0] == 200


def test_allow_origin_and_allow_host_flags():
    emulator = Emulator("--allow-origin", "http://localhost:3000",
                        "--allow-host", "pubsub.internal").start()
    try:
        base = f"http://{emulator.host}"
        url = f"{base}/v1/projects/{PROJECT}/topics"
        ok = requests.get(url, headers={"Origin": "http://localhost:3000"}, timeout=10)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"
        preflight = requests.options(url, headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type"}, timeout=10)
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-headers"] == "content-type"
        # pages served from loopback are the developer's own (emulators.http_guard)
        assert requests.get(url, headers={"Origin": "http://localhost:4000"},
                            timeout=10).status_code == 200
        assert requests.get(url, headers={"Origin": "https://evil.example"},
                            timeout=10).status_code == 403
        assert requests.get(url, headers={"Host": "pubsub.internal:8085"},
                            timeout=10).status_code == 200
        assert requests.get(url, headers={"Host": "other.internal"}, timeout=10).status_code == 403
    finally:
        emulator.stop()


def test_publish_bodies_decode_like_protobuf_json(ours_target, ours_rest):
    """The plain-body fast path accepts what json_format accepts: URL-safe base64, missing
    padding, attributes and ordering keys; anything else still gets json_format's answer."""
    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    status, body = ours_rest.call("POST", f"/v1/{topic}:publish", {"messages": [
        {"data": "-_8"},  # URL-safe alphabet, b"\xfb\xff"
        {"data": "eA", "attributes": {"a": "b"}, "orderingKey": "k"},  # no padding
        {"attributes": {"only": "attributes"}},
    ]})
    assert status == 200 and len(body["messageIds"]) == 3
    got = ours_target.pull(sub, expect=3)
    by_id = {m.message.message_id: m.message for m in got}
    first, second, third = (by_id[i] for i in body["messageIds"])
    assert first.data == b"\xfb\xff"
    assert (second.data, dict(second.attributes), second.ordering_key) == (b"x", {"a": "b"}, "k")
    assert (third.data, dict(third.attributes)) == (b"", {"only": "attributes"})
    status, error = ours_rest.call("POST", f"/v1/{topic}:publish",
                                   {"messages": [{"data": "eA==", "publishTime": 5}]})
    assert status == 400 and "publishTime" in error["error"]["message"]
    status, error = ours_rest.call("POST", f"/v1/{topic}:publish", {"messages": [{}]})
    assert status == 400 and "empty" in error["error"]["message"]
