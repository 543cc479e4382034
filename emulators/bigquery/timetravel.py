"""Time travel: every table's past within its dataset's window, as BigQuery keeps it.

A table name's history is a list of *incarnations* (created ... deleted or replaced), each a list
of *versions*. A version is a physical DuckDB table and the rows it had at each moment: its rows
at the start, then one ``(commit time, rows after)`` entry per append (insertAll, loads, INSERT,
INSERT ... SELECT). DuckDB keeps a table's rows in insertion order (``preserve_insertion_order``,
which the emulator never turns off), so the table at time *t* of a version is its first *n(t)*
rows: ``SELECT ... LIMIT n``. Anything else that changes rows (UPDATE, DELETE, MERGE, a schema
change) first freezes the current rows into a copy that becomes the previous version (a full copy:
DML is rare in streaming tables, and this keeps appends, the hot path, at one extra row of
bookkeeping). A deleted or replaced table keeps its physical table until the window has passed,
so a copy job can restore it (``tableId@<millis>``).

The window is the dataset's ``maxTimeTravelHours`` (48 to 168, default 168: seven days). Reads
before it, before the table was created, or in the future fail as BigQuery fails them:
``Invalid snapshot time <ms> for table p:d.t. Cannot read before <ms>``. BigQuery's seven days
of fail-safe after the window are not kept.

With ``--data-dir`` the history is persisted with the data: incarnations as catalog records
(kind ``timetravel``), appends in ``_emulator.tt_appends``, written in the same transaction as
the change they describe. Every SQL text here is the core's own; names go through
``identifiers.ident``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from .errors import Invalid, NotFound
from .identifiers import columns as column_list
from .identifiers import ident
from .storage import Storage, execute

DEFAULT_WINDOW_HOURS = 168
SWEEP_EVERY_S = 60.0


def now_ms() -> int:
    return int(time.time() * 1000)


def window_hours(dataset_properties: dict) -> int:
    """A dataset's time-travel window in hours (``maxTimeTravelHours``), checked."""
    value = dataset_properties.get("maxTimeTravelHours")
    if value is None:
        return DEFAULT_WINDOW_HOURS
    return check_window_hours(value)


def check_window_hours(value: Any) -> int:
    """``maxTimeTravelHours`` as BigQuery accepts it: 48 to 168, a multiple of 24."""
    try:
        hours = int(value)
    except (TypeError, ValueError):
        hours = -1
    if isinstance(value, bool) or hours < 48 or hours > 168 or hours % 24:
        raise Invalid(
            f"Invalid value for maxTimeTravelHours: {value!r}. It must be between 48 and 168 "
            "hours (2 to 7 days) and a multiple of 24."
        )
    return hours


@dataclasses.dataclass
class Version:
    storage_name: str
    schema: list
    start_ms: int
    base_rows: int = 0
    end_ms: int | None = None
    appends: list = dataclasses.field(default_factory=list)  # [(commit_ms, rows_after)]

    @property
    def rows(self) -> int:
        return self.appends[-1][1] if self.appends else self.base_rows

    def rows_at(self, ms: int) -> int:
        rows = self.base_rows
        for commit_ms, after in self.appends:
            if commit_ms > ms:
                break
            rows = after
        return rows

    def record(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "appends"}


@dataclasses.dataclass
class Incarnation:
    key: str
    ref: tuple  # (project, dataset, table_id)
    created_ms: int
    versions: list
    ended_ms: int | None = None
    table_record: dict = dataclasses.field(default_factory=dict)  # the catalog's Table record

    @property
    def live(self) -> Version:
        return self.versions[-1]

    def version_at(self, ms: int) -> Version:
        for version in reversed(self.versions):
            if version.start_ms <= ms:
                return version
        return self.versions[0]

    def record(self) -> dict:
        return {"key": self.key, "ref": list(self.ref), "created_ms": self.created_ms,
                "ended_ms": self.ended_ms, "table_record": self.table_record,
                "versions": [v.record() for v in self.versions]}  # fmt: skip


def _ref_text(ref: tuple) -> str:
    return f"{ref[0]}:{ref[1]}.{ref[2]}"


