"""The spec as Terraform JSON (``*.tf.json``) for the google and google-beta providers.

``files(spec)`` gives ``{file name: JSON object}``; ``python -m deploy terraform --env NAME --out
DIR`` writes them. Everything is derived from the same spec and the same computed IAM as
``apply``: resources reference each other (``${google_pubsub_topic.events.id}``) so Terraform
orders them; no ``google_service_account_key`` is ever written (SECURITY.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from deploy import alerts, iam
from deploy.iam import SNAPSHOT_CREATOR_PERMISSIONS, SNAPSHOT_CREATOR_ROLE_ID
from deploy.resources import binding_name, local_name, normalise_schema
from deploy.spec import Spec, schedule_cron
from deploy.template import launch_parameters

PROVIDER_VERSION = ">= 5.30"
AUDIT_LOG_TYPES = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")


def _seconds(value: int) -> str:
    return f"{value}s"


class _Builder:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.files: dict[str, dict] = {}

    def add(self, file: str, type_: str, name: str, body: dict, block: str = "resource") -> str:
        group = self.files.setdefault(file, {}).setdefault(block, {}).setdefault(type_, {})
        if name in group:
            raise ValueError(f"two {type_} named {name}")
        group[name] = body
        return f"{type_}.{name}"

    def sa_email(self, role: str) -> str:
        return f"${{google_service_account.{local_name(role)}.email}}"

    def member(self, member: str) -> str:
        """A spec service account's member refers to the account Terraform creates."""
        for role, account in self.spec.service_accounts.items():
            if member == f"serviceAccount:{account.email(self.spec.project)}":
                return f"serviceAccount:{self.sa_email(role)}"
        return member


def files(spec: Spec) -> dict[str, dict]:
    """The Terraform configuration of ``spec``, by file name."""
    b = _Builder(spec)
    s = spec
    b.files["providers.tf.json"] = {
        "terraform": {
            "required_version": ">= 1.5",
            "required_providers": {
                "google": {"source": "hashicorp/google", "version": PROVIDER_VERSION},
                "google-beta": {"source": "hashicorp/google-beta", "version": PROVIDER_VERSION},
            },
        },
        "provider": {
            "google": {"project": s.project, "region": s.region},
            "google-beta": {"project": s.project, "region": s.region},
        },
    }
    for role, account in sorted(s.service_accounts.items()):
        b.add("iam.tf.json", "google_service_account", local_name(role), {
            "account_id": account.account_id,
            "display_name": account.display_name or account.account_id,
            "description": account.description or f"streambench {role} ({s.name})",
        })
    if s.snapshots:
        b.add("iam.tf.json", "google_project_iam_custom_role", "snapshot_creator", {
            "role_id": SNAPSHOT_CREATOR_ROLE_ID,
            "title": "streambench snapshot creator",
            "description": "Create Pub/Sub snapshots (the scheduled replay points), nothing else.",
            "permissions": list(SNAPSHOT_CREATOR_PERMISSIONS),
        })
    _pubsub(b)
    _bigquery(b)
    _storage(b)
    _iam(b)
    _security(b)
    _monitoring(b)
    _dataflow(b)
    _snapshots(b)
    return b.files


