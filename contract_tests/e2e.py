"""End-to-end leg: publish samples to a running stack and find where each one landed.

Talks to plain endpoints with the real Google clients: ``PUBSUB_EMULATOR_HOST`` (honoured by
google-cloud-pubsub itself) and ``BIGQUERY_EMULATOR_HOST`` (anonymous client, see
:func:`pipeline.endpoints.bigquery_client`). Samples are matched to rows by the Pub/Sub
``message_id`` the publish returned, which both tables record - so samples whose event_id is
unreadable (not JSON) or shared are still found. :func:`run_e2e` is the hook for the stack's
pytest fixtures.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from contract_tests.samples import Sample
from contract_tests.verify import Result

EVENTS = "events"
DEAD_LETTER = "dead_letter"
_CHUNK = 500


@dataclass(frozen=True)
class Endpoints:
    """Where the stack is: project, topic, the two tables and (optionally) emulator hosts."""

    project: str
    topic: str
    table: str
    dead_letter_table: str
    pubsub_host: str | None = None
    bigquery_host: str | None = None

    @classmethod
    def from_env(cls, project: str, topic: str, table: str, dead_letter_table: str) -> Endpoints:
        return cls(project, topic, table, dead_letter_table,
                   os.environ.get("PUBSUB_EMULATOR_HOST"),
                   os.environ.get("BIGQUERY_EMULATOR_HOST"))

    @classmethod
    def of_stack(cls, stack) -> Endpoints:
        """From the harness's ``provisioned_stack`` fixture (read by attribute, no import)."""
        return cls(stack.project, stack.topic, stack.events_table, stack.dead_letter_table,
                   stack.endpoints.pubsub, stack.endpoints.bigquery)

    def topic_path(self) -> str:
        if self.topic.startswith("projects/"):
            return self.topic
        return f"projects/{self.project}/topics/{self.topic}"

    def table_id(self, table: str) -> str:
        """``project.dataset.table`` from ``project:dataset.table`` or ``dataset.table``."""
        table = table.replace(":", ".")
        return table if table.count(".") == 2 else f"{self.project}.{table}"


@dataclass
class Landing:
    """Where a published sample ended up: the events table, the dead-letter table, or nowhere."""

    sample: Sample
    message_id: str
    table: str | None = None  # EVENTS | DEAD_LETTER | None
    error_type: str | None = None

    def describe(self) -> str:
        if self.table is None:
            return f"nowhere (message_id {self.message_id})"
        detail = f" as {self.error_type}" if self.table == DEAD_LETTER else ""
        return f"{self.table} table{detail} (message_id {self.message_id})"


def _set_env(endpoints: Endpoints) -> None:
    # The clients read the emulator hosts from the environment.
    if endpoints.pubsub_host:
        os.environ["PUBSUB_EMULATOR_HOST"] = endpoints.pubsub_host
    if endpoints.bigquery_host:
        os.environ["BIGQUERY_EMULATOR_HOST"] = endpoints.bigquery_host


def publish(samples: list[Sample], endpoints: Endpoints, attributes=None) -> list[Landing]:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    topic = endpoints.topic_path()
    futures = [
        publisher.publish(topic, s.data, **{**(attributes or {}), **s.attributes})
        for s in samples
    ]
    return [Landing(s, f.result(timeout=60)) for s, f in zip(samples, futures, strict=True)]


def in_list_sql(table_id: str, columns: str, message_ids: list[str]) -> str:
    """A query for the rows of ``message_ids`` (ids are quoted as SQL string literals)."""
    quoted = ", ".join("'" + m.replace("\\", "\\\\").replace("'", "\\'") + "'"
                       for m in message_ids)
    return f"SELECT {columns} FROM `{table_id}` WHERE message_id IN ({quoted})"


def _found(client, table_id: str, columns: str, message_ids: list[str]) -> dict[str, dict]:
    from google.api_core.exceptions import NotFound

    found = {}
    for start in range(0, len(message_ids), _CHUNK):
        sql = in_list_sql(table_id, columns, message_ids[start:start + _CHUNK])
        try:
            rows = client.query(sql).result()
        except NotFound:  # the pipeline creates its tables on first write
            return found
        for row in rows:
            found[row["message_id"]] = dict(row.items())
    return found


def wait_for_landings(
    landings: list[Landing], endpoints: Endpoints, timeout: float = 120.0, poll: float = 1.0
) -> list[Landing]:
    """Poll both tables until every landing is found or ``timeout`` seconds have passed."""
    from pipeline.endpoints import bigquery_client

    client = bigquery_client(endpoints.project)
    events = endpoints.table_id(endpoints.table)
    dead = endpoints.table_id(endpoints.dead_letter_table)
    deadline = time.monotonic() + timeout
    while True:
        waiting = {ln.message_id: ln for ln in landings if ln.table is None}
        if not waiting:
            return landings
        for message_id in _found(client, events, "message_id", list(waiting)):
            waiting.pop(message_id).table = EVENTS
        for message_id, row in _found(client, dead, "message_id, error_type",
                                      list(waiting)).items():
            landing = waiting.pop(message_id)
            landing.table, landing.error_type = DEAD_LETTER, row["error_type"]
        if not waiting or time.monotonic() >= deadline:
            return landings
        time.sleep(poll)


def run_e2e(
    samples: list[Sample], endpoints: Endpoints, timeout: float = 120.0, attributes=None
) -> list[Landing]:
    """Publish ``samples`` to the stack and wait until each is in one of the two tables."""
    _set_env(endpoints)
    return wait_for_landings(publish(samples, endpoints, attributes), endpoints, timeout)


def problem(result: Result, landing: Landing) -> str | None:
    """Why the stack disagrees with the local verdict, or None when it agrees."""
    if landing.table is None:
        return "end-to-end: the message reached neither the events nor the dead-letter table"
    if result.accepted and landing.table != EVENTS:
        return f"end-to-end: dead-lettered by the stack ({landing.error_type}), accepted locally"
    if not result.accepted and landing.table != DEAD_LETTER:
        return "end-to-end: written to the events table by the stack, rejected locally"
    if not result.accepted and landing.error_type != result.outcome.error_type:
        return (f"end-to-end: dead-lettered as {landing.error_type}, "
                f"locally as {result.outcome.error_type}")
    return None


def merge(results: list[Result], landings: list[Landing]) -> None:
    """Add end-to-end disagreements to the results' problems, in place."""
    for result, landing in zip(results, landings, strict=True):
        result.landed = landing.describe()
        result.add_problem(problem(result, landing))
