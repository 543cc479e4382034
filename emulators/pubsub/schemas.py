"""Pub/Sub schemas: an in-memory registry of AVRO / PROTOCOL_BUFFER schemas with revisions.

Plain Python objects only; the gRPC edge lives in schema_service.py.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

AVRO = "AVRO"
PROTOCOL_BUFFER = "PROTOCOL_BUFFER"
SCHEMA_TYPES = (AVRO, PROTOCOL_BUFFER)
ENCODINGS = ("JSON", "BINARY")

_SCHEMA_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")
_NAME = re.compile(r"projects/([^/]+)/schemas/([^/@]+)(?:@([^/@]+))?")

# (encoding, data, decode=False) -> the message as plain Python values when decode, else None;
# raises SchemaViolation
Validator = Callable[..., Any]


class InvalidSchema(ValueError):
    """The schema definition (or its name) is not acceptable."""


class SchemaViolation(ValueError):
    """A message does not match the schema."""


class SchemaNotFound(KeyError):
    """No schema (or revision) with that name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "schema not found"


class SchemaAlreadyExists(ValueError):
    """A schema with that name exists already."""


class RevisionError(ValueError):
    """A revision operation the service refuses (e.g. deleting the only revision)."""


@dataclass(frozen=True)
class SchemaRevision:
    """One revision of a schema; the newest revision is what GetSchema returns."""

    name: str  # projects/{project}/schemas/{schema_id}
    type: str  # AVRO | PROTOCOL_BUFFER
    definition: str
    revision_id: str
    revision_create_time: datetime


def schema_name(project: str, schema_id: str) -> str:
    return f"projects/{project}/schemas/{schema_id}"


def parse_name(name: str) -> tuple[str, str | None]:
    """Split ``projects/p/schemas/s[@rev]`` into (schema name, revision id or None)."""
    m = _NAME.fullmatch(name or "")
    if not m:
        raise InvalidSchema(
            f"invalid schema name {name!r}: expected projects/{{project}}/schemas/{{schema}}"
        )
    return schema_name(m.group(1), m.group(2)), m.group(3)


# --- AVRO -------------------------------------------------------------------------------------


class _StrictBytes(io.BytesIO):
    """A reader that fails on short reads, so truncated binary data is never accepted."""

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if size is not None and size >= 0 and len(data) < size:
            raise EOFError(f"needed {size} bytes, only {len(data)} left")
        return data


def _compile_avro(definition: str) -> Validator:
    import fastavro

    try:
        raw = json.loads(definition)
    except ValueError as exc:
        raise InvalidSchema(f"AVRO definition is not valid JSON: {exc}") from None
    named: dict[str, Any] = {}
    try:
        _require_record_fields(raw)
        parsed = fastavro.parse_schema(raw, named_schemas=named)
    except Exception as exc:  # fastavro raises several types for bad schemas
        raise InvalidSchema(f"invalid AVRO schema: {type(exc).__name__}: {exc}") from None

    def validate(encoding: str, data: bytes, decode: bool = False) -> Any:
        if encoding == "BINARY":
            reader = _StrictBytes(data)
            try:
                value = fastavro.schemaless_reader(reader, parsed)
            except Exception as exc:
                raise SchemaViolation(f"invalid AVRO binary data: {exc}") from None
            left = len(data) - reader.tell()
            if left:
                raise SchemaViolation(f"invalid AVRO binary data: {left} trailing bytes")
            return value
        try:
            value = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise SchemaViolation(f"message is not valid JSON: {exc}") from None
        try:
            _AvroJson(named).check(parsed, value, "$")
        except RecursionError:
            raise SchemaViolation("AVRO JSON message is nested too deeply") from None
        if not decode:
            return None
        # plain values: unions unwrapped, logical types converted, as the binary reader gives
        return next(fastavro.json_reader(io.StringIO(data.decode()), parsed))

    validate.fields = _avro_fields(raw)
    return validate


def _avro_fields(raw: Any) -> dict[str, Any]:
    """Top-level field name -> Avro type (unions with null reduced to the other branch)."""
    if not isinstance(raw, dict) or raw.get("type") != "record":
        return {}
    out = {}
    for field in raw.get("fields", []):
        kind = field.get("type")
        if isinstance(kind, list):
            branches = [b for b in kind if b != "null"]
            kind = branches[0] if len(branches) == 1 else kind
        out[field["name"]] = kind
    return out


