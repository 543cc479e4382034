"""The Kubernetes manifests and IAM commands of a staging load test: rendered and checked, never
applied (issue 22 item 3)."""

import subprocess
import sys

import pytest
import yaml

from loadtest.__main__ import check_distribution, parser, select_target
from loadtest.kubernetes import (
    IMAGE,
    MASTER_PORT,
    LoadDeployment,
    ManifestError,
    iam_commands,
    render,
    to_yaml,
)

STAGING = LoadDeployment("acme-staging", topic="clicks", table="web.clicks", workers=7,
                         image="europe-docker.pkg.dev/acme-staging/streambench/loadtest:1")


def by_kind(objects):
    out = {}
    for obj in objects:
        out.setdefault(obj["kind"], []).append(obj)
    return out


def pod(deployment):
    return deployment["spec"]["template"]["spec"]


def test_the_manifests_render_to_yaml_and_back():
    objects = render(STAGING)
    assert list(yaml.safe_load_all(to_yaml(objects))) == objects
    assert [o["kind"] for o in objects] == [
        "Namespace", "ServiceAccount", "Service", "NetworkPolicy", "Deployment", "Deployment"]
    assert all(o["metadata"].get("namespace", "loadtest") == "loadtest" for o in objects)


def test_one_master_and_the_worker_replicas_asked_for_each_selecting_its_own_pods():
    master, workers = by_kind(render(STAGING))["Deployment"]
    assert master["metadata"]["name"] == "streambench-loadtest-master"
    assert workers["metadata"]["name"] == "streambench-loadtest-worker"
    assert master["spec"]["replicas"] == 1
    assert workers["spec"]["replicas"] == 7
    assert render(LoadDeployment("acme-staging", workers=120))[-1]["spec"]["replicas"] == 120
    for deployment in (master, workers):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert deployment["spec"]["template"]["metadata"]["labels"] == selector
        (container,) = pod(deployment)["containers"]
        assert container["image"] == STAGING.image
        assert container["command"] == ["python", "-m", "loadtest"]
        assert not [e for e in container.get("env", []) if e["name"].endswith("EMULATOR_HOST")]
        assert container["securityContext"]["runAsNonRoot"] is True
    assert master["spec"]["selector"] != workers["spec"]["selector"]
    assert LoadDeployment("acme-staging").image == IMAGE


def test_the_workers_find_the_master_through_its_service_and_only_they_may():
    objects = by_kind(render(STAGING))
    (service,) = objects["Service"]
    master, workers = objects["Deployment"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == master["spec"]["selector"]["matchLabels"]
    (port,) = service["spec"]["ports"]
    (master_container,) = pod(master)["containers"]
    assert port["port"] == port["targetPort"] == MASTER_PORT
    assert master_container["ports"] == [{"name": "locust", "containerPort": MASTER_PORT}]
    worker_args = parser().parse_args(pod(workers)["containers"][0]["args"])
    assert worker_args.worker and worker_args.master_host == service["metadata"]["name"]
    assert worker_args.master_port == MASTER_PORT and worker_args.processes == 1
    (policy,) = objects["NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"] == master["spec"]["selector"]["matchLabels"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels":
                                             workers["spec"]["selector"]["matchLabels"]}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": MASTER_PORT}]


def test_the_master_runs_the_real_cli_against_the_staging_project_and_waits_for_every_worker():
    master = by_kind(render(STAGING))["Deployment"][0]
    args = parser().parse_args(pod(master)["containers"][0]["args"])
    check_distribution(args)  # the combination is one the CLI accepts
    assert args.master and args.workers == 7 and args.master_bind_host == "0.0.0.0"
    assert args.hold and args.reports == "/reports"
    target = select_target(args)
    assert target.kind == "gcp" and target.project == "acme-staging"
    assert target.topic == "projects/acme-staging/topics/clicks"
    assert target.events_table == "acme-staging.web.clicks"


def test_every_pod_runs_as_the_workload_identity_service_account():
    objects = by_kind(render(STAGING))
    (account,) = objects["ServiceAccount"]
    assert account["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account":
            "streambench-loadtest@acme-staging.iam.gserviceaccount.com"}
    for deployment in objects["Deployment"]:
        assert pod(deployment)["serviceAccountName"] == account["metadata"]["name"]


def test_publishing_is_granted_on_the_topic_only():
    commands = iam_commands(STAGING)
    member = "serviceAccount:streambench-loadtest@acme-staging.iam.gserviceaccount.com"
    grants = {c[c.index("--role") + 1] if "--role" in c else
              next(a.split("=", 1)[1] for a in c if a.startswith("--role=")): c
              for c in commands if "add-iam-policy-binding" in c}
    assert set(grants) == {"roles/pubsub.publisher", "roles/bigquery.dataViewer",
                           "roles/bigquery.jobUser", "roles/iam.workloadIdentityUser"}
    publisher = grants["roles/pubsub.publisher"]
    assert publisher[:5] == ["gcloud", "pubsub", "topics", "add-iam-policy-binding", "clicks"]
    assert member in publisher
    assert grants["roles/bigquery.dataViewer"][-1] == "acme-staging:web.clicks"
    # The only project-wide grant is the one BigQuery has no narrower scope for.
    project_wide = [c for c in commands if c[:3] == ["gcloud", "projects", "add-iam-policy-binding"]]
    assert project_wide == [grants["roles/bigquery.jobUser"]]
    identity = grants["roles/iam.workloadIdentityUser"]
    assert identity[identity.index("--member") + 1] == \
        "serviceAccount:acme-staging.svc.id.goog[loadtest/streambench-loadtest]"


@pytest.mark.parametrize(("fields", "sentence"), [
    ({"project": "Acme Staging"}, "--project"),
    ({"topic": "projects/x/topics/y"}, "--topic"),
    ({"table": "clicks"}, "--table"),
    ({"namespace": "Load_Test"}, "--namespace"),
    ({"image": "img; rm -rf /"}, "--image"),
    ({"workers": 0}, "--workers"),
    ({"run_time": "forever"}, "--run-time"),
])
def test_values_that_cannot_go_into_a_manifest_are_refused(fields, sentence):
    with pytest.raises(ManifestError, match=sentence):
        LoadDeployment(**{"project": "acme-staging", **fields})


def test_the_command_line_prints_manifests_and_refuses_in_one_sentence():
    ok = subprocess.run([sys.executable, "-m", "loadtest.kubernetes", "manifests", "--project",
                         "acme-staging", "--workers", "3"], capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert list(yaml.safe_load_all(ok.stdout))[-1]["spec"]["replicas"] == 3
    bad = subprocess.run([sys.executable, "-m", "loadtest.kubernetes", "iam", "--project", "X"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr == "error: --project must be a GCP project id\n"
