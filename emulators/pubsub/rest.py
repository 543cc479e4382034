"""REST (HTTP/JSON) wire layer: the documented ``v1`` REST surface over the same servicers as gRPC.

Every route is the method's ``google.api.http`` mapping (as in Google's API reference). A request
is transcoded into the method's protobuf request (path variables, then the JSON body through
``json_format``, then query parameters), handed to the servicer the gRPC server uses, and the
protobuf response goes back as proto3 JSON (camelCase, base64 ``data``, ``"10s"`` durations,
RFC 3339 timestamps). Errors use Google's JSON shape ``{"error": {"code", "message",
"status"}}``. ``$alt=json;enum-encoding=int``, which the Google REST clients send, makes enums
integers in the response.

Things the gRPC wire does not have: bodies are capped (``MAX_BODY_BYTES``), a body that is not
JSON (or nests too deep) is INVALID_ARGUMENT, and every request passes ``http_guard.HostPolicy`` first.
"""

from __future__ import annotations

import asyncio
import binascii
import inspect
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor, json_format

from emulators.pubsub.errors import (
    DOMAIN,
    EXACTLY_ONCE_REASON,
    HTTP_STATUS,
    ApiError,
    as_api_error,
    invalid,
    too_large,
)
from emulators.pubsub.publisher import MAX_REQUEST_BYTES
from emulators.pubsub.rpc import Method

requests_log = logging.getLogger("emulators.pubsub.requests")

# Publish requests may carry 10 MB of data, which base64 and JSON escaping inflate; beyond this
# the body is refused before it is read.
MAX_BODY_BYTES = 32 << 20
JSON_TYPE = b"application/json; charset=UTF-8"
# Standard query parameters of Google APIs: accepted, and ignored except alt and prettyPrint.
SYSTEM_PARAMS = {
    "alt", "prettyPrint", "fields", "key", "access_token", "oauth_token", "quotaUser",
    "callback", "upload_protocol", "uploadType", "userIp", "trace", "xgafv", ".xgafv",
}

P, T, S, SN, SC = "projects/*", "projects/*/topics/*", "projects/*/subscriptions/*", \
    "projects/*/snapshots/*", "projects/*/schemas/*"
# (HTTP method, path template, RPC, body): the google.api.http rules of google/pubsub/v1
ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("PUT", f"/v1/{{name={T}}}", "CreateTopic", "*"),
    ("PATCH", f"/v1/{{topic.name={T}}}", "UpdateTopic", "*"),
    ("POST", f"/v1/{{topic={T}}}:publish", "Publish", "*"),
    ("GET", f"/v1/{{topic={T}}}", "GetTopic", ""),
    ("GET", f"/v1/{{project={P}}}/topics", "ListTopics", ""),
    ("GET", f"/v1/{{topic={T}}}/subscriptions", "ListTopicSubscriptions", ""),
    ("GET", f"/v1/{{topic={T}}}/snapshots", "ListTopicSnapshots", ""),
    ("DELETE", f"/v1/{{topic={T}}}", "DeleteTopic", ""),
    ("POST", f"/v1/{{subscription={S}}}:detach", "DetachSubscription", ""),
    ("PUT", f"/v1/{{name={S}}}", "CreateSubscription", "*"),
    ("GET", f"/v1/{{subscription={S}}}", "GetSubscription", ""),
    ("PATCH", f"/v1/{{subscription.name={S}}}", "UpdateSubscription", "*"),
    ("GET", f"/v1/{{project={P}}}/subscriptions", "ListSubscriptions", ""),
    ("DELETE", f"/v1/{{subscription={S}}}", "DeleteSubscription", ""),
    ("POST", f"/v1/{{subscription={S}}}:modifyAckDeadline", "ModifyAckDeadline", "*"),
    ("POST", f"/v1/{{subscription={S}}}:acknowledge", "Acknowledge", "*"),
    ("POST", f"/v1/{{subscription={S}}}:pull", "Pull", "*"),
    ("POST", f"/v1/{{subscription={S}}}:modifyPushConfig", "ModifyPushConfig", "*"),
    ("POST", f"/v1/{{subscription={S}}}:seek", "Seek", "*"),
    ("GET", f"/v1/{{snapshot={SN}}}", "GetSnapshot", ""),
    ("GET", f"/v1/{{project={P}}}/snapshots", "ListSnapshots", ""),
    ("PUT", f"/v1/{{name={SN}}}", "CreateSnapshot", "*"),
    ("PATCH", f"/v1/{{snapshot.name={SN}}}", "UpdateSnapshot", "*"),
    ("DELETE", f"/v1/{{snapshot={SN}}}", "DeleteSnapshot", ""),
    ("POST", f"/v1/{{parent={P}}}/schemas", "CreateSchema", "schema"),
    ("GET", f"/v1/{{name={SC}}}", "GetSchema", ""),
    ("GET", f"/v1/{{parent={P}}}/schemas", "ListSchemas", ""),
    ("GET", f"/v1/{{name={SC}}}:listRevisions", "ListSchemaRevisions", ""),
    ("POST", f"/v1/{{name={SC}}}:commit", "CommitSchema", "*"),
    ("POST", f"/v1/{{name={SC}}}:rollback", "RollbackSchema", "*"),
    ("DELETE", f"/v1/{{name={SC}}}:deleteRevision", "DeleteSchemaRevision", ""),
    ("DELETE", f"/v1/{{name={SC}}}", "DeleteSchema", ""),
    ("POST", f"/v1/{{parent={P}}}/schemas:validate", "ValidateSchema", "*"),
    ("POST", f"/v1/{{parent={P}}}/schemas:validateMessage", "ValidateMessage", "*"),
    *(
        route
        for kind in (T, S, SN, SC)
        for route in (
            ("GET", f"/v1/{{resource={kind}}}:getIamPolicy", "GetIamPolicy", ""),
            ("POST", f"/v1/{{resource={kind}}}:setIamPolicy", "SetIamPolicy", "*"),
            ("POST", f"/v1/{{resource={kind}}}:testIamPermissions", "TestIamPermissions", "*"),
        )
    ),
)


