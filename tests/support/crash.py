"""Kill -9 durability scenarios, run against any emulator that can be killed and restarted on the
same data: a local process on a ``--data-dir`` (tests/emulators) or a container on a volume
(tests/containers). ``kill()`` sends SIGKILL; ``restart()`` starts it again and returns where it
listens now.

Pub/Sub: every publish that returned an id is still there; what was acked stays acked; what was
pulled but not acked (and what was never pulled) is delivered again.
BigQuery: every insertAll that returned 200 without insertErrors is still in the table, once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from google.api_core import exceptions

from harness import clients
from harness.endpoints import Endpoints


@dataclass
class PubsubOutcome:
    published: int  # publishes acknowledged with an id
    acked: int  # acked before the kill
    leased: int  # pulled, not acked, before the kill
    redelivered: int  # delivered after the restart
    lost: int  # acknowledged publishes neither acked before nor delivered after

    def __str__(self) -> str:
        return (f"{self.published} published, {self.acked} acked and {self.leased} leased before "
                f"SIGKILL, {self.redelivered} delivered after restart, {self.lost} lost")


@dataclass
class BigQueryOutcome:
    inserted: int  # rows whose insertAll was acknowledged
    stored: int  # rows in the table after the restart
    lost: int

    def __str__(self) -> str:
        return (f"{self.inserted} rows acknowledged before SIGKILL, {self.stored} in the table "
                f"after restart, {self.lost} lost")


def _keep_publishing(publisher, topic, published: list[str], stop: threading.Event) -> None:
    """One message per request, no retries: an id in ``published`` was acknowledged."""
    n = 0
    while not stop.is_set():
        try:
            response = publisher.api.publish(
                topic=topic, messages=[{"data": f"m{n}".encode()}], retry=None, timeout=5
            )
        except exceptions.GoogleAPICallError:
            return  # the server died under us: that publish was never acknowledged
        published.extend(response.message_ids)
        n += 1


def _drain(subscriber, sub: str, idle_rounds: int = 3) -> dict[str, bytes]:
    """Pull and ack until a few pulls in a row come back empty; message id -> data."""
    got: dict[str, bytes] = {}
    idle = 0
    while idle < idle_rounds:
        response = subscriber.pull(request={"subscription": sub, "max_messages": 500}, timeout=10)
        if not response.received_messages:
            idle += 1
            continue
        idle = 0
        for r in response.received_messages:
            got[r.message.message_id] = r.message.data
        subscriber.acknowledge(
            subscription=sub, ack_ids=[r.ack_id for r in response.received_messages]
        )
    return got


def pubsub_survives_sigkill(
    ends: Endpoints, kill: Callable[[], None], restart: Callable[[], Endpoints],
    project: str = "crash-project",
) -> PubsubOutcome:
    publisher, subscriber = clients.publisher(ends), clients.subscriber(ends)
    topic = f"projects/{project}/topics/events"
    sub = f"projects/{project}/subscriptions/events-sub"
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic, ack_deadline_seconds=600)

    published: list[str] = []
    stop = threading.Event()
    writer = threading.Thread(target=_keep_publishing, args=(publisher, topic, published, stop))
    writer.start()
    acked: set[str] = set()
    leased: set[str] = set()
    while len(acked) < 100:  # consume while the publisher keeps going
        response = subscriber.pull(request={"subscription": sub, "max_messages": 20}, timeout=10)
        if not response.received_messages:
            continue
        # ack every other message pulled, keep the rest leased (600 s deadline); counted over
        # the whole run, since a loaded machine may return one message per pull
        acked_now = []
        for received in response.received_messages:
            if (len(acked) + len(leased) + len(acked_now)) % 2 == 0:
                acked_now.append(received)
            else:
                leased.add(received.message.message_id)
        if acked_now:
            subscriber.acknowledge(subscription=sub, ack_ids=[r.ack_id for r in acked_now])
            acked.update(r.message.message_id for r in acked_now)

    kill()  # SIGKILL while the publisher is mid-request
    stop.set()
    writer.join(30)
    assert not writer.is_alive()
    subscriber.close()

    subscriber = clients.subscriber(restart())
    redelivered = _drain(subscriber, sub)
    subscriber.close()

    assert leased, "the test should have left some messages pulled but unacked"
    missing = set(published) - acked - set(redelivered)
    assert not missing  # no acknowledged publish lost
    assert leased <= set(redelivered)  # leases do not survive the crash
    assert not acked & set(redelivered)  # an ack that returned OK was durable
    return PubsubOutcome(len(published), len(acked), len(leased), len(redelivered), len(missing))


def _keep_inserting(bq, table, inserted: list[str], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        ids = [f"r{n}-{i}" for i in range(10)]
        try:
            errors = bq.insert_rows_json(
                table, [{"id": i, "n": n} for i in ids], row_ids=ids, retry=None, timeout=5
            )
        except Exception:  # connection refused / reset: that request was never acknowledged
            return
        if not errors:
            inserted.extend(ids)
        n += 1


def bigquery_survives_sigkill(
    ends: Endpoints, kill: Callable[[], None], restart: Callable[[], Endpoints],
    project: str = "crash-project",
) -> BigQueryOutcome:
    from google.cloud import bigquery

    bq = clients.bigquery(ends, project)
    bq.create_dataset(f"{project}.crash")
    table = f"{project}.crash.rows"
    bq.create_table(
        bigquery.Table(
            table,
            schema=[bigquery.SchemaField("id", "STRING"), bigquery.SchemaField("n", "INT64")],
        )
    )
    inserted: list[str] = []
    stop = threading.Event()
    writer = threading.Thread(target=_keep_inserting, args=(bq, table, inserted, stop))
    writer.start()
    while len(inserted) < 300 and writer.is_alive():
        threading.Event().wait(0.02)
    kill()
    stop.set()
    writer.join(30)
    assert len(inserted) >= 300

    bq = clients.bigquery(restart(), project)
    stored = [
        row["id"]
        for row in bq.list_rows(table, selected_fields=[bigquery.SchemaField("id", "STRING")])
    ]
    assert set(inserted) <= set(stored)
    assert len(stored) == len(set(stored))  # nothing doubled by the restart
    # the restarted server keeps accepting writes
    assert bq.insert_rows_json(table, [{"id": "after", "n": 0}], row_ids=["after"]) == []
    return BigQueryOutcome(len(inserted), len(stored), len(set(inserted) - set(stored)))
