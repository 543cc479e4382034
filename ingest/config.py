"""The ingestion service's configuration file (TOML): limits, batching, sources and their
credentials, ID-token verification. Every field is optional except what auth needs.

```toml
[service]
max_body_bytes = 10485760          # 413 above (Pub/Sub's own request limit is 10 MB)
max_events_per_request = 1000
publish_timeout_seconds = 10       # a request waits at most this for Pub/Sub, then 503
max_in_flight_events = 20000       # events handed to Pub/Sub and not yet accepted: 503 above
max_in_flight_bytes = 67108864
retry_after_seconds = 2            # Retry-After of a 503
ordering_key = "none"              # "none" | "source" | "data:<field>" (e.g. "data:device_id")
idempotency_window_seconds = 600   # a resubmitted event_id is answered without a second publish
idempotency_max_entries = 200000   # bounded memory: past this, the oldest ids are forgotten
allowed_origins = []               # browser Origins allowed to call; any other Origin gets 403
header_timeout_seconds = 10        # a client must finish its request headers within this
body_timeout_seconds = 30          # ... and its body within this (408)

[batching]                         # the Pub/Sub client's BatchSettings
max_messages = 500
max_bytes = 1000000
max_latency_seconds = 0.01

[id_token]                         # Google-signed ID tokens (Cloud Run IAM, service accounts)
audience = "https://ingest-abc-ew.a.run.app"
certs_url = "https://www.googleapis.com/oauth2/v1/certs"   # PEM or JWKS
issuers = ["https://accounts.google.com", "accounts.google.com"]

[[sources]]
name = "checkout"
owns = ["checkout"]                # metadata.source values it may publish (default: [name])
api_key_hashes = ["sha256:..."]    # `python -m ingest keygen`; at most two (rotation)
service_accounts = ["checkout-publisher@my-project.iam.gserviceaccount.com"]
rate = 500                         # events per second (token bucket); 0 = unlimited
burst = 1000                       # bucket size (default: 2 x rate)
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
MAX_KEYS_PER_SOURCE = 2


class ConfigError(ValueError):
    """The configuration file is unusable; the message says why in one sentence."""


@dataclass(frozen=True)
class Batching:
    max_messages: int = 500
    max_bytes: int = 1_000_000
    max_latency_seconds: float = 0.01


@dataclass(frozen=True)
class ServiceLimits:
    max_body_bytes: int = 10 * 1024 * 1024
    max_events_per_request: int = 1000
    publish_timeout_seconds: float = 10.0
    max_in_flight_events: int = 20_000
    max_in_flight_bytes: int = 64 * 1024 * 1024
    retry_after_seconds: int = 2
    ordering_key: str = "none"
    idempotency_window_seconds: float = 600.0
    idempotency_max_entries: int = 200_000
    allowed_origins: tuple[str, ...] = ()
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class IdToken:
    audience: str
    certs_url: str = GOOGLE_CERTS_URL
    issuers: tuple[str, ...] = GOOGLE_ISSUERS


@dataclass(frozen=True)
class Source:
    """A producer: what it may publish, how it proves who it is, how fast it may go."""

    name: str
    owns: tuple[str, ...] = ()
    api_key_hashes: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    rate: float = 0.0
    burst: float = 0.0

    def owns_source(self, value: str) -> bool:
        return value in (self.owns or (self.name,))


@dataclass(frozen=True)
class Config:
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    batching: Batching = field(default_factory=Batching)
    id_token: IdToken | None = None
    sources: tuple[Source, ...] = ()

    @property
    def has_auth(self) -> bool:
        return bool(self.sources)


def _build(cls, raw: dict, where: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {', '.join(unknown)}")
    values = {}
    for key, value in raw.items():
        default = known[key].default
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}.{key} must be a list of strings")
            value = tuple(value)
        elif isinstance(default, bool) or isinstance(value, bool):
            raise ConfigError(f"{where}.{key} must not be a boolean")
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{where}.{key} must be a number >= 0")
            value = type(default)(value)
        elif not isinstance(value, str):
            raise ConfigError(f"{where}.{key} must be a string")
        values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"{where} is missing a required key ({exc})") from None


def _check_ordering_key(value: str) -> None:
    if value in ("none", "source") or (value.startswith("data:") and len(value) > 5):
        return
    raise ConfigError(f"service.ordering_key must be none, source or data:<field>, not {value!r}")


def parse(raw: dict, where: str = "config") -> Config:
    """Build a :class:`Config` from the parsed TOML document."""
    unknown = sorted(set(raw) - {"service", "batching", "id_token", "sources"})
    if unknown:
        raise ConfigError(f"{where} has unknown section(s) {', '.join(unknown)}")
    limits = _build(ServiceLimits, raw.get("service", {}), "[service]")
    _check_ordering_key(limits.ordering_key)
    batching = _build(Batching, raw.get("batching", {}), "[batching]")
    id_token = _build(IdToken, raw["id_token"], "[id_token]") if "id_token" in raw else None
    sources = []
    for i, entry in enumerate(raw.get("sources", [])):
        source = _build(Source, entry, f"[[sources]] #{i + 1}")
        if len(source.api_key_hashes) > MAX_KEYS_PER_SOURCE:
            raise ConfigError(f"source {source.name!r} lists {len(source.api_key_hashes)} API "
                              f"keys; at most {MAX_KEYS_PER_SOURCE} (the current and the next)")
        for digest in source.api_key_hashes:
            if not digest.startswith("sha256:") or len(digest) != 7 + 64:
                raise ConfigError(f"source {source.name!r}: API keys are stored as "
                                  "'sha256:<64 hex digits>' (python -m ingest keygen)")
        if source.service_accounts and id_token is None:
            raise ConfigError(f"source {source.name!r} lists service accounts but there is no "
                              "[id_token] section to verify their tokens")
        if not (source.api_key_hashes or source.service_accounts):
            raise ConfigError(f"source {source.name!r} has neither api_key_hashes nor "
                              "service_accounts, so nothing could authenticate as it")
        sources.append(source)
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ConfigError("two [[sources]] entries share a name")
    digests = [d for s in sources for d in s.api_key_hashes]
    if len(set(digests)) != len(digests):
        raise ConfigError("the same API key is listed for two sources")
    return Config(limits, batching, id_token, tuple(sources))


def load(path: str | Path) -> Config:
    """Read and check the file; :class:`ConfigError` with one sentence if it is unusable."""
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse(raw, str(path))