def _pubsub(b: _Builder) -> None:
    s = b.spec
    for t in s.topics:
        body = {"name": t.name, "labels": s.resource_labels(t.labels)}
        if t.message_retention:
            body["message_retention_duration"] = _seconds(t.message_retention)
        if t.kms_key:
            body["kms_key_name"] = t.kms_key
        b.add("pubsub.tf.json", "google_pubsub_topic", local_name(t.name), body)
    for sub in s.subscriptions:
        body = {
            "name": sub.name,
            "topic": f"${{google_pubsub_topic.{local_name(sub.topic)}.id}}",
            "ack_deadline_seconds": sub.ack_deadline_seconds,
            "retain_acked_messages": sub.retain_acked_messages,
            "enable_message_ordering": sub.enable_message_ordering,
            "enable_exactly_once_delivery": sub.enable_exactly_once_delivery,
            "labels": s.resource_labels(sub.labels),
        }
        if sub.message_retention:
            body["message_retention_duration"] = _seconds(sub.message_retention)
        if sub.filter:
            body["filter"] = sub.filter
        if sub.expiration is not None:
            # an empty ttl never expires
            body["expiration_policy"] = [{"ttl": _seconds(sub.expiration) if sub.expiration
                                          else ""}]
        if sub.dead_letter_topic:
            body["dead_letter_policy"] = [{
                "dead_letter_topic": f"${{google_pubsub_topic.{local_name(sub.dead_letter_topic)}.id}}",
                "max_delivery_attempts": sub.max_delivery_attempts,
            }]
        if sub.retry_min_backoff is not None or sub.retry_max_backoff is not None:
            body["retry_policy"] = [{
                "minimum_backoff": _seconds(sub.retry_min_backoff or 10),
                "maximum_backoff": _seconds(sub.retry_max_backoff or 600),
            }]
        b.add("pubsub.tf.json", "google_pubsub_subscription", local_name(sub.name), body)


def _bigquery(b: _Builder) -> None:
    s = b.spec
    for d in s.datasets:
        body = {
            "dataset_id": d.name,
            "location": d.location,
            "description": d.description,
            "labels": s.resource_labels(d.labels),
            "delete_contents_on_destroy": False,
        }
        if d.default_table_expiration:
            body["default_table_expiration_ms"] = d.default_table_expiration * 1000
        if d.kms_key:
            body["default_encryption_configuration"] = [{"kms_key_name": d.kms_key}]
        b.add("bigquery.tf.json", "google_bigquery_dataset", local_name(d.name), body)
        for t in d.tables:
            table = {
                "dataset_id": f"${{google_bigquery_dataset.{local_name(d.name)}.dataset_id}}",
                "table_id": t.name,
                "description": t.description,
                "schema": json.dumps(normalise_schema(t.schema)),
                "labels": s.resource_labels(t.labels),
                "deletion_protection": s.protected,
            }
            if t.partitioning:
                part = {"type": t.partitioning["type"]}
                if t.partitioning.get("field"):
                    part["field"] = t.partitioning["field"]
                if t.partitioning.get("expiration"):
                    part["expiration_ms"] = t.partitioning["expiration"] * 1000
                table["time_partitioning"] = [part]
                table["require_partition_filter"] = t.require_partition_filter
            if t.clustering:
                table["clustering"] = list(t.clustering)
            if t.kms_key:
                table["encryption_configuration"] = [{"kms_key_name": t.kms_key}]
            b.add("bigquery.tf.json", "google_bigquery_table", local_name(f"{d.name}_{t.name}"),
                  table)


def _storage(b: _Builder) -> None:
    s = b.spec
    for bucket in s.buckets:
        body = {
            "name": bucket.name,
            "location": bucket.location.upper(),
            "uniform_bucket_level_access": True,
            "public_access_prevention": "enforced",
            "force_destroy": False,
            "labels": s.resource_labels(bucket.labels),
            "versioning": [{"enabled": bucket.versioning}],
        }
        if bucket.delete_after_days:
            body["lifecycle_rule"] = [{"action": [{"type": "Delete"}],
                                       "condition": [{"age": bucket.delete_after_days}]}]
        if bucket.kms_key:
            body["encryption"] = [{"default_kms_key_name": bucket.kms_key}]
        b.add("storage.tf.json", "google_storage_bucket", local_name(bucket.name), body)
    if s.template.get("image"):
        _, project, repo = s.template["image"].split("/")[:3]
        location = s.template["image"].split("/")[0].removesuffix("-docker.pkg.dev")
        b.add("storage.tf.json", "google_artifact_registry_repository", local_name(repo), {
            "location": location,
            "repository_id": repo,
            "format": "DOCKER",
            "description": "streambench Flex Template launcher images",
            "labels": s.resource_labels({}),
        })


