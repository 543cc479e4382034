"""Upload protocols of load jobs: multipart/related bodies and resumable upload sessions."""

from __future__ import annotations

import re
import threading
import uuid

from .errors import Invalid, NotFound, RequestTooLarge

_RANGE = re.compile(r"bytes (\*|(\d+)-(\d+))/(\*|\d+)")
MAX_UPLOAD_BYTES = 1 << 30  # a load job's data, held in memory until the job runs
MAX_SESSIONS = 100  # open resumable sessions; the oldest is dropped past this


def split_multipart(content_type: str, body: bytes) -> tuple[bytes, bytes]:
    """(metadata part, data part) of a multipart/related upload."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise Invalid("Multipart upload without a boundary.")
    boundary = b"--" + match.group(1).encode()
    parts = []
    for chunk in body.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        _, found, content = chunk.partition(b"\r\n\r\n")
        if not found:
            _, _, content = chunk.partition(b"\n\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        parts.append(content)
    if len(parts) < 2:
        raise Invalid("Multipart upload needs a metadata part and a data part.")
    return parts[0], parts[1]


class ResumableUploads:
    """Open resumable upload sessions: job metadata plus the bytes received so far."""

    def __init__(self) -> None:
        self._sessions: dict[str, tuple[str, dict, bytearray]] = {}
        self._lock = threading.Lock()

    def start(self, project: str, metadata: dict) -> str:
        upload_id = uuid.uuid4().hex
        with self._lock:
            while len(self._sessions) >= MAX_SESSIONS:  # abandoned sessions must not pile up
                del self._sessions[next(iter(self._sessions))]
            self._sessions[upload_id] = (project, metadata, bytearray())
        return upload_id

    def received(self, upload_id: str) -> int:
        with self._lock:
            session = self._sessions.get(upload_id)
        return len(session[2]) if session else 0

    def add_chunk(
        self, upload_id: str, content_range: str, raw: bytes
    ) -> tuple[str, dict, bytes] | None:
        """Store a chunk (`Content-Range: bytes a-b/total|*`, or `bytes */total` to probe);
        returns (project, metadata, data) once all `total` bytes are in, else None."""
        with self._lock:
            session = self._sessions.get(upload_id)
            if session is None:
                raise NotFound(f"Not found: upload session {upload_id}")
            project, metadata, data = session
            match = _RANGE.match(content_range)
            total: int | None = None
            if match:
                if match.group(4) != "*":
                    total = int(match.group(4))
                if match.group(2) is not None:
                    start = int(match.group(2))
                    if start > len(data):
                        raise Invalid("Upload chunk does not follow the bytes received so far.")
                    if start + len(raw) > MAX_UPLOAD_BYTES:
                        del self._sessions[upload_id]
                        raise RequestTooLarge("Request Too Large")
                    data[start:] = raw  # a resent chunk overwrites what it covers
            else:
                if len(data) + len(raw) > MAX_UPLOAD_BYTES:
                    del self._sessions[upload_id]
                    raise RequestTooLarge("Request Too Large")
                data.extend(raw)
                total = len(data)
            if total is None or len(data) < total:
                return None
            del self._sessions[upload_id]
            return project, metadata, bytes(data[:total])
