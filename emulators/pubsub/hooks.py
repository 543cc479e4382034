"""Test hooks (ours, not part of Google's API): a settable clock, a view of every message,
clear-all and per-method error injection.

``Hooks`` works on the model in-process; ``AdminClient`` drives the same hooks of a running
emulator process through its admin endpoint (``admin.py``, under ``/_emulator/`` on the same
port)::

    admin = AdminClient("127.0.0.1:8085")
    admin.fail("Publish", "UNAVAILABLE", times=2)   # the next two Publish calls fail
    admin.advance(600)                               # ten minutes pass: leases expire...
    admin.messages("projects/p/subscriptions/s")     # deliveries, acks, modacks, leases
    admin.reset()                                    # every topic, subscription... gone
"""

from __future__ import annotations

import base64
from collections import deque
from datetime import datetime
from typing import Any

from emulators.pubsub.clock import parse_rfc3339_ns, rfc3339_ns


def _holder(owner: Any) -> str:
    return getattr(owner, "kind", "pull") if owner is not None else "pull"


def message_record(sub: Any, entry: Any, state: str, at_ns: int | None = None) -> dict[str, Any]:
    """One message as a subscription sees it (JSON-ready, camelCase like the API)."""
    msg = entry.msg
    record: dict[str, Any] = {
        "subscription": sub.name,
        "messageId": str(msg.seq),
        "data": base64.b64encode(msg.data).decode(),
        "attributes": dict(msg.attributes),
        "orderingKey": msg.ordering_key,
        "publishTime": rfc3339_ns(msg.publish_time_ns),
        "state": state,
        "deliveryAttempts": entry.attempts,
        "acks": 1 if state == "acked" else 0,
        "modacks": entry.modacks,
        "nacks": entry.nacks,
        "expiredLeases": entry.expired,
        "lease": None,
    }
    if at_ns is not None:
        record["stateTime"] = rfc3339_ns(at_ns)
    if entry.ack_id is not None and state == "leased":
        record["lease"] = {
            "ackId": entry.ack_id,
            "expiresInSeconds": round(max(0.0, entry.deadline - sub.clock.monotonic()), 3),
            "holder": _holder(entry.owner),
        }
    return record


def subscription_messages(sub: Any) -> list[dict[str, Any]]:
    """Unacked messages (leased, ready or delayed) then the recent acked/dead-lettered ones."""
    ready = {id(e) for e in sub.pending}
    ready.update(id(e) for queue in sub.key_queues.values() for e in queue)
    out = []
    for entry in sub.entries.values():
        if entry.ack_id is not None:
            state = "leased"
        else:
            state = "ready" if id(entry) in ready else "delayed"
        out.append(message_record(sub, entry, state))
    out.sort(key=lambda r: int(r["messageId"]))
    out += [message_record(sub, entry, state, at) for entry, state, at in sub.history]
    return out


class Hooks:
    """The hooks on one broker (and the faults of its process)."""

    def __init__(self, broker: Any, faults: Any):
        self.broker = broker
        self.faults = faults

    # ---- clock ------------------------------------------------------------------------------
    @property
    def clock(self) -> Any:
        return self.broker.clock

    def clock_state(self) -> dict[str, Any]:
        return {
            "time": rfc3339_ns(self.clock.time_ns()),
            "offsetSeconds": self.clock.offset_ns / 1e9,
            "frozen": self.clock.frozen,
        }

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move time forward; what falls due (leases, backoffs, retention, expiration)
        happens before this returns."""
        self.clock.advance(seconds)
        self.broker.tick()
        return self.clock_state()

    def set_time(self, when: datetime | str | int) -> dict[str, Any]:
        """Jump to a later time: a datetime, an RFC 3339 string or nanoseconds."""
        if isinstance(when, datetime):
            ns = int(when.timestamp() * 1e9)
        elif isinstance(when, str):
            ns = parse_rfc3339_ns(when)
        else:
            ns = int(when)
        self.clock.set_time(ns)
        self.broker.tick()
        return self.clock_state()

    def freeze(self, frozen: bool = True) -> dict[str, Any]:
        if frozen:
            self.clock.freeze()
        else:
            self.clock.unfreeze()
        return self.clock_state()

    # ---- introspection, reset ------------------------------------------------------------
    def messages(self, subscription: str | None = None) -> list[dict[str, Any]]:
        """Every message each subscription holds or recently acked/dead-lettered, with its
        delivery attempts, acks, modacks, nacks, expired leases and current lease."""
        if subscription:
            subs = [self.broker.subscription(subscription)]
        else:
            subs = [self.broker.subscriptions[name] for name in sorted(self.broker.subscriptions)]
        return [record for sub in subs for record in subscription_messages(sub)]

    def set_history(self, limit: int) -> None:
        """Keep this many acked/dead-lettered messages per subscription (0: none)."""
        if limit < 0:
            raise ValueError("the history limit must be 0 or more")
        self.broker.history_limit = limit
        for sub in self.broker.subscriptions.values():
            sub.history = deque(sub.history, maxlen=limit)

    def reset(self) -> None:
        """Delete every topic, subscription, snapshot, schema and IAM policy."""
        self.broker.clear()

    # ---- faults -------------------------------------------------------------------------
    def fail(self, method: str, code: str = "UNAVAILABLE", times: int | None = 1,
             message: str = "") -> None:
        """The next ``times`` calls of ``method`` (``None``: all, until cleared) fail."""
        self.faults.fail(method, code, times, message)

    def configure_faults(self, settings: dict[str, Any]) -> None:
        """Rates, latencies, duplicates, stream breaks: the ``--faults`` file's format."""
        self.faults.configure(settings)

    def clear_faults(self) -> None:
        self.faults.clear()


class AdminClient:
    """The hooks of a running emulator, over its admin endpoint (plain HTTP/JSON)."""

    def __init__(self, host: str, timeout: float = 30.0):
        import requests

        self.base = host if "://" in host else f"http://{host}"
        self.base = self.base.rstrip("/") + "/_emulator"
        self.timeout = timeout
        self.http = requests.Session()

    def _call(self, verb: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.http.request(
            verb, self.base + path, json=body, params=params or None, timeout=self.timeout
        )
        payload = response.json()
        if response.status_code >= 400:
            error = payload.get("error", {})
            raise RuntimeError(f"{error.get('status')}: {error.get('message')}")
        return payload

    def clock(self) -> dict[str, Any]:
        return self._call("GET", "/clock")

    def advance(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "/clock", {"advance": seconds})

    def set_time(self, when: str) -> dict[str, Any]:
        return self._call("POST", "/clock", {"time": when})

    def freeze(self, frozen: bool = True) -> dict[str, Any]:
        return self._call("POST", "/clock", {"frozen": frozen})

    def messages(self, subscription: str | None = None) -> list[dict[str, Any]]:
        params = {"subscription": subscription} if subscription else {}
        return self._call("GET", "/messages", **params)["messages"]

    def reset(self) -> None:
        self._call("POST", "/reset", {})

    def fail(self, method: str, code: str = "UNAVAILABLE", times: int | None = 1,
             message: str = "") -> None:
        self._call("POST", "/faults:fail",
                   {"method": method, "code": code, "times": times, "message": message})

    def configure_faults(self, settings: dict[str, Any]) -> None:
        self._call("PUT", "/faults", settings)

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")