def _require_record_fields(node: Any) -> None:
    """fastavro accepts a record without "fields"; the Avro spec (and the service) do not."""
    if isinstance(node, list):
        for item in node:
            _require_record_fields(item)
    elif isinstance(node, dict):
        if node.get("type") in ("record", "error") and not isinstance(node.get("fields"), list):
            raise ValueError(f'record {node.get("name")!r} needs a "fields" array')
        for value in node.values():
            _require_record_fields(value)


_INT_RANGES = {"int": 2**31, "long": 2**63}


class _AvroJson:
    """Strict Avro JSON-encoding check: exact types, no extra fields, unions as {"type": v}."""

    def __init__(self, named: dict[str, Any]):
        self.named = named

    def fail(self, path: str, message: str):
        raise SchemaViolation(f"AVRO JSON does not match the schema at {path}: {message}")

    def check(self, schema: Any, value: Any, path: str) -> None:
        if isinstance(schema, list):
            return self.check_union(schema, value, path)
        if isinstance(schema, str):
            if schema in self.named:
                return self.check(self.named[schema], value, path)
            return self.check_primitive(schema, value, path)
        kind = schema["type"]
        if kind == "record" or kind == "error":
            if not isinstance(value, dict):
                self.fail(path, f"expected an object for record {schema['name']}")
            fields = {f["name"]: f for f in schema["fields"]}
            extra = sorted(set(value) - set(fields))
            if extra:
                self.fail(path, f"unknown field(s) {', '.join(extra)}")
            for fname, field in fields.items():
                if fname in value:
                    self.check(field["type"], value[fname], f"{path}.{fname}")
                elif "default" not in field:
                    self.fail(path, f"missing required field {fname!r}")
        elif kind == "enum":
            if value not in schema["symbols"]:
                self.fail(path, f"{value!r} is not one of {schema['symbols']}")
        elif kind == "array":
            if not isinstance(value, list):
                self.fail(path, "expected an array")
            for i, item in enumerate(value):
                self.check(schema["items"], item, f"{path}[{i}]")
        elif kind == "map":
            if not isinstance(value, dict):
                self.fail(path, "expected an object for map")
            for k, item in value.items():
                self.check(schema["values"], item, f"{path}[{k!r}]")
        elif kind == "fixed":
            self.check_primitive("bytes", value, path)
            if len(value) != schema["size"]:
                self.fail(path, f"fixed {schema['name']} needs {schema['size']} bytes")
        else:  # primitive with attributes, e.g. a logical type
            self.check(kind, value, path)

    def check_primitive(self, kind: str, value: Any, path: str) -> None:
        ok = {
            "null": lambda v: v is None,
            "boolean": lambda v: isinstance(v, bool),
            "int": lambda v: _is_int(v) and -_INT_RANGES["int"] <= v < _INT_RANGES["int"],
            "long": lambda v: _is_int(v) and -_INT_RANGES["long"] <= v < _INT_RANGES["long"],
            "float": _is_number,
            "double": _is_number,
            "string": lambda v: isinstance(v, str),
            "bytes": lambda v: isinstance(v, str) and all(ord(c) < 256 for c in v),
        }.get(kind)
        if ok is None:
            self.fail(path, f"unknown type {kind!r}")
        if not ok(value):
            self.fail(path, f"expected {kind}, got {json.dumps(value)[:60]}")

    def check_union(self, branches: list, value: Any, path: str) -> None:
        if value is None:
            if "null" not in branches:
                self.fail(path, "null is not allowed in this union")
            return
        if not isinstance(value, dict) or len(value) != 1:
            self.fail(path, 'union values must be encoded as {"<type name>": value} or null')
        ((tag, inner),) = value.items()
        for branch in branches:
            if tag in _branch_names(branch):
                return self.check(branch, inner, f"{path}.{tag}")
        self.fail(path, f"{tag!r} is not a branch of the union")


