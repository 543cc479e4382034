"""The generated Terraform JSON against the spec, resource by resource.

`terraform validate` is not run here: it needs the google provider's schema, which `terraform
init` downloads from registry.terraform.io (not reachable from this machine). These tests check
what can be checked without it: the JSON shape Terraform reads, every reference resolving to a
resource of the configuration, and every resource's arguments against the spec and the computed
IAM."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from deploy import iam, spec, template, terraform
from deploy.resources import normalise_schema

ENVIRONMENTS = ["local", "staging", "prod"]
TOP_LEVEL = {"terraform", "provider", "resource", "data", "check", "output", "variable", "locals"}
REFERENCE = re.compile(r"(?<!\$)\$\{([a-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}")


def resources(files: dict) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for content in files.values():
        for type_, group in content.get("resource", {}).items():
            for name, body in group.items():
                assert name not in out.setdefault(type_, {}), f"{type_}.{name} twice"
                out[type_][name] = body
    return out


def resolver(environment: spec.Spec, found: dict):
    """Replace ``${type.name.attr}`` with what the google provider would compute."""
    p = environment.project

    def attribute(type_: str, name: str, attr: str) -> str:
        body = found[type_][name]
        values = {
            "google_pubsub_topic": {"id": f"projects/{p}/topics/{body.get('name')}",
                                    "name": body.get("name")},
            "google_pubsub_subscription": {"name": body.get("name")},
            "google_bigquery_dataset": {"dataset_id": body.get("dataset_id")},
            "google_storage_bucket": {"name": body.get("name")},
            "google_service_account": {
                "email": f"{body.get('account_id')}@{p}.iam.gserviceaccount.com",
                "id": f"projects/{p}/serviceAccounts/{body.get('account_id')}@{p}.iam."
                      "gserviceaccount.com"},
            "google_project_iam_custom_role": {"name": f"projects/{p}/roles/{body.get('role_id')}"},
            "google_artifact_registry_repository": {"name": body.get("repository_id")},
            "google_workflows_workflow": {
                "id": f"projects/{p}/locations/{body.get('region')}/workflows/{body.get('name')}"},
        }[type_]
        return values[attr]

    def resolve(value):
        if isinstance(value, str):
            return REFERENCE.sub(lambda m: attribute(*m.groups()), value)
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return resolve


@pytest.fixture(params=ENVIRONMENTS)
def generated(request):
    environment = spec.load(request.param)
    files = terraform.files(environment)
    found = resources(files)
    return environment, files, found, resolver(environment, found)


def test_files_are_terraform_json_and_every_reference_resolves(generated, tmp_path):
    environment, files, found, _ = generated
    written = terraform.write(environment, tmp_path)
    assert sorted(p.name for p in written) == sorted(files)
    for path in written:
        assert path.name.endswith(".tf.json")
        content = json.loads(path.read_text())
        assert set(content) <= TOP_LEVEL, path
    text = json.dumps(files)
    for type_, name, _ in REFERENCE.findall(text):
        assert name in found.get(type_, {}) or name in (
            files.get("security.tf.json", {}).get("data", {}).get(type_, {})), (type_, name)
    for content in files.values():
        for group in content.get("resource", {}).values():
            for body in group.values():
                for dependency in body.get("depends_on", []):
                    type_, _, name = dependency.partition(".")
                    assert name in found[type_], dependency


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform binary on PATH")
def test_terraform_itself_reads_the_configuration(generated, tmp_path):
    """Where a Terraform binary is installed (without the google providers: `terraform
    validate` needs them), Terraform's own parser reads every file: block types, JSON shapes,
    check blocks. It refuses, say, an unknown top-level property."""
    environment, _, _, _ = generated
    terraform.write(environment, tmp_path)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1",
           "NO_COLOR": "1"}
    read = subprocess.run(["terraform", "providers"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=env)
    assert read.returncode == 0, read.stderr
    assert "hashicorp/google]" in read.stdout and "hashicorp/google-beta]" in read.stdout
    (tmp_path / "broken.tf.json").write_text(json.dumps({"resource": {}, "bogus": {}}))
    refused = subprocess.run(["terraform", "providers"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120, env=env)
    assert refused.returncode != 0 and "bogus" in refused.stderr


def test_no_service_account_key_is_ever_generated(generated):
    _, files, found, _ = generated
    assert "google_service_account_key" not in found
    assert "private_key" not in json.dumps(files)


def test_pubsub_resources_match_the_spec(generated):
    environment, _, found, resolve = generated
    topics = {b["name"]: b for b in found["google_pubsub_topic"].values()}
    assert set(topics) == {t.name for t in environment.topics}
    for t in environment.topics:
        body = topics[t.name]
        assert body.get("kms_key_name") == t.kms_key
        assert body["message_retention_duration"] == f"{t.message_retention}s"
        assert body["labels"]["managed-by"] == "streambench"
    subs = {b["name"]: resolve(b) for b in found["google_pubsub_subscription"].values()}
    assert set(subs) == {s.name for s in environment.subscriptions}
    for s in environment.subscriptions:
        body = subs[s.name]
        assert body["topic"] == environment.topic_path(s.topic)
        assert body["ack_deadline_seconds"] == s.ack_deadline_seconds
        assert body["message_retention_duration"] == f"{s.message_retention}s"
        assert body["expiration_policy"] == [{"ttl": ""}]  # "never" in every environment
        if s.dead_letter_topic:
            assert body["dead_letter_policy"] == [{
                "dead_letter_topic": environment.topic_path(s.dead_letter_topic),
                "max_delivery_attempts": s.max_delivery_attempts}]
            assert body["retry_policy"] == [{"minimum_backoff": f"{s.retry_min_backoff}s",
                                             "maximum_backoff": f"{s.retry_max_backoff}s"}]
        else:
            assert "dead_letter_policy" not in body


def test_bigquery_resources_match_the_spec(generated):
    environment, _, found, resolve = generated
    datasets = {b["dataset_id"]: b for b in found["google_bigquery_dataset"].values()}
    assert set(datasets) == {d.name for d in environment.datasets}
    tables = {(resolve(b)["dataset_id"], b["table_id"]): b
              for b in found["google_bigquery_table"].values()}
    assert set(tables) == {(t.dataset, t.name) for t in environment.tables()}
    for d in environment.datasets:
        body = datasets[d.name]
        assert body["location"] == d.location
        assert body.get("default_encryption_configuration") == (
            [{"kms_key_name": d.kms_key}] if d.kms_key else None)
        assert body["delete_contents_on_destroy"] is False
    for t in environment.tables():
        body = tables[(t.dataset, t.name)]
        assert json.loads(body["schema"]) == normalise_schema(t.schema)
        assert body["deletion_protection"] is environment.protected
        assert body.get("clustering") == (list(t.clustering) or None)
        if t.partitioning:
            part = body["time_partitioning"][0]
            assert part["type"] == t.partitioning["type"]
            assert part.get("field") == t.partitioning.get("field")
            expiration = t.partitioning.get("expiration")
            assert part.get("expiration_ms") == (expiration * 1000 if expiration else None)
        assert body.get("encryption_configuration") == (
            [{"kms_key_name": t.kms_key}] if t.kms_key else None)


def test_buckets_match_the_spec(generated):
    environment, _, found, _ = generated
    buckets = {b["name"]: b for b in found.get("google_storage_bucket", {}).values()}
    assert set(buckets) == {b.name for b in environment.buckets}
    for b in environment.buckets:
        body = buckets[b.name]
        assert body["uniform_bucket_level_access"] is True
        assert body["public_access_prevention"] == "enforced"
        assert body.get("encryption") == ([{"default_kms_key_name": b.kms_key}]
                                          if b.kms_key else None)
        if b.delete_after_days:
            assert body["lifecycle_rule"][0]["condition"] == [{"age": b.delete_after_days}]


def test_iam_members_are_exactly_the_computed_bindings(generated):
    environment, _, found, resolve = generated
    kinds = {
        "google_pubsub_topic_iam_member": ("pubsub_topic", "topic",
                                           lambda v: environment.topic_path(v)),
        "google_pubsub_subscription_iam_member": ("pubsub_subscription", "subscription",
                                                  lambda v: environment.subscription_path(v)),
        "google_bigquery_dataset_iam_member": ("bigquery_dataset", "dataset_id",
                                               lambda v: iam.dataset_resource(environment, v)),
        "google_storage_bucket_iam_member": ("storage_bucket", "bucket",
                                             lambda v: f"projects/_/buckets/{v}"),
        "google_project_iam_member": ("project", "project", lambda v: f"projects/{v}"),
        "google_kms_crypto_key_iam_member": ("kms_crypto_key", "crypto_key_id", lambda v: v),
    }
    lines = set()
    for type_, group in found.items():
        if not type_.endswith("_iam_member"):
            continue
        for body in group.values():
            body = resolve(body)
            if type_ == "google_artifact_registry_repository_iam_member":
                kind = "artifact_registry_repository"
                resource = (f"projects/{body['project']}/locations/{body['location']}/"
                            f"repositories/{body['repository']}")
            else:
                kind, key, full = kinds[type_]
                resource = full(body[key])
            lines.add(f"{kind} {resource} {body['role']} {body['member']}")
    assert lines == {b.line() for b in iam.bindings(environment)}


def test_alert_policies_parse_as_cloud_monitoring_alert_policies(generated):
    from google.cloud import monitoring_v3

    environment, _, found, _ = generated
    policies = found.get("google_monitoring_alert_policy", {})
    rules = [r for r in environment.alerts if "metric" in r]
    assert len(policies) == len(rules) == 3
    for rule in rules:
        body = dict(policies[rule["name"]])
        # Terraform's blocks are lists; the API's messages are not
        body["documentation"] = body["documentation"][0]
        body["conditions"] = [{**c, "condition_threshold": c["condition_threshold"][0]}
                              for c in body["conditions"]]
        policy = monitoring_v3.AlertPolicy.from_json(json.dumps(body))
        threshold = policy.conditions[0].condition_threshold
        assert f'metric.type = "{rule["metric"]}"' in threshold.filter
        assert threshold.threshold_value == rule["threshold"]
        assert threshold.comparison == monitoring_v3.ComparisonType.COMPARISON_GT
        assert policy.severity.name == rule["severity"]


def test_the_flex_template_job_runs_the_spec_pipeline(generated):
    environment, files, found, resolve = generated
    jobs = found.get("google_dataflow_flex_template_job", {})
    if environment.target != "gcp":
        assert jobs == {}
        return
    job = resolve(jobs["pipeline"])
    d = environment.pipeline.dataflow
    assert job["provider"] == "google-beta"
    assert job["parameters"] == template.launch_parameters(environment)
    assert job["container_spec_gcs_path"] == environment.template["spec_path"]
    assert job["service_account_email"] == environment.service_account_email("pipeline")
    assert job["ip_configuration"] == "WORKER_IP_PRIVATE"
    assert job["subnetwork"].endswith(d["subnetwork"])
    assert job["kms_key_name"] == d["kms_key"]
    assert job["temp_location"] == f"gs://{d['temp_bucket']}/tmp"
    assert job["on_delete"] == "drain"
    assert any(dep.startswith("google_project_iam_member.") for dep in job["depends_on"])


def test_audit_logging_vpc_sc_and_private_google_access(generated):
    environment, files, found, _ = generated
    audit = {b["service"]: b for b in found.get("google_project_iam_audit_config", {}).values()}
    assert set(audit) == set(environment.audit_data_access)
    for body in audit.values():
        assert [c["log_type"] for c in body["audit_log_config"]] == [
            "ADMIN_READ", "DATA_READ", "DATA_WRITE"]
    perimeter = found.get("google_access_context_manager_service_perimeter_resource", {})
    if environment.network.get("vpc_sc_perimeter"):
        assert perimeter["project"] == {
            "perimeter_name": environment.network["vpc_sc_perimeter"],
            "resource": f"projects/{environment.project_number}"}
    else:
        assert perimeter == {}
    if environment.target == "gcp":
        check = files["security.tf.json"]["check"]["private_google_access"]["assert"][0]
        assert "private_ip_google_access" in check["condition"]


def test_scheduled_snapshots(generated):
    environment, _, found, resolve = generated
    job = resolve(found["google_cloud_scheduler_job"]["snapshots"])
    assert job["schedule"] == "0 */6 * * *"
    assert job["http_target"][0]["oauth_token"][0]["service_account_email"] == \
        environment.service_account_email("snapshots")
    workflow = found["google_workflows_workflow"]["snapshots"]
    source = json.loads(workflow["source_contents"])
    create = source["main"]["steps"][1]["create"]
    assert create["call"] == "googleapis.pubsub.v1.projects.snapshots.create"
    assert create["args"]["body"]["subscription"] == environment.subscription_path(
        "events-pipeline")
    # Workflows' own ${...} is escaped from Terraform's interpolation
    assert "$${" in workflow["source_contents"]
