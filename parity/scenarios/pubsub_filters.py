"""Subscription filters: only matching messages are delivered; bad filters are rejected."""

from parity.scenario import datas, fields

SERVICE = "pubsub"


def run(ctx):
    s = ctx.subscriber
    topic = ctx.create_topic()
    red = ctx.create_subscription(
        topic, label="create filtered", shape=fields("filter"), filter='attributes.color = "red"'
    )
    has_size = ctx.create_subscription(
        topic, filter='attributes:size AND NOT attributes.color = "blue"'
    )
    prefix = ctx.create_subscription(topic, filter='hasPrefix(attributes.color, "gr")')
    ctx.publish(
        topic,
        {"data": b"r", "attributes": {"color": "red"}},
        {"data": b"b", "attributes": {"color": "blue", "size": "1"}},
        {"data": b"g", "attributes": {"color": "green", "size": "2"}},
        {"data": b"n"},
    )
    for label, sub, n in (
        ("red", red, 1),
        ("has size, not blue", has_size, 1),
        ("prefix gr", prefix, 1),
    ):
        got = ctx.pull(sub, expect=n, timeout=5)
        got += ctx.pull_nothing(sub, 1.0)
        ctx.record(f"delivered to {label}", sorted(datas(got)))
    for label, text in {
        "syntax error": "attributes.color = ",
        "mixed AND/OR without parentheses": "attributes:a AND attributes:b OR attributes:c",
        "unknown field": 'data = "x"',
        "over 256 bytes": "attributes:" + "k" * 256,
    }.items():
        ctx.try_subscription(
            f"filter {label}",
            {"name": ctx.subscription_path(), "topic": topic, "filter": text},
            shape=lambda x: x.filter,
        )
    ctx.call(
        "update the filter (immutable)",
        s.update_subscription,
        request={
            "subscription": {"name": red, "filter": "attributes:x"},
            "update_mask": {"paths": ["filter"]},
        },
        shape=lambda x: x.filter,
    )
