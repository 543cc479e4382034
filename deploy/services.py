"""Reading and changing each kind of resource with the real Google clients.

:class:`Services` owns one target's clients and, for one plan or apply, the IAM policies it has
read. For each Terraform type it can ``read`` a resource into the same normalised properties
``deploy/resources.py`` builds from the spec, ``create``/``update``/``delete`` it, list what it
``owns`` (resources carrying the spec's ``managed-by`` and ``environment`` labels), and say why a
type is not managed on this target (``unsupported``).

IAM is additive per member, like Terraform's ``*_iam_member``: ``apply`` grants what the spec
computes and removes bindings of the members it manages (the spec's service accounts, the Pub/Sub
service agent, the producers) that the spec does not compute; other members' bindings are left
alone.
"""

from __future__ import annotations

import datetime
from typing import Any

from deploy import iam, resources
from deploy.clients import Clients
from deploy.resources import Resource
from deploy.spec import MANAGED_BY, Spec

TERRAFORM_ONLY = (
    "Terraform only: `python -m deploy terraform` writes it; `apply` manages the data resources "
    "and the IAM on them"
)
#: BigQuery's legacy dataset roles, as datasets.get answers for the predefined ones.
LEGACY_DATASET_ROLES = {
    "WRITER": "roles/bigquery.dataEditor",
    "READER": "roles/bigquery.dataViewer",
    "OWNER": "roles/bigquery.dataOwner",
}
SUBSCRIPTION_MASK = {"expiration_ttl": "expiration_policy"}
TABLE_FIELDS = {
    "schema": "schema",
    "description": "description",
    "time_partitioning": "time_partitioning",
    "clustering": "clustering_fields",
    "require_partition_filter": "require_partition_filter",
    "kms_key_name": "encryption_configuration",
    "labels": "labels",
}
DATASET_FIELDS = {
    "description": "description",
    "default_table_expiration_ms": "default_table_expiration_ms",
    "default_kms_key_name": "default_encryption_configuration",
    "labels": "labels",
}


def _seconds(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds())
    return int(value.seconds)


def _duration(seconds: int):
    from google.protobuf import duration_pb2

    return duration_pb2.Duration(seconds=seconds)


def _not_found():
    from google.api_core.exceptions import NotFound

    return NotFound


