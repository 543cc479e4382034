"""Resource names, error codes and messages, compared with Google's emulator where it is faithful."""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions

from tests.support.pubsub import PROJECT

pytestmark = pytest.mark.integration

BAD_TOPIC_NAMES = [
    f"projects/{PROJECT}/topics/ab",  # too short
    f"projects/{PROJECT}/topics/googtopic",  # reserved prefix
    f"projects/{PROJECT}/topics/1topic",  # must start with a letter
    f"projects/{PROJECT}/topics/top$ic",  # bad character
    f"projects/{PROJECT}/topics/" + "t" * 256,  # too long
    f"projects/{PROJECT}/topicz/topic",
    "topic-without-project",
]


@pytest.mark.parametrize("name", BAD_TOPIC_NAMES)
def test_invalid_topic_names(pubsub_target, name):
    with pytest.raises(exceptions.InvalidArgument) as err:
        pubsub_target.publisher.create_topic(name=name)
    assert f"(name={name})" in err.value.message
    assert "Invalid [topics] name" in err.value.message


def test_valid_unusual_topic_name(pubsub_target):
    name = f"projects/{PROJECT}/topics/{pubsub_target.name('a.b~c+d%e_f')}"
    assert pubsub_target.publisher.create_topic(name=name).name == name


def test_invalid_subscription_name(pubsub_target):
    topic = pubsub_target.topic()
    name = f"projects/{PROJECT}/subscriptions/x"
    with pytest.raises(exceptions.InvalidArgument) as err:
        pubsub_target.subscriber.create_subscription(name=name, topic=topic)
    assert "Invalid [subscriptions] name" in err.value.message


def test_topic_not_found(pubsub_target):
    missing = pubsub_target.topic_path("missing")
    with pytest.raises(exceptions.NotFound):
        pubsub_target.publisher.get_topic(topic=missing)
    with pytest.raises(exceptions.NotFound):
        pubsub_target.publish(missing, b"x")
    with pytest.raises(exceptions.NotFound):
        pubsub_target.subscriber.create_subscription(
            name=pubsub_target.sub_path(), topic=missing
        )


def test_not_found_messages_name_the_resource(ours_target):
    missing = ours_target.topic_path("missing")
    with pytest.raises(exceptions.NotFound) as err:
        ours_target.publisher.get_topic(topic=missing)
    assert err.value.message == f"Resource not found (resource={missing.rsplit('/', 1)[1]})."
    sub = ours_target.sub_path("missing")
    with pytest.raises(exceptions.NotFound) as err:
        ours_target.subscriber.pull(subscription=sub, max_messages=1)
    assert err.value.message == f"Resource not found (resource={sub.rsplit('/', 1)[1]})."


def test_already_exists(pubsub_target):
    topic = pubsub_target.topic()
    with pytest.raises(exceptions.AlreadyExists):
        pubsub_target.publisher.create_topic(name=topic)
    sub = pubsub_target.subscription(topic)
    with pytest.raises(exceptions.AlreadyExists):
        pubsub_target.subscriber.create_subscription(name=sub, topic=topic)


def test_already_exists_message(ours_target):
    topic = ours_target.topic()
    with pytest.raises(exceptions.AlreadyExists) as err:
        ours_target.publisher.create_topic(name=topic)
    short = topic.rsplit("/", 1)[1]
    assert err.value.message == f"Resource already exists in the project (resource={short})."


def test_subscription_not_found(pubsub_target):
    missing = pubsub_target.sub_path("missing")
    for call in (
        lambda: pubsub_target.subscriber.get_subscription(subscription=missing),
        lambda: pubsub_target.subscriber.pull(subscription=missing, max_messages=1),
        lambda: pubsub_target.subscriber.delete_subscription(subscription=missing),
    ):
        with pytest.raises(exceptions.NotFound):
            call()


def test_ack_deadline_out_of_range(pubsub_target):
    topic = pubsub_target.topic()
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_target.subscriber.create_subscription(
            request={"name": pubsub_target.sub_path(), "topic": topic, "ack_deadline_seconds": 601}
        )


