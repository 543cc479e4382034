"""google.iam.v1.IAMPolicy through the real clients: stored, versioned by etag, checked, removed
with the resource, persisted. (Google's emulator answers UNIMPLEMENTED, so there is no reference
leg.)"""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from tests.support.pubsub import Emulator, Target

DLQ_GRANT = {
    "bindings": [
        {
            "role": "roles/pubsub.publisher",
            "members": ["serviceAccount:service-123@gcp-sa-pubsub.iam.gserviceaccount.com"],
        }
    ]
}


def test_a_fresh_topic_has_an_empty_policy_with_an_etag(ours_target):
    topic = ours_target.topic()
    policy = ours_target.publisher.get_iam_policy(request={"resource": topic})
    assert list(policy.bindings) == []
    assert policy.etag


def test_set_then_get_returns_the_bindings_and_a_new_etag(ours_target):
    topic = ours_target.topic()
    before = ours_target.publisher.get_iam_policy(request={"resource": topic})
    stored = ours_target.publisher.set_iam_policy(request={"resource": topic, "policy": DLQ_GRANT})
    assert stored.etag != before.etag
    assert stored.version == 1
    got = ours_target.publisher.get_iam_policy(request={"resource": topic})
    assert [(b.role, list(b.members)) for b in got.bindings] == [
        ("roles/pubsub.publisher", DLQ_GRANT["bindings"][0]["members"])
    ]
    assert got.etag == stored.etag


def test_read_modify_write_with_a_stale_etag_is_aborted(ours_target):
    topic = ours_target.topic()
    read = ours_target.publisher.get_iam_policy(request={"resource": topic})
    first = {"etag": read.etag, **DLQ_GRANT}
    ours_target.publisher.set_iam_policy(request={"resource": topic, "policy": first})
    with pytest.raises(exceptions.Aborted, match="concurrent policy changes"):
        ours_target.publisher.set_iam_policy(request={"resource": topic, "policy": first})


def test_subscriptions_and_snapshots_have_policies_too(ours_target):
    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    snap = ours_target.snapshot_path()
    ours_target.subscriber.create_snapshot(request={"name": snap, "subscription": sub})
    grant = {"bindings": [{"role": "roles/pubsub.subscriber", "members": ["user:ann@example.com"]}]}
    for resource in (sub, snap):
        ours_target.subscriber.set_iam_policy(request={"resource": resource, "policy": grant})
        got = ours_target.subscriber.get_iam_policy(request={"resource": resource})
        assert [b.role for b in got.bindings] == ["roles/pubsub.subscriber"]


def test_every_permission_asked_for_is_granted(ours_target):
    topic = ours_target.topic()
    asked = ["pubsub.topics.publish", "pubsub.topics.get"]
    answer = ours_target.publisher.test_iam_permissions(
        request={"resource": topic, "permissions": asked}
    )
    assert list(answer.permissions) == asked
    with pytest.raises(exceptions.InvalidArgument, match="wildcards"):
        ours_target.publisher.test_iam_permissions(
            request={"resource": topic, "permissions": ["pubsub.*"]}
        )


@pytest.mark.parametrize(
    "binding",
    [
        {"role": "pubsub.publisher", "members": ["user:ann@example.com"]},
        {"role": "roles/pubsub.publisher", "members": ["ann@example.com"]},
        {"role": "roles/pubsub.publisher", "members": []},
    ],
)
def test_bad_bindings_are_invalid_argument(ours_target, binding):
    topic = ours_target.topic()
    with pytest.raises(exceptions.InvalidArgument):
        ours_target.publisher.set_iam_policy(
            request={"resource": topic, "policy": {"bindings": [binding]}}
        )
    # nothing was stored
    assert not ours_target.publisher.get_iam_policy(request={"resource": topic}).bindings


def test_missing_and_malformed_resources(ours_target):
    with pytest.raises(exceptions.NotFound):
        ours_target.publisher.get_iam_policy(request={"resource": ours_target.topic_path()})
    with pytest.raises(exceptions.InvalidArgument):
        ours_target.publisher.get_iam_policy(request={"resource": "projects/p/buckets/b"})


def test_a_recreated_topic_starts_without_the_old_policy(ours_target):
    topic = ours_target.topic()
    ours_target.publisher.set_iam_policy(request={"resource": topic, "policy": DLQ_GRANT})
    ours_target.publisher.delete_topic(topic=topic)
    ours_target.publisher.create_topic(name=topic)
    assert not ours_target.publisher.get_iam_policy(request={"resource": topic}).bindings


@pytest.mark.integration
def test_policies_survive_a_kill_9(tmp_path):
    emulator = Emulator("--data-dir", str(tmp_path / "data")).start()
    target = Target("ours", emulator.host)
    topic = target.topic()
    gone = target.topic()
    stored = target.publisher.set_iam_policy(request={"resource": topic, "policy": DLQ_GRANT})
    target.publisher.set_iam_policy(request={"resource": gone, "policy": DLQ_GRANT})
    target.publisher.delete_topic(topic=gone)
    restarted = emulator.killed_and_restarted()
    try:
        target = Target("ours", restarted.host)
        got = target.publisher.get_iam_policy(request={"resource": topic})
        assert got.etag == stored.etag
        assert [b.role for b in got.bindings] == ["roles/pubsub.publisher"]
        # a write after the restart gets an etag no earlier policy had
        again = target.publisher.set_iam_policy(request={"resource": topic, "policy": DLQ_GRANT})
        assert again.etag != stored.etag
        target.publisher.create_topic(name=gone)
        assert not target.publisher.get_iam_policy(request={"resource": gone}).bindings
    finally:
        restarted.stop()
