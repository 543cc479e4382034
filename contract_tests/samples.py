"""Producer samples read from files, directories or stdin, and what a known-bad one expects.

A sample is the exact bytes a producer would publish. In ``.json`` files the whole file is one
message; in ``.ndjson``/``.jsonl`` files (and on stdin) every non-blank line is one message.

A known-bad sample may carry its expected rejection in a wrapper object::

    {"_expect": {"error_type": "schema_violation", "path": "$.metadata.source"},
     "message": {...the event...}}

``message`` is any JSON value (published compactly encoded); ``raw`` is a string published
verbatim as UTF-8 (for payloads that are not JSON), ``raw_base64`` arbitrary bytes.
``attributes`` (string map) is optional. Every ``_expect`` key is optional: ``error_type``,
``path`` (the JSON path of the violation, ``$`` for the whole payload) and ``message_contains``
(a substring of the reason). A wrapper is recognised only by its ``_expect`` key, which the
contract forbids in a real event (``additionalProperties: false``).
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipeline import errors

EXPECT_KEY = "_expect"
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
SUFFIXES = (".json", *NDJSON_SUFFIXES)
_PAYLOAD_KEYS = ("message", "raw", "raw_base64")
_EXPECT_FIELDS = ("error_type", "path", "message_contains")


class SampleError(ValueError):
    """A path or a sample wrapper that cannot be read (a usage error, not a rejection)."""


@dataclass(frozen=True)
class Expectation:
    """How a known-bad sample must be rejected; ``None`` fields match anything."""

    error_type: str | None = None
    path: str | None = None
    message_contains: str | None = None

    def describe(self) -> str:
        parts = [self.error_type or "any error"]
        if self.path:
            parts.append(f"at {self.path}")
        if self.message_contains:
            parts.append(f"containing {self.message_contains!r}")
        return " ".join(parts)


@dataclass(frozen=True)
class Sample:
    """One message to verify: its bytes, where it came from, and its optional expectation."""

    name: str
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    expect: Expectation | None = None


def from_payload(name: str, data: bytes) -> Sample:
    """A sample from raw bytes, unwrapping an ``_expect`` wrapper when there is one."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return Sample(name, data)
    if not (isinstance(value, dict) and EXPECT_KEY in value):
        return Sample(name, data)
    return _unwrap(name, value)


def from_message(message: dict | bytes | str, name: str = "message") -> Sample:
    """A sample from a dict (JSON-encoded), ``str`` (UTF-8) or ``bytes`` (as is)."""
    if isinstance(message, bytes):
        return Sample(name, message)
    if isinstance(message, str):
        return Sample(name, message.encode("utf-8"))
    return Sample(name, json.dumps(message, ensure_ascii=False).encode("utf-8"))


def _unwrap(name: str, wrapper: dict) -> Sample:
    expect = wrapper[EXPECT_KEY]
    if not isinstance(expect, dict) or set(expect) - set(_EXPECT_FIELDS):
        raise SampleError(f"{name}: {EXPECT_KEY} must be an object with keys {_EXPECT_FIELDS}")
    if expect.get("error_type") not in (None, *errors.ALL):
        raise SampleError(
            f"{name}: unknown error_type {expect['error_type']!r}; one of {', '.join(errors.ALL)}"
        )
    given = [k for k in _PAYLOAD_KEYS if k in wrapper]
    extra = set(wrapper) - {EXPECT_KEY, "attributes", *_PAYLOAD_KEYS}
    if len(given) != 1 or extra:
        raise SampleError(
            f"{name}: a {EXPECT_KEY} wrapper needs exactly one of {', '.join(_PAYLOAD_KEYS)} "
            "and may have attributes, nothing else"
        )
    key = given[0]
    try:
        if key == "message":
            data = json.dumps(wrapper[key], ensure_ascii=False).encode("utf-8")
        elif key == "raw":
            data = wrapper[key].encode("utf-8")
        else:
            data = base64.b64decode(wrapper[key], validate=True)
    except (AttributeError, ValueError) as exc:
        raise SampleError(f"{name}: bad {key}: {exc}") from None
    attributes = wrapper.get("attributes", {})
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise SampleError(f"{name}: attributes must map strings to strings")
    return Sample(name, data, dict(attributes), Expectation(**expect))


def read_ndjson(name: str, stream: BinaryIO) -> list[Sample]:
    samples = []
    for number, line in enumerate(stream, start=1):
        line = line.rstrip(b"\r\n")
        if line.strip():
            samples.append(from_payload(f"{name}:{number}", line))
    return samples


def read_file(path: Path) -> list[Sample]:
    if path.suffix in NDJSON_SUFFIXES:
        with path.open("rb") as stream:
            return read_ndjson(str(path), stream)
    if path.suffix == ".json":
        return [from_payload(str(path), path.read_bytes())]
    raise SampleError(f"{path}: not a sample file (expected {', '.join(SUFFIXES)})")


def read_paths(paths: list[str], stdin: BinaryIO | None = None,
               skipped: list[str] | None = None) -> list[Sample]:
    """All samples of ``paths`` in order; directories are walked recursively, sorted. Files in
    a directory that are not samples are listed in ``skipped`` (with why)."""
    samples: list[Sample] = []
    for raw in paths:
        if raw == "-":
            samples += read_ndjson("<stdin>", stdin or sys.stdin.buffer)
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            others = [p for p in files if p.suffix not in SUFFIXES]
            files = [p for p in files if p.suffix in SUFFIXES]
            if skipped is not None:
                skipped += [f"{p} (not {', '.join(SUFFIXES)})" for p in others]
            if not files:
                raise SampleError(f"{path}: no {', '.join(SUFFIXES)} files in this directory")
            for file in files:
                samples += read_file(file)
        elif path.is_file():
            samples += read_file(path)
        else:
            raise SampleError(f"{path}: no such file or directory")
    return samples
