"""What a scenario is, and the context it runs in: clients, unique names, recorded steps.

A scenario is a module in ``parity/scenarios/`` with ``SERVICE = "pubsub"`` or ``"bigquery"``,
a docstring (first line: what it covers) and ``run(ctx)``; ``LOCAL_ONLY = True`` when it needs
something on this machine (a push endpoint), so remote targets skip it as unsupported. It talks to the target only through
the real Google clients on ``ctx`` and records what it saw with :meth:`Context.call` (one API
call: its result or its error) and :meth:`Context.record` (a derived value, e.g. message order).
"""

from __future__ import annotations

import importlib
import pkgutil
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from types import ModuleType
from typing import Any

from parity.convert import to_plain

SERVICES = ("pubsub", "bigquery")
CRASH_LABEL = "scenario crashed"


@dataclass(frozen=True)
class Scenario:
    name: str
    service: str
    description: str
    run: Callable[[Context], None]
    local_only: bool = False  # needs something on this machine (a push endpoint): not for gcp

    @classmethod
    def from_module(cls, module: ModuleType) -> Scenario:
        service = getattr(module, "SERVICE", None)
        if service not in SERVICES:
            raise ValueError(f"{module.__name__}: SERVICE must be one of {SERVICES}")
        doc = (module.__doc__ or "").strip().splitlines()
        name = module.__name__.rsplit(".", 1)[1]
        local = bool(getattr(module, "LOCAL_ONLY", False))
        return cls(name, service, doc[0] if doc else "", module.run, local)


