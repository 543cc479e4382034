"""Ack deadlines: modack 0 (nack) redelivers, short modack expires, bad deadlines are errors."""

from parity.scenario import datas

SERVICE = "pubsub"


def run(ctx):
    topic = ctx.create_topic()
    sub = ctx.create_subscription(topic, ack_deadline_seconds=60)
    s = ctx.subscriber
    ctx.publish(topic, b"m1", b"m2")
    first = ctx.pull(sub, expect=2)
    ctx.record("first delivery", sorted(datas(first)))
    ctx.record("nothing more while leased", datas(ctx.pull_nothing(sub, 1.0)))
    m1 = next(r for r in first if r.message.data == b"m1")
    m2 = next(r for r in first if r.message.data == b"m2")
    ctx.call(
        "nack m1 (modack 0)",
        s.modify_ack_deadline,
        subscription=sub,
        ack_ids=[m1.ack_id],
        ack_deadline_seconds=0,
    )
    again = ctx.pull(sub, expect=1)
    ctx.record("redelivered after nack", datas(again))
    ctx.record("same message id", [r.message.message_id == m1.message.message_id for r in again])
    ctx.call(
        "modack m2 to 1 s",
        s.modify_ack_deadline,
        subscription=sub,
        ack_ids=[m2.ack_id],
        ack_deadline_seconds=1,
    )
    expired = ctx.pull(sub, expect=1, timeout=15)
    ctx.record("redelivered after its deadline expired", datas(expired))
    ctx.call(
        "ack with the stale ack id of m2", s.acknowledge, subscription=sub, ack_ids=[m2.ack_id]
    )
    ctx.call(
        "ack the current deliveries",
        s.acknowledge,
        subscription=sub,
        ack_ids=[r.ack_id for r in again + expired],
    )
    ctx.record("nothing left", datas(ctx.pull_nothing(sub)))
    ctx.call(
        "modack 601 s",
        s.modify_ack_deadline,
        subscription=sub,
        ack_ids=[m1.ack_id],
        ack_deadline_seconds=601,
    )
    ctx.call(
        "modack -1 s",
        s.modify_ack_deadline,
        subscription=sub,
        ack_ids=[m1.ack_id],
        ack_deadline_seconds=-1,
    )
    ctx.call(
        "modack on a missing subscription",
        s.modify_ack_deadline,
        subscription=ctx.subscription_path("missing"),
        ack_ids=[m1.ack_id],
        ack_deadline_seconds=10,
    )
