"""What the spec asks for, as a flat list of resources with normalised properties.

Each :class:`Resource` is named by its Terraform type and its API name; ``props`` holds exactly
the properties ``plan`` compares, in the same plain form ``deploy/services.py`` reads back from the
services (seconds as ints, full resource names, BigQuery's legacy type names), defaults spelled
out as the services answer them, so that a fresh ``apply`` and a read-back compare equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from deploy import alerts, iam
from deploy.spec import Spec, Subscription, Table

#: Pub/Sub's defaults, as a subscription without them reads back.
DEFAULT_SUBSCRIPTION_RETENTION = 7 * 86400
DEFAULT_EXPIRATION_TTL = 31 * 86400
DEFAULT_MIN_BACKOFF = 10
DEFAULT_MAX_BACKOFF = 600
#: BigQuery answers with the legacy type names.
LEGACY_TYPES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}

#: Apply order (deletes run in reverse); IAM after the resources it is granted on.
ORDER = (
    "google_pubsub_topic",
    "google_pubsub_subscription",
    "google_bigquery_dataset",
    "google_bigquery_table",
    "google_storage_bucket",
    "google_pubsub_topic_iam_member",
    "google_pubsub_subscription_iam_member",
    "google_bigquery_dataset_iam_member",
    "google_storage_bucket_iam_member",
    "google_project_iam_member",
    "google_kms_crypto_key_iam_member",
    "google_artifact_registry_repository_iam_member",
    "google_monitoring_alert_policy",
)
IAM_TYPES = {
    "pubsub_topic": "google_pubsub_topic_iam_member",
    "pubsub_subscription": "google_pubsub_subscription_iam_member",
    "bigquery_dataset": "google_bigquery_dataset_iam_member",
    "storage_bucket": "google_storage_bucket_iam_member",
    "project": "google_project_iam_member",
    "kms_crypto_key": "google_kms_crypto_key_iam_member",
    "artifact_registry_repository": "google_artifact_registry_repository_iam_member",
}


@dataclass(frozen=True)
class Resource:
    """One thing ``apply`` makes exist: its Terraform type, API name and compared properties."""

    type: str
    name: str
    props: dict = field(default_factory=dict, compare=False)
    #: what is used to create it but not compared afterwards (reference rows)
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def short(self) -> str:
        """A Terraform-style local name (``events``, ``events-pipeline_pubsub_subscriber_...``)."""
        if self.type.endswith("_iam_member"):
            return binding_name(*self.name.split(" "))
        if self.type.startswith("google_bigquery"):
            return local_name(self.name.split(".", 1)[1])  # dataset[.table], without the project
        return local_name(self.name.rsplit("/", 1)[-1])


def desired(spec: Spec) -> list[Resource]:
    """Every resource of the spec, in apply order."""
    out: list[Resource] = []
    for t in spec.topics:
        out.append(Resource("google_pubsub_topic", spec.topic_path(t.name), {
            "labels": spec.resource_labels(t.labels),
            "message_retention_duration": t.message_retention or 0,
            "kms_key_name": t.kms_key or "",
        }))
    for s in spec.subscriptions:
        out.append(Resource("google_pubsub_subscription", spec.subscription_path(s.name),
                            subscription_props(spec, s)))
    for d in spec.datasets:
        out.append(Resource("google_bigquery_dataset", f"{spec.project}.{d.name}", {
            "location": d.location,
            "description": d.description,
            "default_table_expiration_ms": (d.default_table_expiration * 1000
                                            if d.default_table_expiration else None),
            "default_kms_key_name": d.kms_key,
            "labels": spec.resource_labels(d.labels),
        }))
    for t in spec.tables():
        out.append(Resource("google_bigquery_table", f"{spec.project}.{t.dataset}.{t.name}",
                            table_props(spec, t), {"rows": list(t.rows)}))
    for b in spec.buckets:
        out.append(Resource("google_storage_bucket", b.name, {
            "location": b.location.upper(),
            "labels": spec.resource_labels(b.labels),
            "versioning": b.versioning,
            "delete_after_days": b.delete_after_days,
            "default_kms_key_name": b.kms_key,
            "uniform_bucket_level_access": True,
            "public_access_prevention": "enforced",
        }))
    for b in iam.bindings(spec):
        out.append(Resource(IAM_TYPES[b.kind], iam_name(b.resource, b.role, b.member),
                            {}, {"binding": b}))
    for rule in spec.alerts:
        policy = alerts.alert_policy(spec, rule)
        if policy is not None:
            out.append(Resource("google_monitoring_alert_policy", policy["display_name"],
                                {"policy": policy}))
    return sorted(out, key=lambda r: ORDER.index(r.type))


def local_name(text: str) -> str:
    """A valid Terraform resource name: letters, digits, ``_`` and ``-``, not starting with a
    digit."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def binding_name(resource: str, role: str, member: str) -> str:
    """``events-pipeline_pubsub_subscriber_events-pipeline_streambench-prod`` for a binding."""
    who = member.partition(":")[2].split(".iam.gserviceaccount.com")[0]
    return local_name(f"{resource.rsplit('/', 1)[-1]}_{role.rsplit('/', 1)[-1]}_{who}")