class TimeTravel:
    """The history of every table; the catalog, the query engine and the storage report each
    change here (see the module docstring)."""

    def __init__(self, storage: Storage, window_of: Callable[[str, str], int],
                 clock: Callable[[], int] = now_ms):
        """``window_of(project, dataset)``: the dataset's window in hours."""
        self.storage = storage
        self.window_of = window_of
        self.clock = clock
        self._lock = threading.RLock()
        self.incarnations: dict[tuple, list[Incarnation]] = {}
        self._live: dict[str, Incarnation] = {}  # live storage name -> its incarnation
        self._next_sweep = 0.0
        with storage.transaction() as con:
            execute(con, "CREATE TABLE IF NOT EXISTS _emulator.tt_appends ("
                         "storage_name VARCHAR, commit_ms BIGINT, rows_after BIGINT)")
        self._load()
        storage.on_append = self.appended

    # ------------------------------------------------------------------ persistence

    def _load(self) -> None:
        with self.storage.lock:
            records = execute(self.storage.con, "SELECT resource FROM _emulator.catalog "
                                                "WHERE kind = 'timetravel'").fetchall()
            appends = execute(self.storage.con, "SELECT storage_name, commit_ms, rows_after "
                                                "FROM _emulator.tt_appends "
                                                "ORDER BY commit_ms, rows_after").fetchall()
        by_storage: dict[str, list] = {}
        for name, commit_ms, rows_after in appends:
            by_storage.setdefault(name, []).append((commit_ms, rows_after))
        for (resource,) in records:
            raw = json.loads(resource)
            versions = [Version(**v) for v in raw["versions"]]
            for version in versions:
                version.appends = [a for a in by_storage.get(version.storage_name, ())
                                   if a[0] >= version.start_ms]  # fmt: skip
            incarnation = Incarnation(raw["key"], tuple(raw["ref"]), raw["created_ms"], versions,
                                      raw["ended_ms"], raw["table_record"])  # fmt: skip
            self.incarnations.setdefault(incarnation.ref, []).append(incarnation)
            if incarnation.ended_ms is None:
                self._live[incarnation.live.storage_name] = incarnation
        for history in self.incarnations.values():
            history.sort(key=lambda i: i.created_ms)

    def _save(self, con: Any, incarnation: Incarnation) -> None:
        Storage.put_record(con, f"timetravel:{incarnation.key}", "timetravel",
                           incarnation.record())

    # ------------------------------------------------------------------ changes

    def created(self, table: Any, con: Any) -> None:
        """A table (not a view) was created; ``con`` holds the catalog's transaction."""
        if table.type == "VIEW":
            return
        with self._lock:
            incarnation = Incarnation(
                uuid.uuid4().hex, table.ref, table.creation_time,
                [Version(table.storage_name, copy.deepcopy(table.schema), table.creation_time)],
                table_record=table.to_record(),
            )
            self.incarnations.setdefault(table.ref, []).append(incarnation)
            self._live[table.storage_name] = incarnation
            self._save(con, incarnation)

    def retire(self, table: Any, con: Any) -> None:
        """Instead of dropping a table's data: keep it, restorable, until the window passes."""
        with self._lock:
            incarnation = self._live.pop(table.storage_name, None)
        if incarnation is None or table.type == "VIEW":
            Storage.drop_table(con, table.storage_name)
            return
        ended = self.clock()
        incarnation.ended_ms = ended
        incarnation.live.end_ms = ended
        incarnation.table_record = table.to_record()
        self._save(con, incarnation)

    def renamed(self, old: Any, new: Any, con: Any) -> None:
        """ALTER TABLE RENAME TO: the history goes with the data, under the new name."""
        with self._lock:
            incarnation = self._live.get(old.storage_name)
            if incarnation is None:
                return
            history = self.incarnations.get(old.ref, [])
            if incarnation in history:
                history.remove(incarnation)
            incarnation.ref = new.ref
            self.incarnations.setdefault(new.ref, []).append(incarnation)
        self._save(con, incarnation)

    def appended(self, cur: Any, storage_name: str, rows: int) -> None:
        """``rows`` were appended to a live table, in ``cur``'s transaction (Storage calls it)."""
        with self._lock:
            incarnation = self._live.get(storage_name)
            if incarnation is None or rows <= 0:
                return
            version = incarnation.live
            entry = (self.clock(), version.rows + rows)
            version.appends.append(entry)
        if self.storage.persistent:
            execute(cur, "INSERT INTO _emulator.tt_appends VALUES (?, ?, ?)",
                    [storage_name, *entry])

    def recount(self, table: Any, cur: Any) -> None:
        """Rows were added by SQL (INSERT, INSERT ... SELECT, CTAS): note the new count."""
        rows = self.storage.count_rows(table.storage_name, cur)
        with self._lock:
            incarnation = self._live.get(table.storage_name)
            added = rows - incarnation.live.rows if incarnation else 0
        if added > 0:
            self.appended(cur, table.storage_name, added)

    @contextlib.contextmanager
    def rewriting(self, table: Any, cur: Any, schema: list | None = None) -> Iterator[None]:
        """Around a change that rewrites rows (UPDATE, DELETE, MERGE, a schema change) on
        ``cur`` (in its transaction): the rows before are frozen into the previous version."""
        with self._lock:
            incarnation = self._live.get(table.storage_name)
        if incarnation is None:
            yield
            return
        frozen = f"tt_{uuid.uuid4().hex}"  # not new_name(): that takes the storage lock
        live = incarnation.live
        cols = column_list(f["name"] for f in live.schema) if live.schema else "*"
        execute(cur, f"CREATE TABLE {ident(frozen)} AS SELECT {cols} "
                     f"FROM {ident(live.storage_name)}")
        yield
        at = self.clock()
        rows = self.storage.count_rows(table.storage_name, cur)
        with self._lock:
            live.storage_name = frozen
            live.end_ms = at
            new = Version(table.storage_name, copy.deepcopy(schema or table.schema), at, rows)
            incarnation.versions.append(new)
            incarnation.table_record = table.to_record()
        self._save(cur, incarnation)
        if self.storage.persistent:  # the frozen copy keeps the appends it had
            execute(cur, "UPDATE _emulator.tt_appends SET storage_name = ? "
                         "WHERE storage_name = ?", [frozen, table.storage_name])

    # ------------------------------------------------------------------ reads

    def _bounds(self, incarnation: Incarnation) -> tuple[int, int]:
        project, dataset, _ = incarnation.ref
        now = self.clock()
        window_start = now - self.window_of(project, dataset) * 3600 * 1000
        return max(window_start, incarnation.created_ms), now

    def read_at(self, ref: tuple, ms: int, *, current_only: bool) -> tuple[list, str, int]:
        """(schema, SELECT of the table's rows at ``ms``, rows). ``current_only``: the table
        as it exists now (FOR SYSTEM_TIME AS OF); otherwise any incarnation alive at ``ms``
        (a copy job's ``@<millis>``, which restores deleted tables)."""
        self.sweep()
        with self._lock:
            history = list(self.incarnations.get(tuple(ref), ()))
        if current_only:
            history = [i for i in history if i.ended_ms is None]
        else:
            history = [i for i in history if i.created_ms <= ms
                       and (i.ended_ms is None or ms < i.ended_ms)] or history[-1:]  # fmt: skip
        if not history:
            raise NotFound(f"Not found: Table {_ref_text(ref)} was not found in location US")
        incarnation = history[-1]
        lower, now = self._bounds(incarnation)
        if ms < lower:
            raise Invalid(f"Invalid snapshot time {ms} for table {_ref_text(ref)}. Cannot read "
                          f"before {lower}")
        if ms > now:
            raise Invalid(f"Invalid snapshot time {ms} for table {_ref_text(ref)}. Cannot read "
                          f"after {now}")
        if incarnation.ended_ms is not None and ms >= incarnation.ended_ms:
            raise NotFound(f"Not found: Table {_ref_text(ref)} was deleted at "
                           f"{incarnation.ended_ms}")
        with self._lock:
            version = incarnation.version_at(ms)
            rows = version.rows_at(ms)
            schema = copy.deepcopy(version.schema)
            name = version.storage_name
        cols = column_list(f["name"] for f in schema) if schema else "*"
        return schema, f"SELECT {cols} FROM {ident(name)} LIMIT {int(rows)}", rows

    def table_record_at(self, ref: tuple, ms: int) -> dict:
        """The catalog record of the incarnation alive at ``ms`` (properties for a restore)."""
        with self._lock:
            for incarnation in reversed(self.incarnations.get(tuple(ref), ())):
                if incarnation.created_ms <= ms:
                    return copy.deepcopy(incarnation.table_record)
        return {}

    # ------------------------------------------------------------------ expiry

    def sweep(self, force: bool = False) -> int:
        """Drop what the windows no longer cover (at most once a minute); returns how many
        physical tables went."""
        if not force and time.monotonic() < self._next_sweep:
            return 0
        self._next_sweep = time.monotonic() + SWEEP_EVERY_S
        dropped = 0
        with self.storage.lock, self._lock:
            for ref, history in list(self.incarnations.items()):
                keep = []
                for incarnation in history:
                    lower, _ = self._bounds(incarnation)
                    gone = [v for v in incarnation.versions
                            if v.end_ms is not None and v.end_ms < lower]  # fmt: skip
                    if not gone:
                        keep.append(incarnation)
                        continue
                    with self.storage.transaction() as con:
                        for version in gone:
                            Storage.drop_table(con, version.storage_name)
                            if self.storage.persistent:
                                execute(con, "DELETE FROM _emulator.tt_appends "
                                             "WHERE storage_name = ?", [version.storage_name])
                            dropped += 1
                        incarnation.versions = [v for v in incarnation.versions if v not in gone]
                        if incarnation.versions:
                            self._save(con, incarnation)
                            keep.append(incarnation)
                        else:
                            Storage.delete_record(con, f"timetravel:{incarnation.key}")
                if keep:
                    self.incarnations[ref] = keep
                else:
                    del self.incarnations[ref]
        return dropped