def discover(pattern: str = "*") -> list[Scenario]:
    """Scenarios in ``parity.scenarios`` whose name matches the glob (comma-separated globs)."""
    from parity import scenarios

    globs = [p.strip() for p in pattern.split(",") if p.strip()] or ["*"]
    found = []
    for info in sorted(pkgutil.iter_modules(scenarios.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or not any(fnmatch(info.name, g) for g in globs):
            continue
        found.append(Scenario.from_module(importlib.import_module(f"parity.scenarios.{info.name}")))
    return found


@dataclass
class Step:
    """One recorded observation. ``value`` is compared; ``note`` (e.g. an error text) is not."""

    label: str
    value: Any
    note: str = ""

    def to_dict(self) -> dict:
        out = {"label": self.label, "value": self.value}
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Step:
        return cls(data["label"], data.get("value"), data.get("note", ""))


def describe_error(exc: BaseException) -> tuple[Any, str]:
    """(compared value, note) for an exception: the API's status, not its wording."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        grpc_code = getattr(exc, "grpc_status_code", None)
        if grpc_code is not None and not _is_http(exc):
            return {"error": grpc_code.name}, exc.message or ""
        reasons = sorted({e.get("reason", "") for e in (exc.errors or []) if isinstance(e, dict)})
        value: dict[str, Any] = {"error": exc.code}
        if reasons:
            value["reason"] = reasons[0] if len(reasons) == 1 else reasons
        return value, exc.message or ""
    return {"exception": type(exc).__name__}, str(exc)[:500]


def _is_http(exc) -> bool:
    # gRPC errors carry the grpc.Call; BigQuery's come from an HTTP response or a job's
    # errorResult (no response, but dict entries in .errors).
    import grpc

    if isinstance(getattr(exc, "response", None), grpc.Call):
        return False
    return exc.response is not None or any(isinstance(e, dict) for e in exc.errors or [])


class Context:
    """Handed to ``run(ctx)``: clients for one target, unique names, and the step recorder."""

    def __init__(self, target, token: str | None = None):
        self.target = target
        self.project: str = target.project
        self.token = token or "r" + uuid.uuid4().hex[:8]
        self.steps: list[Step] = []
        self._count = 0
        self._cleanups: list[Callable[[], Any]] = []

    # -- clients (made lazily, so a scenario pays only for the service it uses) ---------------
    @property
    def publisher(self):
        return self.target.clients("publisher")

    @property
    def subscriber(self):
        return self.target.clients("subscriber")

    @property
    def schemas(self):
        return self.target.clients("schemas")

    @property
    def bigquery(self):
        return self.target.clients("bigquery")

    # -- names ----------------------------------------------------------------------------
    def name(self, prefix: str) -> str:
        """A resource id unique to this run, valid for Pub/Sub and BigQuery alike."""
        self._count += 1
        return f"{prefix}_{self.token}_{self._count}"

    def topic_path(self, prefix: str = "topic") -> str:
        return f"projects/{self.project}/topics/{self.name(prefix)}"

    def subscription_path(self, prefix: str = "sub") -> str:
        return f"projects/{self.project}/subscriptions/{self.name(prefix)}"

    def snapshot_path(self, prefix: str = "snap") -> str:
        return f"projects/{self.project}/snapshots/{self.name(prefix)}"

    def schema_path(self, prefix: str = "schema") -> str:
        return f"projects/{self.project}/schemas/{self.name(prefix)}"

    # -- recording ------------------------------------------------------------------------
    def call(self, label: str, fn: Callable[..., Any], *args, shape=None, **kwargs) -> Any:
        """Call ``fn``; record ``shape(result)`` (default: all of it) or the error. Returns the
        result, or None when it raised."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # the error is the observation
            value, note = describe_error(exc)
            self.steps.append(Step(label, value, note))
            return None
        self.steps.append(Step(label, to_plain(shape(result) if shape else result)))
        return result

    def record(self, label: str, value: Any, note: str = "") -> None:
        self.steps.append(Step(label, to_plain(value), note))

    def cleanup(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` after the scenario (newest first); its errors are ignored."""
        self._cleanups.append(fn)

    def run_cleanups(self) -> None:
        while self._cleanups:
            try:
                self._cleanups.pop()()
            except Exception:  # best effort: the resource may be gone already
                pass

    # -- Pub/Sub helpers ------------------------------------------------------------------
    def create_topic(
        self, label: str | None = None, prefix: str = "topic", shape=None, **fields
    ) -> str:
        path = self.topic_path(prefix)
        request = {"name": path, **fields}
        if label:
            self.call(label, self.publisher.create_topic, request=request, shape=shape)
        else:
            self.publisher.create_topic(request=request)
        self.cleanup(lambda: self.publisher.delete_topic(topic=path))
        return path

    def create_subscription(
        self, topic: str, label: str | None = None, prefix: str = "sub", shape=None, **fields
    ) -> str:
        """Create (recording ``shape(subscription)`` when ``label`` is given) and clean up."""
        path = self.subscription_path(prefix)
        request = {"name": path, "topic": topic, **fields}
        if label:
            self.call(label, self.subscriber.create_subscription, request=request, shape=shape)
        else:
            self.subscriber.create_subscription(request=request)
        self.cleanup(lambda: self.subscriber.delete_subscription(subscription=path))
        return path

    def try_subscription(self, label: str, request: dict, shape=None):
        """Record a create_subscription that may fail; deleted afterwards when it did not."""
        created = self.call(
            label, self.subscriber.create_subscription, request=request, shape=shape
        )
        if created is not None:
            self.cleanup(lambda: self.subscriber.delete_subscription(subscription=created.name))
        return created

    def publish(self, topic: str, *messages: dict | bytes, label: str | None = None) -> list[str]:
        """Publish one request through the raw API; dict messages are PubsubMessage fields."""
        msgs = [m if isinstance(m, dict) else {"data": m} for m in messages]
        if label:
            response = self.call(
                label,
                self.publisher.api.publish,
                topic=topic,
                messages=msgs,
                shape=lambda r: {"ids": len(r.message_ids)},
            )
            return list(response.message_ids) if response else []
        return list(self.publisher.api.publish(topic=topic, messages=msgs).message_ids)

    def pull(self, subscription: str, expect: int, timeout: float = 15.0, max_messages: int = 100):
        """Pull until ``expect`` messages arrived or ``timeout`` passed; returns them all."""
        from google.api_core import exceptions as gexc

        got: list = []
        deadline = time.monotonic() + timeout
        while len(got) < expect and time.monotonic() < deadline:
            try:
                response = self.subscriber.pull(
                    request={"subscription": subscription, "max_messages": max_messages},
                    timeout=min(5.0, max(0.5, deadline - time.monotonic())),
                    retry=None,
                )
            except gexc.DeadlineExceeded:
                continue
            got.extend(response.received_messages)
            if not response.received_messages:
                time.sleep(0.05)
        return got

    def pull_nothing(self, subscription: str, window: float = 1.5) -> list:
        """Whatever arrives within ``window`` seconds (used to show that nothing does)."""
        return self.pull(subscription, expect=1, timeout=window)


def message_view(received, *fields: str) -> dict:
    """The comparable part of a ReceivedMessage: data, attributes, ordering key, attempt."""
    msg = received.message
    view = {"data": to_plain(msg.data), "attributes": dict(msg.attributes)}
    if msg.ordering_key:
        view["ordering_key"] = msg.ordering_key
    if received.delivery_attempt:
        view["delivery_attempt"] = received.delivery_attempt
    for f in fields:
        view[f] = to_plain(getattr(msg, f))
    return view


def fields(*names: str):
    """A ``shape`` that keeps only the named fields of a resource (as the API returned them)."""

    def shape(resource):
        plain = to_plain(resource)
        return {n: plain.get(n) for n in names}

    return shape


def datas(received) -> list:
    """Payloads of received messages, in arrival order."""
    return [to_plain(r.message.data) for r in received]


def crash_step(exc: BaseException) -> Step:
    """The step recorded when a scenario itself breaks (a bug in it, or a hung target)."""
    value, note = describe_error(exc)
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-3)
    return Step(CRASH_LABEL, value, note + "\n" + "".join(tb)[-1500:])
