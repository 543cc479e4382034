"""Wire format at the edge: protobuf classes, dict conversion, hand-encoded hot-path responses.

The message classes are the raw protobuf classes behind google-cloud-pubsub's proto-plus types
(google-cloud-pubsub ships no ``_pb2`` modules). Received messages are written by hand from the
cached serialized ``PubsubMessage`` so delivery makes no per-message protobuf objects.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import empty_pb2, json_format, timestamp_pb2
from google.pubsub_v1.types import pubsub as _types

from emulators.pubsub.errors import invalid
from emulators.pubsub.topics import Message

Empty = empty_pb2.Empty
Timestamp = timestamp_pb2.Timestamp


def _pb(name: str) -> Any:
    return getattr(_types, name).pb()


Topic = _pb("Topic")
Subscription = _pb("Subscription")
Snapshot = _pb("Snapshot")
PubsubMessage = _pb("PubsubMessage")
PublishResponse = _pb("PublishResponse")
PullResponse = _pb("PullResponse")
StreamingPullRequest = _pb("StreamingPullRequest")
StreamingPullResponse = _pb("StreamingPullResponse")
ListTopicsResponse = _pb("ListTopicsResponse")
ListTopicSubscriptionsResponse = _pb("ListTopicSubscriptionsResponse")
ListTopicSnapshotsResponse = _pb("ListTopicSnapshotsResponse")
ListSubscriptionsResponse = _pb("ListSubscriptionsResponse")
ListSnapshotsResponse = _pb("ListSnapshotsResponse")
DetachSubscriptionResponse = _pb("DetachSubscriptionResponse")
SeekResponse = _pb("SeekResponse")


Message.decode_data = staticmethod(lambda body: PubsubMessage.FromString(body).data)


def request_type(name: str) -> Any:
    return _pb(name)


def to_dict(message: Any) -> dict[str, Any]:
    """The message as JSON-ready dict; fields protobuf JSON cannot hold are INVALID_ARGUMENT."""
    try:
        return json_format.MessageToDict(message, preserving_proto_field_name=True)
    except json_format.Error as exc:
        raise invalid(f"Invalid request: {exc}") from None


def from_dict(cls: Any, data: dict[str, Any]) -> Any:
    return json_format.ParseDict(data, cls(), ignore_unknown_fields=True)


def subscription(config: dict[str, Any], topic_retention: str | None = None) -> Any:
    """A Subscription resource as the service returns it: a pull subscription carries an
    empty ``push_config`` (clients may test ``HasField``), ``state`` is ACTIVE, and
    ``topic_message_retention_duration`` shows the topic's retention when it has one."""
    sub = from_dict(Subscription, config)
    sub.push_config.SetInParent()
    # an export that cannot write (bigquery_config.state NOT_FOUND...) is a resource error
    exports = (config.get("bigquery_config"), config.get("cloud_storage_config"))
    failing = any(e and e.get("state") not in (None, "ACTIVE") for e in exports)
    sub.state = Subscription.State.RESOURCE_ERROR if failing else Subscription.State.ACTIVE
    sub.ClearField("topic_message_retention_duration")  # output only: never the request's
    if topic_retention:
        sub.topic_message_retention_duration.FromJsonString(topic_retention)
    return sub


def timestamp_ns(ts: Any) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


def timestamp(ns: int) -> Any:
    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def encode_message(msg: Message) -> bytes:
    ns = msg.publish_time_ns
    return PubsubMessage(
        data=msg.data,
        attributes=msg.attributes,
        message_id=str(msg.seq),
        publish_time=Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000),
        ordering_key=msg.ordering_key,
    ).SerializeToString()


def encode_published(messages: list[Message], ns: int, bodies: list[bytes] | None) -> None:
    """Set ``wire`` on freshly published messages: the client's bytes plus id and time."""
    ts = Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000).SerializeToString()
    time_field = b"\x22" + _varint(len(ts)) + ts
    if bodies is None:
        for msg in messages:
            msg.wire = encode_message(msg)
        return
    for msg, body in zip(messages, bodies, strict=True):
        if body is None:
            msg.wire = encode_message(msg)
        else:
            mid = str(msg.seq).encode()
            msg.wire = b"".join((body, b"\x1a", bytes((len(mid),)), mid, time_field))
        msg._data = None  # the payload lives in ``wire`` from now on


def decode_message(seq: int, topic: str, body: bytes) -> Message:
    pb = PubsubMessage.FromString(body)
    attrs = dict(pb.attributes)
    msg = Message(seq, pb.data, attrs, pb.ordering_key, timestamp_ns(pb.publish_time), topic, body)
    msg._data = None
    return msg


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def data_only_bodies(raw: bytes) -> list[tuple[bytes, int]] | None:
    """(serialized PubsubMessage, data length) of each message of a parsed PublishRequest,
    when every message carries non-empty ``data`` and nothing else; None otherwise.

    The common publish needs no per-message protobuf objects then: the client's bytes are
    stored as they are, with only id and publish time appended.
    """
    out = []
    append = out.append
    read = _read_varint
    i = 0
    end = len(raw)
    while i < end:
        tag = raw[i]
        if tag != 0x0A and tag != 0x12:  # topic, messages; anything else takes the full path
            return None
        length = raw[i + 1]
        if length < 0x80:  # varints inline while they fit in one or two bytes (hot loop)
            i += 2
        elif raw[i + 2] < 0x80:
            length = (length & 0x7F) | (raw[i + 2] << 7)
            i += 3
        else:
            i, length = read(raw, i + 1)
        if tag == 0x12:
            # the message must be exactly one data field: 0x0A, varint length, the data
            if length < 2 or raw[i] != 0x0A:
                return None
            size = raw[i + 1]
            if size < 0x80:
                head = 2
            elif raw[i + 2] < 0x80:
                size = (size & 0x7F) | (raw[i + 2] << 7)
                head = 3
            else:
                after, size = read(raw, i + 1)
                head = after - i
            if head + size != length or not size:
                return None
            append((raw[i : i + length], size))
        i += length
    return out


def _read_varint(raw: bytes, i: int) -> tuple[int, int]:
    """(position after, value) of the varint at ``i``."""
    value = 0
    shift = 0
    while True:
        byte = raw[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return i, value
        shift += 7


def received_messages(entries: list[Any], with_attempts: bool) -> bytes:
    """``repeated ReceivedMessage received_messages = 1`` of Pull/StreamingPull responses."""
    parts = []
    varint = _varint
    for entry in entries:
        ack = entry.ack_id.encode()
        body = entry.msg.wire
        # ack ids are short: one length byte
        inner = b"\x0a" + bytes((len(ack),)) + ack + b"\x12" + varint(len(body)) + body
        if with_attempts:
            inner += b"\x18" + varint(entry.attempts)
        parts.append(b"\x0a" + varint(len(inner)))
        parts.append(inner)
    return b"".join(parts)


@functools.cache
def subscription_properties(exactly_once: bool, ordered: bool) -> bytes:
    """``StreamingPullResponse.subscription_properties`` (field 4), serialized."""
    return StreamingPullResponse(
        subscription_properties={
            "exactly_once_delivery_enabled": exactly_once,
            "message_ordering_enabled": ordered,
        }
    ).SerializeToString()


def serialize(message: Any) -> bytes:
    """Response serializer that also passes hand-encoded bytes through."""
    if isinstance(message, bytes):
        return message
    return message.SerializeToString()
