"""google.pubsub.v1.Subscriber: protobuf in, model calls, protobuf (or hand-encoded bytes) out."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from emulators.pubsub import names, wire
from emulators.pubsub.broker import Broker
from emulators.pubsub.errors import ApiError, invalid, not_found
from emulators.pubsub.faults import Faults
from emulators.pubsub.rpc import MALFORMED, Malformed, Method, abort, log, register
from emulators.pubsub.subscriptions import MAX_ACK_DEADLINE, Entry, Subscription

SERVICE = "google.pubsub.v1.Subscriber"
PULL_WAIT_S = 1.0  # a Pull with nothing to deliver returns empty after this long
MAX_BATCH = 1000  # messages per StreamingPullResponse
BATCH_BYTES = 4 << 20
UNLIMITED = 1 << 62


class Stream:
    """Flow-control state of one StreamingPull call (the lease owner of what it delivered)."""

    __slots__ = ("max_messages", "max_bytes", "deadline", "outstanding", "bytes", "waiter")
    kind = "streaming_pull"  # who holds a lease, for hooks.messages()

    def __init__(self, max_messages: int, max_bytes: int, deadline: int):
        self.max_messages = max_messages or UNLIMITED
        self.max_bytes = max_bytes or UNLIMITED
        self.deadline = deadline
        self.outstanding = 0
        self.bytes = 0
        self.waiter: asyncio.Future | None = None

    def room(self) -> int:
        if self.bytes >= self.max_bytes:
            return 0
        return min(self.max_messages - self.outstanding, MAX_BATCH)

    def lease(self, entries: list[Entry]) -> None:
        self.outstanding += len(entries)
        self.bytes += sum(e.msg.size for e in entries)

    def release(self, entry: Entry) -> None:
        self.outstanding -= 1
        self.bytes -= entry.msg.size
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class SubscriberServicer:
    def __init__(self, broker: Broker, faults: Faults):
        self.broker = broker
        self.faults = faults
        self.exports: Any = None  # exports.ExportWorkers: checks export destinations

    # ---- admin ---------------------------------------------------------------------------
    def _resource(self, config: dict[str, Any]) -> Any:
        """The Subscription as the service returns it, with its output-only fields."""
        topic = self.broker.topics.get(config.get("topic", ""))
        retention = topic.config.get("message_retention_duration") if topic else None
        return wire.subscription(config, topic_retention=retention)

    async def CreateSubscription(self, req: Any, context: Any = None) -> Any:
        config = wire.to_dict(req)
        if self.exports is not None and self.exports.field_of(config):
            self.broker.check_new_subscription(config)
            await self.exports.validate(config)  # the destination, as the service checks it
        return self._resource(self.broker.create_subscription(config))

    def GetSubscription(self, req: Any) -> Any:
        return self._resource(self.broker.subscription(req.subscription).config)

    async def UpdateSubscription(self, req: Any, context: Any = None) -> Any:
        config = self.broker.updated_subscription(
            wire.to_dict(req.subscription), list(req.update_mask.paths)
        )
        if self.exports is not None:
            await self.exports.validate(config)
        return self._resource(self.broker.replace_subscription(config))

    def ListSubscriptions(self, req: Any) -> Any:
        configs, token = self.broker.list_subscriptions(req.project, req.page_size, req.page_token)
        return wire.ListSubscriptionsResponse(
            subscriptions=[self._resource(c) for c in configs],
            next_page_token=token,
        )

    def DeleteSubscription(self, req: Any) -> Any:
        self.broker.delete_subscription(req.subscription)
        return wire.Empty()

    def ModifyPushConfig(self, req: Any) -> Any:
        update = {"name": req.subscription, "push_config": wire.to_dict(req.push_config)}
        self.broker.update_subscription(update, ["push_config"])
        return wire.Empty()

    # ---- snapshots -----------------------------------------------------------------------
    @staticmethod
    def _snapshot(snap: Any) -> Any:
        return wire.Snapshot(
            name=snap.name,
            topic=snap.topic,
            expire_time=wire.timestamp(snap.expire_time_ns),
            labels=snap.labels,
        )

    def GetSnapshot(self, req: Any) -> Any:
        return self._snapshot(self.broker.snapshot(req.snapshot))

    def ListSnapshots(self, req: Any) -> Any:
        snaps, token = self.broker.list_snapshots(req.project, req.page_size, req.page_token)
        return wire.ListSnapshotsResponse(
            snapshots=[self._snapshot(s) for s in snaps], next_page_token=token
        )

    def CreateSnapshot(self, req: Any) -> Any:
        snap = self.broker.create_snapshot(req.name, req.subscription, dict(req.labels))
        return self._snapshot(snap)

    def UpdateSnapshot(self, req: Any) -> Any:
        snap = req.snapshot
        expire = wire.timestamp_ns(snap.expire_time) if snap.HasField("expire_time") else None
        updated = self.broker.update_snapshot(
            snap.name, dict(snap.labels), expire, list(req.update_mask.paths)
        )
        return self._snapshot(updated)

    def DeleteSnapshot(self, req: Any) -> Any:
        self.broker.delete_snapshot(req.snapshot)
        return wire.Empty()

    def Seek(self, req: Any) -> Any:
        target = req.WhichOneof("target")
        if target == "time":
            self.broker.seek_time(req.subscription, wire.timestamp_ns(req.time))
        elif target == "snapshot":
            self.broker.seek_snapshot(req.subscription, req.snapshot)
        else:
            names.subscription(req.subscription)
            raise invalid("Exactly one of time or snapshot must be set in a SeekRequest.")
        return wire.SeekResponse()

    # ---- acks ----------------------------------------------------------------------------
    def Acknowledge(self, req: Any) -> Any:
        self.broker.acknowledge(req.subscription, list(req.ack_ids))
        return wire.Empty()

    def ModifyAckDeadline(self, req: Any) -> Any:
        self.broker.modify_ack_deadline(
            req.subscription, list(req.ack_ids), req.ack_deadline_seconds
        )
        return wire.Empty()

    # ---- pull ----------------------------------------------------------------------------
    async def Pull(self, req: Any, context: Any) -> bytes:
        sub = self.broker.subscription(req.subscription)
        sub.require_active()
        if req.max_messages <= 0:
            raise invalid("max_messages must be greater than 0.")
        entries = sub.take(req.max_messages, UNLIMITED, sub.ack_deadline)
        if not entries and not req.return_immediately:
            loop = asyncio.get_running_loop()
            # answer (empty) well before the client's own deadline, never after it
            remaining = context.time_remaining() if context is not None else None
            wait = PULL_WAIT_S if remaining is None else min(PULL_WAIT_S, remaining * 0.8)
            until = loop.time() + wait
            while not entries and not sub.deleted and loop.time() < until:
                try:
                    await sub.wait(timeout=until - loop.time())
                except TimeoutError:
                    break
                entries = sub.take(req.max_messages, UNLIMITED, sub.ack_deadline)
        return wire.received_messages(entries, bool(sub.dead_letter_topic))

    async def StreamingPull(self, requests: Any, context: grpc.aio.ServicerContext) -> None:
        try:
            first = await requests.__anext__()
        except StopAsyncIteration:
            return
        try:
            if isinstance(first, Malformed):
                raise first.status
            if self.faults.active:
                await self.faults.inject("StreamingPull")
            sub = self.broker.subscription(first.subscription)
            sub.require_active()
            deadline = first.stream_ack_deadline_seconds
            if not 10 <= deadline <= MAX_ACK_DEADLINE:
                raise invalid(
                    f"Invalid stream_ack_deadline_seconds: {deadline}. It must be between 10 "
                    f"and {MAX_ACK_DEADLINE} seconds."
                )
            stream = Stream(first.max_outstanding_messages, first.max_outstanding_bytes, deadline)
            outbox: list[bytes] = []
            self._apply(sub, stream, first, outbox)
        except ApiError as err:
            await abort(context, err)
            return
        reader = asyncio.ensure_future(self._read(requests, sub, stream, outbox))
        reader.add_done_callback(lambda _: stream.wake())
        sub.connected += 1
        try:
            await self._deliver(sub, stream, outbox, reader, context)
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except ApiError as err:  # e.g. an oversize request on the stream
            await abort(context, err)
        except Exception as err:  # a bug: answer INTERNAL rather than UNKNOWN
            log.exception("StreamingPull failed")
            await context.abort(grpc.StatusCode.INTERNAL, f"Internal error: {err}")
        finally:
            reader.cancel()
            sub.connected -= 1
            sub.touch()
            for entry in list(sub.leases.values()):
                if entry.owner is stream:
                    entry.owner = None  # the lease stays until its deadline, like the service

    async def _deliver(self, sub: Subscription, stream: Stream, outbox, reader, context) -> None:
        loop = asyncio.get_running_loop()
        break_after, break_seconds = self.faults.stream_limits() if self.faults.active else (0, 0)
        started = loop.time()
        if break_seconds:
            loop.call_later(break_seconds, stream.wake)
        sent = 0
        while not reader.done():
            if sub.deleted:
                await abort(context, not_found(sub.name))
            if sub.detached:
                try:
                    sub.require_active()
                except ApiError as err:
                    await abort(context, err)
            if break_seconds and loop.time() - started >= break_seconds:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "Injected fault: stream broken.")
            # read each time: an UpdateSubscription may change them mid-stream
            props = wire.subscription_properties(sub.exactly_once, sub.ordered)
            if outbox:
                chunks, outbox[:] = list(outbox), []
                await context.write(props + b"".join(chunks))
                continue
            room = stream.room()
            entries = []
            if room > 0 and (sub.pending or sub.ready_keys):
                entries = sub.take(room, stream.max_bytes - stream.bytes, stream.deadline, stream)
            if entries:
                stream.lease(entries)
                body = wire.received_messages(entries, bool(sub.dead_letter_topic))
                await context.write(props + body)
                sent += len(entries)
                if break_after and sent >= break_after:
                    await context.abort(
                        grpc.StatusCode.UNAVAILABLE, "Injected fault: stream broken."
                    )
                continue
            await sub.wait(stream)
        if not reader.cancelled() and reader.exception() is not None:
            raise reader.exception()

    async def _read(self, requests: Any, sub: Subscription, stream: Stream, outbox) -> None:
        async for req in requests:
            if isinstance(req, Malformed):
                if req.status is not MALFORMED:  # too large: the stream ends with the status
                    raise req.status
                return  # ends the stream; the client reconnects
            self._apply(sub, stream, req, outbox)
            if outbox:
                stream.wake()

    def _apply(self, sub: Subscription, stream: Stream, req: Any, outbox: list[bytes]) -> None:
        """Acks, modacks and deadline changes carried on the stream."""
        if req.stream_ack_deadline_seconds:
            stream.deadline = min(MAX_ACK_DEADLINE, max(10, req.stream_ack_deadline_seconds))
        confirm = sub.exactly_once
        if req.ack_ids:
            ack_ids = list(req.ack_ids)
            try:
                failed = sub.ack(ack_ids)
            except ApiError:
                failed = ack_ids
            if confirm:
                bad = set(failed)
                outbox.append(
                    wire.StreamingPullResponse(
                        acknowledge_confirmation={
                            "ack_ids": [a for a in ack_ids if a not in bad],
                            "invalid_ack_ids": failed,
                        }
                    ).SerializeToString()
                )
        if req.modify_deadline_ack_ids:
            by_seconds: dict[int, list[str]] = {}
            for ack_id, secs in zip(
                req.modify_deadline_ack_ids, req.modify_deadline_seconds, strict=False
            ):
                by_seconds.setdefault(secs, []).append(ack_id)
            ok: list[str] = []
            bad_ids: list[str] = []
            for secs, ack_ids in by_seconds.items():
                try:
                    failed = sub.modify(ack_ids, max(0, min(secs, MAX_ACK_DEADLINE)))
                except ApiError:
                    failed = ack_ids
                bad = set(failed)
                ok.extend(a for a in ack_ids if a not in bad)
                bad_ids.extend(failed)
            if confirm:
                outbox.append(
                    wire.StreamingPullResponse(
                        modify_ack_deadline_confirmation={
                            "ack_ids": ok,
                            "invalid_ack_ids": bad_ids,
                        }
                    ).SerializeToString()
                )


REQUESTS = {
    "CreateSubscription": "Subscription",
    "GetSubscription": "GetSubscriptionRequest",
    "UpdateSubscription": "UpdateSubscriptionRequest",
    "ListSubscriptions": "ListSubscriptionsRequest",
    "DeleteSubscription": "DeleteSubscriptionRequest",
    "ModifyPushConfig": "ModifyPushConfigRequest",
    "GetSnapshot": "GetSnapshotRequest",
    "ListSnapshots": "ListSnapshotsRequest",
    "CreateSnapshot": "CreateSnapshotRequest",
    "UpdateSnapshot": "UpdateSnapshotRequest",
    "DeleteSnapshot": "DeleteSnapshotRequest",
    "Seek": "SeekRequest",
    "Acknowledge": "AcknowledgeRequest",
    "ModifyAckDeadline": "ModifyAckDeadlineRequest",
}


def add_to_server(server: Any, broker: Broker, faults: Faults) -> SubscriberServicer:
    servicer = SubscriberServicer(broker, faults)
    methods = {
        name: (getattr(servicer, name), wire.request_type(req).FromString)
        for name, req in REQUESTS.items()
    }
    methods["Pull"] = (servicer.Pull, wire.request_type("PullRequest").FromString)
    streaming = {"StreamingPull": (servicer.StreamingPull, wire.StreamingPullRequest.FromString)}
    register(server, SERVICE, methods, faults, streaming)
    return servicer


def rest_methods(servicer: SubscriberServicer) -> dict[str, Any]:
    """The same methods for the REST wire (rpc.Method by RPC name); StreamingPull is gRPC only."""
    methods = {
        name: Method(wire.request_type(req), lambda req, ctx, fn=getattr(servicer, name): fn(req))
        for name, req in REQUESTS.items()
    }

    async def pull(req: Any, ctx: Any) -> Any:
        return wire.PullResponse.FromString(await servicer.Pull(req, ctx))

    methods["Pull"] = Method(wire.request_type("PullRequest"), pull)
    return methods
