"""Who is calling: API keys (stored as SHA-256 hashes) or Google-signed ID tokens.

API keys are long random secrets (``python -m ingest keygen``), so one SHA-256 is the right hash
for them at rest (as for GitHub or Stripe tokens): a slow password hash would only cost CPU on
every request, there is no dictionary to guess from. Each source may list two hashes at once,
so a key is rotated by adding the new one, moving the producer over, then removing the old one.

ID tokens are verified with google-auth (``google.oauth2.id_token.verify_token``: signature
against the configured certificates or JWKS, expiry, audience), then the issuer, and the
token's ``email`` is looked up among the sources' ``service_accounts``: that is what Cloud Run
with IAM invokers hands the service.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass

from ingest.config import Config, IdToken, Source

API_KEY_HEADER = "x-api-key"
KEY_PREFIX = "sbk_"


class AuthError(Exception):
    """Refused: ``status`` is 401 (who are you?) or 403 (not allowed), ``reason`` says why."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``source`` is None when authentication is off."""

    name: str
    source: Source | None = None

    def may_publish_as(self, value: str) -> bool:
        return self.source is None or self.source.owns_source(value)


ANONYMOUS = Principal("anonymous")


def hash_key(key: str) -> str:
    """The form a key is stored in: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """A new API key: 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class _CachedCerts:
    """A ``google.auth.transport.Request`` that keeps the certificate document for its
    Cache-Control max-age (Google's certs say hours), so a request costs no HTTP fetch."""

    def __init__(self, default_ttl: float = 300.0):
        from google.auth.transport.requests import Request

        self._request = Request()
        self._default_ttl = default_ttl
        self._cache: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def __call__(self, url, method="GET", **kwargs):
        with self._lock:
            hit = self._cache.get(url)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        response = self._request(url, method=method, **kwargs)
        if response.status == 200:
            match = re.search(r"max-age=(\d+)", response.headers.get("cache-control", ""))
            ttl = float(match.group(1)) if match else self._default_ttl
            with self._lock:
                self._cache[url] = (time.monotonic() + ttl, response)
        return response


class Authenticator:
    """Maps request credentials to a :class:`Principal`, or raises :class:`AuthError`."""

    def __init__(self, config: Config, allow_unauthenticated: bool = False):
        self.enabled = not allow_unauthenticated
        self._by_key_hash = {d: s for s in config.sources for d in s.api_key_hashes}
        self._by_account = {a.lower(): s for s in config.sources for a in s.service_accounts}
        self._id_token: IdToken | None = config.id_token
        self._certs = _CachedCerts() if config.id_token else None

    @property
    def needs_thread(self) -> bool:
        """ID-token checks may fetch certificates: call :meth:`authenticate` off the loop."""
        return self._certs is not None

    def authenticate(self, headers) -> Principal:
        if not self.enabled:
            return ANONYMOUS
        key = headers.get(API_KEY_HEADER)
        authorization = headers.get("authorization", "")
        if key:
            source = self._by_key_hash.get(hash_key(key))
            if source is None:
                raise AuthError(401, "the API key is not valid")
            return Principal(source.name, source)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return self._from_id_token(token.strip())
        raise AuthError(401, f"missing credentials: send an API key in {API_KEY_HEADER.title()} "
                             "or a Google-signed ID token as Authorization: Bearer <token>")

    def _from_id_token(self, token: str) -> Principal:
        if self._id_token is None:
            raise AuthError(401, "ID tokens are not accepted here (no [id_token] configured)")
        from google.auth import exceptions as auth_exceptions
        from google.oauth2 import id_token

        rejected: tuple[type[Exception], ...] = (ValueError, auth_exceptions.GoogleAuthError)
        try:
            import jwt  # google-auth verifies JWKS documents with PyJWT

            rejected += (jwt.PyJWTError,)
        except ImportError:
            pass
        try:
            claims = id_token.verify_token(
                token, self._certs, audience=self._id_token.audience,
                certs_url=self._id_token.certs_url, clock_skew_in_seconds=10,
            )
        except auth_exceptions.TransportError as exc:
            raise AuthError(503, f"cannot fetch the token signing keys: {exc}") from None
        except rejected as exc:
            raise AuthError(401, f"the ID token is not valid: {exc}") from None
        if claims.get("iss") not in self._id_token.issuers:
            raise AuthError(401, f"the ID token's issuer {claims.get('iss')!r} is not trusted")
        email = str(claims.get("email") or "")
        if claims.get("email_verified") is False:
            raise AuthError(401, "the ID token's email is not verified")
        source = self._by_account.get(email.lower())
        if source is None:
            raise AuthError(403, f"{email or 'the token subject'} may not publish to this service")
        return Principal(source.name, source)