# Binding kinds whose member resource points at a resource of this configuration:
# kind -> (the member's field, the attribute of google_<kind> it takes).
_MEMBER_REFERENCES = {
    "pubsub_topic": ("topic", "name"),
    "pubsub_subscription": ("subscription", "name"),
    "bigquery_dataset": ("dataset_id", "dataset_id"),
    "storage_bucket": ("bucket", "name"),
}


def _iam(b: _Builder) -> None:
    """One ``google_<kind>_iam_member`` per computed binding, pointing at the resources above."""
    s = b.spec
    short = {  # kind -> full resource name -> the spec's short name (the Terraform local name)
        "pubsub_topic": {s.topic_path(t.name): t.name for t in s.topics},
        "pubsub_subscription": {s.subscription_path(x.name): x.name for x in s.subscriptions},
        "bigquery_dataset": {iam.dataset_resource(s, d.name): d.name for d in s.datasets},
        "storage_bucket": {f"projects/_/buckets/{x.name}": x.name for x in s.buckets},
    }
    for binding in iam.bindings(s):
        kind = binding.kind
        body = {"role": binding.role, "member": b.member(binding.member)}
        if kind in _MEMBER_REFERENCES:
            field_, attribute = _MEMBER_REFERENCES[kind]
            body[field_] = (f"${{google_{kind}.{local_name(short[kind][binding.resource])}"
                            f".{attribute}}}")
        elif kind == "project":
            body["project"] = s.project
            if binding.role.endswith(f"/roles/{SNAPSHOT_CREATOR_ROLE_ID}"):
                body["role"] = "${google_project_iam_custom_role.snapshot_creator.name}"
        elif kind == "kms_crypto_key":
            body["crypto_key_id"] = binding.resource
        elif kind == "artifact_registry_repository":
            parts = binding.resource.split("/")
            body.update(project=parts[1], location=parts[3],
                        repository=f"${{google_artifact_registry_repository."
                                   f"{local_name(parts[5])}.name}}")
        else:
            raise ValueError(f"no Terraform resource for a {kind} binding")
        name = binding_name(binding.resource, binding.role, binding.member)
        b.add("iam.tf.json", f"google_{kind}_iam_member", name, body)


def _security(b: _Builder) -> None:
    s = b.spec
    for service in s.audit_data_access:
        b.add("security.tf.json", "google_project_iam_audit_config",
              local_name(service.split(".")[0]), {
                  "project": s.project,
                  "service": service,
                  "audit_log_config": [{"log_type": t} for t in AUDIT_LOG_TYPES],
              })
    perimeter = s.network.get("vpc_sc_perimeter")
    if perimeter:
        b.add("security.tf.json", "google_access_context_manager_service_perimeter_resource",
              "project", {"perimeter_name": perimeter,
                          "resource": f"projects/{s.project_number}"})
    subnetwork = (s.pipeline.dataflow.get("subnetwork") if s.pipeline else None)
    if subnetwork and s.network.get("private_google_access"):
        b.add("security.tf.json", "google_compute_subnetwork", "dataflow",
              {"self_link": _subnetwork_link(s, subnetwork)}, block="data")
        b.files["security.tf.json"]["check"] = {"private_google_access": {
            "assert": [{
                "condition": "${data.google_compute_subnetwork.dataflow.private_ip_google_access}",
                "error_message": "The Dataflow subnetwork must have Private Google Access: the "
                "workers have no public IPs (pipeline.dataflow.use_public_ips = false).",
            }],
        }}


def _subnetwork_link(s: Spec, subnetwork: str) -> str:
    if subnetwork.startswith("https://"):
        return subnetwork
    if not subnetwork.startswith("projects/"):
        subnetwork = f"projects/{s.project}/{subnetwork}"
    return f"https://www.googleapis.com/compute/v1/{subnetwork}"


