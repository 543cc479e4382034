"""Storage Read API model: read sessions over a snapshot of a table or of query results.

A session fixes its rows when it is created (as BigQuery reads a snapshot of the table): the
selected columns of the rows matching the row restriction, as of the snapshot time, are held
as one Arrow table and cut into contiguous streams. ReadRows serves a stream from any offset in
Arrow record batches or Avro rows; SplitReadStream cuts a stream in two at a fraction.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..errors import BigQueryError
from ..history import SnapshotUnavailable
from ..identifiers import columns as column_list
from ..identifiers import ident
from ..ids import shown
from . import formats
from .errors import RpcError, from_bigquery, invalid, not_found
from .names import project_id, table_ref
from .restriction import translate_restriction

if TYPE_CHECKING:
    from ..service import BigQueryService

SESSION_TTL_S = 6 * 3600  # BigQuery's read sessions expire after 6 hours
MAX_KEPT_BYTES = 1 << 30  # sessions' snapshots kept in memory; the oldest go first
MAX_STREAMS = 1000
ROWS_PER_STREAM = 100_000  # the emulator's own choice when the client leaves the count open
DEFAULT_STREAMS = 16
MESSAGE_BYTES = 2 << 20  # target size of one ReadRowsResponse


@dataclasses.dataclass
class ReadRequest:
    """CreateReadSession, as plain values."""

    parent: str
    table: str
    data_format: str  # "ARROW" | "AVRO"
    selected_fields: list[str] = dataclasses.field(default_factory=list)
    row_restriction: str = ""
    snapshot_us: int | None = None
    max_streams: int = 0
    min_streams: int = 0
    compression: str | None = None  # None, "lz4" or "zstd" (Arrow buffer compression)


@dataclasses.dataclass
class ReadStream:
    name: str
    start: int
    end: int


@dataclasses.dataclass
class Chunk:
    """One ReadRowsResponse: the serialized rows, their count and the stream's progress."""

    payload: bytes
    row_count: int
    at_start: float
    at_end: float
    first: bool


@dataclasses.dataclass
class ReadSession:
    name: str
    table: str
    data_format: str
    fields: list[dict]
    data: Any  # pyarrow.Table in the wire schema
    streams: list[ReadStream]
    created_us: int
    expires_us: int
    snapshot_us: int
    request: ReadRequest
    schema_bytes: bytes = b""
    avro: formats.AvroEncoder | None = None
    ipc_options: Any = None

    @property
    def nbytes(self) -> int:
        return self.data.nbytes


