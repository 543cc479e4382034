"""The metrics alert rules may name: Cloud Monitoring's own metric types (what GCP alerts on) and
the few local-only ones, with where the local bench gets each.

A rule's metric must be listed here, and its label filters must use the labels listed here:
that is what lets ``ops/alerts.toml`` be checked before anything runs, and what tells the
exporter whether a label belongs to the monitored resource (``resource.label.x``) or to the
metric (``metric.label.x``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    metric_type: str
    kind: str  # GAUGE | DELTA | CUMULATIVE, as Cloud Monitoring's descriptor says
    resource: str | None  # monitored resource type; None: local only, never exported
    resource_labels: tuple[str, ...]
    metric_labels: tuple[str, ...]
    local_source: str  # who produces it on the bench

    @property
    def labels(self) -> tuple[str, ...]:
        return self.resource_labels + self.metric_labels

    @property
    def exportable(self) -> bool:
        return self.resource is not None


_SUB = ("project_id", "subscription_id")
_TOPIC = ("project_id", "topic_id")
_DATASET = ("project_id", "dataset_id")
_JOB = ("project_id", "job_name", "region")
_PUBSUB = "the Pub/Sub emulator (/_emulator/metrics)"
_BIGQUERY = "the BigQuery emulator (/_emulator/metrics)"
_HARNESS = "the harness, from the running pipeline (harness/observe.py)"

METRICS: dict[str, MetricInfo] = {
    m.metric_type: m
    for m in [
        MetricInfo("pubsub.googleapis.com/subscription/num_undelivered_messages", "GAUGE",
                   "pubsub_subscription", _SUB, (), _PUBSUB),
        MetricInfo("pubsub.googleapis.com/subscription/oldest_unacked_message_age", "GAUGE",
                   "pubsub_subscription", _SUB, (), _PUBSUB),
        MetricInfo("pubsub.googleapis.com/subscription/backlog_bytes", "GAUGE",
                   "pubsub_subscription", _SUB, (), _PUBSUB),
        MetricInfo("pubsub.googleapis.com/subscription/sent_message_count", "DELTA",
                   "pubsub_subscription", _SUB, ("delivery_type",), _PUBSUB),
        MetricInfo("pubsub.googleapis.com/subscription/ack_message_count", "DELTA",
                   "pubsub_subscription", _SUB, ("delivery_type",), _PUBSUB),
        MetricInfo("pubsub.googleapis.com/subscription/expired_ack_deadlines_count", "DELTA",
                   "pubsub_subscription", _SUB, ("delivery_type",), _PUBSUB),
        MetricInfo("pubsub.googleapis.com/subscription/dead_letter_message_count", "DELTA",
                   "pubsub_subscription", _SUB, ("response_code",), _PUBSUB),
        MetricInfo("pubsub.googleapis.com/topic/send_request_count", "DELTA",
                   "pubsub_topic", _TOPIC, ("response_code", "response_class"), _PUBSUB),
        MetricInfo("pubsub.googleapis.com/snapshot/oldest_message_age", "GAUGE",
                   "pubsub_snapshot", ("project_id", "snapshot_id"), (), _PUBSUB),
        MetricInfo("bigquery.googleapis.com/storage/uploaded_row_count", "DELTA",
                   "bigquery_dataset", _DATASET, ("api", "table"), _BIGQUERY),
        MetricInfo("bigquery.googleapis.com/storage/uploaded_bytes", "DELTA",
                   "bigquery_dataset", _DATASET, ("api", "table"), _BIGQUERY),
        MetricInfo("serviceruntime.googleapis.com/api/request_count", "DELTA", "consumed_api",
                   ("project_id", "service", "method"), ("response_code", "response_code_class"),
                   _BIGQUERY),
        MetricInfo("dataflow.googleapis.com/job/system_lag", "GAUGE", "dataflow_job", _JOB, (),
                   _HARNESS + ": per sample, the p99 publish-to-BigQuery lag of the rows written "
                   "since the last sample, or the oldest unacked message's age if larger"),
        MetricInfo("dataflow.googleapis.com/job/user_counter", "GAUGE", "dataflow_job", _JOB,
                   ("metric_name", "ptransform"), _HARNESS + ": the pipeline's Beam counters"),
        MetricInfo("dataflow.googleapis.com/job/is_failed", "GAUGE", "dataflow_job", _JOB, (),
                   _HARNESS),
        MetricInfo("dataflow.googleapis.com/worker/memory/bytes_used", "GAUGE",
                   "dataflow_worker", ("project_id", "job_id"), ("container",),
                   _HARNESS + ": the resident memory of the process running the pipeline"),
        MetricInfo("dataflow.googleapis.com/worker/memory/total_limit", "GAUGE",
                   "dataflow_worker", ("project_id", "job_id"), ("container",), _HARNESS),
        # local only: no Cloud Monitoring counterpart (rules on them say so with export = false)
        MetricInfo("process_resident_memory_bytes", "GAUGE", None, (), ("emulator",),
                   "each emulator (/_emulator/metrics)"),
        MetricInfo("emulator_data_dir_bytes", "GAUGE", None, (), ("emulator",),
                   "each emulator: the size of its --data-dir"),
        MetricInfo("emulator_bigquery_insert_errors", "DELTA", None, (),
                   ("project_id", "dataset_id", "table", "reason"), _BIGQUERY),
    ]
}