@dataclass(frozen=True)
class Route:
    verb: str
    pattern: re.Pattern
    fields: tuple[str, ...]
    rpc: str
    body: str


def compile_route(verb: str, template: str, rpc: str, body: str) -> Route:
    """``/v1/{topic=projects/*/topics/*}:publish`` -> an anchored regex with one group per
    variable (``*`` is one path segment)."""
    regex, fields = "", []
    for m in re.finditer(r"\{([\w.]+)=([^}]+)\}|([^{]+)", template):
        if m.group(1):
            fields.append(m.group(1))
            segments = m.group(2).split("/")
            regex += "(" + "/".join("[^/]+" if s == "*" else re.escape(s) for s in segments) + ")"
        else:
            regex += re.escape(m.group(3))
    return Route(verb, re.compile(regex + r"\Z"), tuple(fields), rpc, body)


class RestContext:
    """What a servicer may ask of its call context, for a REST request."""

    def __init__(self, timeout: float | None = None):
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    async def abort(self, code: Any, message: str, trailing_metadata: Any = ()) -> None:
        raise ApiError(getattr(code, "name", str(code)), message)


class Disconnected(Exception):
    """The client went away before its request was answered."""


def error_body(err: ApiError) -> dict[str, Any]:
    """Google's JSON error shape; exactly-once ack failures carry their ErrorInfo."""
    error: dict[str, Any] = {
        "code": HTTP_STATUS.get(err.code, 500),
        "message": err.message,
        "status": err.code,
    }
    if err.metadata:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": EXACTLY_ONCE_REASON,
                "domain": DOMAIN,
                "metadata": err.metadata,
            }
        ]
    return {"error": error}


def _unbindable(name: str) -> ApiError:
    return invalid(
        f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
        f"Field '{name}' could not be found in request message."
    )


def _field(message_descriptor: Any, name: str) -> Any:
    for field in message_descriptor.fields:
        if name in (field.name, field.json_name):
            return field
    return None


