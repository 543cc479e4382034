"""End-to-end leg: publish samples to a running stack and find where each one landed.

Talks to plain endpoints with the real Google clients: ``PUBSUB_EMULATOR_HOST`` (honoured by
google-cloud-pubsub itself) and ``BIGQUERY_EMULATOR_HOST`` (anonymous client, see
:func:`pipeline.endpoints.bigquery_client`). Samples are matched to rows by the Pub/Sub
``message_id`` the publish returned, which both tables record - so samples whose event_id is
unreadable (not JSON) or shared are still found. :func:`run_e2e` is the hook for the stack's
pytest fixtures.

The pipeline writes events with insertId = event_id, so BigQuery drops an event whose id it saw
within its de-duplication window: a second run of the same samples would find no new rows. So
each run publishes the samples accepted locally with a fresh event_id (``<id>-e2e-<run>``); with
``fresh_ids=False`` they go byte for byte, and a sample whose event_id is already in the table
is reported as de-duplicated and counted as accepted. Before waiting, the topic must exist and
have a subscription; when nothing lands and the samples are all still in a subscription's
backlog, no pipeline is reading it, and :class:`StackProblem` says so instead of a timeout.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, replace

from contract_tests.samples import Sample
from contract_tests.verify import Result

EVENTS = "events"
DEAD_LETTER = "dead_letter"
_CHUNK = 500
MAX_EVENT_ID = 128
NO_READER_AFTER = 15.0  # seconds without any landing before the subscriptions are looked at
SETTLE = 2.0  # seconds a drained backlog stays drained before a missing row is a duplicate
EMPTY = ("not published: Pub/Sub refuses a message with neither data nor attributes (an empty "
         "sample); locally it is rejected like any payload that is not JSON")


class StackProblem(Exception):
    """The stack cannot carry the samples (no topic, no subscription, no pipeline reading):
    one sentence saying what to start or create."""


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
    published_event_id: str | None = None  # the fresh event_id it was published with
    deduplicated: str | None = None  # why no row of its own: the row that was there first
    not_published: str | None = None

    def describe(self) -> str:
        if self.not_published:
            return self.not_published
        if self.table is None:
            return f"nowhere (message_id {self.message_id})"
        detail = f" as {self.error_type}" if self.table == DEAD_LETTER else ""
        fresh = f", published as event_id {self.published_event_id!r}" \
            if self.published_event_id else ""
        if self.deduplicated:
            return (f"{self.table} table, de-duplicated (message_id {self.message_id}): "
                    f"{self.deduplicated}; counted as accepted")
        return f"{self.table} table{detail} (message_id {self.message_id}{fresh})"


def fresh_event_ids(samples: list[Sample], accepted: list[bool], run: str) -> tuple[list, list]:
    """The samples to publish, with a fresh event_id for each one accepted locally, and the ids
    given (None where a sample goes as it is)."""
    suffix = f"-e2e-{run}"
    out, ids = [], []
    for sample, ok in zip(samples, accepted, strict=True):
        event = _json_object(sample.data) if ok else None
        if event is None or not isinstance(event.get("event_id"), str):
            out.append(sample)
            ids.append(None)
            continue
        new_id = event["event_id"][: MAX_EVENT_ID - len(suffix)] + suffix
        data = json.dumps({**event, "event_id": new_id}, ensure_ascii=False).encode("utf-8")
        out.append(replace(sample, data=data))
        ids.append(new_id)
    return out, ids


def _json_object(data: bytes) -> dict | None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _set_env(endpoints: Endpoints) -> None:
    # The clients read the emulator hosts from the environment.
    if endpoints.pubsub_host:
        os.environ["PUBSUB_EMULATOR_HOST"] = endpoints.pubsub_host
    if endpoints.bigquery_host:
        os.environ["BIGQUERY_EMULATOR_HOST"] = endpoints.bigquery_host


def publish(samples: list[Sample], endpoints: Endpoints, attributes=None) -> list[Landing]:
    """Publish every sample Pub/Sub accepts (not an empty one); a landing per sample."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    topic = endpoints.topic_path()
    futures = []
    for s in samples:
        attrs = {**(attributes or {}), **s.attributes}
        futures.append(publisher.publish(topic, s.data, **attrs) if s.data or attrs else None)
    return [Landing(s, f.result(timeout=60)) if f else Landing(s, "", not_published=EMPTY)
            for s, f in zip(samples, futures, strict=True)]


def subscriptions_of(endpoints: Endpoints) -> list[str]:
    """The topic's subscriptions; :class:`StackProblem` when the topic is missing or has none."""
    from google.api_core.exceptions import GoogleAPICallError, NotFound
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    topic = endpoints.topic_path()
    try:
        subscriptions = list(publisher.list_topic_subscriptions(topic=topic, timeout=10))
    except NotFound:
        project = topic.split("/")[1]
        try:
            topics = sorted(t.name.rsplit("/", 1)[-1] for t in
                            publisher.list_topics(project=f"projects/{project}", timeout=10))
        except GoogleAPICallError:
            topics = []
        raise StackProblem(
            f"--topic {topic}: no such topic (project {project} has "
            f"{', '.join(topics) or 'none'}); is the stack up (python -m harness up)?"
        ) from None
    except GoogleAPICallError as exc:
        raise StackProblem(f"--topic {topic}: {exc.message}") from None
    if not subscriptions:
        raise StackProblem(
            f"--topic {topic} has no subscription, so no pipeline can receive the samples; "
            "create the pipeline's subscription (python -m harness up provisions it)"
        )
    return sorted(subscriptions)


