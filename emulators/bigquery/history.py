"""How many rows a table had at a past moment, for reads at a snapshot time (time travel).

Tables here are append-only between two catalog changes: streaming inserts and Storage Write
appends add rows at the end and are recorded with their time; every other change (DML, load
jobs, truncating writes, schema changes) goes through `Catalog.save_table`, which moves the
table's `last_modified`. So rows [0, n) of the table as stored now are the table as it was at
time t, for every t after the last catalog change: n is the row count after the last append
at or before t. Before that change (or before the emulator started) the past is unknown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .catalog import Table

MAX_ENTRIES = 100_000  # per table; the oldest appends are forgotten first


class SnapshotUnavailable(Exception):
    """The table's rows at that time cannot be told apart from later changes."""


class AppendHistory:
    """Row counts after each append, per stored table, since its last catalog change."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.started_us = int(clock() * 1_000_000)
        self._tables: dict[str, _Entries] = {}
        self._lock = threading.Lock()

    def record(self, table: Table, rows_before: Callable[[], int], appended: int) -> None:
        """Note an append of `appended` rows (call with the table's append lock held, after it)."""
        now = int(self.clock() * 1_000_000)
        with self._lock:
            entries = self._current(table)
            if entries is None:
                entries = _Entries(table, self._baseline(table), rows_before())
                self._tables[_key(table)] = entries
            entries.add(now, appended)

    def rows_at(self, table: Table, when_us: int, current_rows: int) -> int:
        """The row count of `table` at `when_us`, given its row count now (counted in the
        transaction that then reads the rows)."""
        baseline = self._baseline(table)
        with self._lock:
            # None also when changed since the last append: no append happened after that
            entries = self._current(table)
        if when_us < baseline:
            raise SnapshotUnavailable(
                "the emulator only knows the rows of a table since its last change other than "
                "a streaming append (DML, load, truncation, schema change) or since it started; "
                f"the earliest readable time for this table is {_iso(baseline)}"
            )
        if entries is None:
            return current_rows
        return entries.rows_at(when_us)

    def forget(self, table_key: str) -> None:
        """Drop the history of a dropped or replaced table ("project:dataset.table")."""
        with self._lock:
            self._tables.pop(table_key, None)

    def _current(self, table: Table) -> _Entries | None:
        entries = self._tables.get(_key(table))
        if entries is None or not entries.describes(table):
            return None
        return entries

    def _baseline(self, table: Table) -> int:
        return max(table.last_modified * 1000, self.started_us)


def _key(table: Table) -> str:
    return f"{table.project}:{table.dataset_id}.{table.table_id}"


class _Entries:
    __slots__ = ("storage_name", "changed", "times", "counts")

    def __init__(self, table: Table, start_us: int, rows: int):
        self.storage_name = table.storage_name
        self.changed = table.last_modified
        self.times = [start_us]
        self.counts = [rows]

    def describes(self, table: Table) -> bool:
        return self.storage_name == table.storage_name and self.changed == table.last_modified

    def add(self, when_us: int, appended: int) -> None:
        self.times.append(max(when_us, self.times[-1]))
        self.counts.append(self.counts[-1] + appended)
        if len(self.times) > MAX_ENTRIES:  # the earliest readable time moves forward
            del self.times[0], self.counts[0]

    def rows_at(self, when_us: int) -> int:
        import bisect

        index = bisect.bisect_right(self.times, when_us) - 1
        if index < 0:
            raise SnapshotUnavailable(
                f"the emulator keeps the last {MAX_ENTRIES} appends of a table; the earliest "
                f"readable time for this table is {_iso(self.times[0])}"
            )
        return self.counts[index]


def _iso(micros: int) -> str:
    import datetime as dt

    moment = dt.datetime.fromtimestamp(micros / 1_000_000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