def _branch_names(branch: Any) -> set[str]:
    if isinstance(branch, str):
        return {branch, branch.rsplit(".", 1)[-1]}
    if branch["type"] in ("record", "error", "enum", "fixed"):
        return {branch["name"], branch["name"].rsplit(".", 1)[-1]}
    return {branch["type"]}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    if isinstance(v, str):
        return v in ("NaN", "Infinity", "-Infinity")
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# --- PROTOCOL_BUFFER --------------------------------------------------------------------------

_PROTOC_LOCK = threading.Lock()


def compile_proto(definition: str):
    """Compile .proto source to (FileDescriptorSet, root message full name).

    Runs protoc in-process; its diagnostics (written to fd 2 by C++) are captured for the error.
    """
    import grpc_tools
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    with tempfile.TemporaryDirectory(prefix="pubsub-schema-") as tmp:
        src = os.path.join(tmp, "schema.proto")
        out = os.path.join(tmp, "schema.desc")
        with open(src, "w", encoding="utf-8") as f:
            f.write(definition)
        args = [
            "protoc",
            f"-I{tmp}",
            f"-I{include}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            src,
        ]
        with _PROTOC_LOCK:
            code, diagnostics = _run_capturing_stderr(lambda: protoc.main(args), tmp)
        if code != 0 or not os.path.exists(out):
            lines = diagnostics.replace(src, "schema.proto").splitlines()
            # protoc also logs absl warnings to stderr; keep only the lines about the file
            located = [line for line in lines if line.startswith("schema.proto")]
            text = "\n".join(located or lines).strip() or f"protoc exit code {code}"
            raise InvalidSchema(f"invalid PROTOCOL_BUFFER schema: {text}")
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
    main = next(fd for fd in fds.file if fd.name == "schema.proto")
    if len(main.message_type) != 1:
        raise InvalidSchema(
            "invalid PROTOCOL_BUFFER schema: the definition must contain exactly one top-level "
            f"message type, found {len(main.message_type)}"
        )
    root = main.message_type[0].name
    return fds, f"{main.package}.{root}" if main.package else root


def _run_capturing_stderr(fn: Callable[[], int], tmp: str) -> tuple[int, str]:
    path = os.path.join(tmp, "stderr.txt")
    saved = os.dup(2)
    try:
        with open(path, "w+b") as capture:
            os.dup2(capture.fileno(), 2)
            try:
                code = fn()
            finally:
                os.dup2(saved, 2)
            capture.seek(0)
            return code, capture.read().decode("utf-8", "replace")
    finally:
        os.close(saved)


def _compile_protobuf(definition: str) -> Validator:
    from google.protobuf import descriptor_pool, json_format, message_factory

    fds, root = compile_proto(definition)
    pool = descriptor_pool.DescriptorPool()  # one pool per schema: names never collide
    for fd in fds.file:
        pool.Add(fd)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(root))

    def validate(encoding: str, data: bytes, decode: bool = False) -> Any:
        msg = cls()
        if encoding == "BINARY":
            try:
                msg.ParseFromString(data)
            except Exception as exc:
                raise SchemaViolation(f"invalid PROTOCOL_BUFFER binary data: {exc}") from None
            size = msg.ByteSize()
            msg.DiscardUnknownFields()
            if msg.ByteSize() != size:
                raise SchemaViolation(
                    f"invalid PROTOCOL_BUFFER binary data: fields unknown to {root}"
                )
        else:
            try:
                value = json.loads(data)
            except (ValueError, RecursionError) as exc:
                raise SchemaViolation(f"message is not valid JSON: {exc}") from None
            if not isinstance(value, dict):
                raise SchemaViolation(
                    f"invalid PROTOCOL_BUFFER JSON for {root}: expected an object"
                )
            try:
                json_format.ParseDict(value, msg, ignore_unknown_fields=False)
            except Exception as exc:
                raise SchemaViolation(f"invalid PROTOCOL_BUFFER JSON for {root}: {exc}") from None
        if not decode:
            return None
        return json_format.MessageToDict(msg, preserving_proto_field_name=True)

    validate.fields = {f.name: f for f in cls.DESCRIPTOR.fields}
    return validate


_COMPILERS = {AVRO: _compile_avro, PROTOCOL_BUFFER: _compile_protobuf}


