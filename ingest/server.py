"""Run the ingestion app on uvicorn, with the defences uvicorn leaves out.

uvicorn times out idle keep-alive connections and caps request-header size (h11), but a client
that trickles its request headers one byte at a time (slowloris) keeps a connection forever:
:class:`GuardedH11Protocol` closes a connection whose request headers are not complete within
``header_timeout_seconds`` (the body has its own deadline in the app, answered with 408), and
``limit_concurrency`` caps connections (503 past it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ingest.app import IngestService, create_app
from ingest.config import Config
from ingest.metrics import Metrics
from ingest.publish import Publisher

MAX_CONNECTIONS = 1000
GRACEFUL_SHUTDOWN_SECONDS = 8  # Cloud Run sends SIGKILL 10 s after SIGTERM


def guarded_protocol(header_timeout: float) -> type[H11Protocol]:
    class GuardedH11Protocol(H11Protocol):
        """Close connections whose next request's headers take longer than the timeout."""

        _header_timer = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm_header_timer()

        def on_response_complete(self):
            super().on_response_complete()
            self._arm_header_timer()

        def connection_lost(self, exc):
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

        def _arm_header_timer(self):
            if self._header_timer is not None:
                self._header_timer.cancel()
            cycle = self.cycle

            def expire():
                # Still the same request cycle: no complete request headers since arming.
                if self.cycle is cycle and not self.transport.is_closing():
                    self.transport.close()

            self._header_timer = self.loop.call_later(header_timeout, expire)

    return GuardedH11Protocol


class IngestServer(uvicorn.Server):
    """Graceful shutdown that does not wait out batch latencies: the moment shutdown starts,
    the publisher sends every pending batch, so requests in flight get Pub/Sub's answer (and
    their 2xx) while uvicorn waits for them; the app's lifespan then waits for the rest."""

    def __init__(self, config: uvicorn.Config, service: IngestService):
        super().__init__(config)
        self.service = service

    async def shutdown(self, sockets=None) -> None:
        threading.Thread(target=self.service.publisher.flush, daemon=True).start()
        await super().shutdown(sockets)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_service(topic: str, config: Config, allow_unauthenticated: bool = False,
                  emulator_host: str | None = None) -> IngestService:
    """The service with a real Pub/Sub publisher for ``topic``."""
    limits = config.limits
    metrics = Metrics("rest")
    publisher = Publisher.create(topic, config.batching, limits.ordering_key != "none", metrics,
                                 limits.max_in_flight_events, limits.max_in_flight_bytes,
                                 emulator_host)
    return IngestService(config, publisher, metrics, allow_unauthenticated)


def uvicorn_server(service: IngestService, host: str, port: int) -> IngestServer:
    config = uvicorn.Config(
        create_app(service, loopback_only=is_loopback(host)),
        host=host,
        port=port,
        http=guarded_protocol(service.limits.header_timeout_seconds),
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        limit_concurrency=MAX_CONNECTIONS,
        h11_max_incomplete_event_size=16 * 1024,
        server_header=False,
    )
    return IngestServer(config, service)


def bound_port(server: uvicorn.Server) -> int:
    return server.servers[0].sockets[0].getsockname()[1]


async def serve(service: IngestService, host: str, port: int, on_ready=None) -> None:
    """Serve until SIGTERM/SIGINT; ``on_ready(port)`` once the socket listens."""
    server = uvicorn_server(service, host, port)

    async def announce():
        while not server.started:
            await asyncio.sleep(0.01)
        if on_ready is not None:
            on_ready(bound_port(server))

    watcher = asyncio.create_task(announce())
    try:
        await server.serve()
    finally:
        watcher.cancel()


class BackgroundServer:
    """The service on a thread of this process (tests, benchmarks): ``.url``, ``.stop()``."""

    def __init__(self, service: IngestService, host: str = "127.0.0.1", port: int = 0):
        self.service = service
        self.server = uvicorn_server(service, host, port)
        self.host = host
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        for _ in range(int(timeout / 0.01)):
            if self.server.started:
                return self
            threading.Event().wait(0.01)
        raise RuntimeError("the ingestion service did not start")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{bound_port(self.server)}"

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(30)
