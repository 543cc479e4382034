"""Who may talk to the REST surface: browser Origins and Host headers (DNS rebinding).

A web page the user happens to visit can make the browser send requests to 127.0.0.1: with
its own ``Origin`` (a cross-site request), or through a DNS name it controls that resolves to
127.0.0.1 (DNS rebinding: the ``Host`` header is then that name). Both are refused with 403
in the API's error shape unless allowed by ``--allow-origin`` / ``--allow-host``. Clients that
are not browsers (curl, the Google clients) send no ``Origin`` and a loopback ``Host``.

gRPC needs no such check: a browser cannot speak it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
WILDCARD_BINDS = {"", "0.0.0.0", "::", "[::]"}


def split_host(value: str) -> str:
    """The host part of a ``Host`` header or an origin's authority, lower-cased."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8085
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Guard:
    """``check(host, origin)`` is None for an allowed request, else the reason to refuse it.

    Allowed hosts: loopback names and addresses, the address the server is bound to, and
    every ``--allow-host`` (``*`` allows any). Allowed origins: the server's own (an origin
    whose authority is the request's Host) and every ``--allow-origin`` (``*`` allows any).
    """

    def __init__(
        self,
        bind_host: str = "127.0.0.1",
        allow_hosts: Iterable[str] = (),
        allow_origins: Iterable[str] = (),
    ):
        self.hosts = {split_host(h) for h in allow_hosts}
        if bind_host not in WILDCARD_BINDS:
            self.hosts.add(split_host(bind_host))
        self.any_host = "*" in self.hosts
        self.origins = {o.strip().rstrip("/").lower() for o in allow_origins}
        self.any_origin = "*" in self.origins

    def host_allowed(self, host_header: str) -> bool:
        if self.any_host:
            return True
        host = split_host(host_header)
        return bool(host) and (host in self.hosts or is_loopback(host))

    def origin_allowed(self, origin: str, host_header: str) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if self.any_origin or origin in self.origins:
            return True
        scheme, sep, authority = origin.partition("://")
        return bool(sep) and scheme in ("http", "https") and authority == host_header.lower()

    def check(self, host: str | None, origin: str | None) -> str | None:
        if not host or not self.host_allowed(host):
            return (
                f"Host {host!r} is not allowed: this emulator answers only loopback names "
                "(start it with --allow-host NAME to accept another)."
            )
        if origin is not None and not self.origin_allowed(origin, host):
            return (
                f"Origin {origin!r} is not allowed: browsers on other sites may not call this "
                "emulator (start it with --allow-origin ORIGIN to accept one)."
            )
        return None

    def cors_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for an allowed cross-origin request."""
        if origin is None:
            return None
        if self.any_origin:
            return "*"
        return origin if origin.strip().rstrip("/").lower() in self.origins else None