# --- registry ---------------------------------------------------------------------------------


class SchemaRegistry:
    """All schemas of all projects, with their revisions (oldest first) and compiled validators."""

    def __init__(self) -> None:
        self._revisions: dict[str, list[SchemaRevision]] = {}
        self._validators: dict[tuple[str, str], Validator] = {}
        self._lock = threading.RLock()

    @staticmethod
    def validate_schema(type: str, definition: str) -> Validator:
        """Compile a definition; raises InvalidSchema with the parser's message."""
        if type not in SCHEMA_TYPES:
            raise InvalidSchema(
                f"schema type must be one of {', '.join(SCHEMA_TYPES)}, not {type!r}"
            )
        if not definition or not definition.strip():
            raise InvalidSchema("schema definition must not be empty")
        return _COMPILERS[type](definition)

    def create(self, project: str, schema_id: str, type: str, definition: str) -> SchemaRevision:
        if not _SCHEMA_ID.fullmatch(schema_id or "") or schema_id.lower().startswith("goog"):
            raise InvalidSchema(
                f"invalid schema id {schema_id!r}: 3-255 characters, starting with a letter, of "
                "letters, digits, '-', '_', '.', '~', '+', '%', and not starting with 'goog'"
            )
        name = schema_name(project, schema_id)
        validator = self.validate_schema(type, definition)
        with self._lock:
            if name in self._revisions:
                raise SchemaAlreadyExists(f"schema {name} already exists")
            return self._add_revision(name, type, definition, validator)

    def _add_revision(self, name, type, definition, validator) -> SchemaRevision:
        revisions = self._revisions.setdefault(name, [])
        taken = {r.revision_id for r in revisions}
        rev_id = secrets.token_hex(4)
        while rev_id in taken:
            rev_id = secrets.token_hex(4)
        created = datetime.now(timezone.utc)
        if revisions and created <= revisions[-1].revision_create_time:
            # keep creation times strictly increasing so "newest" is unambiguous
            created = revisions[-1].revision_create_time + timedelta(microseconds=1)
        revision = SchemaRevision(name, type, definition, rev_id, created)
        revisions.append(revision)
        self._validators[(name, rev_id)] = validator
        return revision

    def _history(self, name: str) -> list[SchemaRevision]:
        revisions = self._revisions.get(name)
        if not revisions:
            raise SchemaNotFound(f"schema {name} not found")
        return revisions

    def get(self, name: str, revision_id: str | None = None) -> SchemaRevision:
        """The newest revision, or a given one; ``name@revision`` is accepted too."""
        base, at_rev = parse_name(name)
        revision_id = revision_id or at_rev
        with self._lock:
            history = self._history(base)
            if revision_id is None:
                return history[-1]
            for rev in history:
                if rev.revision_id == revision_id:
                    return rev
        raise SchemaNotFound(f"revision {revision_id} of schema {base} not found")

    def list(self, project: str) -> list[SchemaRevision]:
        """Newest revision of every schema in a project, ordered by name."""
        prefix = f"projects/{project}/schemas/"
        with self._lock:
            return [h[-1] for n, h in sorted(self._revisions.items()) if n.startswith(prefix)]

    def list_revisions(self, name: str) -> list[SchemaRevision]:
        """All revisions, newest first (like the service)."""
        base, _ = parse_name(name)
        with self._lock:
            return list(reversed(self._history(base)))

    def delete(self, name: str) -> None:
        base, _ = parse_name(name)
        with self._lock:
            history = self._history(base)
            for rev in history:
                self._validators.pop((base, rev.revision_id), None)
            del self._revisions[base]

    def commit(self, name: str, type: str, definition: str) -> SchemaRevision:
        """Add a new revision with a new definition."""
        base, _ = parse_name(name)
        validator = self.validate_schema(type, definition)
        with self._lock:
            self._history(base)
            return self._add_revision(base, type, definition, validator)

    def rollback(self, name: str, revision_id: str) -> SchemaRevision:
        """Create a new revision that copies an earlier one."""
        old = self.get(name, revision_id)
        with self._lock:
            return self._add_revision(
                old.name, old.type, old.definition, self._validators[(old.name, revision_id)]
            )

    def delete_revision(self, name: str, revision_id: str | None = None) -> SchemaRevision:
        """Delete one revision (``name@rev`` or explicit id); the last one cannot be deleted."""
        base, at_rev = parse_name(name)
        revision_id = revision_id or at_rev
        if not revision_id:
            raise InvalidSchema("a revision id is required, as name@revision_id")
        with self._lock:
            target = self.get(base, revision_id)
            history = self._history(base)
            if len(history) == 1:
                raise RevisionError(
                    f"cannot delete revision {revision_id}: it is the only revision of {base}; "
                    "delete the schema instead"
                )
            history.remove(target)
            self._validators.pop((base, revision_id), None)
            return target

    def validate_message(
        self,
        schema_name: str,
        encoding: str,
        data: bytes,
        first_revision_id: str | None = None,
        last_revision_id: str | None = None,
    ) -> str:
        """Check a message against the allowed revisions (newest first); return the one matched.

        Raises SchemaNotFound (a KeyError) for an unknown schema or revision bound and
        SchemaViolation when no allowed revision accepts the message.
        """
        if encoding not in ENCODINGS:
            raise SchemaViolation(f"encoding must be JSON or BINARY, not {encoding!r}")
        base, _ = parse_name(schema_name)
        with self._lock:
            history = list(self._history(base))
            ids = [r.revision_id for r in history]
            lo = self._index(base, ids, first_revision_id, 0)
            hi = self._index(base, ids, last_revision_id, len(ids) - 1)
            allowed = [(r, self._validators[(base, r.revision_id)]) for r in history[lo : hi + 1]]
        errors = []
        for revision, validator in reversed(allowed):
            try:
                validator(encoding, data)
                return revision.revision_id
            except SchemaViolation as exc:
                errors.append(str(exc))
        if not allowed:
            raise SchemaViolation(f"no revisions of {base} between the first and last revision")
        detail = errors[0] if len(errors) == 1 else "; ".join(errors[:3])
        raise SchemaViolation(f"message does not match schema {base}: {detail}")

    def decode_message(self, schema_name: str, revision_id: str, encoding: str, data: bytes):
        """A message already accepted by revision ``revision_id`` as plain Python values
        (an Avro record or a protobuf message as a dict with the schema's field names)."""
        return self.validator(schema_name, revision_id)(encoding, data, decode=True)

    def validator(self, schema_name: str, revision_id: str | None = None) -> Validator:
        """The compiled validator of a revision (the newest when None); its ``fields`` are the
        top-level fields (Avro type or protobuf FieldDescriptor by name)."""
        base, rev = parse_name(schema_name)
        with self._lock:
            revision = self.get(base, revision_id or rev)
            return self._validators[(base, revision.revision_id)]

    @staticmethod
    def _index(base: str, ids: list[str], revision_id: str | None, default: int) -> int:
        if not revision_id:
            return default
        try:
            return ids.index(revision_id)
        except ValueError:
            raise SchemaNotFound(f"revision {revision_id} of schema {base} not found") from None

    def clear(self) -> None:
        """Forget every schema."""
        with self._lock:
            self._revisions.clear()
            self._validators.clear()

    def to_dict(self) -> dict:
        """JSON-ready snapshot for persistence."""
        with self._lock:
            return {
                "schemas": {
                    name: [
                        {
                            "type": r.type,
                            "definition": r.definition,
                            "revision_id": r.revision_id,
                            "revision_create_time": r.revision_create_time.isoformat(),
                        }
                        for r in history
                    ]
                    for name, history in self._revisions.items()
                }
            }

    @classmethod
    def from_dict(cls, data: dict) -> SchemaRegistry:
        registry = cls()
        for name, history in data.get("schemas", {}).items():
            for item in history:
                rev = SchemaRevision(
                    name,
                    item["type"],
                    item["definition"],
                    item["revision_id"],
                    datetime.fromisoformat(item["revision_create_time"]),
                )
                registry._revisions.setdefault(name, []).append(rev)
                registry._validators[(name, rev.revision_id)] = cls.validate_schema(
                    rev.type, rev.definition
                )
        return registry