def test_ack_deadline_defaults_and_lower_bound(ours_target):
    topic = ours_target.topic()
    sub = ours_target.subscriber.create_subscription(name=ours_target.sub_path(), topic=topic)
    assert sub.ack_deadline_seconds == 10
    assert sub.message_retention_duration.total_seconds() == 7 * 24 * 3600
    with pytest.raises(exceptions.InvalidArgument) as err:
        ours_target.subscriber.create_subscription(
            request={"name": ours_target.sub_path(), "topic": topic, "ack_deadline_seconds": 5}
        )
    assert "between 10 and 600" in err.value.message


def test_publish_rejects_empty_and_missing_messages(pubsub_target):
    topic = pubsub_target.topic()
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_target.publisher.api.publish(topic=topic, messages=[{}])
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_target.publisher.api.publish(topic=topic, messages=[])
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_target.publisher.api.publish(topic=topic, messages=[{"data": b"x"}] * 1001)


def test_publish_limits(ours_target):
    topic = ours_target.topic()
    api = ours_target.publisher.api
    cases = [
        ({"data": b"x", "attributes": {str(i): "v" for i in range(101)}}, "attributes"),
        ({"data": b"x", "attributes": {"k" * 257: "v"}}, "attribute key"),
        ({"data": b"x", "attributes": {"k": "v" * 1025}}, "attribute value"),
    ]
    for message, what in cases:
        with pytest.raises(exceptions.InvalidArgument) as err:
            api.publish(topic=topic, messages=[message])
        assert f"The value for {what} is too large" in err.value.message
    # at the limits exactly: accepted
    ok = {"data": b"x", "attributes": {"k" * 256: "v" * 1024, **{str(i): "" for i in range(99)}}}
    assert api.publish(topic=topic, messages=[ok]).message_ids
    attrs_only = {"attributes": {"only": "attributes"}}
    assert api.publish(topic=topic, messages=[attrs_only]).message_ids
    big = [{"data": b"x" * 1_000_000}] * 11
    with pytest.raises(exceptions.InvalidArgument) as err:
        api.publish(topic=topic, messages=big)
    assert "request_size" in err.value.message


def test_bad_ack_ids_and_deadlines(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_target.subscriber.acknowledge(subscription=sub, ack_ids=["garbage"])
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_target.subscriber.acknowledge(subscription=sub, ack_ids=[])
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_target.subscriber.pull(subscription=sub, max_messages=0)


def test_modack_deadline_range(ours_target):
    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    ours_target.publish(topic, b"x")
    [msg] = ours_target.pull(sub)
    with pytest.raises(exceptions.InvalidArgument):
        ours_target.subscriber.modify_ack_deadline(
            subscription=sub, ack_ids=[msg.ack_id], ack_deadline_seconds=601
        )
    ours_target.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[msg.ack_id], ack_deadline_seconds=600
    )


def test_snapshot_and_seek_errors(pubsub_target):
    missing_sub = pubsub_target.sub_path("missing")
    with pytest.raises(exceptions.NotFound):
        pubsub_target.subscriber.create_snapshot(
            name=pubsub_target.snapshot_path(), subscription=missing_sub
        )
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    with pytest.raises(exceptions.NotFound):
        pubsub_target.subscriber.get_snapshot(snapshot=pubsub_target.snapshot_path("missing"))
    with pytest.raises(exceptions.NotFound):
        pubsub_target.subscriber.seek(
            request={"subscription": sub, "snapshot": pubsub_target.snapshot_path("missing")}
        )
    snap = pubsub_target.snapshot_path()
    pubsub_target.subscriber.create_snapshot(name=snap, subscription=sub)
    with pytest.raises(exceptions.AlreadyExists):
        pubsub_target.subscriber.create_snapshot(name=snap, subscription=sub)


def test_deleted_topic_leaves_subscriptions_detached_from_it(pubsub_target):
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    pubsub_target.publisher.delete_topic(topic=topic)
    assert pubsub_target.subscriber.get_subscription(subscription=sub).topic == "_deleted-topic_"


