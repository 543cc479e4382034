"""Property tests of the subscription model: nothing lost, nothing acked twice, keys in order."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.pubsub import wire
from emulators.pubsub.broker import Broker
from emulators.pubsub.topics import Message

TOPIC = "projects/p/topics/topic-a"
SUB = "projects/p/subscriptions/sub-a"

ops = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.integers(1, 4), st.sampled_from(["", "a", "b"])),
        st.tuples(st.just("take"), st.integers(1, 5), st.just("")),
        st.tuples(st.just("ack"), st.integers(0, 10), st.just("")),
        st.tuples(st.just("nack"), st.integers(0, 10), st.just("")),
        st.tuples(st.just("expire"), st.just(0), st.just("")),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=ops, ordered=st.booleans())
def test_every_message_is_acked_once_or_still_pending(ops, ordered):
    broker = Broker()
    broker.encode = wire.encode_published
    broker.create_topic({"name": TOPIC})
    broker.create_subscription({"name": SUB, "topic": TOPIC, "enable_message_ordering": ordered})
    sub = broker.subscriptions[SUB]
    published: list[int] = []
    acked: list[int] = []
    leased: list = []  # entries as handed out, in order
    clock = time.monotonic()

    for op, n, key in ops:
        if op == "publish":
            msgs = [Message(0, b"x", {}, key, 0) for _ in range(n)]
            published.extend(m.seq for m in broker.publish(broker.topics[TOPIC], msgs))
        elif op == "take":
            batch = sub.take(n, 1 << 30, 10)
            for i, entry in enumerate(batch):
                leased.append((entry.ack_id, entry))
                key = entry.msg.ordering_key
                if ordered and key:
                    # one outstanding batch per key, in order: every earlier unacked message
                    # of the key is earlier in this very batch
                    earlier = {
                        seq
                        for seq, e in sub.entries.items()
                        if e.msg.ordering_key == key and seq < entry.msg.seq
                    }
                    assert earlier <= {e.msg.seq for e in batch[:i]}
        elif op in ("ack", "nack") and leased:
            ack_id, entry = leased.pop(n % len(leased))
            if op == "ack":
                if not sub.ack([ack_id]):
                    acked.append(entry.msg.seq)
            else:
                sub.modify([ack_id], 0)
        elif op == "expire":
            clock += 11
            sub.tick(clock)

    # nothing acked twice; everything published is either acked or still held
    assert len(acked) == len(set(acked))
    assert set(acked) | set(sub.entries) == set(published)
    assert not set(acked) & set(sub.entries)
    # every lease the subscription holds is for a message it still holds
    assert all(e.msg.seq in sub.entries for e in sub.leases.values())
