"""The Pub/Sub model's state as Cloud Monitoring's ``pubsub.googleapis.com`` metrics (Prometheus
text, see ``emulators/exposition.py``), served at ``GET /_emulator/metrics``.

Per subscription: ``num_undelivered_messages``, ``oldest_unacked_message_age``,
``backlog_bytes``, ``sent_message_count``, ``ack_message_count``, ``nack_requests``,
``expired_ack_deadlines_count``, ``dead_letter_message_count``; per topic:
``send_request_count`` and the ``message_sizes`` histogram (its count is the messages
published, its sum their bytes); per snapshot: ``num_messages`` and ``oldest_message_age``.
Counts start at zero when the process starts, like any Prometheus counter.
"""

from __future__ import annotations

from typing import Any

from emulators.exposition import Exposition, add_process_metrics
from emulators.pubsub import names
from emulators.pubsub.topics import SIZE_BUCKETS

PREFIX = "pubsub.googleapis.com/"


def _subscription_labels(name: str) -> dict[str, str]:
    return {"project_id": names.project_of(name), "subscription_id": name.rsplit("/", 1)[-1]}


def render(broker: Any, data_dir: str | None = None) -> str:
    """Every metric of ``broker`` now, in the Prometheus text format."""
    out = Exposition()
    now_ns = broker.clock.time_ns()
    subs = [broker.subscriptions[n] for n in sorted(broker.subscriptions)]
    gauges: dict[str, list] = {"num_undelivered_messages": [], "oldest_unacked_message_age": [],
                               "backlog_bytes": []}  # fmt: skip
    counters: dict[str, list] = {
        "sent_message_count": [], "ack_message_count": [], "nack_requests": [],
        "expired_ack_deadlines_count": [], "dead_letter_message_count": [],
    }  # fmt: skip
    for sub in subs:
        labels = _subscription_labels(sub.name)
        entries = sub.entries.values()
        oldest = min((e.msg.publish_time_ns for e in entries), default=now_ns)
        gauges["num_undelivered_messages"].append((labels, len(sub.entries)))
        gauges["oldest_unacked_message_age"].append((labels, max(0, now_ns - oldest) // 10**9))
        gauges["backlog_bytes"].append((labels, sum(e.msg.size for e in entries)))
        counters["sent_message_count"].append((labels, sub.sent_count))
        counters["ack_message_count"].append((labels, sub.ack_count))
        counters["nack_requests"].append((labels, sub.nack_count))
        counters["expired_ack_deadlines_count"].append((labels, sub.expired_count))
        counters["dead_letter_message_count"].append((labels, sub.dead_letter_count))
    helps = {
        "num_undelivered_messages": "Number of unacknowledged messages (a.k.a. backlog "
        "messages) in a subscription.",
        "oldest_unacked_message_age": "Age (in seconds) of the oldest unacknowledged message "
        "in a subscription.",
        "backlog_bytes": "Total byte size of the unacknowledged messages in a subscription.",
        "sent_message_count": "Cumulative count of messages sent to subscriber clients.",
        "ack_message_count": "Cumulative count of messages acknowledged.",
        "nack_requests": "Cumulative count of messages that were nacked.",
        "expired_ack_deadlines_count": "Cumulative count of messages whose ack deadline "
        "expired while outstanding to a subscriber client.",
        "dead_letter_message_count": "Cumulative count of messages published to the dead "
        "letter topic.",
    }
    for metric, samples in gauges.items():
        out.add(PREFIX + "subscription/" + metric, "gauge", helps[metric], samples)
    for metric, samples in counters.items():
        out.add(PREFIX + "subscription/" + metric, "counter", helps[metric], samples)

    topics = [broker.topics[n] for n in sorted(broker.topics)]
    requests, sizes = [], []
    for topic in topics:
        labels = {"project_id": names.project_of(topic.name),
                  "topic_id": topic.name.rsplit("/", 1)[-1]}  # fmt: skip
        requests.append(({**labels, "response_code": "success"}, topic.publish_requests))
        cumulative, buckets = 0, []
        for bound, count in zip(SIZE_BUCKETS, topic.size_counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        sizes.append((labels, buckets, topic.size_sum))
    out.add(PREFIX + "topic/send_request_count", "counter",
            "Cumulative count of publish requests, grouped by result.", requests)
    out.histogram(PREFIX + "topic/message_sizes",
                  "Distribution of publish message sizes (in bytes).", sizes)

    snapshots = []
    for name in sorted(broker.snapshots):
        snap = broker.snapshots[name]
        labels = {"project_id": names.project_of(name), "snapshot_id": name.rsplit("/", 1)[-1]}
        oldest = min((m.publish_time_ns for m in snap.messages.values()), default=now_ns)
        snapshots.append((labels, len(snap.messages), max(0, now_ns - oldest) // 10**9))
    out.add(PREFIX + "snapshot/num_messages", "gauge",
            "Number of messages retained in a snapshot.", [(s[0], s[1]) for s in snapshots])
    out.add(PREFIX + "snapshot/oldest_message_age", "gauge",
            "Age (in seconds) of the oldest message retained in a snapshot.",
            [(s[0], s[2]) for s in snapshots])
    add_process_metrics(out, "pubsub", data_dir)
    return out.render()
