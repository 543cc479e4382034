"""Persistence for ``--data-dir``: one SQLite database in WAL mode.

Every Publish is written in one transaction before the response goes out, and so is every
Acknowledge. ``synchronous=NORMAL`` (the default) makes a committed transaction survive the
process being killed (``kill -9``): it is in the WAL, handed to the OS. Surviving power loss
needs ``--fsync always`` (``synchronous=FULL``), which fsyncs the WAL on every commit.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, publish_ns INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS backlog (
    sub TEXT NOT NULL, seq INTEGER NOT NULL, acked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sub, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshot_messages (
    snapshot TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (snapshot, seq)) WITHOUT ROWID;
"""


class NullStore:
    """No persistence (no ``--data-dir``)."""

    durable = False

    def put(self, kind: str, name: str, body: dict[str, Any]) -> None: ...
    def delete(self, kind: str, name: str) -> None: ...
    def append(self, rows, fanout, snapshots) -> None: ...
    def remove(self, sub: str, seqs: Iterable[int], retained: bool) -> None: ...
    def reset(self, sub: str, unacked: Iterable[int], acked: Iterable[int]) -> None: ...
    def snapshot(self, name: str, seqs: Iterable[int]) -> None: ...
    def close(self) -> None: ...


class SqliteStore(NullStore):
    """Resources as JSON rows; messages as their serialized PubsubMessage; backlog rows."""

    durable = True

    def __init__(self, directory: str, fsync: str = "normal"):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "pubsub.sqlite3")
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if fsync == 'always' else 'NORMAL'}")
        self.db.executescript(_SCHEMA)
        # the event loop writes; SchemaService also writes from its worker threads
        self._lock = threading.Lock()

    def _tx(self, statements: list[tuple[str, Any]]) -> None:
        with self._lock:
            self._run(statements)

    def _run(self, statements: list[tuple[str, Any]]) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            for sql, params in statements:
                if isinstance(params, list):
                    db.executemany(sql, params)
                else:
                    db.execute(sql, params)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def put(self, kind: str, name: str, body: dict[str, Any]) -> None:
        self._tx(
            [
                (
                    "INSERT OR REPLACE INTO resources(kind, name, body) VALUES (?, ?, ?)",
                    (kind, name, json.dumps(body)),
                )
            ]
        )

    def delete(self, kind: str, name: str) -> None:
        statements = [("DELETE FROM resources WHERE kind = ? AND name = ?", (kind, name))]
        if kind == "subscription":
            statements.append(("DELETE FROM backlog WHERE sub = ?", (name,)))
        elif kind == "snapshot":
            statements.append(("DELETE FROM snapshot_messages WHERE snapshot = ?", (name,)))
        self._tx(statements)

    def append(self, rows, fanout, snapshots) -> None:
        """``rows``: (seq, topic, publish_ns, body); fanout/snapshots: (name, [seq, ...])."""
        statements: list[tuple[str, Any]] = [
            ("INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?)", rows)
        ]
        backlog = [(sub, seq) for sub, seqs in fanout for seq in seqs]
        if backlog:
            statements.append(("INSERT OR REPLACE INTO backlog(sub, seq) VALUES (?, ?)", backlog))
        snap_rows = [(snap, seq) for snap, seqs in snapshots for seq in seqs]
        if snap_rows:
            statements.append(("INSERT OR IGNORE INTO snapshot_messages VALUES (?, ?)", snap_rows))
        self._tx(statements)

    def remove(self, sub: str, seqs: Iterable[int], retained: bool) -> None:
        params = [(sub, seq) for seq in seqs]
        if retained:
            self._tx([("UPDATE backlog SET acked = 1 WHERE sub = ? AND seq = ?", params)])
        else:
            self._tx([("DELETE FROM backlog WHERE sub = ? AND seq = ?", params)])

    def reset(self, sub: str, unacked: Iterable[int], acked: Iterable[int]) -> None:
        self._tx(
            [
                ("DELETE FROM backlog WHERE sub = ?", (sub,)),
                ("INSERT INTO backlog(sub, seq, acked) VALUES (?, ?, 0)", [(sub, s) for s in unacked]),
                ("INSERT OR IGNORE INTO backlog(sub, seq, acked) VALUES (?, ?, 1)", [(sub, s) for s in acked]),
            ]
        )

    def snapshot(self, name: str, seqs: Iterable[int]) -> None:
        self._tx(
            [("INSERT OR IGNORE INTO snapshot_messages VALUES (?, ?)", [(name, s) for s in seqs])]
        )

    def load(self) -> dict[str, Any]:
        """Everything stored, for the broker to rebuild its state from."""
        db = self.db
        resources: dict[str, dict[str, Any]] = {}
        for kind, name, body in db.execute("SELECT kind, name, body FROM resources"):
            resources.setdefault(kind, {})[name] = json.loads(body)
        return {
            "resources": resources,
            "messages": db.execute("SELECT seq, topic, publish_ns, body FROM messages ORDER BY seq"),
            "backlog": db.execute("SELECT sub, seq, acked FROM backlog ORDER BY seq").fetchall(),
            "snapshots": db.execute("SELECT snapshot, seq FROM snapshot_messages").fetchall(),
            "max_seq": db.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()[0],
        }

    def message_seqs(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT seq FROM messages")]

    def drop_messages(self, seqs: Iterable[int]) -> None:
        self._tx([("DELETE FROM messages WHERE seq = ?", [(s,) for s in seqs])])

    def close(self) -> None:
        try:
            self.db.close()
        except sqlite3.Error:
            pass