def _monitoring(b: _Builder) -> None:
    for rule in b.spec.alerts:
        policy = alerts.alert_policy(b.spec, rule)
        if policy is None:
            continue
        body = dict(policy)
        body["documentation"] = [policy["documentation"]]
        body["conditions"] = [{
            "display_name": c["display_name"],
            "condition_threshold": [{**c["condition_threshold"],
                                     "aggregations": c["condition_threshold"]["aggregations"]}],
        } for c in policy["conditions"]]
        b.add("monitoring.tf.json", "google_monitoring_alert_policy", local_name(rule["name"]),
              body)


def _dataflow(b: _Builder) -> None:
    s = b.spec
    p = s.pipeline
    if p is None or not s.template.get("spec_path") or not p.dataflow.get("job_name"):
        return
    d = p.dataflow
    body = {
        "provider": "google-beta",
        "name": d["job_name"],
        "region": s.region,
        "container_spec_gcs_path": s.template["spec_path"],
        "parameters": launch_parameters(s),
        "service_account_email": b.sa_email(p.service_account),
        "on_delete": "drain",
        "labels": s.resource_labels({}),
        "depends_on": sorted(
            f"{type_}.{name}"
            for type_, group in b.files.get("iam.tf.json", {}).get("resource", {}).items()
            if type_.endswith("_iam_member")
            for name, body in group.items()
            if body["member"] == f"serviceAccount:{b.sa_email(p.service_account)}"
            or type_ == "google_kms_crypto_key_iam_member"
        ),
    }
    if d.get("temp_bucket"):
        body["temp_location"] = f"gs://{d['temp_bucket']}/tmp"
    if d.get("staging_bucket"):
        body["staging_location"] = f"gs://{d['staging_bucket']}/staging"
    if d.get("subnetwork"):
        body["subnetwork"] = _subnetwork_link(s, d["subnetwork"])
    if "use_public_ips" in d:
        body["ip_configuration"] = "WORKER_IP_PUBLIC" if d["use_public_ips"] else \
            "WORKER_IP_PRIVATE"
    for key in ("machine_type", "max_workers", "enable_streaming_engine"):
        if key in d:
            body[key] = d[key]
    if d.get("kms_key"):
        body["kms_key_name"] = d["kms_key"]
    b.add("dataflow.tf.json", "google_dataflow_flex_template_job", "pipeline", body)


def _snapshots(b: _Builder) -> None:
    s = b.spec
    snap = s.snapshots
    if snap is None:
        return
    subscription = s.subscription_path(snap.subscription)
    # Workflows expressions are ${...}; Terraform would read them as its own, hence $${...}.
    workflow = {"main": {"steps": [
        {"name": {"assign": [{"id": f'$${{"{snap.subscription}-" + string(int(sys.now()))}}'}]}},
        {"create": {
            "call": "googleapis.pubsub.v1.projects.snapshots.create",
            "args": {
                "name": f'$${{"projects/{s.project}/snapshots/" + id}}',
                "body": {"subscription": subscription, "labels": s.managed_labels()},
            },
        }},
    ]}}
    b.add("snapshots.tf.json", "google_workflows_workflow", "snapshots", {
        "name": local_name(f"{snap.subscription}-snapshots"),
        "region": s.region,
        "description": f"A Pub/Sub snapshot of {snap.subscription} (replay point); Pub/Sub "
                       "expires each one within 7 days.",
        "service_account": f"${{google_service_account.{local_name(snap.service_account)}.id}}",
        "source_contents": json.dumps(workflow, indent=2),
        "labels": s.resource_labels({}),
    })
    b.add("snapshots.tf.json", "google_cloud_scheduler_job", "snapshots", {
        "name": local_name(f"{snap.subscription}-snapshots"),
        "region": s.region,
        "schedule": schedule_cron(snap.every),
        "time_zone": "Etc/UTC",
        "http_target": [{
            "http_method": "POST",
            "uri": "https://workflowexecutions.googleapis.com/v1/"
                   "${google_workflows_workflow.snapshots.id}/executions",
            "oauth_token": [{"service_account_email": b.sa_email(snap.service_account)}],
        }],
    })


def write(spec: Spec, out: str | Path) -> list[Path]:
    """Write the configuration into ``out`` (created); the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in sorted(files(spec).items()):
        path = out / name
        path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