def bind_query(request: Any, query: list[tuple[str, str]]) -> dict[str, Any]:
    """Query parameters (``pageSize=2``, ``options.requestedPolicyVersion=3``) into
    ``request``; the system parameters (``$alt``, ``prettyPrint``...) are returned apart."""
    system: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for key, value in query:
        name = key[1:] if key.startswith("$") else key
        if name in SYSTEM_PARAMS:
            system[name] = value
            continue
        desc = request.DESCRIPTOR
        target = nested
        parts = key.split(".")
        for i, part in enumerate(parts):
            field = _field(desc, part) if desc is not None else None
            if field is None:
                raise _unbindable(key)
            last = i == len(parts) - 1
            if not last:
                if field.type != descriptor.FieldDescriptor.TYPE_MESSAGE:
                    raise _unbindable(key)
                target = target.setdefault(field.json_name, {})
                desc = field.message_type
                continue
            if field.type == descriptor.FieldDescriptor.TYPE_BOOL:
                if value not in ("true", "false"):
                    raise invalid(f"Invalid value for bool field {key}: {value!r}.")
                value = value == "true"
            if field.label == descriptor.FieldDescriptor.LABEL_REPEATED:
                target.setdefault(field.json_name, []).append(value)
            else:
                target[field.json_name] = value
    if nested:
        try:
            json_format.ParseDict(nested, request)
        except json_format.ParseError as exc:
            raise invalid(f"Invalid query parameter: {exc}") from None
    return system


def _set_path(request: Any, dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    target = request
    for part in parents:
        target = getattr(target, part)
    setattr(target, leaf, value)


def transcode(route: Route, method: Method, groups: tuple[str, ...], body: bytes, query):
    """The protobuf request of one REST call, and its system query parameters."""
    request = method.request()
    if route.body and body.strip():
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise invalid(f"Invalid JSON payload received. {exc}") from None
        if not isinstance(data, dict):
            raise invalid("Invalid JSON payload received. The request body must be an object.")
        target = request if route.body == "*" else getattr(request, route.body)
        fast = FAST_BODIES.get(route.rpc)
        try:
            if fast is None or not fast(target, data):
                json_format.ParseDict(data, target)
        except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
            detail = str(exc).split("\n", 1)[0]  # json_format appends the list of fields
            raise invalid(f"Invalid JSON payload received. {detail}") from None
    for field, value in zip(route.fields, groups, strict=True):
        _set_path(request, field, value)
    system = bind_query(request, query)
    return request, system


_PUBLISH_KEYS = {"messages", "topic"}
_MESSAGE_KEYS = {"data", "attributes", "orderingKey", "ordering_key"}


def _strings(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _publish_body(request: Any, data: dict) -> bool:
    """A plain PublishRequest body straight into protobuf (json_format's ParseDict costs ~50 µs
    a message); False for anything unusual, which then takes ParseDict's path and errors."""
    messages = data.get("messages")
    if not isinstance(messages, list) or not _PUBLISH_KEYS.issuperset(data):
        return False
    topic = data.get("topic", "")
    if not isinstance(topic, str):
        return False
    decoded = []
    for message in messages:
        if not isinstance(message, dict) or not _MESSAGE_KEYS.issuperset(message):
            return False
        text = message.get("data", "")
        attributes = message.get("attributes", {})
        key = message.get("orderingKey", message.get("ordering_key", ""))
        if not isinstance(text, str) or not isinstance(key, str) or not _strings(attributes):
            return False
        if "-" in text or "_" in text:  # the URL-safe alphabet, which protobuf JSON accepts
            text = text.replace("-", "+").replace("_", "/")
        try:
            raw = binascii.a2b_base64(text + "=" * (-len(text) % 4), strict_mode=True)
        except (binascii.Error, ValueError):
            return False
        decoded.append((raw, attributes, key))
    request.topic = topic
    add = request.messages.add
    for raw, attributes, key in decoded:  # built in place: no copies of the data
        if attributes or key:
            add(data=raw, attributes=attributes, ordering_key=key)
        else:
            add(data=raw)
    return True


# RPCs whose bodies skip json_format when they are plain (the hot paths)
FAST_BODIES: dict[str, Callable[[Any, dict], bool]] = {"Publish": _publish_body}


class RestApi:
    """The ASGI app of the REST surface (plus ``GET /`` and, when given, the admin app)."""

    def __init__(
        self,
        methods: dict[str, Method],
        faults: Any,
        guard: Any,
        admin: Callable[..., Awaitable[None]] | None = None,
    ):
        self.methods = methods
        self.faults = faults
        self.guard = guard
        self.admin = admin
        self.routes: dict[str, list[Route]] = {}
        for verb, template, rpc, body in ROUTES:
            if rpc in methods:
                self.routes.setdefault(verb, []).append(compile_route(verb, template, rpc, body))
        for routes in self.routes.values():  # ":verb" routes before the bare resource ones
            routes.sort(key=lambda r: ":" not in r.pattern.pattern.rsplit(")", 1)[-1])

    def match(self, verb: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
        for route in self.routes.get(verb, ()):
            m = route.pattern.match(path)
            if m:
                return route, m.groups()
        return None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        refusal = self.guard.check(headers.get("host"), origin)
        if refusal is not None:
            await respond(send, error_body(ApiError("PERMISSION_DENIED", refusal)), 403)
            return
        cors = self.guard.cors_origin(origin)
        verb, path = scope["method"], scope["path"]
        if verb == "OPTIONS" and cors is not None:
            await preflight(send, cors, headers)
            return
        extra = [(b"access-control-allow-origin", cors.encode()), (b"vary", b"Origin")] if cors \
            else []
        if path == "/" and verb in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"3"),
                *extra]})
            await send({"type": "http.response.body", "body": b"Ok\n"})
            return
        if self.admin is not None and path.startswith("/_emulator/"):
            await self.admin(scope, receive, send, extra)
            return
        matched = self.match(verb, path)
        if matched is None:
            err = ApiError("NOT_FOUND", f"The requested URL {path} was not found (method {verb}).")
            await respond(send, error_body(err), 404, extra)
            return
        await self._call(matched, scope, headers, receive, send, extra)

    async def _call(self, matched, scope, headers, receive, send, extra) -> None:
        route, groups = matched
        started = time.perf_counter()
        system: dict[str, Any] = {}
        status = "OK"
        try:
            body = await read_body(receive, headers)
            request, system = transcode(
                route, self.methods[route.rpc], groups, body, parse_query(scope["query_string"])
            )
            if self.faults.active:
                await self.faults.inject(route.rpc)
            result = await self._invoke(route.rpc, request, headers, receive)
            ints = "enum-encoding=int" in system.get("alt", "")
            payload = json_format.MessageToDict(result, use_integers_for_enums=ints)
            code = 200
        except Disconnected:
            status = "CANCELLED"
            return
        except Exception as exc:
            err = as_api_error(exc, route.rpc)
            status = err.code
            payload, code = error_body(err), HTTP_STATUS.get(err.code, 500)
        finally:
            if requests_log.isEnabledFor(logging.INFO):
                _log(route.rpc, status, started, scope["path"])
        pretty = system.get("prettyPrint", "true") != "false"
        await respond(send, payload, code, extra, pretty)

    async def _invoke(self, rpc: str, request: Any, headers: dict, receive: Callable) -> Any:
        call = self.methods[rpc].call
        context = RestContext(_server_timeout(headers))
        if rpc != "Pull":
            result = call(request, context)
            return await result if inspect.isawaitable(result) else result
        # a long poll: give up (and lease nothing) when the client disconnects meanwhile
        task = asyncio.ensure_future(call(request, context))
        gone = asyncio.ensure_future(_disconnect(receive))
        try:
            await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not task.done():
            task.cancel()
            raise Disconnected
        return task.result()


