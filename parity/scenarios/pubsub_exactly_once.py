"""Exactly-once delivery: the flag is echoed, acks succeed once, stale and bogus ack ids fail."""

from parity.scenario import datas, fields

SERVICE = "pubsub"


def run(ctx):
    s = ctx.subscriber
    topic = ctx.create_topic()
    sub = ctx.create_subscription(
        topic,
        label="create exactly-once",
        shape=fields("enable_exactly_once_delivery", "ack_deadline_seconds"),
        enable_exactly_once_delivery=True,
        ack_deadline_seconds=10,
    )
    ctx.publish(topic, b"once", b"twice")
    got = ctx.pull(sub, expect=2)
    ctx.record("delivered", sorted(datas(got)))
    once = [r for r in got if r.message.data == b"once"]
    twice = [r for r in got if r.message.data == b"twice"]
    ctx.call("ack", s.acknowledge, subscription=sub, ack_ids=[r.ack_id for r in once])
    ctx.call(
        "ack the same ack id again",
        s.acknowledge,
        subscription=sub,
        ack_ids=[r.ack_id for r in once],
    )
    ctx.call(
        "modack an acked message",
        s.modify_ack_deadline,
        subscription=sub,
        ack_ids=[r.ack_id for r in once],
        ack_deadline_seconds=30,
    )
    ctx.call("ack a bogus ack id", s.acknowledge, subscription=sub, ack_ids=["bogus"])
    ctx.call(
        "nack",
        s.modify_ack_deadline,
        subscription=sub,
        ack_ids=[r.ack_id for r in twice],
        ack_deadline_seconds=0,
    )
    again = ctx.pull(sub, expect=1)
    ctx.record("redelivered after nack", datas(again))
    ctx.call(
        "ack with the pre-nack ack id",
        s.acknowledge,
        subscription=sub,
        ack_ids=[r.ack_id for r in twice],
    )
    ctx.call(
        "ack with the new ack id",
        s.acknowledge,
        subscription=sub,
        ack_ids=[r.ack_id for r in again],
    )
    ctx.record("nothing left", datas(ctx.pull_nothing(sub)))
