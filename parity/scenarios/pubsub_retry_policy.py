"""Retry policy: echoed on create and update, validated, a nacked message still comes back."""

from parity.scenario import datas, fields

SERVICE = "pubsub"


def run(ctx):
    s = ctx.subscriber
    topic = ctx.create_topic()
    policy = {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 2}}
    sub = ctx.create_subscription(
        topic, label="create with retry policy", shape=fields("retry_policy"), retry_policy=policy
    )
    ctx.publish(topic, b"retry-me")
    first = ctx.pull(sub, expect=1)
    ctx.call(
        "nack",
        s.modify_ack_deadline,
        subscription=sub,
        ack_ids=[r.ack_id for r in first],
        ack_deadline_seconds=0,
    )
    again = ctx.pull(sub, expect=1, timeout=15)
    ctx.record("redelivered after backoff", datas(again))
    s.acknowledge(subscription=sub, ack_ids=[r.ack_id for r in again])
    ctx.call(
        "update retry policy",
        s.update_subscription,
        request={
            "subscription": {
                "name": sub,
                "retry_policy": {
                    "minimum_backoff": {"seconds": 5},
                    "maximum_backoff": {"seconds": 60},
                },
            },
            "update_mask": {"paths": ["retry_policy"]},
        },
        shape=lambda x: x.retry_policy,
    )
    ctx.call(
        "get after update", s.get_subscription, subscription=sub, shape=lambda x: x.retry_policy
    )
    cases = {
        "minimum above maximum": {
            "minimum_backoff": {"seconds": 30},
            "maximum_backoff": {"seconds": 10},
        },
        "maximum over 600 s": {"maximum_backoff": {"seconds": 601}},
        "negative minimum": {"minimum_backoff": {"seconds": -1}},
        "defaults (empty policy)": {},
    }
    for label, bad in cases.items():
        ctx.try_subscription(
            label,
            {"name": ctx.subscription_path(), "topic": topic, "retry_policy": bad},
            shape=lambda x: x.retry_policy,
        )
