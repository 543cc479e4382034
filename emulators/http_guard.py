"""Browser and DNS-rebinding guard for the emulators' HTTP surfaces (pure ASGI, no framework).

The emulators have no authentication, like Google's. What must not happen is that a web page
open in the developer's browser drives them: a page on another origin can send "simple"
requests (a POST with ``Content-Type: text/plain`` needs no CORS preflight), and a DNS name
rebound to 127.0.0.1 makes the browser treat the emulator as the attacker's own origin. So:

* ``Origin`` (browsers send it on cross-origin requests and on every POST): allowed when
  absent, when its host is a loopback name, or when it is listed (``--allow-origin``, exact
  ``scheme://host[:port]``, or ``*``). ``Origin: null`` (sandboxed frames, ``file://``) is
  refused.
* ``Host`` (what DNS rebinding cannot forge): allowed when it is a loopback name or address,
  the address the server is bound to, or listed (``--allow-host``, a name, or ``*``).

Anything else gets 403 in the API's own error shape, built by the ``error_body`` callback.
``check`` holds the rule; ``Guard`` applies it to every HTTP request of an ASGI app.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def _strip_port(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:9050
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host  # a bare IPv6 address, or no port


def is_loopback(host: str) -> bool:
    """True for loopback names (``localhost``, ``*.localhost``) and addresses (127/8, ::1)."""
    name = _strip_port(host).rstrip(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostPolicy:
    """Which ``Host`` and ``Origin`` values a server accepts (see the module docstring)."""

    def __init__(
        self,
        bind_host: str = "127.0.0.1",
        allow_hosts: Iterable[str] = (),
        allow_origins: Iterable[str] = (),
    ):
        self.bind_host = _strip_port(bind_host)
        self.hosts = {_strip_port(h) for h in allow_hosts if h}
        self.origins = {o.strip().lower().rstrip("/") for o in allow_origins if o}

    def check(self, host: str | None, origin: str | None) -> str | None:
        """None when the request may go on, else the reason it is refused."""
        if "*" not in self.hosts:
            name = _strip_port(host or "")
            if not name:
                return "The request has no Host header."
            if not (is_loopback(name) or name == self.bind_host or name in self.hosts):
                return (
                    f"Host {host!r} is not allowed: the emulator answers loopback names, the "
                    "address it is bound to and the names given with --allow-host."
                )
        if origin is not None and "*" not in self.origins:
            value = origin.strip().lower().rstrip("/")
            if value not in self.origins:
                parts = urlsplit(value) if value != "null" else None
                if parts is None or not parts.hostname or not is_loopback(parts.hostname):
                    return (
                        f"Origin {origin!r} is not allowed: browsers may reach the emulator "
                        "only from loopback pages and the origins given with --allow-origin."
                    )
        return None

    def cors_origin(self, origin: str | None) -> str | None:
        """Access-Control-Allow-Origin for an allowed cross-origin request (None: no CORS)."""
        if origin is None or origin.strip().lower() == "null":
            return None
        if "*" in self.origins:
            return "*"
        return origin if self.check("localhost", origin) is None else None


ErrorBody = Callable[[int, str], dict]


def google_error(code: int, message: str) -> dict:
    """``{"error": {"code", "message", "status"}}``, the JSON error shape of Google's APIs."""
    status = {403: "PERMISSION_DENIED"}.get(code, "UNKNOWN")
    return {"error": {"code": code, "message": message, "status": status}}


class Guard:
    """ASGI middleware answering 403 to requests the policy refuses; the rest go to ``app``."""

    def __init__(self, app, policy: HostPolicy, error_body: ErrorBody = google_error):
        self.app = app
        self.policy = policy
        self.error_body = error_body

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = origin = None
            for key, value in scope.get("headers") or ():
                if key == b"host":
                    host = value.decode("latin-1")
                elif key == b"origin":
                    origin = value.decode("latin-1")
            reason = self.policy.check(host, origin)
            if reason is not None:
                body = json.dumps(self.error_body(403, reason)).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 403,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def add_arguments(parser) -> None:
    """``--allow-origin`` and ``--allow-host`` on an argparse parser (repeatable)."""
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept browser requests from this origin (scheme://host[:port], or *); "
        "repeatable",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to this host name (e.g. a compose service name, "
        "or *); repeatable",
    )
