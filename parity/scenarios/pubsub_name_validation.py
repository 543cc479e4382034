"""Resource names: length, first character, allowed characters, the goog prefix, bad paths."""

SERVICE = "pubsub"

TOPIC_IDS = {
    "too short": "ab",
    "shortest valid": "abc",
    "starts with a digit": "1abc",
    "starts with goog": "goog-topic",
    "with a space": "a b c",
    "with a slash": "a/bc",
    "all allowed characters": "aZ0-_.~+%b",
    "255 characters": "a" * 255,
    "256 characters": "a" * 256,
    "non-ascii": "caf\u00e9",
}


def run(ctx):
    pub, sub = ctx.publisher, ctx.subscriber
    for label, topic_id in TOPIC_IDS.items():
        # Fixed ids (the length and first character are what is tested): delete at once.
        name = f"projects/{ctx.project}/topics/{topic_id}"
        created = ctx.call(
            f"topic {label}", pub.create_topic, request={"name": name}, shape=lambda t: "created"
        )
        if created is not None:
            pub.delete_topic(topic=name)
    bad_paths = {
        "no project": "projects//topics/abcd",
        "wrong collection": f"projects/{ctx.project}/topix/abcd",
        "not a path": "abcd",
    }
    for label, path in bad_paths.items():
        ctx.call(f"topic path {label}", pub.create_topic, request={"name": path})
    topic = ctx.create_topic()
    for label, sub_id in {
        "too short": "ab",
        "starts with goog": "goog-sub",
        "starts with a digit": "9sub",
    }.items():
        path = f"projects/{ctx.project}/subscriptions/{sub_id}"
        created = ctx.call(
            f"subscription {label}",
            sub.create_subscription,
            request={"name": path, "topic": topic},
            shape=lambda s: "created",
        )
        if created is not None:
            sub.delete_subscription(subscription=path)
    for label, seconds in {
        "ack deadline 9": 9,
        "ack deadline 10": 10,
        "ack deadline 600": 600,
        "ack deadline 601": 601,
    }.items():
        path = ctx.subscription_path()
        created = ctx.call(
            label,
            sub.create_subscription,
            request={"name": path, "topic": topic, "ack_deadline_seconds": seconds},
            shape=lambda s: s.ack_deadline_seconds,
        )
        if created is not None:
            ctx.cleanup(lambda p=path: sub.delete_subscription(subscription=p))
    ctx.call("get with a malformed name", pub.get_topic, topic="projects/x/topics")
