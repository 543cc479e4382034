"""Least privilege, computed: no primitive roles, no data role on a project, every binding on the
narrowest resource, and the whole set equal to the reviewed expectation file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deploy import iam, spec

ENVIRONMENTS = ["local", "staging", "prod"]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_bindings_equal_the_reviewed_expectation_file(name):
    have = {b.line() for b in iam.bindings(spec.load(name))}
    want = iam.parse(iam.expected_file(name).read_text())
    assert sorted(have - want) == [], "computed but not reviewed"
    assert sorted(want - have) == [], "reviewed but no longer computed"


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_no_primitive_roles_and_no_project_wide_data_roles(name):
    environment = spec.load(name)
    for b in iam.bindings(environment):
        assert b.role not in iam.PRIMITIVE_ROLES, b
        if b.kind == "project":
            assert not b.role.startswith(iam.DATA_ROLE_PREFIXES), b
            custom = f"projects/{environment.project}/roles/{iam.SNAPSHOT_CREATOR_ROLE_ID}"
            assert b.role in iam.PROJECT_ROLES or b.role == custom, b
    # the one custom project-level role can create snapshots and nothing else
    assert iam.SNAPSHOT_CREATOR_PERMISSIONS == ("pubsub.snapshots.create",)


def test_each_account_gets_what_its_job_needs_on_its_own_resources():
    environment = spec.load("prod")
    by_member: dict[str, set[tuple[str, str]]] = {}
    for b in iam.bindings(environment):
        by_member.setdefault(b.member, set()).add((b.role, b.resource))
    p = "projects/streambench-prod"
    sa = "serviceAccount:{}@streambench-prod.iam.gserviceaccount.com"
    assert by_member[sa.format("events-pipeline")] == {
        ("roles/pubsub.subscriber", f"{p}/subscriptions/events-pipeline"),
        ("roles/pubsub.viewer", f"{p}/subscriptions/events-pipeline"),
        ("roles/bigquery.dataEditor", f"{p}/datasets/analytics"),
        ("roles/dataflow.worker", p),
        ("roles/storage.objectAdmin", "projects/_/buckets/streambench-prod-dataflow-temp"),
        ("roles/storage.objectAdmin", "projects/_/buckets/streambench-prod-dataflow-staging"),
        ("roles/artifactregistry.reader",
         f"{p}/locations/europe-west1/repositories/streambench"),
    }
    assert by_member[sa.format("events-ingest")] == {
        ("roles/pubsub.publisher", f"{p}/topics/events")}
    assert by_member["serviceAccount:checkout-events@checkout-prod.iam.gserviceaccount.com"] == {
        ("roles/pubsub.publisher", f"{p}/topics/events")}
    # Pub/Sub's documented dead-lettering roles, for its service agent
    agent = "serviceAccount:service-300000000003@gcp-sa-pubsub.iam.gserviceaccount.com"
    assert {(r, x) for r, x in by_member[agent] if r.startswith("roles/pubsub.")} == {
        ("roles/pubsub.publisher", f"{p}/topics/events-unprocessable"),
        ("roles/pubsub.subscriber", f"{p}/subscriptions/events-pipeline"),
    }


def test_a_reference_table_in_another_dataset_is_read_only(tmp_path):
    import shutil

    for path in spec.ENVIRONMENTS.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    with open(tmp_path / "local.toml", "a") as handle:
        handle.write('\n[[datasets]]\nname = "reference"\n[[datasets.tables]]\nname = "sources"\n'
                     'schema = [{ name = "source", type = "STRING" }]\n'
                     '[pipeline]\nreference_table = "reference.sources"\n')
    environment = spec.load("local", tmp_path)
    roles = {(b.role, b.resource) for b in iam.bindings(environment)
             if b.member.startswith("serviceAccount:events-pipeline@")}
    assert ("roles/bigquery.dataViewer", "projects/local-project/datasets/reference") in roles
    assert ("roles/bigquery.dataEditor", "projects/local-project/datasets/reference") not in roles


def test_the_cli_check_exits_1_on_a_difference(tmp_path, monkeypatch):
    ok = subprocess.run([sys.executable, "-m", "deploy", "iam", "--env", "prod", "--check"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    printed = subprocess.run([sys.executable, "-m", "deploy", "iam", "--env", "local"],
                             capture_output=True, text=True, timeout=60)
    assert "# Pub/Sub forwards dead letters of events-pipeline" in printed.stdout
    assert iam.parse(printed.stdout) == iam.parse(iam.expected_file("local").read_text())
