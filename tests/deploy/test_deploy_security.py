"""The seed's security bullets as checks on the spec (deploy/SECURITY.md maps each to its test)."""

from __future__ import annotations

import json
import shutil

import pytest

from deploy import iam, spec, terraform
from deploy.clients import Clients, TargetError

GCP = ["staging", "prod"]


@pytest.fixture
def envdir(tmp_path):
    for path in spec.ENVIRONMENTS.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


@pytest.mark.parametrize("field", ["create_key", "key", "keys", "key_file", "private_key"])
def test_a_service_account_key_is_refused(envdir, field):
    with open(envdir / "prod.toml", "a") as handle:
        handle.write(f"\n[service_accounts.pipeline]\n{field} = true\n")
    with pytest.raises(spec.SpecError) as caught:
        spec.load("prod", envdir)
    assert caught.value.errors == [
        f"{envdir / 'prod.toml'}: service_accounts.pipeline.{field}: service-account keys are "
        "not allowed: the pipeline runs as an attached service account and CI uses workload "
        "identity federation (deploy/SECURITY.md)."]


@pytest.mark.parametrize("name", ["local", *GCP])
def test_every_workload_runs_as_its_own_service_account(name):
    environment = spec.load(name)
    used = {environment.pipeline.service_account, environment.ingest.service_account,
            environment.snapshots.service_account}
    assert len(used) == 3  # no account shared between two jobs
    assert used == set(environment.service_accounts)


@pytest.mark.parametrize("name", GCP)
def test_gcp_environments_encrypt_everything_with_their_own_keys(name):
    environment = spec.load(name)
    assert environment.key_ring
    assert all(t.kms_key for t in environment.topics)
    assert all(d.kms_key for d in environment.datasets)
    assert all(t.kms_key for t in environment.tables())
    assert all(b.kms_key for b in environment.buckets)
    assert environment.pipeline.dataflow["kms_key"]
    agents = {b.member for b in iam.bindings(environment) if b.kind == "kms_crypto_key"}
    n = environment.project_number
    assert agents == {
        f"serviceAccount:service-{n}@gcp-sa-pubsub.iam.gserviceaccount.com",
        f"serviceAccount:bq-{n}@bigquery-encryption.iam.gserviceaccount.com",
        f"serviceAccount:service-{n}@gs-project-accounts.iam.gserviceaccount.com",
        f"serviceAccount:service-{n}@dataflow-service-producer-prod.iam.gserviceaccount.com",
        f"serviceAccount:service-{n}@compute-system.iam.gserviceaccount.com",
    }


@pytest.mark.parametrize("name", GCP)
def test_gcp_environments_audit_data_access_and_keep_workers_off_public_ips(name):
    environment = spec.load(name)
    assert set(environment.audit_data_access) >= {
        "pubsub.googleapis.com", "bigquery.googleapis.com", "storage.googleapis.com"}
    dataflow = environment.pipeline.dataflow
    assert dataflow["use_public_ips"] is False and dataflow["subnetwork"]
    assert environment.network["private_google_access"] is True


def test_production_is_inside_a_vpc_service_controls_perimeter_and_protected():
    prod = spec.load("prod")
    assert prod.network["vpc_sc_perimeter"].startswith("accessPolicies/")
    assert prod.protected


@pytest.mark.parametrize("name", ["local", *GCP])
def test_nothing_is_public(name):
    environment = spec.load(name)
    members = {b.member for b in iam.bindings(environment)}
    assert not members & {"allUsers", "allAuthenticatedUsers"}
    text = json.dumps(terraform.files(environment))
    assert "allUsers" not in text and "allAuthenticatedUsers" not in text
    for bucket in terraform.files(environment).get("storage.tf.json", {}).get(
            "resource", {}).get("google_storage_bucket", {}).values():
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["public_access_prevention"] == "enforced"


def test_a_public_producer_is_refused(envdir):
    with open(envdir / "prod.toml", "a") as handle:
        handle.write('\n[[producers]]\nname = "anyone"\nmember = "allUsers"\ntopic = "events"\n')
    with pytest.raises(spec.SpecError) as caught:
        spec.load("prod", envdir)
    assert caught.value.errors == [
        f"{envdir / 'prod.toml'}: producers[anyone].member: 'allUsers' is not an IAM member like "
        "serviceAccount:NAME@PROJECT.iam.gserviceaccount.com or group:TEAM@example.com."]


@pytest.mark.parametrize("variable", ["PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST",
                                      "STORAGE_EMULATOR_HOST"])
def test_gcp_clients_refuse_an_emulator_variable(monkeypatch, variable):
    """Google's clients speak TLS to *.googleapis.com unless an emulator variable redirects
    them to plaintext: a gcp environment refuses to start with one set."""
    for name in ("PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)  # other tests of the session may set them
    monkeypatch.setenv(variable, "127.0.0.1:1")
    with pytest.raises(TargetError, match=f"{variable} is set"):
        Clients.for_gcp("streambench-prod")
