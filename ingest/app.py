"""The HTTP ingestion service: ``POST /v1/events`` -> validated, authenticated, rate-limited
events published to Pub/Sub; ``/healthz``, ``/readyz``, ``/metrics``.

:class:`IngestService` owns all the state (credentials, buckets, recent ids, the publisher,
metrics); :func:`create_app` wraps it in a Starlette application.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ingest import events, logs
from ingest.auth import Authenticator, AuthError, Principal
from ingest.config import Config
from ingest.limits import RecentIds, TokenBucket
from ingest.metrics import CONTENT_TYPE, Metrics
from ingest.publish import Outgoing, Publisher
from pipeline import schema

_LOG = logging.getLogger("ingest")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 408: "DEADLINE_EXCEEDED",
           413: "OUT_OF_RANGE", 415: "INVALID_ARGUMENT", 422: "INVALID_ARGUMENT",
           429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
SHUTDOWN_WAIT_SECONDS = 1.5
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


def error_response(code: int, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    """Errors in Google's JSON error shape: ``{"error": {"code", "message", "status"}}``."""
    body = {"error": {"code": code, "message": message, "status": _STATUS.get(code, "UNKNOWN")}}
    return JSONResponse({**body, **extra}, status_code=code, headers=headers)


class Refused(Exception):
    """Answer the request with this error instead."""

    def __init__(self, code: int, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.code, self.message = code, message
        self.headers = None if retry_after is None else {
            "Retry-After": str(max(1, math.ceil(retry_after)))}


class IngestService:
    """Everything the REST edge knows and counts, for one topic."""

    def __init__(self, config: Config, publisher: Publisher, metrics: Metrics,
                 allow_unauthenticated: bool = False):
        self.config = config
        self.limits = config.limits
        self.publisher = publisher
        self.metrics = metrics
        self.auth = Authenticator(config, allow_unauthenticated)
        self.buckets = {s.name: TokenBucket(s.rate, s.burst) for s in config.sources if s.rate}
        self.recent = RecentIds(self.limits.idempotency_window_seconds,
                                self.limits.idempotency_max_entries)
        self._ready_cache: tuple[float, str | None] = (0.0, "not checked yet")

    # -- the steps of POST /v1/events -------------------------------------------------------

    async def principal(self, request: Request) -> Principal:
        try:
            if self.auth.needs_thread:
                return await run_in_threadpool(self.auth.authenticate, request.headers)
            return self.auth.authenticate(request.headers)
        except AuthError as exc:
            raise Refused(exc.status, exc.reason) from None

    async def body(self, request: Request) -> tuple[bytes, str]:
        kind = events.media_type(request.headers.get("content-type"))
        if kind is None:
            raise Refused(415, "send application/json (an event or an array of events) or "
                               "application/x-ndjson (one event per line)")
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise Refused(413, f"the body is {declared} bytes; the limit is {limit}")
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_seconds):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise Refused(413, f"the body is over the limit of {limit} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise Refused(408, f"the body did not arrive within "
                               f"{self.limits.body_timeout_seconds:g}s") from None
        return b"".join(chunks), kind

    def admit(self, principal: Principal, count: int) -> None:
        if count > self.limits.max_events_per_request:
            raise Refused(413, f"{count} events in one request; the limit is "
                               f"{self.limits.max_events_per_request}")
        bucket = self.buckets.get(principal.name)
        if bucket is not None:
            wait = bucket.take(count)
            if wait == math.inf:
                raise Refused(413, f"{count} events are more than source {principal.name!r} "
                                   f"may send at once ({bucket.burst:g})")
            if wait:
                self.metrics.throttled.labels(self.metrics.service, "rate_limit").inc()
                raise Refused(429, f"source {principal.name!r} is over its rate limit of "
                                   f"{bucket.rate:g} events/s", retry_after=wait)

    @staticmethod
    def check_ownership(principal: Principal, items: list[events.Item]) -> None:
        for item in items:
            if item.valid and not principal.may_publish_as(item.source):
                raise Refused(403, f"event {item.index} has metadata.source {item.source!r}, "
                                   f"which {principal.name!r} may not publish")

    def ordering_key(self, item: events.Item) -> str:
        rule = self.limits.ordering_key
        if rule == "source":
            return item.source
        if rule.startswith("data:"):
            value = item.event["data"].get(rule[5:])
            return str(value)[:1024] if value is not None else ""
        return ""

    def outgoing(self, item: events.Item, content_type: str) -> Outgoing:
        return Outgoing(item.data, {
            "source": item.source,
            "schema_version": str(item.event["metadata"]["version"]),
            "content_type": content_type,
            "ingest": "rest",
        }, self.ordering_key(item))

    async def publish(self, principal: Principal, items: list[events.Item], content_type: str):
        """Publish the valid items not seen before; -> ``(accepted, unavailable)`` lists."""
        accepted, unavailable, waits = [], [], []
        fresh: list[tuple[events.Item, tuple, asyncio.Future]] = []
        seen_here: dict[tuple, events.Item] = {}
        for item in items:
            if not item.valid:
                continue
            key = (principal.name, item.event_id)
            known = seen_here.get(key) or self.recent.get(key)
            if isinstance(known, events.Item) or isinstance(known, asyncio.Future):
                waits.append((item, known))
            elif known is not None:
                accepted.append(_accepted(item, known, duplicate=True))
            else:
                seen_here[key] = item
                fresh.append((item, key, self.recent.begin(key)))
        size = sum(len(item.data) for item, _, _ in fresh)
        if fresh and not self.publisher.reserve(len(fresh), size):
            for _item, key, marker in fresh:
                self.recent.finish(key, marker, None)
            self.metrics.throttled.labels(self.metrics.service, "in_flight_budget").inc()
            raise Refused(503, f"{self.publisher.in_flight} events are waiting for Pub/Sub; "
                               "try again shortly", retry_after=self.limits.retry_after_seconds)
        loop = asyncio.get_running_loop()
        pending = []
        for item, key, marker in fresh:
            done = loop.create_future()

            def settle(fut, key=key, marker=marker, done=done):
                message_id = None if fut.exception() else fut.result()
                self.recent.finish(key, marker, message_id)
                if not done.done():
                    done.set_result(message_id)

            def on_done(fut, settle=settle):
                loop.call_soon_threadsafe(settle, fut)

            try:
                self.publisher.publish(self.outgoing(item, content_type), on_done)
            except Exception as exc:  # noqa: BLE001 - e.g. the client is shutting down
                _LOG.warning("publish refused by the client: %s", exc)
                self.recent.finish(key, marker, None)
                done.set_result(None)
            pending.append((item, done, False))
        for item, known in waits:
            if isinstance(known, events.Item):  # a repeat of an event earlier in this request
                known = next(d for i, d, _ in pending if i is known)
            pending.append((item, known, True))
        if pending:
            await asyncio.wait([p[1] for p in pending],
                               timeout=self.limits.publish_timeout_seconds)
        for item, future, duplicate in pending:
            message_id = future.result() if future.done() else None
            if message_id:
                accepted.append(_accepted(item, message_id, duplicate))
            else:
                unavailable.append({"index": item.index, "event_id": item.event_id})
        return accepted, unavailable

    async def handle_events(self, request: Request) -> Response:
        principal = await self.principal(request)
        body, content_type = await self.body(request)
        items = await run_in_threadpool(events.decode, body, content_type, schema.MAX_EVENT_BYTES) \
            if len(body) > 256 * 1024 else events.decode(body, content_type, schema.MAX_EVENT_BYTES)
        self.admit(principal, len(items))
        self.check_ownership(principal, items)
        accepted, unavailable = await self.publish(principal, items, content_type)
        rejected = [item.rejection() for item in items if not item.valid]
        for item in items:
            if not item.valid:
                self.metrics.event("rejected", item.error_type)
        self.metrics.event("accepted", n=sum(1 for a in accepted if not a.get("duplicate")))
        self.metrics.event("duplicate", n=sum(1 for a in accepted if a.get("duplicate")))
        self.metrics.event("unavailable", n=len(unavailable))
        body = {"request_id": logs.request_id.get(), "accepted": sorted(
            accepted, key=lambda a: a["index"]), "rejected": rejected}
        if unavailable:
            body["unavailable"] = sorted(unavailable, key=lambda a: a["index"])
            return error_response(
                503, f"Pub/Sub did not accept {len(unavailable)} event(s) in time; send them "
                     "again (accepted ones are recognised by event_id and not published twice)",
                {"Retry-After": str(self.limits.retry_after_seconds)}, **body)
        code = 200 if not rejected else 207 if accepted else 422
        return JSONResponse(body, status_code=code)

    async def readiness(self) -> str | None:
        stamp, reason = self._ready_cache
        if time.monotonic() - stamp > 1.0:
            reason = await run_in_threadpool(self.publisher.ready)
            self._ready_cache = (time.monotonic(), reason)
        return reason


