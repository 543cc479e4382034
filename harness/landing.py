"""What landed in the pipeline's events and dead-letter tables, and waiting for it.

A :class:`Landing` reads both tables, either whole (a test's own project: the classic fixtures)
or only the rows of the messages one namespace published (the warm pipeline's tests: the row's
``message_id`` is the Pub/Sub id its publisher got back, which no other test can claim).

:meth:`Landing.wait_for` polls every ``interval`` (20 ms by default) with one small query over
both tables and returns as soon as what was asked for is there. When it cannot be (more dead
letters than messages left to land) it fails at once; on timeout it says what did arrive,
dead letters with their reasons included.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

POLL_INTERVAL = 0.02
"""Seconds between two polls of :meth:`Landing.wait_for`."""


class NotLanded(AssertionError):
    """What a test waited for cannot arrive; the message says what did."""


class LandingTimeout(NotLanded, TimeoutError):
    """What a test waited for did not arrive in time; the message says what did."""


@dataclass(frozen=True)
class Landed:
    """One row of the events table (``kind == "event"``) or of the dead-letter table."""

    kind: str
    event_id: str | None
    message_id: str | None
    error_type: str | None = None
    error_message: str | None = None
    failed_step: str | None = None

    def describe(self) -> str:
        who = f"{self.event_id!r}" if self.event_id else f"message {self.message_id}"
        if self.kind == "event":
            return who
        return f"{who}: {self.error_type} in {self.failed_step}: {self.error_message}"


class Arrivals:
    """What had landed when :meth:`Landing.wait_for` returned.

    ``events`` and ``dead_letters`` are :class:`Landed` summaries; ``rows`` and
    ``dead_letter_rows`` fetch the whole rows (every column) on first use.
    """

    def __init__(self, landing: Landing, landed: list[Landed]):
        self._landing = landing
        self.events = [x for x in landed if x.kind == "event"]
        self.dead_letters = [x for x in landed if x.kind != "event"]
        self._rows: list[dict] | None = None
        self._dead_letter_rows: list[dict] | None = None

    @property
    def event_ids(self) -> list[str]:
        return sorted(x.event_id for x in self.events if x.event_id is not None)

    @property
    def error_types(self) -> list[str]:
        return sorted(x.error_type for x in self.dead_letters if x.error_type)

    @property
    def rows(self) -> list[dict]:
        if self._rows is None:
            self._rows = self._landing.rows()
        return self._rows

    @property
    def dead_letter_rows(self) -> list[dict]:
        if self._dead_letter_rows is None:
            self._dead_letter_rows = self._landing.dead_letters()
        return self._dead_letter_rows

    def describe(self) -> str:
        events = ", ".join(x.describe() for x in self.events) or "none"
        dead = "; ".join(x.describe() for x in self.dead_letters) or "none"
        return (
            f"events ({len(self.events)}): {events}\n"
            f"dead letters ({len(self.dead_letters)}): {dead}"
        )

    def __repr__(self) -> str:
        return f"Arrivals(events={self.event_ids}, dead_letters={self.error_types})"


class _Expectation:
    """``events``/``dead_letters`` as :meth:`Landing.wait_for` takes them: a minimum count,
    event ids (events) or error types (dead letters, a list or ``{error_type: count}``)."""

    def __init__(self, what, key: str):
        self.key = key
        self.count: int | None = None
        self.wanted: Counter | None = None
        if what is None:
            return
        if isinstance(what, bool):
            raise TypeError(f"expected a count or a list, got {what!r}")
        if isinstance(what, int):
            if what < 0:
                raise ValueError(f"a count cannot be negative: {what}")
            self.count = what
        elif isinstance(what, str):
            self.wanted = Counter([what])
        elif isinstance(what, Mapping):
            self.wanted = Counter({str(k): int(v) for k, v in what.items()})
        elif isinstance(what, Iterable):
            self.wanted = Counter(str(x) for x in what)
            if key == "event_id":  # an event id lands once, however often it is published
                self.wanted = Counter(set(self.wanted))
        else:
            raise TypeError(f"expected a count or a list, got {what!r}")

    def missing(self, landed: list[Landed]) -> int:
        """How many more rows must land before this is met."""
        if self.count is not None:
            return max(0, self.count - len(landed))
        if self.wanted is not None:
            have = Counter(getattr(x, self.key) for x in landed)
            return sum((self.wanted - have).values())
        return 0

    def describe(self, noun: str) -> str:
        if self.count is not None:
            return f"at least {self.count} {noun}"
        if self.wanted is not None:
            listed = ", ".join(
                f"{k!r}" + (f" x{n}" if n > 1 else "") for k, n in sorted(self.wanted.items())
            )
            return f"{noun} {listed}"
        return ""


class Landing:
    """The events and dead-letter tables, whole or restricted to the rows of the messages
    whose ids ``message_ids()`` returns. ``status()`` adds a line to failure reports (e.g. the
    pipeline's state); ``hidden_attributes`` are left out of the rows' ``attributes``."""

    def __init__(
        self,
        bigquery,
        events_table: str,
        dead_letter_table: str,
        message_ids: Callable[[], list[str]] | None = None,
        status: Callable[[], str] | None = None,
        hidden_attributes: tuple[str, ...] = (),
    ):
        self.bigquery = bigquery
        self.events_table = events_table
        self.dead_letter_table = dead_letter_table
        self._message_ids = message_ids
        self._status = status
        self._hidden = hidden_attributes

    # -- reading ----------------------------------------------------------------------------

    def query(self, sql: str, **params) -> list[dict]:
        """Run ``sql`` where ``{events}`` and ``{dead_letters}`` stand for the rows of each
        table this landing reads; ``params`` are named scalar parameters (``@name``)."""
        from google.cloud import bigquery

        from harness import traffic

        where = ""
        parameters = [traffic.scalar_parameter(k, v) for k, v in params.items()]
        if self._message_ids is not None:
            where = "WHERE message_id IN UNNEST(@streambench_message_ids)"
            parameters.append(
                bigquery.ArrayQueryParameter(
                    "streambench_message_ids", "STRING", self._message_ids()
                )
            )
        for name, table in (
            ("{events}", self.events_table),
            ("{dead_letters}", self.dead_letter_table),
        ):
            sql = sql.replace(name, f"(SELECT * FROM `{table}` {where})" if where else f"`{table}`")
        config = bigquery.QueryJobConfig(query_parameters=parameters)
        # query_and_wait: one jobs.query round trip where client.query() takes two or three.
        return [dict(row.items()) for row in self.bigquery.query_and_wait(sql, job_config=config)]

    def poll(self) -> list[Landed]:
        """Every row and dead letter that has landed, in summary (one query)."""
        if self._message_ids is not None and not self._message_ids():
            return []
        sql = (
            "SELECT 'event' AS kind, event_id, message_id, CAST(NULL AS STRING) AS error_type, "
            "CAST(NULL AS STRING) AS error_message, CAST(NULL AS STRING) AS failed_step "
            "FROM {events} UNION ALL "
            "SELECT 'dead_letter' AS kind, event_id, message_id, error_type, error_message, "
            "failed_step FROM {dead_letters}"
        )
        return [Landed(**row) for row in self.query(sql)]

    def counts(self) -> tuple[int, int]:
        """How many rows and dead letters have landed (one query)."""
        row = self.query(
            "SELECT (SELECT COUNT(*) FROM {events}) AS events, "
            "(SELECT COUNT(*) FROM {dead_letters}) AS dead_letters"
        )[0]
        return row["events"], row["dead_letters"]

    def rows(self) -> list[dict]:
        """Every column of the events-table rows, in event_id order."""
        return self._full("{events}", "event_id")

    def dead_letters(self) -> list[dict]:
        """Every column of the dead-letter rows, in processing order."""
        return self._full("{dead_letters}", "processing_time, message_id")

    def _full(self, table: str, order: str) -> list[dict]:
        if self._message_ids is not None and not self._message_ids():
            return []
        rows = self.query(f"SELECT * FROM {table} ORDER BY {order}")
        for row in rows:
            if isinstance(row.get("attributes"), dict):
                row["attributes"] = {
                    k: v for k, v in row["attributes"].items() if k not in self._hidden
                }
        return rows

    def arrivals(self) -> Arrivals:
        return Arrivals(self, self.poll())

    # -- waiting ----------------------------------------------------------------------------

    def wait_for(
        self,
        events=None,
        dead_letters=None,
        timeout: float = 30.0,
        interval: float = POLL_INTERVAL,
    ) -> Arrivals:
        """Wait until ``events`` rows and ``dead_letters`` dead letters have landed.

        Each is ``None`` (no wait), a minimum count, or what must be there: event ids for
        ``events``; error types for ``dead_letters`` (a list, or ``{error_type: count}``).
        Returns the :class:`Arrivals` as soon as both are met. Raises :class:`NotLanded` at once
        when they cannot be (restricted landings only: more dead letters than messages left)
        and :class:`LandingTimeout` after ``timeout`` seconds, saying what did arrive.
        """
        want_events = _Expectation(events, "event_id")
        want_dead = _Expectation(dead_letters, "error_type")
        # Counts over whole tables: poll two counts, read the rows once at the end.
        by_count = (
            self._message_ids is None and want_events.wanted is None and want_dead.wanted is None
        )
        deadline = time.monotonic() + timeout
        while True:
            if by_count:
                landed_events, landed_dead = self.counts()
                met = landed_events >= (want_events.count or 0) and landed_dead >= (
                    want_dead.count or 0
                )
                arrivals = self.arrivals() if met else None
            else:
                arrivals = self.arrivals()
                missing_events = want_events.missing(arrivals.events)
                missing_dead = want_dead.missing(arrivals.dead_letters)
                met = not missing_events and not missing_dead
                left = self._left_to_land(arrivals)
                if not met and left is not None and max(missing_events, missing_dead) > left:
                    raise NotLanded(self._report("cannot arrive", want_events, want_dead, arrivals))
            if met:
                return arrivals
            if time.monotonic() >= deadline:
                raise LandingTimeout(
                    self._report(
                        f"not there after {timeout:g}s", want_events, want_dead, self.arrivals()
                    )
                )
            time.sleep(interval)

    def _left_to_land(self, arrivals: Arrivals) -> int | None:
        """At most how many more rows can land: each message published lands once at most
        (event ids and dead letters are de-duplicated), so the messages not seen yet."""
        if self._message_ids is None:
            return None
        landed = {x.message_id for x in arrivals.events} | {
            x.message_id for x in arrivals.dead_letters
        }
        return len(set(self._message_ids()) - landed)

    def _report(self, what: str, want_events, want_dead, arrivals: Arrivals) -> str:
        wanted = " and ".join(
            text
            for text in (want_events.describe("event(s)"), want_dead.describe("dead letter(s)"))
            if text
        )
        lines = [f"waited for {wanted}: {what}.", "Arrived:", arrivals.describe()]
        if self._message_ids is not None:
            lines.append(f"Messages published in this namespace: {len(self._message_ids())}.")
        if self._status is not None:
            lines.append(self._status())
        return "\n".join(lines)