def test_list_pagination_and_topic_subscriptions(pubsub_target):
    topic = pubsub_target.topic()
    subs = {pubsub_target.subscription(topic) for _ in range(3)}
    listed = pubsub_target.publisher.list_topic_subscriptions(
        request={"topic": topic, "page_size": 2}
    )
    assert set(listed) == subs
    topics = {t.name for t in pubsub_target.publisher.list_topics(project=f"projects/{PROJECT}")}
    assert topic in topics
    all_subs = pubsub_target.subscriber.list_subscriptions(
        request={"project": f"projects/{PROJECT}", "page_size": 1}
    )
    assert subs <= {s.name for s in all_subs}


def test_update_topic_and_subscription(ours_target):
    from google.protobuf import field_mask_pb2

    topic = ours_target.topic()
    updated = ours_target.publisher.update_topic(
        request={
            "topic": {"name": topic, "labels": {"team": "data"}},
            "update_mask": field_mask_pb2.FieldMask(paths=["labels"]),
        }
    )
    assert dict(updated.labels) == {"team": "data"}
    sub = ours_target.subscription(topic)
    updated = ours_target.subscriber.update_subscription(
        request={
            "subscription": {"name": sub, "ack_deadline_seconds": 42},
            "update_mask": field_mask_pb2.FieldMask(paths=["ack_deadline_seconds"]),
        }
    )
    assert updated.ack_deadline_seconds == 42
    with pytest.raises(exceptions.InvalidArgument):
        ours_target.subscriber.update_subscription(
            request={
                "subscription": {"name": sub, "filter": "attributes:x"},
                "update_mask": field_mask_pb2.FieldMask(paths=["filter"]),
            }
        )
    with pytest.raises(exceptions.InvalidArgument):
        ours_target.subscriber.update_subscription(
            request={"subscription": {"name": sub}, "update_mask": field_mask_pb2.FieldMask()}
        )


def test_detach_subscription(ours_target):
    # Google's emulator does not implement DetachSubscription (UNIMPLEMENTED).
    pubsub_target = ours_target
    topic = pubsub_target.topic()
    sub = pubsub_target.subscription(topic)
    pubsub_target.publisher.detach_subscription(request={"subscription": sub})
    pubsub_target.publish(topic, b"after detach")
    detached = pubsub_target.subscriber.get_subscription(subscription=sub)
    assert detached.detached
    with pytest.raises(exceptions.FailedPrecondition):
        pubsub_target.subscriber.pull(subscription=sub, max_messages=1)


def test_snapshot_update_and_expiration_policy_metadata(ours_target):
    from google.protobuf import field_mask_pb2

    topic = ours_target.topic()
    sub = ours_target.subscription(topic, expiration_policy={"ttl": {"seconds": 86400}})
    got = ours_target.subscriber.get_subscription(subscription=sub)
    assert got.expiration_policy.ttl.total_seconds() == 86400
    snap = ours_target.snapshot_path()
    created = ours_target.subscriber.create_snapshot(
        request={"name": snap, "subscription": sub, "labels": {"a": "1"}}
    )
    assert dict(created.labels) == {"a": "1"}
    assert created.expire_time.timestamp() > time.time() + 6 * 86400
    updated = ours_target.subscriber.update_snapshot(
        request={
            "snapshot": {"name": snap, "labels": {"b": "2"}},
            "update_mask": field_mask_pb2.FieldMask(paths=["labels"]),
        }
    )
    assert dict(updated.labels) == {"b": "2"}
    with pytest.raises(exceptions.InvalidArgument):
        ours_target.subscriber.update_snapshot(
            request={
                "snapshot": {"name": snap},
                "update_mask": field_mask_pb2.FieldMask(paths=["topic"]),
            }
        )


