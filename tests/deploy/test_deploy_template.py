"""The Dataflow Flex Template: metadata from the pipeline's options, the launch request, the build,
and the launcher image running the pipeline against the containerised stack (Docker only)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import pytest

from deploy import spec, template
from deploy.clients import Clients
from pipeline.options import REQUIRED


def test_committed_metadata_is_up_to_date():
    assert template.METADATA_FILE.read_text() == template.metadata_json(), \
        "run: python -m deploy template metadata --write"
    done = subprocess.run([sys.executable, "-m", "deploy", "template", "metadata", "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_pipeline_option_is_a_parameter_with_help_and_a_regex():
    parser = spec.pipeline_option_parser()
    options = {a.dest for a in parser._actions if a.option_strings}
    params = {p["name"]: p for p in template.metadata()["parameters"]}
    assert set(params) == options
    for name, param in params.items():
        assert param["helpText"] and "%(" not in param["helpText"]
        assert param["regexes"]
        assert param["isOptional"] is (name not in REQUIRED)
    assert params["log_format"]["regexes"] == ["^(text|json)$"]
    assert params["max_event_bytes"]["helpText"].endswith("(default: 1048576).")


@pytest.mark.parametrize("name", ["local", "staging", "prod"])
def test_the_environments_parameters_pass_the_regexes(name):
    params = {p["name"]: p for p in template.metadata()["parameters"]}
    for key, value in template.launch_parameters(spec.load(name)).items():
        assert any(re.fullmatch(r, value) for r in params[key]["regexes"]), (key, value)


@pytest.mark.parametrize("key, value", [
    ("input_subscription", "projects/p/topics/events"),
    ("input_subscription", "projects/p/subscriptions/"),
    ("output_table", "analytics.events"),
    ("reference_file", "/etc/passwd"),
    ("create_tables", "always"),
    ("max_event_bytes", "1e6"),
])
def test_the_regexes_refuse_what_the_pipeline_would_refuse(key, value):
    params = {p["name"]: p for p in template.metadata()["parameters"]}
    assert not any(re.fullmatch(r, value) for r in params[key]["regexes"])


def test_the_launch_request_carries_the_security_settings():
    request = template.launch_request(spec.load("prod"))
    env = request.launch_parameter.environment
    assert env.ip_configuration.name == "WORKER_IP_PRIVATE"
    assert env.subnetwork == "regions/europe-west1/subnetworks/dataflow"
    assert env.kms_key_name.endswith("/cryptoKeys/dataflow")
    assert env.service_account_email == "events-pipeline@streambench-prod.iam.gserviceaccount.com"
    assert request.launch_parameter.container_spec_gcs_path.startswith("gs://streambench-prod-")
    assert request.launch_parameter.parameters["log_format"] == "json"


def test_build_without_an_image_writes_the_context_and_the_template_spec(tmp_path):
    wheels = tmp_path / "prebuilt"
    wheels.mkdir()
    (wheels / "streambench-0.1.0-py3-none-any.whl").write_bytes(b"not really a wheel")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "deploy", "template", "build", "--no-image", "--env", "staging",
         "--wheels", str(wheels), "--out", str(out)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == {
        "wheels", "main.py", "Dockerfile", "metadata.json", "template-spec-staging.json"}
    spec_file = json.loads((out / "template-spec-staging.json").read_text())
    assert spec_file["image"] == spec.load("staging").template["image"]
    assert spec_file["sdkInfo"] == {"language": "PYTHON"}
    assert spec_file["metadata"] == template.metadata()
    assert "STREAMBENCH_WHEEL=streambench-0.1.0-py3-none-any.whl" in done.stdout


def test_build_with_an_image_but_no_engine_is_one_sentence(tmp_path):
    if template.docker_available():
        pytest.skip("a Docker engine answers here")
    done = subprocess.run([sys.executable, "-m", "deploy", "template", "build", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: no Docker engine answers (docker info failed): start one, or pass --no-image to "
        "write the wheels, metadata and spec only"]


def test_the_dockerfile_installs_only_from_the_host_built_wheels():
    text = template.DOCKERFILE.read_text()
    assert "ARG BASE_IMAGE=" in text and "FROM ${BASE_IMAGE}" in text
    assert "--no-index --find-links /template/wheels" in text
    assert "ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py" in text


# -- the image, run as the launcher runs it, against the containerised stack --------------------


def _base_image() -> str | None:
    """A Python 3.11 image with pip the engine already has (nothing is pulled here):
    ``python -m harness images --python`` builds streambench-python:local from a local base."""
    for candidate in filter(None, (os.environ.get("STREAMBENCH_TEMPLATE_BASE_IMAGE"),
                                   "python:3.11-slim", "python:3.11", "streambench-python:local")):
        found = subprocess.run(["docker", "image", "inspect", candidate], capture_output=True,
                               timeout=30, check=False)
        if found.returncode == 0:
            return candidate
    return None


@pytest.mark.containers
@pytest.mark.e2e
@pytest.mark.slow
def test_the_launcher_image_runs_the_pipeline_against_the_containerised_stack(tmp_path):
    if not template.docker_available():
        pytest.skip("no Docker engine")
    base = _base_image()
    if base is None:
        pytest.skip("no local Python 3.11 image with pip: python -m harness images --python")
    from harness.stack import Stack
    from harness.traffic import publish, wait_for_rows
    from pipeline import samples

    tag = f"streambench-launcher-test:{uuid.uuid4().hex[:8]}"
    template.build(tmp_path / "build", base_image=base, tag=tag)
    environment = spec.load("local", project=f"p-{uuid.uuid4().hex[:10]}")
    container = f"streambench-launcher-{uuid.uuid4().hex[:8]}"
    with Stack(backend="docker") as stack:
        endpoints = stack.endpoints
        clients = Clients.for_emulators(environment.project, endpoints.pubsub,
                                        endpoints.bigquery)
        from deploy import plan

        plan.apply(environment, clients)
        image_env = json.loads(subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .Config.Env}}", tag],
            capture_output=True, text=True, check=True, timeout=30).stdout)
        py_file = next(v.split("=", 1)[1] for v in image_env
                       if v.startswith("FLEX_TEMPLATE_PYTHON_PY_FILE="))
        # what Google's launcher does: python $FLEX_TEMPLATE_PYTHON_PY_FILE --param=value ...
        run = subprocess.Popen(
            ["docker", "run", "--rm", "--name", container, "--network", "host",
             "-e", f"PUBSUB_EMULATOR_HOST={endpoints.pubsub}",
             "-e", f"BIGQUERY_EMULATOR_HOST={endpoints.bigquery}",
             "-e", f"GOOGLE_CLOUD_PROJECT={environment.project}",
             "--entrypoint", "python", tag, py_file, *environment.pipeline_args()],
            stdout=open(tmp_path / "launcher.log", "w"), stderr=subprocess.STDOUT)
        try:
            # the subscription exists already: what is published waits for the pipeline
            events = [samples.encode(samples.valid_event(event_id=f"launcher-{i}"))
                      for i in range(20)]
            publish(clients.publisher, environment.topic_path("events"), events)
            rows = wait_for_rows(clients.bigquery, f"{environment.project}.analytics.events",
                                 20, timeout=180)
            assert rows == 20, (tmp_path / "launcher.log").read_text()[-3000:]
        finally:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60)
            run.wait(timeout=60)
            clients.close()
            subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=60)
