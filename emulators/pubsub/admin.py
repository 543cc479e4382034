"""The admin endpoint (ours, off Google's API surface): ``hooks.Hooks`` over HTTP/JSON.

Served on the emulator's port under ``/_emulator/`` (same Host/Origin policy as the REST API):

| request | does |
| --- | --- |
| ``GET /_emulator/clock`` | ``{"time", "offsetSeconds", "frozen"}`` |
| ``POST /_emulator/clock`` ``{"advance": 30}`` / ``{"advance": "1.5s"}`` / ``{"time": RFC 3339}`` / ``{"frozen": true}`` | moves or freezes the clock |
| ``GET /_emulator/messages[?subscription=NAME]`` | ``{"messages": [...]}`` (see ``hooks.message_record``) |
| ``POST /_emulator/reset`` | deletes every topic, subscription, snapshot, schema, policy |
| ``GET /_emulator/faults`` | current fault settings and queued failures |
| ``PUT /_emulator/faults`` (the ``--faults`` file's JSON) | replaces the settings |
| ``POST /_emulator/faults:fail`` ``{"method", "code", "times", "message"}`` | next calls fail |
| ``DELETE /_emulator/faults`` | no more faults |
| ``POST /_emulator/history`` ``{"limit": N}`` | acked messages kept per subscription |
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from emulators.pubsub.durations import seconds
from emulators.pubsub.errors import HTTP_STATUS, ApiError, as_api_error, invalid
from emulators.pubsub.rest import error_body, parse_query, read_body, respond


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise invalid(f"{what} must be a number of seconds or a duration such as \"1.5s\".")
    try:
        return seconds(value) if isinstance(value, str) else float(value)
    except ValueError:
        raise invalid(f"{what} must be a number of seconds or a duration such as \"1.5s\".") \
            from None


class Admin:
    """ASGI-style handler for ``/_emulator/...`` (called by ``rest.RestApi``)."""

    def __init__(self, hooks: Any):
        self.hooks = hooks

    async def __call__(self, scope: dict, receive: Callable, send: Callable, extra=()) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        route = (scope["method"], scope["path"][len("/_emulator"):])
        try:
            raw = await read_body(receive, headers)
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise invalid("The request body must be a JSON object.")
            query = dict(parse_query(scope["query_string"]))
            payload = self.dispatch(route, body, query)
            code = 200
        except Exception as exc:
            err = invalid(str(exc)) if isinstance(exc, RecursionError) else \
                as_api_error(exc, f"admin {route[1]}")
            payload, code = error_body(err), HTTP_STATUS.get(err.code, 500)
        await respond(send, payload, code, extra)

    def dispatch(self, route: tuple[str, str], body: dict, query: dict) -> Any:
        hooks = self.hooks
        if route == ("GET", "/clock"):
            return hooks.clock_state()
        if route == ("POST", "/clock"):
            state = hooks.clock_state()
            if "frozen" in body:
                state = hooks.freeze(bool(body["frozen"]))
            if "time" in body:
                state = hooks.set_time(str(body["time"]))
            if "advance" in body:
                state = hooks.advance(_number(body["advance"], "advance"))
            return state
        if route == ("GET", "/messages"):
            return {"messages": hooks.messages(query.get("subscription") or None)}
        if route == ("POST", "/reset"):
            hooks.reset()
            return {}
        if route == ("GET", "/faults"):
            return hooks.faults.state()
        if route == ("PUT", "/faults"):
            hooks.configure_faults(body)
            return hooks.faults.state()
        if route == ("POST", "/faults:fail"):
            if not isinstance(body.get("method"), str) or not body["method"]:
                raise invalid("method (an RPC name such as \"Publish\", or \"*\") is required.")
            times = body.get("times", 1)
            if times is not None and (isinstance(times, bool) or not isinstance(times, int)):
                raise invalid("times must be a whole number or null.")
            hooks.fail(body["method"], str(body.get("code", "UNAVAILABLE")), times,
                       str(body.get("message", "")))
            return hooks.faults.state()
        if route == ("DELETE", "/faults"):
            hooks.clear_faults()
            return {}
        if route == ("POST", "/history"):
            limit = body.get("limit")
            if isinstance(limit, bool) or not isinstance(limit, int):
                raise invalid("limit must be a whole number.")
            hooks.set_history(limit)
            return {"limit": limit}
        raise ApiError("NOT_FOUND", f"No admin endpoint {route[0]} /_emulator{route[1]}.")