def backlogs(subscriptions: list[str]) -> dict[str, int | None]:
    """Unacknowledged messages of each subscription (None: could not be counted)."""
    from google.cloud import pubsub_v1

    from harness.inventory import backlog

    subscriber = pubsub_v1.SubscriberClient()
    try:
        return {name: backlog(subscriber, subscriber.get_subscription(
            subscription=name, timeout=10)).backlog for name in subscriptions}
    finally:
        subscriber.close()


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
    landings: list[Landing], endpoints: Endpoints, timeout: float = 120.0, poll: float = 1.0,
    subscriptions: list[str] | None = None, no_reader_after: float = NO_READER_AFTER,
) -> list[Landing]:
    """Poll both tables until every landing is found or ``timeout`` seconds have passed.

    With ``subscriptions`` (the topic's), two things are told apart from waiting: a sample whose
    event_id is already a row under another message_id, once the subscriptions' backlog is
    empty, was de-duplicated; and when nothing has landed after ``no_reader_after`` seconds and
    a subscription still holds every sample, :class:`StackProblem` says no pipeline reads it.
    """
    from pipeline.endpoints import bigquery_client

    client = bigquery_client(endpoints.project)
    events = endpoints.table_id(endpoints.table)
    dead = endpoints.table_id(endpoints.dead_letter_table)
    published = [ln for ln in landings if not ln.not_published]
    started = time.monotonic()
    deadline = started + timeout
    drained_since = None
    while True:
        waiting = {ln.message_id: ln for ln in published if ln.table is None}
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
        if subscriptions:
            landed = len(published) - len(waiting)
            if not landed and time.monotonic() - started >= no_reader_after:
                _no_reader(subscriptions, len(published), time.monotonic() - started)
            duplicates = _already_written(client, events, waiting)
            if duplicates and len(duplicates) == len(waiting):
                # Every sample left has its event_id in the table already: once nothing is
                # left to pull (and a moment for the writes), those are de-duplicated.
                if all(n == 0 for n in backlogs(subscriptions).values()):
                    drained_since = drained_since or time.monotonic()
                    if time.monotonic() - drained_since >= SETTLE:
                        for message_id, why in duplicates.items():
                            landing = waiting.pop(message_id)
                            landing.table, landing.deduplicated = EVENTS, why
                        continue
                else:
                    drained_since = None
        time.sleep(poll)


def _no_reader(subscriptions: list[str], published: int, waited: float) -> None:
    full = [name for name, n in backlogs(subscriptions).items() if n is not None and
            n >= published]
    if len(full) == len(subscriptions):
        name = full[0]
        short = name.rsplit("/", 1)[-1]
        raise StackProblem(
            f"no pipeline is reading subscription {name}: all {published} samples are still in "
            f"its backlog after {waited:.0f}s; start one (e.g. python -m pipeline "
            f"--input_subscription {short} --output_table ... --dead_letter_table ...) and run "
            "again"
        )


def _already_written(client, table: str, waiting: dict[str, Landing]) -> dict[str, str]:
    """``message_id -> why`` for waiting samples whose event_id is a row under another
    message_id (the first copy, which BigQuery kept)."""
    ids = {}
    for message_id, landing in waiting.items():
        event = _json_object(landing.sample.data) if landing.sample.data else None
        event_id = landing.published_event_id or (event or {}).get("event_id")
        if isinstance(event_id, str):
            ids[message_id] = event_id
    if not ids:
        return {}
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ArrayQueryParameter("ids", "STRING", sorted(set(ids.values())))])
    try:
        rows = client.query(
            f"SELECT event_id, message_id, publish_time FROM `{table}` "
            "WHERE event_id IN UNNEST(@ids) ORDER BY publish_time DESC",
            job_config=config).result()
    except NotFound:
        return {}
    first = {row["event_id"]: row for row in rows}  # the earliest copy comes last
    out = {}
    for message_id, event_id in ids.items():
        row = first.get(event_id)
        if row is not None and row["message_id"] != message_id:
            out[message_id] = (
                f"event_id {event_id!r} was already written by message_id {row['message_id']} "
                f"(published {row['publish_time']:%Y-%m-%d %H:%M:%S}), and the pipeline's "
                "insertId is the event_id, which BigQuery de-duplicates"
            )
    return out


def run_e2e(
    samples: list[Sample], endpoints: Endpoints, timeout: float = 120.0, attributes=None,
    accepted: list[bool] | None = None, fresh_ids: bool = True,
    no_reader_after: float = NO_READER_AFTER,
) -> list[Landing]:
    """Publish ``samples`` to the stack and wait until each is in one of the two tables.

    ``accepted``: the local verdicts; those accepted get a fresh event_id unless ``fresh_ids``
    is false (without verdicts, every sample goes as it is). Raises :class:`StackProblem`
    when the stack cannot carry them.
    """
    _set_env(endpoints)
    subscriptions = subscriptions_of(endpoints)
    ids = [None] * len(samples)
    to_send = samples
    if fresh_ids and accepted is not None:
        to_send, ids = fresh_event_ids(samples, accepted, uuid.uuid4().hex[:8])
    landings = publish(to_send, endpoints, attributes)
    for landing, original, new_id in zip(landings, samples, ids, strict=True):
        landing.sample, landing.published_event_id = original, new_id
    return wait_for_landings(landings, endpoints, timeout, subscriptions=subscriptions,
                             no_reader_after=no_reader_after)


def problem(result: Result, landing: Landing) -> str | None:
    """Why the stack disagrees with the local verdict, or None when it agrees."""
    if landing.not_published:
        return None if not result.accepted else f"end-to-end: {landing.not_published}"
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
