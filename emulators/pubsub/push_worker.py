"""Drives push subscriptions: leases their messages and POSTs them through push.PushDispatcher."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from emulators.pubsub.subscriptions import PUSH_BACKOFF, Entry, Subscription

log = logging.getLogger("emulators.pubsub.push")
MAX_IN_FLIGHT = 16


class _Lane:
    """The lease owner of one push subscription's in-flight deliveries."""

    kind = "push"  # who holds a lease, for hooks.messages()

    def __init__(self) -> None:
        self.outstanding = 0
        self.waiter: asyncio.Future | None = None

    def release(self, entry: Entry) -> None:
        self.outstanding -= 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class PushWorkers:
    """One delivery task per push subscription, started and stopped as configs change."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}
        self._dispatcher: Any = None
        self._push: Any = None

    def _module(self) -> Any:
        if self._push is None:
            from emulators.pubsub import push

            self._push = push
            self._dispatcher = push.PushDispatcher()
        return self._push

    def on_change(self, sub: Subscription | None, name: str) -> None:
        wanted = sub is not None and sub.push_endpoint and not sub.detached and not sub.deleted
        task = self.tasks.get(name)
        if wanted and task is None:
            self.tasks[name] = asyncio.get_running_loop().create_task(self._run(sub))
        elif not wanted and task is not None:
            task.cancel()
            del self.tasks[name]

    async def _run(self, sub: Subscription) -> None:
        push = self._module()
        lane = _Lane()
        loop = asyncio.get_running_loop()
        while not sub.deleted and sub.push_endpoint:
            room = MAX_IN_FLIGHT - lane.outstanding
            entries = sub.take(room, 1 << 62, sub.ack_deadline, lane) if room > 0 else []
            lane.outstanding += len(entries)
            for entry in entries:
                loop.create_task(self._deliver(push, sub, entry))
            if not entries:
                await sub.wait(lane)

    async def _deliver(self, push: Any, sub: Subscription, entry: Entry) -> None:
        ack_id = entry.ack_id
        attempt = entry.attempts if sub.dead_letter_topic else None
        config = sub.config.get("push_config") or {}
        try:
            if "no_wrapper" in config:
                write_metadata = bool(config["no_wrapper"].get("write_metadata"))
                body, headers = push.unwrapped(entry.msg, sub.name, write_metadata)
                ok = await self._dispatcher.deliver(sub.push_endpoint, body, headers)
            else:
                body = push.envelope(entry.msg, sub.name, attempt)
                ok = await self._dispatcher.deliver(sub.push_endpoint, body, {})
        except Exception:  # never let one delivery kill the worker
            log.exception("push delivery to %s failed", sub.push_endpoint)
            ok = False
        if sub.leases.get(ack_id) is not entry:
            return  # the lease expired (and was redelivered) meanwhile
        if ok:
            sub.ack([ack_id])
        else:
            entry.nacks += 1
            sub.nack(entry, sub.clock.monotonic(), backoff=PUSH_BACKOFF)
            sub.notify()

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        if self._dispatcher is not None:
            await self._dispatcher.close()
