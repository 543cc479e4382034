"""Hypothesis-generated bad input to both emulators: the documented error, and still serving.

Pub/Sub through the real client (resource names, message sizes) and raw gRPC (undecodable
request bodies); BigQuery through raw HTTP (broken JSON bodies, wrong types) and the real
client (SQL garbage).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import grpc
import pytest
from google.api_core import exceptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.process import ServerProcess
from harness import clients
from tests.support.emulators import endpoints

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PROJECT = "bad-input"
# https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names
VALID_ID = re.compile(r"[A-Za-z][-A-Za-z0-9_.~+%]{2,254}")
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
BQ_ERROR_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}


@pytest.fixture(scope="module")
def servers():
    pubsub = ServerProcess.emulator("pubsub")
    bigquery = ServerProcess.emulator("bigquery")
    yield endpoints(pubsub, bigquery)
    pubsub.stop()
    bigquery.stop()


@pytest.fixture(scope="module")
def pubsub(servers):
    publisher, subscriber = clients.publisher(servers), clients.subscriber(servers)
    topic = f"projects/{PROJECT}/topics/canary"
    publisher.create_topic(name=topic)
    yield publisher, subscriber, topic
    subscriber.close()


@pytest.fixture(scope="module")
def bq(servers):
    client = clients.bigquery(servers, PROJECT)
    client.create_dataset(f"{PROJECT}.ds")
    return client


def _pubsub_still_serves(publisher, topic) -> None:
    assert publisher.get_topic(topic=topic).name == topic


# ---- Pub/Sub ---------------------------------------------------------------------------------
topic_ids = st.one_of(
    st.text(min_size=0, max_size=300),
    st.text(alphabet="abcAZ09-_.~+%/ goog", min_size=0, max_size=12),
    st.builds(lambda n: "a" * n, st.integers(250, 260)),
)


@SETTINGS
@given(topic_id=topic_ids)
def test_topic_names_valid_or_invalid_argument(pubsub, topic_id):
    publisher, _, canary = pubsub
    name = f"projects/{PROJECT}/topics/{topic_id}"
    valid = VALID_ID.fullmatch(topic_id) is not None and not topic_id.startswith("goog")
    try:
        publisher.create_topic(name=name, retry=None, timeout=10)
    except exceptions.InvalidArgument:
        assert not valid, f"{topic_id!r} is a valid topic id"
    except exceptions.AlreadyExists:
        assert valid
    else:
        assert valid, f"{topic_id!r} was accepted"
        publisher.delete_topic(topic=name)
    _pubsub_still_serves(publisher, canary)


@settings(max_examples=8, deadline=None)
@given(excess=st.integers(-2000, 2000))
def test_message_size_limit(pubsub, excess):
    """10 MB per publish request (data + attributes + framing), INVALID_ARGUMENT above."""
    publisher, _, canary = pubsub
    size = 10_000_000 + excess
    try:
        publisher.api.publish(topic=canary, messages=[{"data": b"x" * size}], retry=None)
    except exceptions.InvalidArgument as exc:
        assert size > 9_999_900, exc.message  # only sizes near or above the limit
    else:
        assert size <= 10_000_000
    _pubsub_still_serves(publisher, canary)


attribute_maps = st.one_of(
    st.dictionaries(
        st.text(max_size=140).filter(lambda k: not k.startswith("goog")),
        st.text(max_size=600),
        max_size=4,
    ),
    st.integers(95, 105).map(lambda n: {f"k{i}": "v" for i in range(n)}),
)


@SETTINGS
@given(attributes=attribute_maps)
def test_attribute_limits(pubsub, attributes):
    """At most 100 attributes; keys 1..256 bytes and values up to 1024 bytes (UTF-8)."""
    publisher, _, canary = pubsub
    valid = len(attributes) <= 100 and all(
        0 < len(k.encode()) <= 256 and len(v.encode()) <= 1024 for k, v in attributes.items()
    )
    message = {"data": b"x", "attributes": attributes}
    try:
        publisher.api.publish(topic=canary, messages=[message], retry=None, timeout=10)
    except exceptions.InvalidArgument as exc:
        assert not valid, exc.message
    else:
        assert valid, f"accepted {attributes!r}"
    _pubsub_still_serves(publisher, canary)


RAW_METHODS = [
    "/google.pubsub.v1.Publisher/CreateTopic",
    "/google.pubsub.v1.Publisher/Publish",
    "/google.pubsub.v1.Subscriber/CreateSubscription",
    "/google.pubsub.v1.Subscriber/Pull",
    "/google.pubsub.v1.Subscriber/Acknowledge",
    "/google.pubsub.v1.Subscriber/ModifyAckDeadline",
    "/google.pubsub.v1.Subscriber/Seek",
]
# Field 1 (a string: topic / name / subscription) sent with the wire type of a varint,
# a fixed64 or a group: no decoder accepts these, so the request cannot be parsed.
WRONG_TYPES = [b"\x08\x01", b"\x09" + b"\x00" * 8, b"\x0b\x0c", b"\x0a\xff\xff\xff\xff\x0f"]


@SETTINGS
@given(
    method=st.sampled_from(RAW_METHODS),
    body=st.one_of(st.sampled_from(WRONG_TYPES), st.binary(max_size=64)),
)
def test_raw_grpc_garbage_gets_a_status_not_a_crash(servers, pubsub, method, body):
    publisher, _, canary = pubsub
    with grpc.insecure_channel(servers.pubsub) as channel:
        call = channel.unary_unary(method)  # bytes in, bytes out: no client-side checks
        try:
            call(body, timeout=10)
        except grpc.RpcError as exc:
            code = exc.code()
        else:
            code = grpc.StatusCode.OK
    expected = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
    if body in WRONG_TYPES:
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    else:  # random bytes can decode to a well-formed request naming nothing that exists
        assert code in expected | {grpc.StatusCode.OK}, code
    _pubsub_still_serves(publisher, canary)


# ---- BigQuery --------------------------------------------------------------------------------
def _post(base: str, path: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base}/bigquery/v2/projects/{PROJECT}{path}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _bigquery_error_shape(status: int, payload: dict) -> None:
    error = payload["error"]
    assert error["code"] == status
    assert isinstance(error["message"], str) and error["message"]
    assert error["status"] == BQ_ERROR_STATUS[status]
    assert error["errors"] and all(
        isinstance(e["reason"], str) and isinstance(e["message"], str) for e in error["errors"]
    )


def _bigquery_still_serves(bq) -> None:
    assert list(bq.query("SELECT 1 AS one").result())[0]["one"] == 1


BQ_PATHS = [
    "/datasets",
    "/datasets/ds/tables",
    "/datasets/ds/tables/t/insertAll",
    "/jobs",
    "/queries",
]
broken_json = st.one_of(
    st.binary(max_size=80).filter(lambda b: not _is_json_object(b)),
    st.sampled_from([b"{", b'{"a": }', b"[1, 2", b"nul", b'{"rows": [}', b"\xff\xfe{}"]),
)
wrong_types = st.sampled_from(
    [
        b"[]",
        b"5",
        b'"text"',
        b"null",
        b'{"schema": {"fields": "id"}}',
        b'{"rows": 5}',
        b'{"rows": [5]}',
        b'{"rows": [{"json": "x"}]}',
        b'{"query": 12}',
        b'{"query": null}',
        b'{"configuration": []}',
        b'{"configuration": {"query": {"query": ["SELECT 1"]}}}',
    ]
)


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


@SETTINGS
@given(path=st.sampled_from(BQ_PATHS), body=st.one_of(broken_json, wrong_types))
def test_broken_bodies_get_bigquery_error_json(servers, bq, path, body):
    status, payload = _post(servers.bigquery, path, body)
    if status == 200 and path == "/jobs":
        # a job whose configuration is unusable is created failed, in the job's own shape
        assert payload["status"]["errorResult"]["reason"] == "invalid", payload
    else:
        assert status in (400, 404), (status, payload)
        _bigquery_error_shape(status, payload)
    _bigquery_still_serves(bq)


sql_garbage = st.one_of(
    st.text(max_size=60),
    st.lists(
        st.sampled_from(
            [
                "SELECT",
                "FROM",
                "WHERE",
                "(",
                ")",
                ",",
                "*",
                "1",
                "'x'",
                "`t`",
                "@p",
                "UNNEST",
                "JOIN",
                "GROUP BY",
                ";",
                "--",
                "/*",
                "NULL",
                "AS",
            ]
        ),
        max_size=12,
    ).map(" ".join),
)


@SETTINGS
@given(sql=sql_garbage)
def test_sql_garbage_is_a_client_error(bq, sql):
    try:
        list(bq.query(sql, retry=None, job_retry=None).result(retry=None, timeout=30))
    except (exceptions.BadRequest, exceptions.NotFound) as exc:
        assert exc.errors and exc.errors[0].get("reason") in {"invalidQuery", "invalid", "notFound"}
    except ValueError:
        pass  # the client refuses an empty query before sending it
    _bigquery_still_serves(bq)