def _accepted(item: events.Item, message_id: str, duplicate: bool = False) -> dict:
    entry = {"index": item.index, "event_id": item.event_id, "message_id": message_id}
    if duplicate:
        entry["duplicate"] = True
    return entry


class EdgeGuard:
    """ASGI middleware: request ids, Host/Origin checks (403), one JSON access-log line."""

    def __init__(self, app, service: IngestService, loopback_only: bool):
        self.app = app
        self.service = service
        self.loopback_only = loopback_only
        self.origins = set(service.limits.allowed_origins)

    def _refusal(self, headers: dict[bytes, bytes]) -> str | None:
        origin = headers.get(b"origin")
        if origin is not None and origin.decode("latin-1") not in self.origins:
            return "requests from browser origin {} are not allowed".format(
                origin.decode("latin-1")[:100])
        if self.loopback_only:
            host = headers.get(b"host", b"").decode("latin-1")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.strip("[]") not in ("127.0.0.1", "localhost", "::1"):
                return f"Host {host[:100]!r} is not this loopback-bound service"
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode())]
            await send(message)

        try:
            refusal = self._refusal(headers)
            if refusal:
                await error_response(403, refusal)(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            if scope["path"] == "/v1/events":
                self.service.metrics.request(status["code"])
            _LOG.info("%s %s %s", scope["method"], scope["path"], status["code"], extra={
                "httpRequest": {
                    "requestMethod": scope["method"], "requestUrl": scope["path"],
                    "status": status["code"], "remoteIp": (scope.get("client") or ("",))[0],
                    "latency": f"{time.perf_counter() - started:.6f}s"}})
            logs.request_id.reset(token)


def create_app(service: IngestService, loopback_only: bool = True) -> Starlette:
    """The Starlette application around ``service``; closing it flushes the publisher."""

    async def post_events(request: Request) -> Response:
        try:
            return await service.handle_events(request)
        except Refused as exc:
            if exc.code >= 500 or exc.code == 429:
                _LOG.warning(exc.message)
            return error_response(exc.code, exc.message, exc.headers)
        except events.BodyError as exc:
            return error_response(400, str(exc))

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        reason = await service.readiness()
        if reason:
            return error_response(503, reason)
        return JSONResponse({"status": "ready", "topic": service.publisher.topic})

    async def metrics(_request: Request) -> Response:
        return PlainTextResponse(service.metrics.exposition(), media_type=CONTENT_TYPE)

    async def not_found(request: Request, _exc) -> Response:
        return error_response(404, f"no such resource {request.url.path[:200]}")

    async def not_allowed(request: Request, _exc) -> Response:
        return error_response(405, f"{request.method} is not allowed on {request.url.path}")

    @asynccontextmanager
    async def lifespan(_app):
        yield
        # Requests have had their answers by now (uvicorn waited for them); what is still in
        # flight belongs to requests answered 503, so a short wait is enough.
        await run_in_threadpool(service.publisher.close, SHUTDOWN_WAIT_SECONDS)

    app = Starlette(
        routes=[
            Route("/v1/events", post_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
        lifespan=lifespan,
    )
    return EdgeGuard(app, service, loopback_only)

