"""Subscriptions: defaults echoed, duplicate, missing topic, update, list, orphaned by topic delete."""

SERVICE = "pubsub"


def run(ctx):
    sub_client = ctx.subscriber
    topic = ctx.create_topic()
    sub = ctx.subscription_path()
    ctx.call(
        "create with defaults",
        sub_client.create_subscription,
        request={"name": sub, "topic": topic},
    )
    ctx.cleanup(lambda: sub_client.delete_subscription(subscription=sub))
    ctx.call("create again", sub_client.create_subscription, request={"name": sub, "topic": topic})
    ctx.call(
        "create on a missing topic",
        sub_client.create_subscription,
        request={"name": ctx.subscription_path(), "topic": ctx.topic_path("missing")},
    )
    ctx.call("get", sub_client.get_subscription, subscription=sub)
    ctx.call(
        "update ack deadline and labels",
        sub_client.update_subscription,
        request={
            "subscription": {"name": sub, "ack_deadline_seconds": 42, "labels": {"k": "v"}},
            "update_mask": {"paths": ["ack_deadline_seconds", "labels"]},
        },
    )
    ctx.call(
        "update the topic (immutable)",
        sub_client.update_subscription,
        request={
            "subscription": {"name": sub, "topic": ctx.topic_path("other")},
            "update_mask": {"paths": ["topic"]},
        },
    )
    ctx.call(
        "list (this run's subscriptions)",
        lambda: sorted(
            s.name
            for s in sub_client.list_subscriptions(project=f"projects/{ctx.project}")
            if ctx.token in s.name
        ),
    )
    ctx.call(
        "topic's subscriptions", lambda: list(ctx.publisher.list_topic_subscriptions(topic=topic))
    )
    ctx.call("delete the topic", ctx.publisher.delete_topic, topic=topic)
    ctx.call(
        "get orphaned subscription",
        sub_client.get_subscription,
        subscription=sub,
        shape=lambda s: {"topic": s.topic},
    )
    ctx.call(
        "pull orphaned subscription",
        sub_client.pull,
        request={"subscription": sub, "max_messages": 1, "return_immediately": True},
        shape=lambda r: len(r.received_messages),
    )
    ctx.call("delete", sub_client.delete_subscription, subscription=sub)
    ctx.call("delete again", sub_client.delete_subscription, subscription=sub)
    ctx.call("get deleted", sub_client.get_subscription, subscription=sub)
    ctx.call(
        "pull deleted",
        sub_client.pull,
        request={"subscription": sub, "max_messages": 1, "return_immediately": True},
    )