def test_subscription_defaults_and_bounds_of_the_service(ours_target):
    """What the API reference documents: a 31-day expiration policy by default, an empty one
    never expires, a ttl under 1 day is refused; retention up to 31 days; output-only fields."""
    from google.protobuf import field_mask_pb2
    from google.pubsub_v1.types import Subscription

    day = 86400
    topic = ours_target.topic(message_retention_duration={"seconds": 3600})
    got = ours_target.subscriber.get_subscription(subscription=ours_target.subscription(topic))
    assert got.expiration_policy.ttl.total_seconds() == 31 * day
    assert got.state == Subscription.State.ACTIVE
    assert got.topic_message_retention_duration.total_seconds() == 3600

    never = ours_target.subscription(topic, expiration_policy={})
    got = ours_target.subscriber.get_subscription(subscription=never)
    assert "expiration_policy" in got and not got.expiration_policy.ttl
    with pytest.raises(exceptions.InvalidArgument, match="at least 1 day"):
        ours_target.subscription(topic, expiration_policy={"ttl": {"seconds": day - 1}})

    month = ours_target.subscription(topic, message_retention_duration={"seconds": 31 * day})
    got = ours_target.subscriber.get_subscription(subscription=month)
    assert got.message_retention_duration.total_seconds() == 31 * day
    with pytest.raises(exceptions.InvalidArgument, match="31 days"):
        ours_target.subscription(topic, message_retention_duration={"seconds": 32 * day})

    # an update clearing the policy keeps it empty (never expires), not back to the default
    updated = ours_target.subscriber.update_subscription(
        request={
            "subscription": {"name": month, "expiration_policy": {}},
            "update_mask": field_mask_pb2.FieldMask(paths=["expiration_policy"]),
        }
    )
    assert not updated.expiration_policy.ttl
    # output-only fields in a request are ignored
    plain = ours_target.topic()
    sub = ours_target.subscription(plain, topic_message_retention_duration={"seconds": 900})
    got = ours_target.subscriber.get_subscription(subscription=sub)
    assert "topic_message_retention_duration" not in got


def test_messages_shared_with_the_reference(pubsub_target):
    """Where Google's emulator answers with the service's own texts, ours are identical."""
    from google.protobuf import field_mask_pb2

    target = pubsub_target
    topic, other_topic = target.topic(), target.topic()
    sub, other_sub = target.subscription(topic), target.subscription(other_topic)
    snap = target.snapshot_path()
    target.subscriber.create_snapshot(name=snap, subscription=sub)

    with pytest.raises(exceptions.FailedPrecondition) as err:
        target.subscriber.seek(request={"subscription": other_sub, "snapshot": snap})
    assert err.value.message.startswith(
        f"The subscription's topic {other_topic} is different from that of the snapshot {topic}"
    )
    with pytest.raises(exceptions.OutOfRange) as err:
        target.subscription(
            topic, dead_letter_policy={"dead_letter_topic": topic, "max_delivery_attempts": 3}
        )
    assert err.value.message == (
        "The value for max_delivery_attempts is too small. You passed 3 in the request, "
        "but the minimum value is 5."
    )
    with pytest.raises(exceptions.InvalidArgument) as err:
        target.subscriber.update_subscription(
            request={
                "subscription": {"name": sub, "ack_deadline_seconds": 20},
                "update_mask": field_mask_pb2.FieldMask(),
            }
        )
    assert err.value.message == (
        "The update_mask in the UpdateSubscriptionRequest must be set, and must contain a "
        "non-empty paths list."
    )
    with pytest.raises(exceptions.InvalidArgument) as err:
        target.subscriber.update_subscription(
            request={
                "subscription": {"name": sub},
                "update_mask": field_mask_pb2.FieldMask(paths=["bogus"]),
            }
        )
    assert err.value.message.startswith(
        "Invalid update_mask provided in the UpdateSubscriptionRequest: bogus is not a known "
        "Subscription field."
    )
    with pytest.raises(exceptions.InvalidArgument) as err:
        target.subscriber.get_snapshot(snapshot="bad")
    assert err.value.message == "Invalid [snapshots] name: (name=bad)"
