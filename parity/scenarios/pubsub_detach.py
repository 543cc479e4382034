"""Detach: the subscription is marked detached, stops receiving, and pulls fail."""

SERVICE = "pubsub"


def run(ctx):
    p, s = ctx.publisher, ctx.subscriber
    topic = ctx.create_topic()
    sub = ctx.create_subscription(topic)
    ctx.publish(topic, b"before")
    ctx.call("detach", p.detach_subscription, request={"subscription": sub})
    ctx.call(
        "get detached",
        s.get_subscription,
        subscription=sub,
        shape=lambda x: {"detached": x.detached, "topic": x.topic},
    )
    ctx.call(
        "topic's subscriptions after detach", lambda: list(p.list_topic_subscriptions(topic=topic))
    )
    ctx.publish(topic, b"after", label="publish after detach")
    ctx.call(
        "pull detached",
        s.pull,
        request={"subscription": sub, "max_messages": 10, "return_immediately": True},
        shape=lambda r: [m.message.data for m in r.received_messages],
    )
    ctx.call("detach again", p.detach_subscription, request={"subscription": sub})
    ctx.call(
        "detach missing",
        p.detach_subscription,
        request={"subscription": ctx.subscription_path("missing")},
    )