class Services:
    """One target's clients, for one plan or apply."""

    def __init__(self, spec: Spec, clients: Clients):
        self.spec = spec
        self.c = clients
        self._policies: dict[str, Any] = {}

    # -- what this target manages --

    def unsupported(self, type_: str) -> str | None:
        """Why ``type_`` is not managed on this target, or None."""
        if type_ in ("google_project_iam_member", "google_kms_crypto_key_iam_member",
                     "google_artifact_registry_repository_iam_member"):
            return TERRAFORM_ONLY
        if type_.startswith("google_storage_bucket") and self.c.storage is None:
            return ("no Cloud Storage endpoint on this target (set STORAGE_EMULATOR_HOST to a "
                    "Cloud Storage emulator)")
        if type_ == "google_monitoring_alert_policy" and self.c.monitoring is None:
            return ("the emulator stack has no Cloud Monitoring; the policies are in the "
                    "Terraform output, and the operations work evaluates the rules locally")
        return None

    # -- dispatch --

    def read(self, r: Resource) -> dict | None:
        if r.type.endswith("_iam_member"):
            return self._read_member(r)
        return getattr(self, "_read_" + _kind(r.type))(r)

    def create(self, r: Resource) -> None:
        if r.type.endswith("_iam_member"):
            return self._change_member(r, add=True)
        getattr(self, "_create_" + _kind(r.type))(r)

    def update(self, r: Resource, changed: list[str]) -> None:
        getattr(self, "_update_" + _kind(r.type))(r, changed)

    def delete(self, r: Resource) -> None:
        if r.type.endswith("_iam_member"):
            return self._change_member(r, add=False)
        getattr(self, "_delete_" + _kind(r.type))(r.name)

    def owned(self, type_: str) -> list[str]:
        """Names of existing ``type_`` resources labelled as this environment's."""
        return getattr(self, "_owned_" + _kind(type_))()

    def forces_replacement(self, r: Resource, current: dict) -> list[str]:
        """The changed properties that cannot be updated in place."""
        immutable = {
            "google_pubsub_subscription": ("topic", "filter", "enable_message_ordering"),
            "google_bigquery_dataset": ("location",),
            "google_storage_bucket": ("location",),
        }.get(r.type, ())
        forced = [k for k in immutable if current.get(k) != r.props.get(k)]
        if r.type == "google_bigquery_table":
            before, after = current.get("time_partitioning"), r.props.get("time_partitioning")
            if (before or {}).get("type") != (after or {}).get("type") or \
                    (before or {}).get("field") != (after or {}).get("field"):
                forced.append("time_partitioning")
            if not _schema_update_allowed(current["schema"], r.props["schema"]):
                forced.append("schema")
        return forced

    def _labelled(self, labels) -> bool:
        labels = dict(labels or {})
        return labels.get(MANAGED_BY[0]) == MANAGED_BY[1] and \
            labels.get("environment") == self.spec.name

    # -- Pub/Sub topics --

    def _read_pubsub_topic(self, r: Resource) -> dict | None:
        try:
            topic = self.c.publisher.get_topic(topic=r.name)
        except _not_found():
            return None
        return {
            "labels": dict(topic.labels),
            "message_retention_duration": _seconds(topic.message_retention_duration),
            "kms_key_name": topic.kms_key_name,
        }

    def _topic_request(self, r: Resource) -> dict:
        topic = {"name": r.name, "labels": r.props["labels"],
                 "kms_key_name": r.props["kms_key_name"]}
        if r.props["message_retention_duration"]:
            topic["message_retention_duration"] = _duration(r.props["message_retention_duration"])
        return topic

    def _create_pubsub_topic(self, r: Resource) -> None:
        self.c.publisher.create_topic(request=self._topic_request(r))

    def _update_pubsub_topic(self, r: Resource, changed: list[str]) -> None:
        self.c.publisher.update_topic(request={"topic": self._topic_request(r),
                                               "update_mask": {"paths": changed}})

    def _delete_pubsub_topic(self, name: str) -> None:
        self.c.publisher.delete_topic(topic=name)

    def _owned_pubsub_topic(self) -> list[str]:
        found = self.c.publisher.list_topics(request={"project": f"projects/{self.c.project}"})
        return [t.name for t in found if self._labelled(t.labels)]

    # -- Pub/Sub subscriptions --

    def _read_pubsub_subscription(self, r: Resource) -> dict | None:
        try:
            s = self.c.subscriber.get_subscription(subscription=r.name)
        except _not_found():
            return None
        dead = s.dead_letter_policy
        retry = None
        if "retry_policy" in s:
            retry = {"minimum_backoff": _seconds(s.retry_policy.minimum_backoff),
                     "maximum_backoff": _seconds(s.retry_policy.maximum_backoff)}
        ttl = resources.DEFAULT_EXPIRATION_TTL
        if "expiration_policy" in s:
            ttl = _seconds(s.expiration_policy.ttl)
        return {
            "topic": s.topic,
            "ack_deadline_seconds": s.ack_deadline_seconds,
            "message_retention_duration": _seconds(s.message_retention_duration)
            or resources.DEFAULT_SUBSCRIPTION_RETENTION,
            "retain_acked_messages": s.retain_acked_messages,
            "dead_letter_policy": {"dead_letter_topic": dead.dead_letter_topic,
                                   "max_delivery_attempts": dead.max_delivery_attempts or 5}
            if dead.dead_letter_topic else None,
            "retry_policy": retry,
            "filter": s.filter,
            "enable_message_ordering": s.enable_message_ordering,
            "enable_exactly_once_delivery": s.enable_exactly_once_delivery,
            "expiration_ttl": ttl,
            "labels": dict(s.labels),
        }

    def _subscription_request(self, r: Resource) -> dict:
        p = r.props
        request = {
            "name": r.name,
            "topic": p["topic"],
            "ack_deadline_seconds": p["ack_deadline_seconds"],
            "message_retention_duration": _duration(p["message_retention_duration"]),
            "retain_acked_messages": p["retain_acked_messages"],
            "filter": p["filter"],
            "enable_message_ordering": p["enable_message_ordering"],
            "enable_exactly_once_delivery": p["enable_exactly_once_delivery"],
            "labels": p["labels"],
            # an expiration policy without a ttl never expires
            "expiration_policy": {"ttl": _duration(p["expiration_ttl"])}
            if p["expiration_ttl"] else {},
        }
        if p["dead_letter_policy"]:
            request["dead_letter_policy"] = p["dead_letter_policy"]
        if p["retry_policy"]:
            request["retry_policy"] = {k: _duration(v) for k, v in p["retry_policy"].items()}
        return request

    def _create_pubsub_subscription(self, r: Resource) -> None:
        self.c.subscriber.create_subscription(request=self._subscription_request(r))

    def _update_pubsub_subscription(self, r: Resource, changed: list[str]) -> None:
        paths = [SUBSCRIPTION_MASK.get(k, k) for k in changed]
        self.c.subscriber.update_subscription(request={
            "subscription": self._subscription_request(r), "update_mask": {"paths": paths},
        })

    def _delete_pubsub_subscription(self, name: str) -> None:
        self.c.subscriber.delete_subscription(subscription=name)

    def _owned_pubsub_subscription(self) -> list[str]:
        found = self.c.subscriber.list_subscriptions(
            request={"project": f"projects/{self.c.project}"}
        )
        return [s.name for s in found if self._labelled(s.labels)]

    # -- BigQuery datasets --

    def _read_bigquery_dataset(self, r: Resource) -> dict | None:
        try:
            ds = self.c.bigquery.get_dataset(r.name)
        except _not_found():
            return None
        encryption = ds.default_encryption_configuration
        return {
            "location": ds.location,
            "description": ds.description or "",
            "default_table_expiration_ms": ds.default_table_expiration_ms,
            "default_kms_key_name": encryption.kms_key_name if encryption else None,
            "labels": dict(ds.labels),
        }

    def _dataset_fields(self, ds, r: Resource, keys) -> list[str]:
        from google.cloud import bigquery

        p = r.props
        for key in keys:
            if key == "default_kms_key_name":
                ds.default_encryption_configuration = (
                    bigquery.EncryptionConfiguration(p[key]) if p[key] else None)
            elif key == "labels":
                ds.labels = _label_patch(ds.labels, p[key])
            elif key in DATASET_FIELDS:
                setattr(ds, DATASET_FIELDS[key], p[key])
        return [DATASET_FIELDS[k] for k in keys if k in DATASET_FIELDS]

    def _create_bigquery_dataset(self, r: Resource) -> None:
        from google.cloud import bigquery

        ds = bigquery.Dataset(r.name)
        ds.location = r.props["location"]
        self._dataset_fields(ds, r, DATASET_FIELDS)
        self.c.bigquery.create_dataset(ds)

    def _update_bigquery_dataset(self, r: Resource, changed: list[str]) -> None:
        ds = self.c.bigquery.get_dataset(r.name)
        self.c.bigquery.update_dataset(ds, self._dataset_fields(ds, r, changed))

    def _delete_bigquery_dataset(self, name: str) -> None:
        # never delete_contents: a dataset holding tables the spec does not own stays
        self.c.bigquery.delete_dataset(name)

    def _owned_bigquery_dataset(self) -> list[str]:
        return [f"{self.c.project}.{d.dataset_id}"
                for d in self.c.bigquery.list_datasets(self.c.project)
                if self._labelled(d.labels)]

    # -- BigQuery tables --

    def _read_bigquery_table(self, r: Resource) -> dict | None:
        try:
            t = self.c.bigquery.get_table(r.name)
        except _not_found():
            return None
        tp = t.time_partitioning
        return {
            "schema": resources.normalise_schema([f.to_api_repr() for f in t.schema]),
            "description": t.description or "",
            "time_partitioning": {"type": tp.type_, "field": tp.field,
                                  "expiration_ms": tp.expiration_ms} if tp else None,
            "clustering": list(t.clustering_fields) if t.clustering_fields else None,
            "require_partition_filter": bool(t.require_partition_filter),
            "kms_key_name": t.encryption_configuration.kms_key_name
            if t.encryption_configuration else None,
            "labels": dict(t.labels),
        }

    def _table_fields(self, table, r: Resource, keys) -> list[str]:
        from google.cloud import bigquery

        p = r.props
        for key in keys:
            value = p[key]
            if key == "schema":
                table.schema = [bigquery.SchemaField.from_api_repr(f) for f in value]
            elif key == "time_partitioning":
                table.time_partitioning = bigquery.TimePartitioning(
                    type_=value["type"], field=value["field"],
                    expiration_ms=value["expiration_ms"]) if value else None
            elif key == "kms_key_name":
                table.encryption_configuration = (
                    bigquery.EncryptionConfiguration(value) if value else None)
            elif key == "labels":
                table.labels = _label_patch(table.labels, value)
            else:
                setattr(table, TABLE_FIELDS[key], value)
        return [TABLE_FIELDS[k] for k in keys]

    def _create_bigquery_table(self, r: Resource) -> None:
        from google.cloud import bigquery

        table = bigquery.Table(r.name)
        self._table_fields(table, r, TABLE_FIELDS)
        self.c.bigquery.create_table(table)
        rows = r.extra.get("rows")
        if rows:
            errors = self.c.bigquery.insert_rows_json(r.name, rows)
            if errors:
                raise RuntimeError(f"rows for {r.name} rejected: {errors}")

    def _update_bigquery_table(self, r: Resource, changed: list[str]) -> None:
        table = self.c.bigquery.get_table(r.name)
        self.c.bigquery.update_table(table, self._table_fields(table, r, changed))

    def _delete_bigquery_table(self, name: str) -> None:
        self.c.bigquery.delete_table(name)

    def _owned_bigquery_table(self) -> list[str]:
        datasets = {f"{self.c.project}.{d.name}" for d in self.spec.datasets}
        datasets.update(self._owned_bigquery_dataset())
        out = []
        for dataset in sorted(datasets):
            try:
                tables = list(self.c.bigquery.list_tables(dataset))
            except _not_found():
                continue
            out += [f"{dataset}.{t.table_id}" for t in tables if self._labelled(t.labels)]
        return out

    # -- Cloud Storage buckets --

    def _read_storage_bucket(self, r: Resource) -> dict | None:
        bucket = self.c.storage.lookup_bucket(r.name)
        if bucket is None:
            return None
        delete_after = None
        for rule in bucket.lifecycle_rules:
            if rule.get("action", {}).get("type") == "Delete" and "age" in rule.get("condition",
                                                                                       {}):
                delete_after = rule["condition"]["age"]
        config = bucket.iam_configuration
        return {
            "location": (bucket.location or "").upper(),
            "labels": dict(bucket.labels),
            "versioning": bool(bucket.versioning_enabled),
            "delete_after_days": delete_after,
            "default_kms_key_name": bucket.default_kms_key_name,
            "uniform_bucket_level_access": bool(config.uniform_bucket_level_access_enabled),
            "public_access_prevention": config.public_access_prevention,
        }

    def _bucket_fields(self, bucket, r: Resource, keys) -> None:
        p = r.props
        for key in keys:
            if key == "labels":
                bucket.labels = p["labels"]
            elif key == "versioning":
                bucket.versioning_enabled = p["versioning"]
            elif key == "delete_after_days":
                bucket.clear_lifecycle_rules()
                if p["delete_after_days"]:
                    bucket.add_lifecycle_delete_rule(age=p["delete_after_days"])
            elif key == "default_kms_key_name":
                bucket.default_kms_key_name = p[key]
            elif key == "uniform_bucket_level_access":
                bucket.iam_configuration.uniform_bucket_level_access_enabled = p[key]
            elif key == "public_access_prevention":
                bucket.iam_configuration.public_access_prevention = p[key]

    def _create_storage_bucket(self, r: Resource) -> None:
        bucket = self.c.storage.bucket(r.name)
        self._bucket_fields(bucket, r, [k for k in r.props if k != "location"])
        self.c.storage.create_bucket(bucket, location=r.props["location"])
        # gcp-storage-emulator keeps only the name from buckets.insert (Cloud Storage keeps all
        # of it): set what did not stick, so the next plan is empty either way
        current = self._read_storage_bucket(r) or {}
        missing = [k for k, v in r.props.items() if current.get(k) != v and k != "location"]
        if missing:
            self._update_storage_bucket(r, missing)

    def _update_storage_bucket(self, r: Resource, changed: list[str]) -> None:
        bucket = self.c.storage.get_bucket(r.name)
        self._bucket_fields(bucket, r, changed)
        bucket.patch()

    def _delete_storage_bucket(self, name: str) -> None:
        self.c.storage.get_bucket(name).delete()  # refuses a bucket that still holds objects

    def _owned_storage_bucket(self) -> list[str]:
        return [b.name for b in self.c.storage.list_buckets(project=self.c.project)
                if self._labelled(b.labels)]

    # -- Cloud Monitoring alert policies --

    def _alert_policies(self) -> dict[str, Any]:
        found = self.c.monitoring.list_alert_policies(name=f"projects/{self.c.project}")
        return {p.display_name: p for p in found}

    def _read_monitoring_alert_policy(self, r: Resource) -> dict | None:
        existing = self._alert_policies().get(r.name)
        if existing is None:
            return None
        return {"policy": _policy_subset(existing, r.props["policy"])}

    def _create_monitoring_alert_policy(self, r: Resource) -> None:
        self.c.monitoring.create_alert_policy(name=f"projects/{self.c.project}",
                                              alert_policy=_policy(r.props["policy"]))

    def _update_monitoring_alert_policy(self, r: Resource, changed: list[str]) -> None:
        policy = _policy(r.props["policy"])
        policy.name = self._alert_policies()[r.name].name
        self.c.monitoring.update_alert_policy(alert_policy=policy)

    def _delete_monitoring_alert_policy(self, display_name: str) -> None:
        self.c.monitoring.delete_alert_policy(name=self._alert_policies()[display_name].name)

    def _owned_monitoring_alert_policy(self) -> list[str]:
        return [name for name, p in self._alert_policies().items()
                if self._labelled(p.user_labels)]

    # -- IAM members on topics, subscriptions, datasets and buckets --

    def members(self, r: Resource) -> list[Resource]:
        """IAM-member resources that exist on ``r`` for the members this spec manages."""
        kind = _iam_kind(r)
        if kind is None or self.unsupported(resources.IAM_TYPES[kind]):
            return []
        resource = _iam_resource(self.spec, kind, r)
        policy = self._policy(kind, resource)
        if policy is None:
            return []
        managed = iam.managed_members(self.spec)
        return [Resource(resources.IAM_TYPES[kind], resources.iam_name(resource, role, member))
                for role, members in sorted(policy.items())
                for member in sorted(members) if member in managed]

    def _read_member(self, r: Resource) -> dict | None:
        resource, role, member = r.name.split(" ")
        policy = self._policy(_member_kind(r.type), resource)
        return {} if policy and member in policy.get(role, ()) else None

    def _policy(self, kind: str, resource: str) -> dict[str, set[str]] | None:
        """``{role: members}`` of a resource (cached for this plan), None if it is missing."""
        if resource not in self._policies:
            self._policies[resource] = self._get_policy(kind, resource)
        return self._policies[resource]

    def _get_policy(self, kind: str, resource: str) -> dict[str, set[str]] | None:
        try:
            if kind in ("pubsub_topic", "pubsub_subscription"):
                client = self.c.publisher if kind == "pubsub_topic" else self.c.subscriber
                policy = client.get_iam_policy(request={"resource": resource})
                return _roles((b.role, b.members) for b in policy.bindings)
            if kind == "bigquery_dataset":
                ds = self.c.bigquery.get_dataset(_dataset_id(resource))
                out: dict[str, set[str]] = {}
                for entry in ds.access_entries:
                    member = _access_member(entry)
                    if member and entry.role:
                        role = LEGACY_DATASET_ROLES.get(entry.role, entry.role)
                        out.setdefault(role, set()).add(member)
                return out
            if kind == "storage_bucket":
                bucket = self.c.storage.bucket(resource.rsplit("/", 1)[1])
                policy = bucket.get_iam_policy(requested_policy_version=3)
                return _roles((b["role"], b["members"]) for b in policy.bindings)
        except _not_found():
            return None
        raise ValueError(f"no IAM reader for {kind}")

    def _change_member(self, r: Resource, add: bool) -> None:
        resource, role, member = r.name.split(" ")
        kind = _member_kind(r.type)
        self._policies.pop(resource, None)  # read-modify-write on a fresh read
        if kind in ("pubsub_topic", "pubsub_subscription"):
            client = self.c.publisher if kind == "pubsub_topic" else self.c.subscriber
            policy = client.get_iam_policy(request={"resource": resource})
            bindings = {role: sorted(members) for role, members in
                        _roles((b.role, b.members) for b in policy.bindings).items()}
            _edit(bindings, role, member, add)
            del policy.bindings[:]
            for name, members in sorted(bindings.items()):
                policy.bindings.add(role=name, members=sorted(members))
            client.set_iam_policy(request={"resource": resource, "policy": policy})
        elif kind == "bigquery_dataset":
            from google.cloud import bigquery

            ds = self.c.bigquery.get_dataset(_dataset_id(resource))
            entries = [e for e in ds.access_entries
                       if not (_access_member(e) == member
                               and LEGACY_DATASET_ROLES.get(e.role, e.role) == role)]
            if add:
                entity_type, entity_id = _access_entity(member)
                entries.append(bigquery.AccessEntry(role, entity_type, entity_id))
            ds.access_entries = entries
            self.c.bigquery.update_dataset(ds, ["access_entries"])
        elif kind == "storage_bucket":
            bucket = self.c.storage.bucket(resource.rsplit("/", 1)[1])
            policy = bucket.get_iam_policy(requested_policy_version=3)
            bindings = {role: sorted(members) for role, members in
                        _roles((b["role"], b["members"]) for b in policy.bindings).items()}
            _edit(bindings, role, member, add)
            policy.bindings = [{"role": k, "members": set(v)} for k, v in sorted(bindings.items())]
            bucket.set_iam_policy(policy)
        self._policies.pop(resource, None)


