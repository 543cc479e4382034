"""google.pubsub.v1.Publisher: protobuf in, model calls, protobuf out."""

from __future__ import annotations

from typing import Any

from emulators.pubsub import wire
from emulators.pubsub.broker import Broker
from emulators.pubsub.errors import invalid, too_large
from emulators.pubsub.faults import Faults
from emulators.pubsub.rpc import Method, register
from emulators.pubsub.topics import Message

SERVICE = "google.pubsub.v1.Publisher"
MAX_REQUEST_BYTES = 10_000_000
MAX_MESSAGES = 1000
MAX_ATTRIBUTES = 100
MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 1024
MAX_ORDERING_KEY_BYTES = 1024


class PublisherServicer:
    def __init__(self, broker: Broker):
        self.broker = broker

    def CreateTopic(self, req: Any) -> Any:
        return wire.from_dict(wire.Topic, self.broker.create_topic(wire.to_dict(req)))

    def UpdateTopic(self, req: Any) -> Any:
        config = self.broker.update_topic(wire.to_dict(req.topic), list(req.update_mask.paths))
        return wire.from_dict(wire.Topic, config)

    def GetTopic(self, req: Any) -> Any:
        return wire.from_dict(wire.Topic, self.broker.topic(req.topic).config)

    def DeleteTopic(self, req: Any) -> Any:
        self.broker.delete_topic(req.topic)
        return wire.Empty()

    def ListTopics(self, req: Any) -> Any:
        configs, token = self.broker.list_topics(req.project, req.page_size, req.page_token)
        return wire.ListTopicsResponse(
            topics=[wire.from_dict(wire.Topic, c) for c in configs], next_page_token=token
        )

    def ListTopicSubscriptions(self, req: Any) -> Any:
        subs, token = self.broker.topic_subscriptions(req.topic, req.page_size, req.page_token)
        return wire.ListTopicSubscriptionsResponse(subscriptions=subs, next_page_token=token)

    def ListTopicSnapshots(self, req: Any) -> Any:
        snaps, token = self.broker.topic_snapshots(req.topic, req.page_size, req.page_token)
        return wire.ListTopicSnapshotsResponse(snapshots=snaps, next_page_token=token)

    def DetachSubscription(self, req: Any) -> Any:
        self.broker.detach_subscription(req.subscription)
        return wire.DetachSubscriptionResponse()

    def Publish(self, parsed: tuple[bytes, Any]) -> Any:
        raw, req = parsed
        size = len(raw)
        broker = self.broker
        topic = broker.topic(req.topic)
        pbs = req.messages
        if not pbs:
            raise invalid("No messages to publish.")
        if len(pbs) > MAX_MESSAGES:
            raise too_large("message_count", len(pbs), MAX_MESSAGES)
        if size > MAX_REQUEST_BYTES:
            raise too_large("request_size", size, MAX_REQUEST_BYTES)
        schema = topic.schema_settings is not None
        plain = None if schema else wire.data_only_bodies(raw)
        if plain is not None and len(plain) == len(pbs):
            messages = [Message(0, None, {}, "", 0, size=n) for _, n in plain]
            broker.publish(topic, messages, [body for body, _ in plain])
            return wire.PublishResponse(message_ids=[str(m.seq) for m in messages])
        messages = []
        bodies: list[bytes | None] = []
        for pb in pbs:
            data = pb.data
            attrs = dict(pb.attributes) if len(pb.attributes) else {}
            if not data and not attrs:
                raise invalid(
                    "One or more messages in the publish request is empty. Each message must "
                    "contain either non-empty data, or at least one attribute."
                )
            if attrs:
                _check_attributes(attrs)
            key = pb.ordering_key
            if key and len(key.encode()) > MAX_ORDERING_KEY_BYTES:
                raise too_large("ordering_key", len(key.encode()), MAX_ORDERING_KEY_BYTES)
            reuse = not (schema or pb.message_id or pb.HasField("publish_time"))
            if schema:
                extra = broker.validate_schema(topic, data)
                if extra:
                    attrs.update(extra)
            messages.append(Message(0, data, attrs, key, 0))
            # the client's own bytes, to which only id and publish time get appended
            bodies.append(pb.SerializeToString() if reuse else None)
        broker.publish(topic, messages, bodies)
        return wire.PublishResponse(message_ids=[str(m.seq) for m in messages])


def _check_attributes(attrs: dict[str, str]) -> None:
    if len(attrs) > MAX_ATTRIBUTES:
        raise too_large("attributes", len(attrs), MAX_ATTRIBUTES)
    for key, value in attrs.items():
        if not key:
            raise invalid("Attribute keys must not be empty.")
        if len(key) * 4 > MAX_KEY_BYTES and len(key.encode()) > MAX_KEY_BYTES:
            raise too_large("attribute key", len(key.encode()), MAX_KEY_BYTES)
        if len(value) * 4 > MAX_VALUE_BYTES and len(value.encode()) > MAX_VALUE_BYTES:
            raise too_large("attribute value", len(value.encode()), MAX_VALUE_BYTES)


def _with_raw(cls: Any):
    """Deserializer keeping the request's bytes too (its size; the messages as sent)."""

    def deserialize(raw: bytes) -> tuple[bytes, Any]:
        return raw, cls.FromString(raw)

    return deserialize


REQUESTS = {
    "CreateTopic": "Topic",
    "UpdateTopic": "UpdateTopicRequest",
    "GetTopic": "GetTopicRequest",
    "DeleteTopic": "DeleteTopicRequest",
    "ListTopics": "ListTopicsRequest",
    "ListTopicSubscriptions": "ListTopicSubscriptionsRequest",
    "ListTopicSnapshots": "ListTopicSnapshotsRequest",
    "DetachSubscription": "DetachSubscriptionRequest",
}


def add_to_server(server: Any, broker: Broker, faults: Faults) -> PublisherServicer:
    servicer = PublisherServicer(broker)
    methods = {
        name: (getattr(servicer, name), wire.request_type(req).FromString)
        for name, req in REQUESTS.items()
    }
    methods["Publish"] = (servicer.Publish, _with_raw(wire.request_type("PublishRequest")))
    register(server, SERVICE, methods, faults)
    return servicer


def rest_methods(servicer: PublisherServicer) -> dict[str, Any]:
    """The same methods for the REST wire (rpc.Method by RPC name)."""
    methods = {
        name: Method(wire.request_type(req), lambda req, ctx, fn=getattr(servicer, name): fn(req))
        for name, req in REQUESTS.items()
    }
    methods["Publish"] = Method(
        wire.request_type("PublishRequest"),
        lambda req, ctx: servicer.Publish((req.SerializeToString(), req)),
    )
    return methods