def iam_name(resource: str, role: str, member: str) -> str:
    return f"{resource} {role} {member}"


def subscription_props(spec: Spec, s: Subscription) -> dict:
    retry = None
    if s.retry_min_backoff is not None or s.retry_max_backoff is not None:
        retry = {
            "minimum_backoff": DEFAULT_MIN_BACKOFF if s.retry_min_backoff is None
            else s.retry_min_backoff,
            "maximum_backoff": DEFAULT_MAX_BACKOFF if s.retry_max_backoff is None
            else s.retry_max_backoff,
        }
    dead_letter = None
    if s.dead_letter_topic:
        dead_letter = {"dead_letter_topic": spec.topic_path(s.dead_letter_topic),
                       "max_delivery_attempts": s.max_delivery_attempts}
    return {
        "topic": spec.topic_path(s.topic),
        "ack_deadline_seconds": s.ack_deadline_seconds,
        "message_retention_duration": s.message_retention or DEFAULT_SUBSCRIPTION_RETENTION,
        "retain_acked_messages": s.retain_acked_messages,
        "dead_letter_policy": dead_letter,
        "retry_policy": retry,
        "filter": s.filter,
        "enable_message_ordering": s.enable_message_ordering,
        "enable_exactly_once_delivery": s.enable_exactly_once_delivery,
        "expiration_ttl": DEFAULT_EXPIRATION_TTL if s.expiration is None else s.expiration,
        "labels": spec.resource_labels(s.labels),
    }


def table_props(spec: Spec, t: Table) -> dict:
    partitioning = None
    if t.partitioning:
        expiration = t.partitioning.get("expiration")
        partitioning = {
            "type": t.partitioning["type"],
            "field": t.partitioning.get("field"),
            "expiration_ms": expiration * 1000 if expiration else None,
        }
    return {
        "schema": normalise_schema(t.schema),
        "description": t.description,
        "time_partitioning": partitioning,
        "clustering": list(t.clustering) or None,
        "require_partition_filter": t.require_partition_filter,
        "kms_key_name": t.kms_key,
        "labels": spec.resource_labels(t.labels),
    }


def normalise_schema(fields) -> list[dict]:
    """REST schema fields -> ``[{name, type, mode, description[, fields]}]`` in legacy types."""
    out = []
    for f in fields:
        item = {
            "name": f["name"],
            "type": LEGACY_TYPES.get(f["type"].upper(), f["type"].upper()),
            "mode": (f.get("mode") or "NULLABLE").upper(),
            "description": f.get("description") or "",
        }
        if f.get("fields"):
            item["fields"] = normalise_schema(f["fields"])
        out.append(item)
    return out
