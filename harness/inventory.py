"""What a running stack holds, for ``python -m harness status``: which emulator answers, and the
topics, subscriptions (with backlog), datasets and tables (with row counts) of a project.

Only the public APIs are used, so the same listing works against Google's emulator or GCP.
Pub/Sub has no API for a subscription's backlog (Cloud Monitoring has it as a metric), so it is
counted the way a user could: a snapshot of the subscription (its unacknowledged messages) is
sought onto a temporary subscription, which is then pulled and deleted. The subscription itself
is left untouched: nothing is pulled from it and its ack deadlines do not change.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from harness.endpoints import Endpoints
from pipeline.preflight import rows_of

BACKLOG_LIMIT = 10_000
TIMEOUT = 3.0


@dataclass
class Subscription:
    name: str
    topic: str
    backlog: int | None = None  # None: could not be counted
    oldest_unacked_s: float | None = None
    capped: bool = False
    problem: str | None = None

    def describe(self) -> str:
        short = self.name.rsplit("/", 1)[-1]
        topic = self.topic.rsplit("/", 1)[-1]
        if self.backlog is None:
            return f"{short} (topic {topic}): backlog unknown ({self.problem})"
        count = f"{'>=' if self.capped else ''}{self.backlog:,}"
        age = "" if self.oldest_unacked_s is None else \
            f", oldest unacked {self.oldest_unacked_s:.1f}s"
        return f"{short} (topic {topic}): backlog {count}{age}"


@dataclass
class Inventory:
    project: str
    topics: list[str] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    tables: list[tuple[str, int]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"project {self.project}:"]
        out.append(f"  topics:        {', '.join(t.rsplit('/', 1)[-1] for t in self.topics) or '-'}")
        out.append("  subscriptions:" + (" -" if not self.subscriptions else ""))
        out += [f"    {s.describe()}" for s in self.subscriptions]
        out.append(f"  datasets:      {', '.join(self.datasets) or '-'}")
        out.append("  tables:" + ("        -" if not self.tables else ""))
        out += [f"    {name}: {rows:,} rows" for name, rows in self.tables]
        return out


def backlog(subscriber, subscription, limit: int = BACKLOG_LIMIT) -> Subscription:
    """Count ``subscription``'s unacknowledged messages and the age of the oldest."""
    project = subscription.name.split("/")[1]
    tag = f"streambench-status-{uuid.uuid4().hex[:10]}"
    snapshot = f"projects/{project}/snapshots/{tag}"
    probe = f"projects/{project}/subscriptions/{tag}"
    out = Subscription(subscription.name, subscription.topic)
    created = []
    try:
        subscriber.create_snapshot(name=snapshot, subscription=subscription.name, timeout=TIMEOUT)
        created.append(("snapshot", snapshot))
        request = {"name": probe, "topic": subscription.topic, "ack_deadline_seconds": 600}
        if subscription.filter:
            request["filter"] = subscription.filter
        subscriber.create_subscription(request=request, timeout=TIMEOUT)
        created.append(("subscription", probe))
        subscriber.seek(request={"subscription": probe, "snapshot": snapshot}, timeout=TIMEOUT)
        count, oldest = 0, None
        while count < limit:
            response = subscriber.pull(
                request={"subscription": probe, "max_messages": min(1000, limit - count),
                         "return_immediately": True},
                timeout=TIMEOUT,
            )
            if not response.received_messages:
                break
            count += len(response.received_messages)
            for received in response.received_messages:
                published = received.message.publish_time.timestamp()
                oldest = published if oldest is None else min(oldest, published)
        out.backlog, out.capped = count, count >= limit
        out.oldest_unacked_s = None if oldest is None else max(0.0, time.time() - oldest)
    except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
        out.problem = _one_line(exc)
    finally:
        for kind, name in reversed(created):
            try:
                if kind == "subscription":
                    subscriber.delete_subscription(subscription=name, timeout=TIMEOUT)
                else:
                    subscriber.delete_snapshot(snapshot=name, timeout=TIMEOUT)
            except Exception:  # noqa: BLE001, S110 - best effort: it expires on its own
                pass
    return out


def _one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split())[:200]


def take(endpoints: Endpoints, project: str) -> Inventory:
    """The project's resources on both emulators (both must answer)."""
    from harness import clients

    inventory = Inventory(project)
    publisher = clients.publisher(endpoints)
    subscriber = clients.subscriber(endpoints)
    bigquery = clients.bigquery(endpoints, project)
    try:
        inventory.topics = sorted(
            t.name for t in publisher.list_topics(project=f"projects/{project}", timeout=TIMEOUT)
        )
        for sub in sorted(
            subscriber.list_subscriptions(project=f"projects/{project}", timeout=TIMEOUT),
            key=lambda s: s.name,
        ):
            if not sub.name.rsplit("/", 1)[-1].startswith("streambench-status-"):
                inventory.subscriptions.append(backlog(subscriber, sub))
        for dataset in sorted(bigquery.list_datasets(project, timeout=TIMEOUT),
                              key=lambda d: d.dataset_id):
            inventory.datasets.append(dataset.dataset_id)
            for item in sorted(bigquery.list_tables(dataset.reference, timeout=TIMEOUT),
                               key=lambda t: t.table_id):
                table = bigquery.get_table(item.reference, timeout=TIMEOUT)
                inventory.tables.append((f"{dataset.dataset_id}.{item.table_id}", rows_of(table)))
    finally:
        subscriber.close()
        publisher.transport.close()
        bigquery.close()
    return inventory
