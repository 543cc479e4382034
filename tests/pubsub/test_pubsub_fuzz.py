"""Random requests: the server answers in the API's own codes, never UNKNOWN/INTERNAL."""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

API_ERRORS = (
    exceptions.InvalidArgument,
    exceptions.NotFound,
    exceptions.AlreadyExists,
    exceptions.FailedPrecondition,
    exceptions.OutOfRange,
)

names = st.one_of(
    st.text(max_size=30),
    st.from_regex(
        r"projects/[a-z-]{1,12}/(topics|subscriptions|snapshots)/[A-Za-z0-9._~+%-]{0,12}",
        fullmatch=True,
    ),
)
durations = st.one_of(
    st.none(), st.builds(dict, seconds=st.integers(-10, 10**9), nanos=st.integers(0, 10**9 - 1))
)


def _call(fn):
    try:
        fn()
    except API_ERRORS:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=names,
    topic=names,
    deadline=st.integers(-(2**31), 2**31 - 1),
    retention=durations,
    attempts=st.integers(-5, 500),
    backoff=durations,
    filter_=st.text(max_size=40),
    ordered=st.booleans(),
)
def test_random_subscription_configs(
    ours_target, name, topic, deadline, retention, attempts, backoff, filter_, ordered
):
    request = {
        "name": name,
        "topic": topic,
        "ack_deadline_seconds": deadline,
        "enable_message_ordering": ordered,
        "filter": filter_,
        "dead_letter_policy": {"dead_letter_topic": topic, "max_delivery_attempts": attempts},
    }
    if retention is not None:
        request["message_retention_duration"] = retention
    if backoff is not None:
        request["retry_policy"] = {"minimum_backoff": backoff}
    _call(
        lambda: ours_target.subscriber.create_subscription(request=request, retry=None, timeout=10)
    )
    _call(lambda: ours_target.publisher.create_topic(name=topic, retry=None, timeout=10))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    ack_ids=st.lists(st.text(max_size=20), max_size=5),
    seconds=st.integers(-(2**31), 2**31 - 1),
    max_messages=st.integers(-(2**31), 2**31 - 1),
    data=st.binary(max_size=50),
    attrs=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
    key=st.text(max_size=10),
)
def test_random_data_plane_calls(ours_target, ack_ids, seconds, max_messages, data, attrs, key):
    topic = _fuzz_topic(ours_target)
    sub = topic.replace("/topics/", "/subscriptions/")
    _call(
        lambda: ours_target.publisher.api.publish(
            topic=topic, messages=[{"data": data, "attributes": attrs, "ordering_key": key}]
        )
    )
    _call(
        lambda: ours_target.subscriber.pull(
            request={"subscription": sub, "max_messages": max_messages, "return_immediately": True}
        )
    )
    _call(lambda: ours_target.subscriber.acknowledge(subscription=sub, ack_ids=ack_ids))
    _call(
        lambda: ours_target.subscriber.modify_ack_deadline(
            subscription=sub, ack_ids=ack_ids, ack_deadline_seconds=seconds
        )
    )


_topics: dict[str, str] = {}


def _fuzz_topic(target) -> str:
    if target.host not in _topics:
        topic = target.topic()
        target.subscription(topic)
        sub = target.sub_path()
        # a subscription named like the topic, for the data-plane calls above
        target.subscriber.create_subscription(
            name=topic.replace("/topics/", "/subscriptions/"), topic=topic
        )
        del sub
        _topics[target.host] = topic
    return _topics[target.host]


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    paths=st.lists(
        st.sampled_from(
            [
                "ack_deadline_seconds",
                "retry_policy",
                "retry_policy.minimum_backoff",
                "dead_letter_policy",
                "push_config",
                "push_config.push_endpoint",
                "labels",
                "filter",
                "nonsense",
                "",
            ]
        ),
        max_size=3,
    ),
    deadline=st.integers(-100, 1000),
    endpoint=st.text(max_size=20),
    backoff=durations,
    seek_seconds=st.integers(-(2**40), 2**40),
    labels=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
def test_random_updates_and_seeks(
    ours_target, paths, deadline, endpoint, backoff, seek_seconds, labels
):
    from google.protobuf import field_mask_pb2, timestamp_pb2

    topic = _fuzz_topic(ours_target)
    sub = topic.replace("/topics/", "/subscriptions/")
    update = {
        "name": sub,
        "ack_deadline_seconds": deadline,
        "push_config": {"push_endpoint": endpoint},
        "labels": labels,
    }
    if backoff is not None:
        update["retry_policy"] = {"minimum_backoff": backoff}
    _call(
        lambda: ours_target.subscriber.update_subscription(
            request={"subscription": update, "update_mask": field_mask_pb2.FieldMask(paths=paths)},
            retry=None,
            timeout=10,
        )
    )
    # whatever happened, switch push off again so the data-plane test keeps pulling
    ours_target.subscriber.modify_push_config(subscription=sub, push_config={})
    when = timestamp_pb2.Timestamp(seconds=seek_seconds)
    _call(
        lambda: ours_target.subscriber.seek(
            request={"subscription": sub, "time": when}, retry=None, timeout=10
        )
    )


# ---- REST: random paths, verbs, query strings and JSON bodies ------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["messages", "data", "topic", "ackIds", "maxMessages",
                                       "attributes", "subscription", "updateMask", "time",
                                       "policy", "schema", "pushConfig", "x"]),
                      inner, max_size=4),
    max_leaves=12,
)
rest_paths = st.one_of(
    st.text(max_size=30).map(lambda s: "/" + s.replace("?", "").replace("#", "")),
    st.builds(
        lambda kind, rid, verb: f"/v1/projects/fuzz/{kind}/{rid}{verb}",
        st.sampled_from(["topics", "subscriptions", "snapshots", "schemas"]),
        st.from_regex(r"[A-Za-z][A-Za-z0-9._~+-]{0,12}", fullmatch=True),
        st.sampled_from(["", ":publish", ":pull", ":acknowledge", ":modifyAckDeadline", ":seek",
                         ":detach", ":getIamPolicy", ":setIamPolicy", ":commit", "/snapshots",
                         ":validateMessage", ":bogus"]),
    ),
    st.sampled_from(["/_emulator/clock", "/_emulator/faults:fail", "/_emulator/messages",
                     "/_emulator/history"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    verb=st.sampled_from(["GET", "PUT", "POST", "PATCH", "DELETE"]),
    path=rest_paths,
    body=st.one_of(json_values.map(lambda v: json.dumps(v).encode()),
                   st.binary(max_size=40)),
    query=st.dictionaries(st.sampled_from(["pageSize", "pageToken", "view", "$alt", "x",
                                           "options.requestedPolicyVersion", "schemaId"]),
                          st.text(max_size=8), max_size=3),
)
def test_random_rest_requests_get_api_errors_never_500(ours, verb, path, body, query):
    import requests

    if path.startswith("/_emulator/") and verb in ("POST", "PUT"):
        return  # these would inject faults into, or move the clock of, the shared emulator
    response = requests.request(verb, f"http://{ours.host}{path}", data=body, params=query,
                                headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if path != "/" and response.status_code != 200:
        error = response.json()["error"]
        assert error["code"] == response.status_code and error["status"] and error["message"]