class ReadSessions:
    """The read sessions of the emulator (owned by the Storage API server)."""

    def __init__(self, service: BigQueryService, clock=time.time):
        self.service = service
        self.clock = clock
        self._sessions: OrderedDict[str, ReadSession] = OrderedDict()
        self._streams: dict[str, tuple[ReadSession, ReadStream]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ CreateReadSession

    def create(self, request: ReadRequest) -> ReadSession:
        project = project_id(request.parent)
        ref = table_ref(request.table)
        if request.data_format not in ("ARROW", "AVRO"):
            raise invalid("data_format must be ARROW or AVRO")
        if request.max_streams < 0 or request.min_streams < 0:
            raise invalid("max_stream_count and preferred_min_stream_count must not be negative")
        now = int(self.clock() * 1_000_000)
        if request.snapshot_us is not None and request.snapshot_us > now:
            raise invalid("The snapshot time is in the future.")
        try:
            fields, data = self._snapshot(ref, request)
        except BigQueryError as exc:
            raise from_bigquery(exc) from None
        data = formats.conform(data, formats.arrow_schema(fields))
        schema = data.schema
        session_id = uuid.uuid4().hex
        name = f"projects/{project}/locations/us/sessions/{session_id}"
        session = ReadSession(
            name=name,
            table=request.table,
            data_format=request.data_format,
            fields=fields,
            data=data,
            streams=[],
            created_us=now,
            expires_us=now + SESSION_TTL_S * 1_000_000,
            snapshot_us=request.snapshot_us if request.snapshot_us is not None else now,
            request=request,
        )
        if request.data_format == "ARROW":
            import pyarrow as pa

            session.schema_bytes = schema.serialize().to_pybytes()
            if request.compression:
                session.ipc_options = pa.ipc.IpcWriteOptions(compression=request.compression)
        else:
            session.avro = formats.AvroEncoder(fields)
        for start, end in _ranges(data.num_rows, request.max_streams, request.min_streams):
            session.streams.append(ReadStream(self._stream_name(name), start, end))
        with self._lock:
            self._sessions[name] = session
            for stream in session.streams:
                self._streams[stream.name] = (session, stream)
            self._evict()
        return session

    def _snapshot(self, ref: tuple[str, str, str], request: ReadRequest):
        """(selected fields, their rows as an Arrow table) of the table or query results."""
        service = self.service
        outcome = service.anonymous_result(*ref)
        if outcome is not None:
            schema, source = outcome.schema, outcome.arrow
        else:
            table = service.catalog.get_table(*ref)
            if table.type != "TABLE":
                raise invalid(
                    f"Cannot read {ref[0]}:{ref[1]}.{ref[2]}: the Storage Read API reads "
                    f"tables, not objects of type {table.type}."
                )
            schema, source = table.schema, table
        fields, columns, prune = _select(schema, request.selected_fields)
        if not columns:
            raise invalid("The table has no columns to read.")
        if outcome is not None and not request.row_restriction:
            return fields, _prune(source.select(columns), fields, prune)
        cols = column_list(columns)
        alias = f"_emulator_read_{uuid.uuid4().hex}"
        restricted, params = None, []
        if request.row_restriction:
            restricted, params = translate_restriction(request.row_restriction, ref, alias, schema)
        # On a connection of its own, like every query: no lock held while the rows are read.
        with service.engine.context() as ctx:
            if outcome is not None:  # the query results, as a relation of that name
                sql = f"SELECT {cols} FROM ({restricted}) AS _emulator_q"
                with ctx.expose(alias, source):
                    return fields, _prune(ctx.fetch_arrow(sql, params)[1], fields, prune)
            base = f"SELECT * FROM {ident(source.storage_name)}"
            snapshot = request.snapshot_us is not None
            if snapshot:
                # The row count and the rows from one transaction: appends in between do not
                # shift what the first n rows are.
                ctx.execute("BEGIN TRANSACTION")
                base += f" LIMIT {int(self._rows_at(source, request.snapshot_us, ctx.cursor))}"
            if restricted is None:
                sql = f"SELECT {cols} FROM ({base}) AS _emulator_q"
            else:
                sql = (f"WITH {ident(alias)} AS ({base}) "
                       f"SELECT {cols} FROM ({restricted}) AS _emulator_q")  # fmt: skip
            try:
                data = ctx.fetch_arrow(sql, params)[1]
            except BigQueryError:
                current = service.catalog.find_table(*ref)
                if current is None or current.storage_name != source.storage_name:
                    raise not_found(f"Not found: Table {ref[0]}:{ref[1]}.{ref[2]}") from None
                raise
            if snapshot:
                ctx.execute("COMMIT")
        return fields, _prune(data, fields, prune)

    def _rows_at(self, table: Any, when_us: int, cursor: Any) -> int:
        if when_us < table.creation_time * 1000:
            raise invalid(
                f"Table {table.project}:{table.dataset_id}.{table.table_id} did not exist at "
                "the snapshot time."
            )
        storage = self.service.storage
        current = storage.count_rows(table.storage_name, cursor)
        try:
            return self.service.appender.history.rows_at(table, when_us, current)
        except SnapshotUnavailable as exc:
            raise RpcError(
                "FAILED_PRECONDITION", f"Cannot read at the snapshot time: {exc}"
            ) from None

    @staticmethod
    def _stream_name(session_name: str) -> str:
        return f"{session_name}/streams/{uuid.uuid4().hex}"

    def _evict(self) -> None:
        now = int(self.clock() * 1_000_000)
        total = sum(s.nbytes for s in self._sessions.values())
        while len(self._sessions) > 1:
            oldest = next(iter(self._sessions.values()))
            if total <= MAX_KEPT_BYTES and oldest.expires_us > now:
                break
            self._drop(oldest)
            total -= oldest.nbytes

    def _drop(self, session: ReadSession) -> None:
        self._sessions.pop(session.name, None)
        for name in [n for n, (s, _) in self._streams.items() if s is session]:
            del self._streams[name]

    # ------------------------------------------------------------------ ReadRows

    def stream(self, name: str) -> tuple[ReadSession, ReadStream]:
        with self._lock:
            found = self._streams.get(name)
        if found is None:
            raise not_found(f"Requested entity was not found. Entity: {shown(name)}")
        session, stream = found
        if session.expires_us <= int(self.clock() * 1_000_000):
            raise RpcError("FAILED_PRECONDITION", f"The read session has expired: {session.name}")
        return found

    def chunks(self, name: str, offset: int):
        """The ReadRowsResponses of a stream from a row offset (validated before the first)."""
        session, stream = self.stream(name)
        length = stream.end - stream.start
        if offset < 0 or offset > length:
            raise RpcError(
                "OUT_OF_RANGE",
                f"The offset {offset} is beyond the end of the stream ({length} rows).",
            )
        return self._chunks(session, stream, offset, length)

    def _chunks(self, session: ReadSession, stream: ReadStream, offset: int, length: int):
        data = session.data
        per_row = max(1, data.nbytes // max(data.num_rows, 1))
        step = max(1, min(1_000_000, MESSAGE_BYTES // per_row))
        position, first = offset, True
        while position < length:
            count = min(step, length - position)
            rows = data.slice(stream.start + position, count)
            if session.avro is not None:
                payload = b"".join(session.avro.encode(b) for b in rows.to_batches())
            else:
                payload = _serialize(rows.combine_chunks().to_batches()[0], session.ipc_options)
            yield Chunk(payload, count, position / length, (position + count) / length, first)
            position += count
            first = False

    # ------------------------------------------------------------------ SplitReadStream

    def split(self, name: str, fraction: float) -> tuple[ReadStream | None, ReadStream | None]:
        """Primary and remainder streams of `name` cut at `fraction`; (None, None) when the
        stream is too small to split (BigQuery answers an empty response then)."""
        if not 0.0 < fraction < 1.0:
            raise invalid("fraction must be greater than 0 and less than 1")
        session, stream = self.stream(name)
        cut = stream.start + int(math.floor((stream.end - stream.start) * fraction))
        if cut <= stream.start or cut >= stream.end:
            return None, None
        primary = ReadStream(self._stream_name(session.name), stream.start, cut)
        remainder = ReadStream(self._stream_name(session.name), cut, stream.end)
        with self._lock:
            for child in (primary, remainder):
                self._streams[child.name] = (session, child)
        return primary, remainder


def _serialize(batch: Any, options: Any) -> bytes:
    """One Arrow IPC record batch message (compressed buffers when `options` ask for it)."""
    import pyarrow as pa

    if options is None:
        return batch.serialize().to_pybytes()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=options) as writer:
        writer.write_batch(batch)
    messages = pa.ipc.MessageReader.open_stream(sink.getvalue())
    messages.read_next_message()  # the schema, which the session already carries
    return messages.read_next_message().serialize().to_pybytes()


def _ranges(rows: int, max_streams: int, min_streams: int) -> list[tuple[int, int]]:
    """Contiguous row ranges, one per stream: about ROWS_PER_STREAM rows each, at least the
    preferred minimum, at most the maximum asked (and never an empty stream)."""
    if rows == 0:
        return []
    ceiling = min(max_streams or DEFAULT_STREAMS, MAX_STREAMS)
    count = max(math.ceil(rows / ROWS_PER_STREAM), min_streams)
    count = max(1, min(count, ceiling, rows))
    bounds = [rows * i // count for i in range(count + 1)]
    return list(zip(bounds, bounds[1:], strict=False))


# ------------------------------------------------------------------ selected fields


def _select(schema: list[dict], selected: list[str]) -> tuple[list[dict], list[str], dict]:
    """Output fields (table order; a RECORD cut to its selected sub-fields), the top-level
    columns to read and the selection tree ({name: None for all, or {sub: ...}})."""
    if not selected:
        return list(schema), [f["name"] for f in schema], {}
    tree: dict[str, Any] = {}
    for path in selected:
        parts = [p for p in path.split(".")]
        if not all(parts):
            raise invalid(f"Invalid selected field: {path!r}")
        fields, node = schema, tree
        for depth, part in enumerate(parts):
            field = next((f for f in fields if f["name"].lower() == part.lower()), None)
            if field is None:
                raise invalid(f"Field {path} was not found in the table schema.")
            last = depth == len(parts) - 1
            if last or field["type"] != "RECORD":
                if not last:
                    raise invalid(f"Field {'.'.join(parts[: depth + 1])} is not a RECORD.")
                node[field["name"]] = None
                break
            child = node.get(field["name"], {})
            if child is None:  # the whole record is already selected
                break
            node[field["name"]] = child
            fields, node = field["fields"], child
    out = [_cut(f, tree[f["name"]]) for f in schema if f["name"] in tree]
    return out, [f["name"] for f in out], tree


def _cut(field: dict, node: dict | None) -> dict:
    if node is None:
        return field
    subs = [_cut(sub, node[sub["name"]]) for sub in field["fields"] if sub["name"] in node]
    return {**field, "fields": subs}


def _prune(data: Any, fields: list[dict], tree: dict) -> Any:
    """`data` with RECORD columns cut down to the selected sub-fields."""
    import pyarrow as pa

    if not any(tree.get(f["name"]) for f in fields):
        return data
    columns = [
        _prune_array(data.column(i).combine_chunks(), field, tree.get(field["name"]))
        for i, field in enumerate(fields)
    ]
    return pa.Table.from_arrays(columns, names=[f["name"] for f in fields])


def _prune_array(array: Any, field: dict, node: dict | None) -> Any:
    import pyarrow as pa

    if not node:
        return array
    if pa.types.is_list(array.type):
        values = _prune_array(array.values, {**field, "mode": "NULLABLE"}, node)
        return pa.ListArray.from_arrays(array.offsets, values, mask=array.is_null())
    children, names = [], []
    for sub in field["fields"]:
        if sub["name"] in node:
            children.append(_prune_array(array.field(sub["name"]), sub, node[sub["name"]]))
            names.append(sub["name"])
    return pa.StructArray.from_arrays(children, names=names, mask=array.is_null())
