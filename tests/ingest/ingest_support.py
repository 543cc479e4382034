"""Helpers of the ingestion-edge tests: events, keys, a local JWKS endpoint, Pub/Sub pulls."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ingest.auth import hash_key

KEYS = {  # source -> (current key, next key): two valid at once, as during a rotation
    "checkout": ("sbk_checkout_current_0123456789", "sbk_checkout_next_0123456789"),
    "web": ("sbk_web_current_0123456789", None),
}


def event(event_id: str | None = None, source: str = "checkout", **data) -> dict:
    return {
        "event_id": event_id or uuid.uuid4().hex,
        "timestamp": "2024-05-06T07:08:09.123Z",
        "data": data or {"n": 1},
        "metadata": {"source": source, "version": "1.0"},
    }


def sources_config(rate: float = 0, burst: float = 0, **service) -> dict:
    """The raw config: checkout and web with API keys, optional rate and service limits."""
    return {
        "service": service,
        "sources": [
            {"name": name, "api_key_hashes": [hash_key(k) for k in keys if k],
             "owns": [name], "rate": rate, "burst": burst}
            for name, keys in KEYS.items()
        ],
    }


def pull(subscriber, subscription: str, expect: int, timeout: float = 15.0) -> list:
    """Pull and ack until ``expect`` messages came (or the timeout); -> PubsubMessages."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < expect and time.monotonic() < deadline:
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": 1000}, timeout=5)
        if response.received_messages:
            subscriber.acknowledge(subscription=subscription,
                                   ack_ids=[r.ack_id for r in response.received_messages])
            got.extend(r.message for r in response.received_messages)
    return got


def drain(subscriber, subscription: str, idle_pulls: int = 2) -> list:
    """Everything left in the subscription (pulls until ``idle_pulls`` come back empty)."""
    got, idle = [], 0
    while idle < idle_pulls:
        batch = pull(subscriber, subscription, 1, timeout=1.0)
        idle = 0 if batch else idle + 1
        got.extend(batch)
    return got


class SigningKey:
    """A local RSA key pair playing Google's token signer; ``jwks()`` is its public half."""

    def __init__(self, kid: str):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()

    def jwk(self) -> dict:
        numbers = self.private.public_key().public_numbers()

        def b64(value: int) -> str:
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                "n": b64(numbers.n), "e": b64(numbers.e)}

    def token(self, audience: str, email: str, issuer: str = "https://accounts.google.com",
              lifetime: int = 600, issued_at: int | None = None) -> str:
        from google.auth import crypt, jwt

        now = int(time.time()) if issued_at is None else issued_at
        signer = crypt.RSASigner.from_string(self.pem, self.kid)
        payload = {"iss": issuer, "aud": audience, "sub": "1234567890", "email": email,
                   "email_verified": True, "iat": now, "exp": now + lifetime}
        return jwt.encode(signer, payload).decode()


class JwksServer:
    """The public keys as a JWKS document over HTTP on 127.0.0.1 (like Google's v3 certs)."""

    def __init__(self, *keys: SigningKey):
        document = json.dumps({"keys": [k.jwk() for k in keys]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("cache-control", "public, max-age=3600")
                self.send_header("content-length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/oauth2/v3/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