def _kind(type_: str) -> str:
    return type_.removeprefix("google_")


def _member_kind(type_: str) -> str:
    return next(k for k, v in resources.IAM_TYPES.items() if v == type_)


def _iam_kind(r: Resource) -> str | None:
    return {
        "google_pubsub_topic": "pubsub_topic",
        "google_pubsub_subscription": "pubsub_subscription",
        "google_bigquery_dataset": "bigquery_dataset",
        "google_storage_bucket": "storage_bucket",
    }.get(r.type)


def _iam_resource(spec: Spec, kind: str, r: Resource) -> str:
    if kind == "bigquery_dataset":
        return iam.dataset_resource(spec, r.name.split(".", 1)[1])
    if kind == "storage_bucket":
        return f"projects/_/buckets/{r.name}"
    return r.name


def _dataset_id(resource: str) -> str:
    """``projects/P/datasets/D`` -> ``P.D``."""
    parts = resource.split("/")
    return f"{parts[1]}.{parts[3]}"


def _access_member(entry) -> str | None:
    """A dataset access entry as an IAM member (BigQuery has no serviceAccount entity)."""
    kind, value = entry.entity_type, entry.entity_id
    if kind == "userByEmail":
        prefix = "serviceAccount" if value.endswith(".gserviceaccount.com") else "user"
        return f"{prefix}:{value}"
    if kind == "groupByEmail":
        return f"group:{value}"
    if kind == "domain":
        return f"domain:{value}"
    if kind == "iamMember":
        return value
    return None


