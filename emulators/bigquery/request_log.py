"""One log record per HTTP request: method, path, status and latency (ASGI middleware)."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("emulators.bigquery.requests")


class RequestLog:
    """Wraps the app; costs nothing unless the ``emulators.bigquery.requests`` logger logs INFO."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status["code"],
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status["code"],
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
