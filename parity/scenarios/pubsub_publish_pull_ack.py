"""Publish, pull, ack: payloads and attributes round trip, acked stays gone, publish errors."""

from parity.scenario import datas, message_view

SERVICE = "pubsub"


def run(ctx):
    topic = ctx.create_topic()
    sub = ctx.create_subscription(topic)
    ctx.publish(
        topic,
        {"data": b"one", "attributes": {"k": "1"}},
        {"data": b"two", "attributes": {"k": "2", "empty": ""}},
        {"data": b"\x00\xffbinary"},
        label="publish 3",
    )
    ctx.publish(topic, {"attributes": {"only": "attributes"}}, label="publish attributes only")
    got = ctx.pull(sub, expect=4)
    ctx.record("received", sorted((message_view(r) for r in got), key=repr))
    ctx.record("ids are distinct", len({r.message.message_id for r in got}) == len(got))
    ctx.call(
        "ack all", ctx.subscriber.acknowledge, subscription=sub, ack_ids=[r.ack_id for r in got]
    )
    ctx.record("after ack", datas(ctx.pull_nothing(sub)))
    ctx.call(
        "ack an unknown ack id",
        ctx.subscriber.acknowledge,
        subscription=sub,
        ack_ids=["not-an-ack-id"],
    )
    ctx.call("ack with no ack ids", ctx.subscriber.acknowledge, subscription=sub, ack_ids=[])
    ctx.publish(topic, {}, label="publish an empty message")
    ctx.call("publish no messages", ctx.publisher.api.publish, topic=topic, messages=[])
    ctx.publish(
        topic, {"data": b"x", "attributes": {"googkey": "v"}}, label="publish a goog attribute key"
    )
    ctx.publish(
        topic,
        {"data": b"x", "attributes": {"k" * 257: "v"}},
        label="publish a 257-byte attribute key",
    )
    ctx.publish(
        topic,
        {"data": b"x", "attributes": {"k": "v" * 1025}},
        label="publish a 1025-byte attribute value",
    )
    ctx.publish(topic, {"data": b"x" * (10 * 1000 * 1000 + 1)}, label="publish over 10 MB")
    ctx.publish(topic, {"data": b"y" * (9 * 1000 * 1000)}, label="publish 9 MB")
    rest = ctx.pull(sub, expect=10, timeout=4)
    ctx.record(
        "sizes of what the publishes above delivered", sorted(len(r.message.data) for r in rest)
    )
    ctx.call(
        "pull max_messages 0",
        ctx.subscriber.pull,
        request={"subscription": sub, "max_messages": 0, "return_immediately": True},
    )
    ctx.call(
        "pull max_messages -1",
        ctx.subscriber.pull,
        request={"subscription": sub, "max_messages": -1, "return_immediately": True},
    )
