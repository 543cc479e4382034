"""Publish's fast path: message bodies sliced from the request bytes must equal what the
full protobuf path gives, and anything beyond plain data must take the full path."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.pubsub_v1.types import PublishRequest, PubsubMessage

from emulators.pubsub import wire

TOPIC = "projects/p/topics/topic-a"
RawRequest = wire.request_type("PublishRequest")


def raw_request(*messages: PubsubMessage, topic: str = TOPIC) -> bytes:
    return PublishRequest.serialize(PublishRequest(topic=topic, messages=list(messages)))


# data lengths around the one/two/three-byte varint boundaries
@pytest.mark.parametrize("size", [1, 127, 128, 16_383, 16_384, 2_100_000])
@pytest.mark.parametrize("topic", [TOPIC, "projects/p/topics/" + "t" * 200])
def test_data_only_bodies_equal_the_serialized_messages(size: int, topic: str) -> None:
    raw = raw_request(PubsubMessage(data=b"a" * size), PubsubMessage(data=b"\x0a\x12"), topic=topic)
    parsed = RawRequest.FromString(raw)
    assert wire.data_only_bodies(raw) == [
        (pb.SerializeToString(), len(pb.data)) for pb in parsed.messages
    ]


def test_messages_before_the_topic_are_found_too() -> None:
    messages = raw_request(PubsubMessage(data=b"one"), topic="")
    raw = messages + raw_request(topic=TOPIC)
    assert wire.data_only_bodies(raw) == [(PubsubMessage.serialize(PubsubMessage(data=b"one")), 3)]


@pytest.mark.parametrize(
    "other",
    [
        PubsubMessage(data=b"x", attributes={"k": "v"}),
        PubsubMessage(data=b"x", ordering_key="key"),
        PubsubMessage(data=b"x", message_id="7"),
        PubsubMessage(data=b"x", publish_time=Timestamp(seconds=1)),
        PubsubMessage(attributes={"k": "v"}),
        PubsubMessage(),
    ],
)
def test_anything_but_plain_data_takes_the_full_path(other: PubsubMessage) -> None:
    assert wire.data_only_bodies(raw_request(PubsubMessage(data=b"plain"), other)) is None
