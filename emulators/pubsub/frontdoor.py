"""One port for both protocols: gRPC (HTTP/2) and REST (HTTP/1.1), told apart by their first bytes.

Google's emulator serves both on one port, and clients expect it (``PUBSUB_EMULATOR_HOST`` is
used for gRPC and REST alike). grpcio cannot adopt a connection someone else accepted, so the
front door owns the public socket: a connection that opens with the HTTP/2 preface
(``PRI * HTTP/2.0``, which every gRPC client sends first) is relayed byte for byte to the gRPC
server listening on a private Unix socket; anything else is handed, in place, to uvicorn's
HTTP/1.1 protocol running the REST app. Nothing is parsed twice and the relay keeps both
directions' flow control (a full buffer on one side pauses reading on the other).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from typing import Any

log = logging.getLogger("emulators.pubsub")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SNIFF_BYTES = 3  # "PRI" is no HTTP/1.1 method: three bytes decide
IDLE_BEFORE_FIRST_BYTE_S = 60.0


class _Relay(asyncio.Protocol):
    """The gRPC server's side of one relayed connection."""

    def __init__(self, door: FrontDoor):
        self.door = door
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.door.transport.write(data)

    def eof_received(self) -> bool:
        if self.door.transport.can_write_eof():
            self.door.transport.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.door.transport.close()

    def pause_writing(self) -> None:  # the gRPC server reads slower than the client sends
        self.door.transport.pause_reading()

    def resume_writing(self) -> None:
        self.door.transport.resume_reading()


class FrontDoor(asyncio.Protocol):
    """One accepted connection until its first bytes say which protocol it speaks."""

    def __init__(self, listener: Listener):
        self.listener = listener
        self.transport: Any = None
        self.head = bytearray()
        self.upstream: _Relay | None = None
        self.pending: list[bytes] | None = None
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.listener.open.add(self)
        self.idle = asyncio.get_running_loop().call_later(
            IDLE_BEFORE_FIRST_BYTE_S, transport.close
        )

    def data_received(self, data: bytes) -> None:
        if self.upstream is not None:
            self.upstream.transport.write(data)
            return
        if self.pending is not None:  # still connecting to the gRPC server
            self.pending.append(data)
            return
        self.head += data
        head = bytes(self.head)
        if len(head) < SNIFF_BYTES and PREFACE.startswith(head):
            return
        if self.idle is not None:
            self.idle.cancel()
        if head.startswith(PREFACE[:SNIFF_BYTES]):
            self.pending = [head]
            self.transport.pause_reading()
            asyncio.get_running_loop().create_task(self._relay())
        else:
            self.listener.open.discard(self)
            protocol = self.listener.http_protocol()
            self.transport.set_protocol(protocol)
            protocol.connection_made(self.transport)
            protocol.data_received(head)

    async def _relay(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await self.listener.connect_grpc(loop, lambda: _Relay(self))
        except OSError as exc:
            log.warning("cannot reach the gRPC server: %s", exc)
            self.transport.close()
            return
        if self.transport.is_closing():
            upstream.transport.close()
            return
        for chunk in self.pending or ():
            upstream.transport.write(chunk)
        self.pending = None
        self.upstream = upstream
        self.transport.resume_reading()

    def eof_received(self) -> bool:
        if self.upstream is not None and self.upstream.transport.can_write_eof():
            self.upstream.transport.write_eof()
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.open.discard(self)
        if self.idle is not None:
            self.idle.cancel()
        if self.upstream is not None:
            self.upstream.transport.close()

    def pause_writing(self) -> None:  # the client reads slower than the gRPC server sends
        if self.upstream is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.resume_reading()


class Listener:
    """The public socket, the private gRPC address behind it and the HTTP/1.1 protocol."""

    def __init__(self, http_protocol: Callable[[], asyncio.Protocol]):
        self.http_protocol = http_protocol
        self.open: set[FrontDoor] = set()
        self.server: asyncio.AbstractServer | None = None
        self._dir: str | None = None
        self.grpc_address = ""
        self._connect: Callable | None = None

    def private_grpc_address(self) -> str:
        """Where the gRPC server should listen: a Unix socket in a private directory."""
        if hasattr(socket, "AF_UNIX"):
            self._dir = tempfile.mkdtemp(prefix="pubsub-grpc-")
            path = os.path.join(self._dir, "grpc.sock")
            self.grpc_address = f"unix:{path}"
            self._connect = functools.partial(_unix, path)
        else:  # no Unix sockets: a loopback port only the front door is told about
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            probe.close()
            self.grpc_address = f"127.0.0.1:{port}"
            self._connect = functools.partial(_tcp, port)
        return self.grpc_address

    async def connect_grpc(self, loop, factory):
        return await self._connect(loop, factory)

    async def listen(self, host: str, port: int) -> int:
        """Bind (the first address ``host`` resolves to, IPv4 first) and serve; the port."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        infos.sort(key=lambda info: info[0] != socket.AF_INET)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        self.server = await loop.create_server(lambda: FrontDoor(self), sock=sock, backlog=2048)
        return sock.getsockname()[1]

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for door in list(self.open):
            door.transport.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


async def _unix(path: str, loop, factory):
    return await loop.create_unix_connection(factory, path)


async def _tcp(port: int, loop, factory):
    return await loop.create_connection(factory, "127.0.0.1", port)
