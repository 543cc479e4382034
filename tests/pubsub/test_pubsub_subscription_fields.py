"""Subscription resources as the service returns them: an empty push_config on pull
subscriptions, the documented RetryPolicy defaults for an empty policy."""

from __future__ import annotations

import pytest
from google.pubsub_v1 import types

pytestmark = pytest.mark.integration


def _has_push_config(sub: types.Subscription) -> bool:
    return types.Subscription.pb(sub).HasField("push_config")


def test_pull_subscription_has_empty_push_config(pubsub_target):
    s = pubsub_target.subscriber
    topic = pubsub_target.topic()
    path = pubsub_target.sub_path()
    created = s.create_subscription(request={"name": path, "topic": topic})
    fetched = s.get_subscription(subscription=path)
    updated = s.update_subscription(
        request={
            "subscription": {"name": path, "ack_deadline_seconds": 30},
            "update_mask": {"paths": ["ack_deadline_seconds"]},
        }
    )
    project = path.rsplit("/subscriptions/", 1)[0]
    listed = [x for x in s.list_subscriptions(project=project) if x.name == path]
    assert len(listed) == 1
    for sub in (created, fetched, updated, listed[0]):
        assert _has_push_config(sub)
        assert sub.push_config.push_endpoint == ""
    assert updated.ack_deadline_seconds == 30


def test_push_config_stays_present_after_switching_back_to_pull(ours_target):
    s = ours_target.subscriber
    topic = ours_target.topic()
    path = ours_target.subscription(topic)
    s.modify_push_config(subscription=path, push_config={"push_endpoint": "http://127.0.0.1:9/"})
    assert s.get_subscription(subscription=path).push_config.push_endpoint
    s.modify_push_config(subscription=path, push_config={})
    fetched = s.get_subscription(subscription=path)
    assert _has_push_config(fetched)
    assert fetched.push_config.push_endpoint == ""


def _backoffs(sub: types.Subscription) -> tuple[float, float]:
    policy = sub.retry_policy
    return policy.minimum_backoff.total_seconds(), policy.maximum_backoff.total_seconds()


def test_empty_retry_policy_gets_documented_defaults(pubsub_target):
    s = pubsub_target.subscriber
    topic = pubsub_target.topic()
    path = pubsub_target.sub_path()
    created = s.create_subscription(request={"name": path, "topic": topic, "retry_policy": {}})
    assert _backoffs(created) == (10.0, 600.0)
    assert _backoffs(s.get_subscription(subscription=path)) == (10.0, 600.0)


def test_partial_retry_policy_gets_the_missing_default(pubsub_target):
    s = pubsub_target.subscriber
    topic = pubsub_target.topic()
    only_min = s.create_subscription(
        request={
            "name": pubsub_target.sub_path(),
            "topic": topic,
            "retry_policy": {"minimum_backoff": {"seconds": 30}},
        }
    )
    assert _backoffs(only_min) == (30.0, 600.0)
    only_max = s.create_subscription(
        request={
            "name": pubsub_target.sub_path(),
            "topic": topic,
            "retry_policy": {"maximum_backoff": {"seconds": 60}},
        }
    )
    assert _backoffs(only_max) == (10.0, 60.0)


def test_update_to_empty_retry_policy_gets_documented_defaults(pubsub_target):
    s = pubsub_target.subscriber
    topic = pubsub_target.topic()
    path = pubsub_target.subscription(
        topic, retry_policy={"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 2}}
    )
    updated = s.update_subscription(
        request={
            "subscription": {"name": path, "retry_policy": {}},
            "update_mask": {"paths": ["retry_policy"]},
        }
    )
    assert _backoffs(updated) == (10.0, 600.0)


def test_empty_retry_policy_backs_off_redelivery(ours_target):
    # with no policy a nacked message is back at once; the default policy holds it 10 s
    s = ours_target.subscriber
    topic = ours_target.topic()
    path = ours_target.subscription(topic, retry_policy={})
    ours_target.publish(topic, b"backoff")
    [msg] = ours_target.pull(path)
    s.modify_ack_deadline(subscription=path, ack_ids=[msg.ack_id], ack_deadline_seconds=0)
    resp = s.pull(request={"subscription": path, "max_messages": 1, "return_immediately": True})
    assert not resp.received_messages
