"""Ordering keys: per-key order on an ordered subscription, nack redelivers the key in order."""

from parity.scenario import fields

SERVICE = "pubsub"


def _by_key(received):
    out = {}
    for r in received:
        out.setdefault(r.message.ordering_key or "-", []).append(r.message.data.decode())
    return out


def run(ctx):
    topic = ctx.create_topic()
    sub = ctx.create_subscription(
        topic,
        label="create ordered subscription",
        shape=fields("enable_message_ordering"),
        enable_message_ordering=True,
    )
    s = ctx.subscriber
    for i in range(4):  # one request per message, keys interleaved
        for key in ("a", "b"):
            ctx.publish(topic, {"data": f"{key}{i}".encode(), "ordering_key": key})
    seen = []
    for _ in range(40):  # pull and ack until all 8 arrived
        got = ctx.pull(sub, expect=1, timeout=3)
        seen.extend(got)
        if got:
            s.acknowledge(subscription=sub, ack_ids=[r.ack_id for r in got])
        if len(seen) >= 8:
            break
    ctx.record("order per key", _by_key(seen))

    ctx.publish(topic, *({"data": f"c{i}".encode(), "ordering_key": "c"} for i in range(3)))
    first = ctx.pull(sub, expect=3, timeout=5)
    c0 = [r for r in first if r.message.data == b"c0"]
    # how many arrive before an ack is the server's choice; which comes first is not
    ctx.record("first of key c", [r.message.data.decode() for r in first[:1]])
    ctx.call(
        "nack c0",
        s.modify_ack_deadline,
        subscription=sub,
        ack_ids=[r.ack_id for r in c0],
        ack_deadline_seconds=0,
    )
    if len(first) > 1:  # the rest of the key was delivered too: give it back as well
        s.modify_ack_deadline(
            subscription=sub, ack_ids=[r.ack_id for r in first[1:]], ack_deadline_seconds=0
        )
    redelivered = []
    for _ in range(20):
        got = ctx.pull(sub, expect=1, timeout=3)
        redelivered.extend(got)
        if got:
            s.acknowledge(subscription=sub, ack_ids=[r.ack_id for r in got])
        if len(redelivered) >= 3:
            break
    ctx.record("key c after nack", [r.message.data.decode() for r in redelivered])
    ctx.publish(
        topic, {"data": b"x", "ordering_key": "k" * 1025}, label="publish a 1025-byte ordering key"
    )
