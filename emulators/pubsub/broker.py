"""Model: every topic, subscription and snapshot, and the operations across them.

The wire layer (publisher.py / subscriber.py) calls in with plain Python values and gets plain
Python values or an ``ApiError`` back. Persistence is written through ``self.store``.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from emulators.pubsub import configs, names
from emulators.pubsub.clock import Clock
from emulators.pubsub.errors import ApiError, already_exists, invalid, not_found, short
from emulators.pubsub.policies import Policies
from emulators.pubsub.snapshots import SNAPSHOT_LIFETIME_S, Snapshot
from emulators.pubsub.store import NullStore
from emulators.pubsub.subscriptions import (
    HISTORY_LIMIT,
    INVALID_ACK_ID,
    Subscription,
)
from emulators.pubsub.topics import Message, Topic

EXACTLY_ONCE_FAILURE = (
    "Some acknowledgement ids in the request were invalid. This could be because the "
    "acknowledgement ids have expired or the acknowledgement ids were malformed."
)


def rfc3339_ms(ns: int) -> str:
    """Timestamps as the service writes them into dead-letter attributes."""
    dt = datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{(ns // 1_000_000) % 1000:03d}+00:00"


class Broker:
    """All Pub/Sub state of one emulator process."""

    def __init__(self, store: Any = None, schemas: Any = None, clock: Clock | None = None):
        self.store = store or NullStore()
        self.schemas = schemas
        self.clock = clock or Clock()
        self._next_expiry_check = 0.0
        self.history_limit = HISTORY_LIMIT  # acked messages kept per subscription (hooks)
        self.topics: dict[str, Topic] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.policies = Policies(self.store)  # IAM policies, by resource name
        self.seq = 0
        self.epoch = secrets.token_hex(4)
        # (messages, publish_ns, client bodies or None) -> sets each message's ``wire``
        self.encode: Callable[[list[Message], int, list[bytes] | None], None] = (
            lambda msgs, ns, bodies: None
        )
        self.duplicate: Callable[[], bool] = lambda: False
        self.on_subscription_change: Callable[[Subscription | None, str], None] = lambda s, n: None

    # ---- topics --------------------------------------------------------------------------
    def topic(self, name: str) -> Topic:
        names.topic(name)
        topic = self.topics.get(name)
        if topic is None:
            raise not_found(name)
        return topic

    def _check_topic_config(self, config: dict[str, Any]) -> None:
        configs.check_topic(config)
        settings = config.get("schema_settings")
        if settings and settings.get("schema"):
            self._check_schema(settings["schema"])

    def _check_schema(self, schema: str) -> None:
        if self.schemas is None:
            return
        from emulators.pubsub.schemas import SchemaNotFound

        try:
            self.schemas.get(schema)
        except SchemaNotFound:
            raise not_found(schema) from None
        except ValueError as exc:
            raise invalid(str(exc)) from None

    def create_topic(self, config: dict[str, Any]) -> dict[str, Any]:
        name = names.topic(config.get("name", ""))
        if name in self.topics:
            raise already_exists(name)
        self._check_topic_config(config)
        topic = Topic(name, config)
        self.topics[name] = topic
        self.store.put("topic", name, config)
        return config

    def update_topic(self, update: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        topic = self.topic(update.get("name", ""))
        config = configs.apply_mask(topic.config, update, paths, configs.TOPIC_UPDATABLE, "Topic")
        self._check_topic_config(config)
        topic.config = config
        self.store.put("topic", topic.name, config)
        return config

    def delete_topic(self, name: str) -> None:
        topic = self.topic(name)
        del self.topics[name]
        for sub in topic.subscriptions.values():
            sub.config["topic"] = names.DELETED_TOPIC
            sub.topic = names.DELETED_TOPIC
            self.store.put("subscription", sub.name, sub.config)
        self.store.delete("topic", name)
        self.policies.drop(name)

    def list_topics(self, project: str, page_size: int, token: str) -> tuple[list[dict], str]:
        pid = names.project(project)
        found = [n for n in self.topics if names.project_of(n) == pid]
        page, next_token = configs.page(found, page_size, token)
        return [self.topics[n].config for n in page], next_token

    def topic_subscriptions(self, name: str, page_size: int, token: str) -> tuple[list[str], str]:
        topic = self.topic(name)
        return configs.page(list(topic.subscriptions), page_size, token)

    def topic_snapshots(self, name: str, page_size: int, token: str) -> tuple[list[str], str]:
        topic = self.topic(name)
        return configs.page(list(topic.snapshots), page_size, token)

    # ---- publish -------------------------------------------------------------------------
    def validate_schema(self, topic: Topic, data: bytes) -> dict[str, str] | None:
        """Check data against the topic's schema; the attributes the service adds, or None."""
        settings = topic.schema_settings
        if settings is None or self.schemas is None:
            return None
        from emulators.pubsub.schemas import SchemaNotFound, SchemaViolation

        encoding = settings.get("encoding") or "JSON"
        if encoding == "ENCODING_UNSPECIFIED":
            encoding = "JSON"
        try:
            revision = self.schemas.validate_message(
                settings["schema"],
                encoding,
                data,
                settings.get("first_revision_id") or None,
                settings.get("last_revision_id") or None,
            )
        except SchemaViolation as exc:
            raise invalid(f"Invalid data in message: {exc}") from None
        except SchemaNotFound as exc:
            raise invalid(f"Invalid schema settings: {exc}") from None
        return {
            "googclient_schemaname": settings["schema"],
            "googclient_schemaencoding": encoding,
            "googclient_schemarevisionid": str(revision or ""),
        }

    def publish(
        self, topic: Topic, messages: list[Message], bodies: list[bytes] | None = None
    ) -> list[Message]:
        """Assign ids and times, fan out to subscriptions and snapshots, persist; return them.

        ``bodies``, when given, are the messages as the client serialized them (no id or
        publish time), so the wire layer only appends those fields.
        """
        now = self.clock.time_ns()
        seq = self.seq
        name = topic.name
        for msg in messages:
            seq += 1
            msg.seq = seq
            msg.publish_time_ns = now
            msg.topic = name
        self.seq = seq
        self.encode(messages, now, bodies)
        fanout = []
        for sub in topic.subscriptions.values():
            if sub.detached:
                continue
            accepted = sub.enqueue(messages)
            if accepted:
                fanout.append((sub.name, [m.seq for m in accepted]))
        snaps = []
        for snap in topic.snapshots.values():
            snap.add(messages)
            snaps.append((snap.name, [m.seq for m in messages]))
        topic.retain(messages, now)
        if self.store.durable:
            rows = [(m.seq, topic.name, now, m.wire) for m in messages]
            self.store.append(rows, fanout, snaps)
        return messages

    def _dead_letter(
        self, sub: Subscription, msg: Message, attempts: int, error: str | None = None
    ) -> None:
        topic = self.topics.get(sub.dead_letter_topic)
        if topic is None:
            return  # the service cannot forward to a deleted topic either
        attrs = dict(msg.attributes)
        attrs["CloudPubSubDeadLetterSourceDeliveryCount"] = str(attempts)
        attrs["CloudPubSubDeadLetterSourceSubscription"] = short(sub.name)
        attrs["CloudPubSubDeadLetterSourceSubscriptionProject"] = names.project_of(sub.name)
        attrs["CloudPubSubDeadLetterSourceTopicPublishTime"] = rfc3339_ms(msg.publish_time_ns)
        if error:  # an export subscription says why it could not write the message
            attrs["CloudPubSubDeadLetterSourceDeliveryErrorMessage"] = error[:1024]
        forwarded = Message(0, msg.data, attrs, msg.ordering_key, 0)
        self.publish(topic, [forwarded])

    # ---- subscriptions -------------------------------------------------------------------
    def subscription(self, name: str) -> Subscription:
        names.subscription(name)
        sub = self.subscriptions.get(name)
        if sub is None:
            raise not_found(name)
        return sub

    def check_new_subscription(self, config: dict[str, Any]) -> str:
        """Everything create_subscription checks (and the defaults it fills in); the name."""
        name = names.subscription(config.get("name", ""))
        topic_name = config.get("topic", "")
        names.topic(topic_name)
        if name in self.subscriptions:
            raise already_exists(name)
        if topic_name not in self.topics:
            raise not_found(topic_name)
        configs.check_subscription(config, self.topics.__contains__)
        return name

    def create_subscription(self, config: dict[str, Any]) -> dict[str, Any]:
        name = self.check_new_subscription(config)
        sub = self._add_subscription(name, config)
        self.store.put("subscription", name, config)
        self.on_subscription_change(sub, name)
        return config

    def _add_subscription(self, name: str, config: dict[str, Any]) -> Subscription:
        sub = Subscription(name, config, self.epoch, self.clock)
        if self.history_limit != HISTORY_LIMIT:
            sub.history = deque(maxlen=self.history_limit)
        sub.on_removed = self._removed
        sub.dead_letter = self._dead_letter
        sub.duplicate_rate = self.duplicate
        self.subscriptions[name] = sub
        topic = self.topics.get(sub.topic)
        if topic is not None and not sub.detached:
            topic.subscriptions[name] = sub
        return sub

    def _removed(self, sub: Subscription, msgs: list[Message]) -> None:
        if self.store.durable:
            self.store.remove(sub.name, [m.seq for m in msgs], sub.retain_acked)

    def update_subscription(self, update: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        return self.replace_subscription(self.updated_subscription(update, paths))

    def updated_subscription(self, update: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        """The config an update would give (checked), without applying it."""
        sub = self.subscription(update.get("name", ""))
        config = configs.apply_mask(
            sub.config, update, paths, configs.SUBSCRIPTION_UPDATABLE, "Subscription"
        )
        configs.check_subscription(config, self.topics.__contains__)
        return config

    def replace_subscription(self, config: dict[str, Any]) -> dict[str, Any]:
        """Apply a config from ``updated_subscription``."""
        sub = self.subscription(config.get("name", ""))
        sub.configure(config)
        sub.touch()
        self.store.put("subscription", sub.name, config)
        self.on_subscription_change(sub, sub.name)
        return config

    def delete_subscription(self, name: str) -> None:
        sub = self.subscription(name)
        del self.subscriptions[name]
        topic = self.topics.get(sub.topic)
        if topic is not None:
            topic.subscriptions.pop(name, None)
        sub.reset([])
        sub.deleted = True
        self.store.delete("subscription", name)
        self.policies.drop(name)
        self.on_subscription_change(None, name)

    def detach_subscription(self, name: str) -> None:
        sub = self.subscription(name)
        topic = self.topics.get(sub.topic)
        if topic is not None:
            topic.subscriptions.pop(name, None)
        sub.config["detached"] = True
        sub.configure(sub.config)
        sub.reset([])
        self.store.reset(name, [], [])
        self.store.put("subscription", name, sub.config)
        self.on_subscription_change(sub, name)

    def list_subscriptions(self, project: str, page_size: int, token: str) -> tuple[list, str]:
        pid = names.project(project)
        found = [n for n in self.subscriptions if names.project_of(n) == pid]
        page, next_token = configs.page(found, page_size, token)
        return [self.subscriptions[n].config for n in page], next_token

    # ---- acks ----------------------------------------------------------------------------
    def acknowledge(self, name: str, ack_ids: list[str]) -> None:
        if not ack_ids:
            raise invalid("No ack ids specified.")
        sub = self.subscription(name)
        failed = sub.ack(ack_ids)
        if failed and sub.exactly_once:
            raise ApiError(
                "INVALID_ARGUMENT", EXACTLY_ONCE_FAILURE, {a: INVALID_ACK_ID for a in failed}
            )

    def modify_ack_deadline(self, name: str, ack_ids: list[str], seconds_: int) -> None:
        if not ack_ids:
            raise invalid("No ack ids specified.")
        sub = self.subscription(name)
        failed = sub.modify(ack_ids, seconds_)
        if failed and sub.exactly_once:
            raise ApiError(
                "INVALID_ARGUMENT", EXACTLY_ONCE_FAILURE, {a: INVALID_ACK_ID for a in failed}
            )

    # ---- snapshots and seek --------------------------------------------------------------
    def snapshot(self, name: str) -> Snapshot:
        names.snapshot(name)
        snap = self.snapshots.get(name)
        if snap is None:
            raise not_found(name)
        return snap

    def create_snapshot(self, name: str, subscription: str, labels: dict) -> Snapshot:
        names.snapshot(name)
        sub = self.subscription(subscription)
        if name in self.snapshots:
            raise already_exists(name)
        topic = self.topics.get(sub.topic)
        if topic is None:
            raise ApiError(
                "FAILED_PRECONDITION",
                f"The subscription's topic has been deleted (resource={short(subscription)}).",
            )
        messages = sub.unacked_messages()
        oldest = min((m.publish_time_ns for m in messages), default=self.clock.time_ns())
        snap = Snapshot(name, topic.name, oldest + SNAPSHOT_LIFETIME_S * 10**9, dict(labels))
        snap.add(messages)
        self._add_snapshot(snap)
        self.store.put("snapshot", name, self._snapshot_record(snap))
        self.store.snapshot(name, [m.seq for m in messages])
        return snap

    def _add_snapshot(self, snap: Snapshot) -> None:
        self.snapshots[snap.name] = snap
        topic = self.topics.get(snap.topic)
        if topic is not None:
            topic.snapshots[snap.name] = snap

    @staticmethod
    def _snapshot_record(snap: Snapshot) -> dict[str, Any]:
        return {**snap.config(), "expire_time_ns": snap.expire_time_ns}

    def update_snapshot(self, name: str, labels: dict | None, expire_ns: int | None, paths):
        snap = self.snapshot(name)
        if not paths:
            raise invalid(
                "The update_mask in the UpdateSnapshotRequest must be set, and must contain a "
                "non-empty paths list."
            )
        for path in paths:
            if path == "labels":
                snap.labels = dict(labels or {})
            elif path == "expire_time":
                snap.expire_time_ns = expire_ns or snap.expire_time_ns
            else:
                raise invalid(
                    f"Invalid update_mask provided in the UpdateSnapshotRequest: {path} is "
                    "not a known Snapshot field."
                )
        self.store.put("snapshot", name, self._snapshot_record(snap))
        return snap

    def delete_snapshot(self, name: str) -> None:
        snap = self.snapshot(name)
        del self.snapshots[name]
        topic = self.topics.get(snap.topic)
        if topic is not None:
            topic.snapshots.pop(name, None)
        self.store.delete("snapshot", name)
        self.policies.drop(name)

    def list_snapshots(self, project: str, page_size: int, token: str) -> tuple[list, str]:
        pid = names.project(project)
        found = [n for n in self.snapshots if names.project_of(n) == pid]
        page, next_token = configs.page(found, page_size, token)
        return [self.snapshots[n] for n in page], next_token

    def seek_time(self, name: str, time_ns: int) -> None:
        sub = self.subscription(name)
        pool = {m.seq: m for m in sub.retained_messages()}
        topic = self.topics.get(sub.topic)
        if topic is not None:
            for m in topic.log:
                pool.setdefault(m.seq, m)
        unacked = [m for m in pool.values() if m.publish_time_ns >= time_ns]
        acked = [m for m in pool.values() if m.publish_time_ns < time_ns]
        sub.reset(unacked, sorted(acked, key=lambda m: m.seq))
        sub.touch()
        self.store.reset(name, [m.seq for m in sub.unacked_messages()], [m.seq for m in sub.acked])

    def seek_snapshot(self, name: str, snapshot: str) -> None:
        sub = self.subscription(name)
        snap = self.snapshot(snapshot)
        if snap.topic != sub.topic:
            raise ApiError(
                "FAILED_PRECONDITION",
                f"The subscription's topic {sub.topic} is different from that of the snapshot "
                f"{snap.topic}; they must match in order for Seek work. Note that if a topic is "
                "deleted and then re-created with the same name, it is considered a distinct "
                "topic for these purposes.",
            )
        sub.reset(list(snap.messages.values()))
        sub.touch()
        self.store.reset(name, [m.seq for m in sub.unacked_messages()], [])

    # ---- time ----------------------------------------------------------------------------
    def tick(self) -> None:
        """Expire leases, release backed-off messages, drop expired snapshots and (once a
        second) subscriptions idle past their expiration policy's ttl."""
        now = self.clock.monotonic()
        for sub in list(self.subscriptions.values()):
            if sub.lease_heap or sub.delayed or sub.acked:
                sub.tick(now)
        wall = self.clock.time_ns()
        for snap in [s for s in self.snapshots.values() if s.expire_time_ns < wall]:
            self.delete_snapshot(snap.name)
        if now >= self._next_expiry_check:
            self._next_expiry_check = now + 1.0
            for sub in [s for s in self.subscriptions.values() if s.idle_too_long(wall)]:
                self.delete_subscription(sub.name)

    def clear(self) -> None:
        """Delete every snapshot, subscription, topic, IAM policy and schema (a test's fresh
        start); message ids keep growing."""
        for name in list(self.snapshots):
            self.delete_snapshot(name)
        for name in list(self.subscriptions):
            self.delete_subscription(name)
        for name in list(self.topics):
            self.delete_topic(name)
        if self.schemas is not None:
            self.schemas.clear()
        self.collect_garbage()

    def collect_garbage(self) -> int:
        """Delete stored messages that no subscription, snapshot or topic log holds any more."""
        if not self.store.durable:
            return 0
        live: set[int] = set()
        for sub in self.subscriptions.values():
            live.update(sub.entries)
            live.update(m.seq for m in sub.acked)
        for snap in self.snapshots.values():
            live.update(snap.messages)
        for topic in self.topics.values():
            live.update(m.seq for m in topic.log)
        dead = [seq for seq in self.store.message_seqs() if seq not in live]
        if dead:
            self.store.drop_messages(dead)
        return len(dead)

    # ---- restore -------------------------------------------------------------------------
    def restore(self, state: dict[str, Any], decode: Callable[[int, str, bytes], Message]) -> None:
        """Rebuild from ``store.load()``; drop stored messages nothing refers to any more."""
        resources = state["resources"]
        for name, config in resources.get("topic", {}).items():
            self.topics[name] = Topic(name, config)
        for name, config in resources.get("subscription", {}).items():
            self._add_subscription(name, config)
        for name, record in resources.get("snapshot", {}).items():
            snap = Snapshot(
                name, record["topic"], record["expire_time_ns"], record.get("labels", {})
            )
            self._add_snapshot(snap)
        self.policies.restore(
            resources.get("iam_policy", {}),
            lambda n: n in self.topics or n in self.subscriptions or n in self.snapshots,
        )
        self.seq = state["max_seq"]
        backlog: dict[int, list[tuple[str, int]]] = {}
        for sub_name, seq, acked in state["backlog"]:
            backlog.setdefault(seq, []).append((sub_name, acked))
        in_snapshots: dict[int, list[str]] = {}
        for snap_name, seq in state["snapshots"]:
            in_snapshots.setdefault(seq, []).append(snap_name)
        garbage = []
        wall = self.clock.time_ns()
        for seq, topic_name, publish_ns, body in state["messages"]:
            topic = self.topics.get(topic_name)
            kept_by_topic = (
                topic is not None
                and topic.retention_s
                and publish_ns >= wall - int(topic.retention_s * 1e9)
            )
            refs = backlog.get(seq, ())
            snaps = in_snapshots.get(seq, ())
            if not refs and not snaps and not kept_by_topic:
                garbage.append(seq)
                continue
            msg = decode(seq, topic_name, body)
            if kept_by_topic:
                topic.log.append(msg)
            for sub_name, acked in refs:
                sub = self.subscriptions.get(sub_name)
                if sub is None:
                    continue
                if acked:
                    sub.acked.append(msg)
                else:
                    sub.restore(msg)
            for snap_name in snaps:
                if snap_name in self.snapshots:
                    self.snapshots[snap_name].add([msg])
        if garbage and self.store.durable:
            self.store.drop_messages(garbage)
