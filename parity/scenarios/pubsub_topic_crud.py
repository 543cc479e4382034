"""Topics: create, duplicate, get, list, update labels, delete, and their NOT_FOUND errors."""

SERVICE = "pubsub"


def run(ctx):
    pub = ctx.publisher
    topic = ctx.topic_path()
    ctx.call("create", pub.create_topic, request={"name": topic, "labels": {"team": "a"}})
    ctx.cleanup(lambda: pub.delete_topic(topic=topic))
    ctx.call("create again", pub.create_topic, request={"name": topic})
    ctx.call("get", pub.get_topic, topic=topic)
    ctx.call(
        "list (this run's topics)",
        lambda: sorted(
            t.name
            for t in pub.list_topics(project=f"projects/{ctx.project}")
            if ctx.token in t.name
        ),
    )
    ctx.call(
        "update labels",
        pub.update_topic,
        request={
            "topic": {"name": topic, "labels": {"team": "b"}},
            "update_mask": {"paths": ["labels"]},
        },
    )
    ctx.call(
        "update with an empty mask",
        pub.update_topic,
        request={"topic": {"name": topic}, "update_mask": {"paths": []}},
    )
    ctx.call("get after update", pub.get_topic, topic=topic, shape=lambda t: dict(t.labels))
    missing = ctx.topic_path("missing")
    ctx.call("get missing", pub.get_topic, topic=missing)
    ctx.call(
        "update missing",
        pub.update_topic,
        request={
            "topic": {"name": missing, "labels": {"x": "y"}},
            "update_mask": {"paths": ["labels"]},
        },
    )
    ctx.call(
        "subscriptions of a new topic", lambda: list(pub.list_topic_subscriptions(topic=topic))
    )
    ctx.call(
        "subscriptions of a missing topic",
        lambda: list(pub.list_topic_subscriptions(topic=missing)),
    )
    ctx.call("delete", pub.delete_topic, topic=topic)
    ctx.call("delete again", pub.delete_topic, topic=topic)
    ctx.call("get deleted", pub.get_topic, topic=topic)
    ctx.call("publish to deleted", pub.api.publish, topic=topic, messages=[{"data": b"x"}])