async def _disconnect(receive: Callable) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _server_timeout(headers: dict[str, str]) -> float | None:
    """``X-Server-Timeout`` (seconds), the REST form of a gRPC deadline, when sent."""
    value = headers.get("x-server-timeout")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def parse_query(raw: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)


async def read_body(receive: Callable, headers: dict[str, str]) -> bytes:
    """The request body, refused (INVALID_ARGUMENT, Pub/Sub's text) beyond MAX_BODY_BYTES."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large("request_size", int(declared), MAX_REQUEST_BYTES)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large("request_size", size, MAX_REQUEST_BYTES)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(send: Callable, payload: Any, status: int, extra=(), pretty: bool = True):
    body = json.dumps(payload, indent=2 if pretty else None, ensure_ascii=False).encode() + b"\n"
    headers = [(b"content-type", JSON_TYPE), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def preflight(send: Callable, origin: str, headers: dict[str, str]) -> None:
    allow = [
        (b"access-control-allow-origin", origin.encode()),
        (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
        (b"access-control-max-age", b"3600"),
        (b"vary", b"Origin"),
    ]
    wanted = headers.get("access-control-request-headers")
    if wanted:
        allow.append((b"access-control-allow-headers", wanted.encode("latin-1")))
    await send({"type": "http.response.start", "status": 204, "headers": allow})
    await send({"type": "http.response.body", "body": b""})


def _log(rpc: str, status: str, started: float, path: str) -> None:
    requests_log.info(
        "%s %s",
        rpc,
        status,
        extra={
            "method": rpc,
            "status": status,
            "transport": "rest",
            "path": path,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        },
    )
