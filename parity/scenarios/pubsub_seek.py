"""Seek: to a time (replays retained acked messages) and to a snapshot; snapshot CRUD errors."""

import datetime

from parity.scenario import datas

SERVICE = "pubsub"


def run(ctx):
    s = ctx.subscriber
    topic = ctx.create_topic()
    sub = ctx.create_subscription(topic, retain_acked_messages=True)
    ctx.publish(topic, b"a", b"b", b"c")
    got = ctx.pull(sub, expect=3)
    since = min(r.message.publish_time for r in got) - datetime.timedelta(seconds=1)
    s.acknowledge(subscription=sub, ack_ids=[r.ack_id for r in got])
    ctx.record("acked", sorted(datas(got)))
    ctx.call(
        "seek to before the first publish", s.seek, request={"subscription": sub, "time": since}
    )
    replay = ctx.pull(sub, expect=3)
    ctx.record("replayed after seek to time", sorted(datas(replay)))
    s.acknowledge(subscription=sub, ack_ids=[r.ack_id for r in replay])

    snap = ctx.snapshot_path()
    ctx.call(
        "create snapshot",
        s.create_snapshot,
        name=snap,
        subscription=sub,
        shape=lambda x: {"name": x.name, "topic": x.topic},
    )
    ctx.cleanup(lambda: s.delete_snapshot(snapshot=snap))
    ctx.call("create snapshot again", s.create_snapshot, name=snap, subscription=sub)
    ctx.call(
        "get snapshot",
        s.get_snapshot,
        snapshot=snap,
        shape=lambda x: {"name": x.name, "topic": x.topic},
    )
    ctx.call(
        "list snapshots (this run's)",
        lambda: sorted(
            x.name
            for x in s.list_snapshots(project=f"projects/{ctx.project}")
            if ctx.token in x.name
        ),
    )
    ctx.publish(topic, b"d", b"e")
    after = ctx.pull(sub, expect=2)
    s.acknowledge(subscription=sub, ack_ids=[r.ack_id for r in after])
    ctx.record("published after the snapshot", sorted(datas(after)))
    ctx.call("seek to the snapshot", s.seek, request={"subscription": sub, "snapshot": snap})
    restored = ctx.pull(sub, expect=2)
    restored += ctx.pull_nothing(sub, 1.0)
    ctx.record("redelivered after seek to snapshot", sorted(datas(restored)))
    s.acknowledge(subscription=sub, ack_ids=[r.ack_id for r in restored])

    missing = ctx.snapshot_path("missing")
    ctx.call("get missing snapshot", s.get_snapshot, snapshot=missing)
    ctx.call("seek to missing snapshot", s.seek, request={"subscription": sub, "snapshot": missing})
    ctx.call(
        "snapshot of a missing subscription",
        s.create_snapshot,
        name=ctx.snapshot_path(),
        subscription=ctx.subscription_path("missing"),
    )
    ctx.call(
        "seek a missing subscription",
        s.seek,
        request={"subscription": ctx.subscription_path("missing"), "time": since},
    )
    plain = ctx.create_subscription(topic)  # retain_acked_messages off
    ctx.publish(topic, b"p1")
    got = ctx.pull(plain, expect=1)
    s.acknowledge(subscription=plain, ack_ids=[r.ack_id for r in got])
    ctx.call(
        "seek back without retain_acked_messages",
        s.seek,
        request={"subscription": plain, "time": since},
    )
    ctx.record(
        "acked messages replayed without retain_acked_messages", datas(ctx.pull_nothing(plain))
    )
    ctx.call("delete snapshot", s.delete_snapshot, snapshot=snap)
    ctx.call("delete snapshot again", s.delete_snapshot, snapshot=snap)
