"""Cloud Storage for load, extract and external tables: the one way in and out of ``gs://``.

Every ``gs://`` URI a client sends goes through :func:`parse_uri` (Cloud Storage's bucket and
object name rules, BigQuery's one-wildcard rule) before it is used, and objects are only ever
read and written through the Cloud Storage JSON API of the emulator named by
``--storage-endpoint`` (or ``STORAGE_EMULATOR_HOST``) - never the host's filesystem. The
google-cloud-storage client URL-quotes every name it sends.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import Invalid, NotFound

MAX_URIS = 10_000  # BigQuery's limit of source URIs per load job
# What one job may read: as many objects as a wildcard may match, and their bytes, held in
# memory while the job runs (the same bound as an uploaded load, uploads.MAX_UPLOAD_BYTES).
MAX_OBJECTS = 100_000
MAX_READ_BYTES = 1 << 30
_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEGMENTS = re.compile(r"[/\\]")  # the local Cloud Storage maps both to path separators


@dataclass(frozen=True)
class GcsUri:
    """A validated ``gs://bucket/object`` URI; ``name`` may hold one ``*`` wildcard."""

    bucket: str
    name: str

    def __str__(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    @property
    def wildcard(self) -> bool:
        return "*" in self.name

    @property
    def prefix(self) -> str:
        """The object-name prefix every match shares (the text before the wildcard)."""
        return self.name.split("*", 1)[0]

    def matches(self, name: str) -> bool:
        """``*`` matches any characters, ``/`` included (BigQuery's wildcard, not a glob)."""
        head, _, tail = self.name.partition("*")
        return len(name) >= len(head) + len(tail) and name.startswith(head) and name.endswith(tail)

    def shard(self, number: int) -> GcsUri:
        """The object a sharded extract writes: ``*`` replaced by a 12-digit shard number."""
        return GcsUri(self.bucket, self.name.replace("*", f"{number:012d}", 1))


def valid_bucket_name(bucket: str) -> bool:
    """Cloud Storage's bucket naming rules (3-63 characters, or up to 222 with dots, each
    dot-separated part at most 63; lowercase letters, digits, ``-``, ``_``, ``.``; starting and
    ending with a letter or digit; not an IP address; no ``goog`` prefix or ``google``)."""
    if not 3 <= len(bucket) <= (222 if "." in bucket else 63):
        return False
    if not _BUCKET_CHARS.fullmatch(bucket) or any(len(p) > 63 or not p for p in bucket.split(".")):
        return False
    if bucket.startswith("goog") or "google" in bucket or ".." in bucket:
        return False
    try:
        ipaddress.ip_address(bucket)
    except ValueError:
        return True
    return False


def valid_object_name(name: str, *, wildcard: bool) -> bool:
    """Cloud Storage's object naming rules (1-1024 bytes of UTF-8, no control characters, not
    ``.`` or ``..``, not under ``.well-known/acme-challenge/``; here ``.`` and ``..`` path
    segments, between ``/`` or ``\\``, are refused too, because the local Cloud Storage keeps
    objects as files); at most one ``*`` when ``wildcard``, none otherwise."""
    if not name or len(name.encode("utf-8", "surrogatepass")) > 1024 or name in (".", ".."):
        return False
    if _CONTROL.search(name) or name.startswith(".well-known/acme-challenge/"):
        return False
    if any(part in (".", "..") for part in _SEGMENTS.split(name)):
        return False  # Cloud Storage allows these segments; the local one maps names to paths
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return name.count("*") <= (1 if wildcard else 0)


def parse_uri(uri: Any, *, wildcard: bool = True, what: str = "source URI") -> GcsUri:
    """The one validating gate for a ``gs://`` URI from a client; ``Invalid`` otherwise."""
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        shown = uri if isinstance(uri, str) else type(uri).__name__
        raise Invalid(f"Invalid {what} '{str(shown)[:200]}'. Must be a valid Google Storage path "
                      "(gs://bucket/object).")  # fmt: skip
    bucket, slash, name = uri[len("gs://") :].partition("/")
    if not slash or not valid_bucket_name(bucket):
        raise Invalid(f"Invalid {what} '{uri[:200]}': '{bucket[:100]}' is not a valid bucket name.")
    if not valid_object_name(name, wildcard=wildcard):
        rule = "at most one '*' wildcard" if wildcard else "no '*' wildcard"
        raise Invalid(
            f"Invalid {what} '{uri[:200]}': the object name must be 1-1024 bytes of UTF-8 "
            f"without control characters or '.'/'..' segments, with {rule}."
        )
    return GcsUri(bucket, name)


def parse_uris(uris: Any, *, wildcard: bool = True, what: str = "source URI") -> list[GcsUri]:
    """A job's list of URIs, each through :func:`parse_uri`; at least one, at most 10,000."""
    if isinstance(uris, str):
        uris = [uris]
    if not isinstance(uris, list) or not uris:
        raise Invalid(f"At least one {what} is required.")
    if len(uris) > MAX_URIS:
        raise Invalid(f"Too many {what}s: {len(uris)} (at most {MAX_URIS}).")
    return [parse_uri(u, wildcard=wildcard, what=what) for u in uris]


class CloudStorage:
    """Reads and writes objects through the Cloud Storage JSON API at ``endpoint``."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint.rstrip("/")
        if "://" not in self.endpoint:
            self.endpoint = f"http://{self.endpoint}"
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:  # imported on first use: it costs the start time ~0.3 s
                from google.auth.credentials import AnonymousCredentials
                from google.cloud import storage

                self._client = storage.Client(
                    project="bigquery-emulator",
                    credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": self.endpoint},
                )
            return self._client

    def _call(self, uri: GcsUri, action):
        from google.api_core import exceptions
        from google.auth.exceptions import TransportError
        from requests.exceptions import ConnectionError as RequestsConnectionError

        try:
            return action()
        except exceptions.NotFound:
            raise NotFound(f"Not found: URI {uri}") from None
        except exceptions.Forbidden as exc:
            raise Invalid(f"Access Denied: {uri}: {exc.message}", reason="accessDenied") from None
        except (exceptions.GoogleAPIError, TransportError, RequestsConnectionError) as exc:
            raise Invalid(
                f"Cloud Storage at {self.endpoint} failed for {uri}: {str(exc)[:300]}"
            ) from None

    def expand(self, uri: GcsUri) -> list[tuple[GcsUri, int]]:
        """The objects a (possibly wildcard) URI names, with their sizes; ``NotFound`` naming
        the URI when there are none."""
        if not uri.wildcard:
            blob = self._call(uri, lambda: self.client.bucket(uri.bucket).get_blob(uri.name))
            if blob is None:
                raise NotFound(f"Not found: URI {uri}")
            return [(uri, int(blob.size or 0))]

        def listing():
            matched = []
            for blob in self.client.list_blobs(uri.bucket, prefix=uri.prefix):
                if uri.matches(blob.name) and not blob.name.endswith("/"):
                    matched.append((GcsUri(uri.bucket, blob.name), int(blob.size or 0)))
                    if len(matched) > MAX_OBJECTS:  # stop listing: the job is refused anyway
                        raise Invalid(f"The URI {uri} matches more than {MAX_OBJECTS:,} objects "
                                      "(this emulator's limit per job).")  # fmt: skip
            return matched

        found = self._call(uri, listing)
        if not found:
            raise NotFound(f"Not found: URI {uri}")
        return sorted(found, key=lambda item: item[0].name)

    def read(self, uri: GcsUri) -> bytes:
        return self._call(uri, lambda: self.client.bucket(uri.bucket).blob(uri.name)
                          .download_as_bytes(raw_download=True))  # fmt: skip

    def write(self, uri: GcsUri, data: bytes, content_type: str) -> None:
        def upload():
            blob = self.client.bucket(uri.bucket).blob(uri.name)
            blob.upload_from_string(data, content_type=content_type)

        self._call(uri, upload)


def require(gcs: CloudStorage | None) -> CloudStorage:
    """``gcs``, or BigQuery's ``invalid`` error saying how to give the emulator one."""
    if gcs is None:
        raise Invalid(
            "This emulator has no Cloud Storage: start it with --storage-endpoint URL (or "
            "STORAGE_EMULATOR_HOST set) to load from, extract to or query gs:// URIs."
        )
    return gcs


def read_sources(gcs: CloudStorage | None, uris: Any) -> Iterator[tuple[str, bytes]]:
    """``(uri, bytes)`` of every object the source URIs name, wildcards expanded, one at a time
    (all URIs are validated and expanded first, so a missing one fails before any is read)."""
    parsed = parse_uris(uris)
    storage = require(gcs)
    objects = [found for uri in parsed for found in storage.expand(uri)]
    if len(objects) > MAX_OBJECTS:
        raise Invalid(f"The source URIs match {len(objects):,} objects; this emulator reads at "
                      f"most {MAX_OBJECTS:,} per job.")  # fmt: skip
    too_big = Invalid(f"The source URIs hold more than {MAX_READ_BYTES:,} bytes; this emulator "
                      "reads at most that much per job (it holds them in memory).")  # fmt: skip
    if sum(size for _, size in objects) > MAX_READ_BYTES:
        raise too_big
    read = 0
    for uri, _ in objects:
        data = storage.read(uri)
        read += len(data)
        if read > MAX_READ_BYTES:  # an object grew after it was listed
            raise too_big
        yield str(uri), data
