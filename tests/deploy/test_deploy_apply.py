"""plan -> apply -> apply (no-op) -> a manual change -> plan shows exactly it, against real
emulator processes (ours for Pub/Sub and BigQuery, gcp-storage-emulator for Cloud Storage),
through the real Google clients; IAM read back through each service's own API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import pytest
from google.protobuf import duration_pb2

from deploy import iam, plan, spec
from deploy.clients import Clients
from emulators.process import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack():
    pubsub = ServerProcess.emulator("pubsub")
    bigquery = ServerProcess.emulator("bigquery")
    yield pubsub, bigquery
    pubsub.stop()
    bigquery.stop()


@pytest.fixture
def local(stack):
    """The local environment under a fresh project, and clients of the emulators."""
    environment = spec.load("local", project=f"p-{uuid.uuid4().hex[:10]}")
    clients = Clients.for_emulators(environment.project, stack[0].address, stack[1].url)
    yield environment, clients
    clients.close()


def _summary(result: plan.Plan) -> list[tuple[str, str]]:
    return [(c.action, c.address) for c in result.changes]


def test_apply_provisions_everything_and_a_second_apply_is_a_no_op(local):
    environment, clients = local
    first = plan.make_plan(environment, clients)
    created = {c.resource.type for c in first.changes}
    assert {c.action for c in first.changes} == {"create"}
    assert {"google_pubsub_topic", "google_pubsub_subscription", "google_bigquery_dataset",
            "google_bigquery_table", "google_pubsub_subscription_iam_member",
            "google_pubsub_topic_iam_member", "google_bigquery_dataset_iam_member"} <= created
    done = plan.apply(environment, clients)
    assert _summary(done) == _summary(first)
    again = plan.apply(environment, clients)
    assert again.empty, plan.render(again)
    assert "No changes." in plan.render(plan.make_plan(environment, clients))

    # what the demo needs is there, as the spec says
    sub = clients.subscriber.get_subscription(
        subscription=environment.subscription_path("events-pipeline"))
    assert sub.topic == environment.topic_path("events")
    assert sub.dead_letter_policy.dead_letter_topic == environment.topic_path(
        "events-unprocessable")
    assert sub.dead_letter_policy.max_delivery_attempts == 10
    assert sub.ack_deadline_seconds == 60
    assert sub.labels["managed-by"] == "streambench"
    events = clients.bigquery.get_table(f"{environment.project}.analytics.events")
    assert events.time_partitioning.field == "event_date"
    assert events.clustering_fields == ["source", "event_id"]
    assert events.encryption_configuration.kms_key_name.endswith("/cryptoKeys/bigquery")
    rows = list(clients.bigquery.list_rows(f"{environment.project}.analytics.sources"))
    assert sorted(r["source"] for r in rows) == ["checkout", "iot", "web"]


def test_iam_policies_read_back_equal_the_computed_bindings(local):
    environment, clients = local
    plan.apply(environment, clients)
    wanted = {(b.resource, b.role, b.member) for b in iam.bindings(environment)
              if b.kind in ("pubsub_topic", "pubsub_subscription", "bigquery_dataset")}
    found = set()
    for topic in environment.topics:
        name = environment.topic_path(topic.name)
        policy = clients.publisher.get_iam_policy(request={"resource": name})
        found |= {(name, b.role, m) for b in policy.bindings for m in b.members}
    for sub in environment.subscriptions:
        name = environment.subscription_path(sub.name)
        policy = clients.subscriber.get_iam_policy(request={"resource": name})
        found |= {(name, b.role, m) for b in policy.bindings for m in b.members}
    dataset = clients.bigquery.get_dataset(f"{environment.project}.analytics")
    resource = iam.dataset_resource(environment, "analytics")
    found |= {(resource, e.role, f"serviceAccount:{e.entity_id}") for e in dataset.access_entries}
    assert found == wanted
    agent = f"serviceAccount:service-{environment.project_number}@gcp-sa-pubsub.iam." \
            "gserviceaccount.com"
    assert (environment.topic_path("events-unprocessable"), "roles/pubsub.publisher",
            agent) in found
    assert (environment.subscription_path("events-pipeline"), "roles/pubsub.subscriber",
            agent) in found


def test_a_manual_change_shows_as_exactly_that_change(local):
    environment, clients = local
    plan.apply(environment, clients)
    name = environment.subscription_path("events-pipeline")
    clients.subscriber.update_subscription(request={
        "subscription": {"name": name, "ack_deadline_seconds": 30},
        "update_mask": {"paths": ["ack_deadline_seconds"]},
    })
    drift = plan.make_plan(environment, clients)
    assert [(c.action, c.address, c.diffs) for c in drift.changes] == [
        ("update", "google_pubsub_subscription.events-pipeline",
         [("ack_deadline_seconds", 30, 60)])]
    text = plan.render(drift)
    assert "~ ack_deadline_seconds" in text and "30 -> 60" in text
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in text
    plan.apply(environment, clients)
    assert plan.make_plan(environment, clients).empty


def test_drift_in_retry_labels_tables_and_iam_is_found_and_repaired(local):
    environment, clients = local
    plan.apply(environment, clients)
    sub = environment.subscription_path("events-pipeline")
    clients.subscriber.update_subscription(request={
        "subscription": {"name": sub, "retry_policy": {
            "minimum_backoff": duration_pb2.Duration(seconds=5),
            "maximum_backoff": duration_pb2.Duration(seconds=60)}},
        "update_mask": {"paths": ["retry_policy"]},
    })
    table = clients.bigquery.get_table(f"{environment.project}.analytics.events")
    table.clustering_fields = ["source"]
    clients.bigquery.update_table(table, ["clustering_fields"])
    # someone grants the pipeline more than it needs, and removes the ingest edge's role
    topic = environment.topic_path("events")
    policy = clients.publisher.get_iam_policy(request={"resource": topic})
    worker = f"serviceAccount:{environment.service_account_email('pipeline')}"
    del policy.bindings[:]
    policy.bindings.add(role="roles/pubsub.publisher", members=[worker])
    policy.bindings.add(role="roles/pubsub.publisher", members=["user:someone@example.com"])
    clients.publisher.set_iam_policy(request={"resource": topic, "policy": policy})

    drift = plan.make_plan(environment, clients)
    assert sorted((c.action, c.address) for c in drift.changes) == sorted([
        ("update", "google_pubsub_subscription.events-pipeline"),
        ("update", "google_bigquery_table.analytics_events"),
        ("create", "google_pubsub_topic_iam_member.events_pubsub_publisher_events-ingest_"
                   f"{environment.project}"),
        ("delete", "google_pubsub_topic_iam_member.events_pubsub_publisher_events-pipeline_"
                   f"{environment.project}"),
    ])
    by_address = {c.address: c for c in drift.changes}
    assert by_address["google_pubsub_subscription.events-pipeline"].diffs == [
        ("retry_policy", {"minimum_backoff": 5, "maximum_backoff": 60},
         {"minimum_backoff": 1, "maximum_backoff": 60})]
    assert by_address["google_bigquery_table.analytics_events"].diffs == [
        ("clustering", ["source"], ["source", "event_id"])]
    plan.apply(environment, clients)
    assert plan.make_plan(environment, clients).empty
    members = {m for b in clients.publisher.get_iam_policy(request={"resource": topic}).bindings
               for m in b.members}
    # the stranger's binding is not the spec's business: left alone
    assert "user:someone@example.com" in members and worker not in members


def test_an_incompatible_change_is_a_replacement(local):
    environment, clients = local
    plan.apply(environment, clients)
    sub = environment.subscription_path("events-unprocessable-hold")
    clients.subscriber.delete_subscription(subscription=sub)
    clients.subscriber.create_subscription(request={
        "name": sub, "topic": environment.topic_path("events"),
        "labels": environment.managed_labels()})
    drift = plan.make_plan(environment, clients)
    replaced = [c for c in drift.changes if c.action == "replace"]
    assert [c.address for c in replaced] == [
        "google_pubsub_subscription.events-unprocessable-hold"]
    assert "topic" in replaced[0].forces
    assert "# forces replacement" in plan.render(drift)
    plan.apply(environment, clients)
    assert plan.make_plan(environment, clients).empty


def test_what_the_spec_no_longer_has_is_deleted_and_destroy_removes_the_rest(local, tmp_path):
    environment, clients = local
    plan.apply(environment, clients)
    # a resource this environment owns (its labels) that the spec does not list
    extra = environment.topic_path("left-over")
    clients.publisher.create_topic(request={"name": extra,
                                            "labels": environment.managed_labels()})
    unowned = environment.topic_path("not-ours")
    clients.publisher.create_topic(request={"name": unowned})
    drift = plan.make_plan(environment, clients)
    assert _summary(drift) == [("delete", "google_pubsub_topic.left-over")]
    plan.apply(environment, clients)
    doomed = plan.make_plan(environment, clients, destroy=True)
    assert {c.action for c in doomed.changes} == {"delete"}
    plan.destroy(environment, clients)
    topics = [t.name for t in clients.publisher.list_topics(
        request={"project": f"projects/{environment.project}"})]
    assert topics == [unowned]
    assert list(clients.bigquery.list_datasets(environment.project)) == []


def test_a_protected_environment_refuses_data_loss(local):
    environment, clients = local
    plan.apply(environment, clients)
    guarded = environment.__class__(**{**environment.__dict__, "protected": True})
    clients.publisher.create_topic(request={"name": environment.topic_path("stale"),
                                            "labels": environment.managed_labels()})
    with pytest.raises(plan.DeployError, match="protected and this apply would delete or "
                                               "replace google_pubsub_topic.stale"):
        plan.apply(guarded, clients)
    with pytest.raises(plan.DeployError, match="destroy needs --i-know"):
        plan.destroy(guarded, clients)
    assert plan.apply(guarded, clients, allow_destroy=True).changes[0].action == "delete"


def test_buckets_and_their_iam_on_a_cloud_storage_emulator(stack, local, tmp_path):
    pytest.importorskip("gcp_storage_emulator")
    from emulators.process import free_port

    environment, _ = local
    port = free_port()
    storage = ServerProcess(
        [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
         "--port", str(port), "--in-memory"],
        ready=re.compile(r"All services started"),
        address=f"127.0.0.1:{port}", name="gcs", log_path=tmp_path / "gcs.log",
    ).start()
    try:
        clients = Clients.for_emulators(environment.project, stack[0].address, stack[1].url,
                                        storage.url)
        first = plan.make_plan(environment, clients)
        assert ("create", "google_storage_bucket.local-project-dataflow-temp") in _summary(first)
        plan.apply(environment, clients)
        assert plan.make_plan(environment, clients).empty, plan.render(
            plan.make_plan(environment, clients))
        bucket = clients.storage.get_bucket("local-project-dataflow-temp")
        policy = bucket.get_iam_policy(requested_policy_version=3)
        worker = f"serviceAccount:{environment.service_account_email('pipeline')}"
        assert {"role": "roles/storage.objectAdmin", "members": {worker}} in [
            {"role": b["role"], "members": set(b["members"])} for b in policy.bindings]
        plan.destroy(environment, clients)
        assert clients.storage.lookup_bucket("local-project-dataflow-temp") is None
        clients.close()
    finally:
        storage.stop()


def test_the_cli_plans_and_applies_the_local_environment(stack, tmp_path):
    project = f"p-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "PUBSUB_EMULATOR_HOST": stack[0].address,
           "BIGQUERY_EMULATOR_HOST": stack[1].url}
    env.pop("STORAGE_EMULATOR_HOST", None)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "deploy", *args, "--env", "local",
                               "--project", project], env=env, capture_output=True, text=True,
                              timeout=120)

    planned = run("plan")
    assert planned.returncode == 0, planned.stderr
    assert "# google_pubsub_topic.events will be created" in planned.stdout
    assert "Not managed on this target:" in planned.stdout
    applied = run("apply")
    assert applied.returncode == 0, applied.stderr
    again = run("plan")
    assert "No changes. The target matches the spec." in again.stdout
    gone = run("destroy")
    assert gone.returncode == 0 and "will be destroyed" in gone.stdout


def test_harness_up_provisions_an_emulator_environment_through_deploy(tmp_path):
    """``python -m harness up --env local``: the stack provisioned by the code path staging and
    production use; a plan right after finds nothing to change. A Google Cloud environment is
    refused before anything starts."""
    from tests.support.cli import exports, harness, one_sentence

    refused = harness("up", "--env", "prod", state_dir=tmp_path / "refused")
    assert refused.returncode == 2
    assert "environment 'prod' targets Google Cloud" in one_sentence(refused)
    assert not (tmp_path / "refused" / "logs").exists()

    up = harness("up", "--env", "local", state_dir=tmp_path / "local")
    assert up.returncode == 0, up.stderr
    try:
        assert "provisioned environment local (project local-project)" in up.stderr
        env = {**os.environ, **exports(up.stdout)}
        planned = subprocess.run([sys.executable, "-m", "deploy", "plan", "--env", "local"],
                                 env=env, capture_output=True, text=True, timeout=120)
        assert planned.returncode == 0, planned.stderr
        assert "No changes. The target matches the spec." in planned.stdout
        status = harness("status", state_dir=tmp_path / "local")
        assert "events-unprocessable-hold (topic events-unprocessable)" in status.stdout
    finally:
        harness("down", state_dir=tmp_path / "local")
