"""Storage Write API model: write streams and when their rows become table rows.

* `_default` (every table has one) and COMMITTED streams: each append is stored in the table
  (committed to DuckDB) before it is acknowledged, and is visible at once.
* PENDING: appends are held by the stream; FinalizeWriteStream closes it and
  BatchCommitWriteStreams stores the rows of several streams of a table in one append.
* BUFFERED: appends are held; FlushRows(offset) stores the rows up to and including `offset`.

Offsets (COMMITTED, PENDING, BUFFERED): an append may name the offset of its first row; it must
be the stream's current end (ALREADY_EXISTS before it, OUT_OF_RANGE past it). Rows held by
PENDING and BUFFERED streams are in memory: they do not survive a restart of the emulator.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..catalog import Table
from ..errors import BigQueryError
from .errors import RpcError, from_bigquery, invalid
from .names import DEFAULT_STREAM, table_path, table_ref, write_stream

if TYPE_CHECKING:
    from ..service import BigQueryService

TYPES = ("COMMITTED", "PENDING", "BUFFERED")


class StorageFailure(RpcError):
    """An RpcError carrying one of the service's `StorageError` codes."""

    def __init__(self, code: str, storage_code: str, message: str, entity: str = ""):
        super().__init__(code, message)
        self.storage_code = storage_code
        self.entity = entity


@dataclasses.dataclass
class WriteStream:
    name: str
    table: tuple[str, str, str]
    type: str  # COMMITTED | PENDING | BUFFERED
    created_us: int
    location: str = "US"
    row_count: int = 0  # rows appended (the next offset)
    flushed: int = 0  # BUFFERED: rows stored in the table
    finalized: bool = False
    committed_us: int | None = None
    held: list = dataclasses.field(default_factory=list)  # Arrow tables not yet in the table
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @property
    def is_default(self) -> bool:
        return self.name.endswith("/streams/" + DEFAULT_STREAM)