def _access_entity(member: str) -> tuple[str, str]:
    prefix, _, value = member.partition(":")
    if prefix in ("serviceAccount", "user"):
        return "userByEmail", value
    if prefix == "group":
        return "groupByEmail", value
    if prefix == "domain":
        return "domain", value
    return "iamMember", member


def _roles(pairs) -> dict[str, set[str]]:
    """``{role: members}``; a policy may list one role in several bindings."""
    out: dict[str, set[str]] = {}
    for role, members in pairs:
        out.setdefault(role, set()).update(members)
    return out


def _edit(bindings: dict[str, list[str]], role: str, member: str, add: bool) -> None:
    members = [m for m in bindings.get(role, []) if m != member]
    if add:
        members.append(member)
    if members:
        bindings[role] = members
    else:
        bindings.pop(role, None)


def _label_patch(current, wanted: dict) -> dict:
    """BigQuery removes a label only when it is sent as None."""
    return {**{k: None for k in (current or {}) if k not in wanted}, **wanted}


def _schema_update_allowed(before: list[dict], after: list[dict]) -> bool:
    """BigQuery updates a schema in place only by adding NULLABLE/REPEATED columns and relaxing
    REQUIRED to NULLABLE (descriptions may change too)."""
    old = {f["name"]: f for f in before}
    for f in after:
        was = old.pop(f["name"], None)
        if was is None:
            if f["mode"] == "REQUIRED":
                return False
            continue
        if was["type"] != f["type"]:
            return False
        if was["mode"] != f["mode"] and not (was["mode"] == "REQUIRED" and f["mode"] == "NULLABLE"):
            return False
        if f["type"] == "RECORD" and not _schema_update_allowed(was.get("fields", []),
                                                                f.get("fields", [])):
            return False
    return not old


def _policy(data: dict):
    import json

    from google.cloud import monitoring_v3

    return monitoring_v3.AlertPolicy.from_json(json.dumps(data))


def _policy_subset(existing, wanted: dict) -> dict:
    """The keys of ``wanted`` as ``existing`` has them, both through the same JSON form."""
    import json

    from google.cloud import monitoring_v3

    def as_dict(policy):
        return json.loads(monitoring_v3.AlertPolicy.to_json(policy,
                                                           preserving_proto_field_name=True))

    have, want = as_dict(existing), as_dict(_policy(wanted))
    return wanted if all(have.get(k) == want.get(k) for k in want) else {
        k: have.get(k) for k in want}
