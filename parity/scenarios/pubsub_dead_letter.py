"""Dead-letter policy: delivery_attempt counts up, after max attempts the message moves."""

from parity.scenario import fields

SERVICE = "pubsub"


def run(ctx):
    s = ctx.subscriber
    topic = ctx.create_topic()
    dlq = ctx.create_topic(prefix="dlq")
    dlq_sub = ctx.create_subscription(dlq, prefix="dlqsub")
    policy = {"dead_letter_topic": dlq, "max_delivery_attempts": 5}
    sub = ctx.create_subscription(
        topic,
        label="create with dead-letter policy",
        shape=fields("dead_letter_policy"),
        dead_letter_policy=policy,
        ack_deadline_seconds=10,
    )
    ctx.publish(topic, {"data": b"poison", "attributes": {"a": "1"}})
    attempts = []
    for _ in range(5):
        got = ctx.pull(sub, expect=1, timeout=10)
        attempts.extend(r.delivery_attempt for r in got)
        if got:
            s.modify_ack_deadline(
                subscription=sub, ack_ids=[r.ack_id for r in got], ack_deadline_seconds=0
            )
    ctx.record("delivery attempts", attempts)
    ctx.record(
        "after max attempts, on the subscription",
        [r.message.data.decode() for r in ctx.pull_nothing(sub, 2.0)],
    )
    dead = ctx.pull(dlq_sub, expect=1, timeout=10)
    ctx.record(
        "on the dead-letter topic",
        [
            {
                "data": r.message.data.decode(),
                "attribute_keys": sorted(r.message.attributes),
                "user_attribute": r.message.attributes.get("a"),
            }
            for r in dead
        ],
    )
    for label, n in {"max attempts 4": 4, "max attempts 101": 101}.items():
        ctx.try_subscription(
            label,
            {
                "name": ctx.subscription_path(),
                "topic": topic,
                "dead_letter_policy": {"dead_letter_topic": dlq, "max_delivery_attempts": n},
            },
            shape=lambda x: x.dead_letter_policy,
        )
    ctx.try_subscription(
        "dead-letter topic missing",
        {
            "name": ctx.subscription_path(),
            "topic": topic,
            "dead_letter_policy": {
                "dead_letter_topic": ctx.topic_path("missing"),
                "max_delivery_attempts": 5,
            },
        },
        shape=lambda x: x.dead_letter_policy,
    )
    ctx.try_subscription(
        "default max attempts",
        {
            "name": ctx.subscription_path(),
            "topic": topic,
            "dead_letter_policy": {"dead_letter_topic": dlq},
        },
        shape=lambda x: x.dead_letter_policy,
    )
    plain = ctx.create_subscription(topic)
    ctx.publish(topic, b"plain")
    ctx.record(
        "no delivery_attempt without a policy",
        [r.delivery_attempt for r in ctx.pull(plain, expect=1)],
    )
