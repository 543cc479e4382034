"""Message retention: topic and subscription retention settings, limits, retain_acked_messages."""

import datetime

from parity.scenario import datas

SERVICE = "pubsub"


def _duration(seconds):
    return {"seconds": seconds}


def run(ctx):
    p, s = ctx.publisher, ctx.subscriber
    for label, seconds in {
        "topic retention 10 min": 600,
        "topic retention 31 days": 31 * 86400,
        "topic retention 9 min": 540,
        "topic retention 32 days": 32 * 86400,
    }.items():
        name = ctx.topic_path()
        created = ctx.call(
            label,
            p.create_topic,
            request={"name": name, "message_retention_duration": _duration(seconds)},
            shape=lambda t: t.message_retention_duration,
        )
        if created is not None:
            ctx.cleanup(lambda n=name: p.delete_topic(topic=n))
    topic = ctx.create_topic()
    for label, fields in {
        "subscription retention 10 min": {"message_retention_duration": _duration(600)},
        "subscription retention 7 days": {"message_retention_duration": _duration(7 * 86400)},
        "subscription retention 9 min": {"message_retention_duration": _duration(540)},
        "subscription retention 8 days": {"message_retention_duration": _duration(8 * 86400)},
        "subscription retention 31 days": {"message_retention_duration": _duration(31 * 86400)},
        "subscription retention 32 days": {"message_retention_duration": _duration(32 * 86400)},
        "retain acked messages": {"retain_acked_messages": True},
        "expiration policy 1 day": {"expiration_policy": {"ttl": _duration(86400)}},
        "expiration policy 12 h": {"expiration_policy": {"ttl": _duration(43200)}},
        "expiration policy never": {"expiration_policy": {}},
    }.items():
        ctx.try_subscription(
            label,
            {"name": ctx.subscription_path(), "topic": topic, **fields},
            shape=lambda x: {
                "message_retention_duration": x.message_retention_duration,
                "retain_acked_messages": x.retain_acked_messages,
                "expiration_policy": x.expiration_policy,
            },
        )
    retained = ctx.create_topic(message_retention_duration=_duration(600))
    ctx.publish(retained, b"before-subscription")
    late = ctx.create_subscription(retained)
    ctx.record("a new subscription gets earlier messages", datas(ctx.pull_nothing(late)))
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    ctx.call(
        "seek the new subscription into the topic's past",
        s.seek,
        request={"subscription": late, "time": past},
    )
    ctx.record("after seeking into the topic's retention", datas(ctx.pull(late, expect=1)))
    sub = ctx.create_subscription(topic)
    ctx.call(
        "update retention to 1 h",
        s.update_subscription,
        request={
            "subscription": {"name": sub, "message_retention_duration": _duration(3600)},
            "update_mask": {"paths": ["message_retention_duration"]},
        },
        shape=lambda x: x.message_retention_duration,
    )