class WriteStreams:
    """The write streams of the emulator (owned by the Storage API server)."""

    def __init__(self, service: BigQueryService, clock=time.time):
        self.service = service
        self.clock = clock
        self._streams: dict[str, WriteStream] = {}
        self._lock = threading.Lock()

    def _now(self) -> int:
        return int(self.clock() * 1_000_000)

    def table(self, ref: tuple[str, str, str]) -> Table:
        """The table a stream writes to; NOT_FOUND when it does not exist (so clients stop)."""
        try:
            table = self.service.catalog.get_table(*ref)
        except BigQueryError as exc:
            raise StorageFailure(
                "NOT_FOUND", "TABLE_NOT_FOUND", f"Requested entity was not found. {exc.message}",
                table_path(*ref),
            ) from None  # fmt: skip
        if table.type != "TABLE":
            raise invalid(f"Cannot write to {ref[0]}:{ref[1]}.{ref[2]}: it is a {table.type}.")
        if not table.schema:
            raise invalid("The destination table has no schema.")
        return table

    # ------------------------------------------------------------------ streams

    def create(self, parent: str, stream_type: str) -> WriteStream:
        ref = table_ref(parent, "parent table")
        if stream_type not in TYPES:
            raise invalid("write_stream.type must be COMMITTED, PENDING or BUFFERED.")
        table = self.table(ref)
        stream = WriteStream(
            name=f"{parent}/streams/{uuid.uuid4().hex}",
            table=ref,
            type=stream_type,
            created_us=self._now(),
            location=table.location,
        )
        with self._lock:
            self._streams[stream.name] = stream
        return stream

    def get(self, name: str) -> WriteStream:
        path, stream_id = write_stream(name)
        ref = table_ref(path)
        if stream_id == DEFAULT_STREAM:
            table = self.table(ref)
            with self._lock:
                stream = self._streams.get(name)
                if stream is None:
                    stream = WriteStream(name, ref, "COMMITTED", table.creation_time * 1000,
                                         location=table.location)  # fmt: skip
                    self._streams[name] = stream
            return stream
        with self._lock:
            stream = self._streams.get(name)
        if stream is None:
            self.table(ref)  # a missing table is reported as such
            raise StorageFailure(
                "NOT_FOUND", "STREAM_NOT_FOUND",
                f"Requested entity was not found. Entity: {name}", name,
            )  # fmt: skip
        return stream

    # ------------------------------------------------------------------ AppendRows

    def append(self, stream: WriteStream, rows: Any, offset: int | None) -> None:
        """Append an Arrow table (in the table's schema) at `offset` (None: at the end)."""
        with stream.lock:
            if stream.finalized:
                raise StorageFailure(
                    "INVALID_ARGUMENT", "STREAM_FINALIZED",
                    f"Stream is finalized: {stream.name}", stream.name,
                )  # fmt: skip
            if offset is not None:
                if stream.is_default:
                    raise invalid("The _default stream does not accept offsets.")
                if offset < stream.row_count:
                    raise StorageFailure(
                        "ALREADY_EXISTS", "OFFSET_ALREADY_EXISTS",
                        f"The offset is within stream, expected offset {stream.row_count}, "
                        f"received {offset}", stream.name,
                    )  # fmt: skip
                if offset > stream.row_count:
                    raise StorageFailure(
                        "OUT_OF_RANGE", "OFFSET_OUT_OF_RANGE",
                        f"The offset is beyond stream, expected offset {stream.row_count}, "
                        f"received {offset}", stream.name,
                    )  # fmt: skip
            if stream.type == "COMMITTED":
                self._store(stream.table, rows)
            else:
                stream.held.append(rows)
            stream.row_count += rows.num_rows

    def _store(self, ref: tuple[str, str, str], rows: Any) -> None:
        if not rows.num_rows:
            return
        table = self.table(ref)
        try:
            self.service.appender.append_table(table, rows)
        except BigQueryError as exc:
            raise from_bigquery(exc) from None

    # ------------------------------------------------------------------ finalize, commit, flush

    def finalize(self, name: str) -> int:
        stream = self.get(name)
        if stream.is_default:
            raise StorageFailure(
                "INVALID_ARGUMENT", "INVALID_STREAM_TYPE",
                "The _default stream cannot be finalized.", name,
            )  # fmt: skip
        with stream.lock:
            stream.finalized = True
            return stream.row_count

    def batch_commit(self, parent: str, names: list[str]) -> tuple[int | None, list]:
        """(commit time, []) or (None, [StorageFailure per stream that cannot commit])."""
        ref = table_ref(parent, "parent table")
        if not names:
            raise invalid("write_streams must name at least one stream.")
        table = self.table(ref)
        import pyarrow as pa

        # The checks, the one append of all the streams' rows (atomic) and the marking as
        # committed under the table's append lock: two commits of one stream cannot both pass.
        with self.service.storage.append_lock(table.storage_name):
            streams, errors = [], []
            for name in dict.fromkeys(names):
                try:
                    stream = self.get(name)
                except StorageFailure as failure:
                    errors.append(failure)
                    continue
                problem = _commit_problem(stream, ref, name)
                if problem:
                    errors.append(
                        StorageFailure("FAILED_PRECONDITION", problem[0], problem[1], name)
                    )
                else:
                    streams.append(stream)
            if errors:
                return None, errors
            held = [rows for stream in streams for rows in stream.held]
            if held:
                self._store(table.ref, pa.concat_tables(held, promote_options="permissive"))
            now = self._now()
            for stream in streams:
                stream.committed_us = now
                stream.held = []
        return now, []

    def flush(self, name: str, offset: int | None) -> int:
        stream = self.get(name)
        if stream.type != "BUFFERED":
            raise StorageFailure(
                "INVALID_ARGUMENT", "INVALID_STREAM_TYPE",
                f"FlushRows is only for BUFFERED streams; {name} is {stream.type}.", name,
            )  # fmt: skip
        if offset is None:
            raise invalid("offset is required.")
        with stream.lock:
            if offset >= stream.row_count or offset < 0:
                raise StorageFailure(
                    "OUT_OF_RANGE", "OFFSET_OUT_OF_RANGE",
                    f"The flush offset {offset} is beyond the rows appended to the stream "
                    f"({stream.row_count}).", name,
                )  # fmt: skip
            end = offset + 1
            if end > stream.flushed:  # `held` has the rows from `flushed` to `row_count`
                import pyarrow as pa

                held = pa.concat_tables(stream.held, promote_options="permissive")
                self._store(stream.table, held.slice(0, end - stream.flushed))
                stream.held = [held.slice(end - stream.flushed)]
                stream.flushed = end
            return offset


def _commit_problem(stream: WriteStream, ref: tuple, name: str) -> tuple[str, str] | None:
    """Why a stream cannot be committed to the table ``ref`` (storage error code, message)."""
    if stream.table != ref:
        return "INVALID_STREAM_TYPE", f"Stream {name} belongs to another table."
    if stream.type != "PENDING":
        return "INVALID_STREAM_TYPE", (
            f"Stream {name} is {stream.type}; only PENDING streams are committed."
        )
    if stream.committed_us is not None:
        return "STREAM_ALREADY_COMMITTED", f"Stream {name} is already committed."
    if not stream.finalized:
        return "INVALID_STREAM_STATE", f"Stream {name} is not finalized."
    return None
