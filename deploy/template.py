"""The Dataflow Flex Template: ``metadata.json`` from the pipeline's options, the launcher image,
and the template spec file ``gcloud dataflow flex-template build`` would write.

Parameters come from the pipeline's own argument parser (``pipeline/options.py``): help text,
required or optional, and a validation regex from the option's choices, its type, or the resource
name it takes (Dataflow checks the regexes when a job is launched).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from deploy.spec import ROOT, Spec, pipeline_option_parser

ASSETS = Path(__file__).resolve().parent / "flex_template"
METADATA_FILE = ASSETS / "metadata.json"
DOCKERFILE = ASSETS / "Dockerfile"

#: Regexes (and Dataflow's parameter types) for options that name a resource.
FORMATS = {
    "input_subscription": (r"^(projects/[^/]+/subscriptions/)?[^/]+$", "PUBSUB_SUBSCRIPTION"),
    "output_table": (r"^[^:.]+[:.][^:.]+\.[^:.]+$", "BIGQUERY_TABLE"),
    "dead_letter_table": (r"^[^:.]+[:.][^:.]+\.[^:.]+$", "BIGQUERY_TABLE"),
    "reference_table": (r"^[^:.]+[:.][^:.]+\.[^:.]+$", "BIGQUERY_TABLE"),
    "reference_file": (r"^gs://[^/]+/.+$", "GCS_READ_FILE"),
}


def parameters() -> list[dict]:
    """One Flex Template parameter per pipeline option, in the parser's order."""
    from pipeline.options import REQUIRED

    out = []
    for action in pipeline_option_parser()._actions:
        if not action.option_strings:
            continue
        name = action.dest
        help_text = (action.help or "") % {"default": action.default}
        help_text = help_text.removeprefix("(required) ")
        param = {
            "name": name,
            "label": name.replace("_", " ").capitalize(),
            "helpText": help_text,
            "isOptional": name not in REQUIRED,
        }
        if name in FORMATS:
            param["regexes"] = [FORMATS[name][0]]
            param["paramType"] = FORMATS[name][1]
        elif action.choices:
            param["regexes"] = [f"^({'|'.join(action.choices)})$"]
            param["paramType"] = "TEXT"
        elif action.type is int:
            param["regexes"] = [r"^[0-9]+$"]
            param["paramType"] = "TEXT"
        else:
            raise ValueError(f"pipeline option --{name} has no regex for the Flex Template: add "
                             "it to deploy/template.py FORMATS")
        out.append(param)
    return out


def metadata() -> dict:
    return {
        "name": "streambench event pipeline",
        "description": "Pub/Sub -> parse -> validate -> enrich -> BigQuery (streaming inserts, "
                       "insertId = event_id), every failure to a dead-letter table with its "
                       "reason.",
        "streaming": True,
        "supportsAtLeastOnce": False,
        "supportsExactlyOnce": True,
        "defaultStreamingMode": "EXACTLY_ONCE",
        "parameters": parameters(),
    }


def metadata_json() -> str:
    return json.dumps(metadata(), indent=2) + "\n"


def template_spec(image: str) -> dict:
    """The Flex Template file (what ``gcloud dataflow flex-template build`` uploads)."""
    return {
        "image": image,
        "sdkInfo": {"language": "PYTHON"},
        "metadata": metadata(),
        "defaultEnvironment": {},
    }


def launch_parameters(spec: Spec) -> dict[str, str]:
    """The template parameters of an environment (``--key=value`` of its pipeline args)."""
    out = {}
    for arg in spec.pipeline_args():
        key, _, value = arg[2:].partition("=")
        out[key] = value
    return out


def launch_request(spec: Spec):
    """A ``LaunchFlexTemplateRequest`` (google-cloud-dataflow-client) for the environment: what
    ``gcloud dataflow flex-template run`` sends. Built and checked here; sent by nobody."""
    from google.cloud import dataflow_v1beta3 as dataflow

    d = spec.pipeline.dataflow
    environment = dataflow.FlexTemplateRuntimeEnvironment(
        service_account_email=spec.service_account_email(spec.pipeline.service_account),
        temp_location=f"gs://{d['temp_bucket']}/tmp" if d.get("temp_bucket") else "",
        staging_location=f"gs://{d['staging_bucket']}/staging" if d.get("staging_bucket")
        else "",
        subnetwork=d.get("subnetwork", ""),
        ip_configuration=dataflow.WorkerIPAddressConfiguration.WORKER_IP_PRIVATE
        if d.get("use_public_ips") is False else
        dataflow.WorkerIPAddressConfiguration.WORKER_IP_UNSPECIFIED,
        kms_key_name=d.get("kms_key") or "",
        machine_type=d.get("machine_type", ""),
        max_workers=d.get("max_workers", 0),
        enable_streaming_engine=d.get("enable_streaming_engine", False),
        additional_user_labels=spec.resource_labels({}),
    )
    return dataflow.LaunchFlexTemplateRequest(
        project_id=spec.project,
        location=spec.region,
        launch_parameter=dataflow.LaunchFlexTemplateParameter(
            job_name=d.get("job_name", "streambench-events"),
            container_spec_gcs_path=spec.template.get("spec_path", ""),
            parameters=launch_parameters(spec),
            environment=environment,
        ),
    )


@dataclass
class BuildResult:
    out: Path
    wheels: Path
    metadata: Path
    spec: Path | None = None
    image: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        lines = [f"wheels:   {self.wheels}", f"metadata: {self.metadata}"]
        if self.spec:
            lines.append(f"spec:     {self.spec}")
        lines.append(f"image:    {self.image}" if self.image else "image:    not built")
        return lines + self.notes


class BuildError(RuntimeError):
    """The template could not be built; one sentence."""


def docker_available() -> bool:
    """A Docker CLI that reaches an engine."""
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                           capture_output=True, text=True, timeout=30, check=False)
    return probe.returncode == 0 and bool(probe.stdout.strip())


def build_wheels(out: Path) -> Path:
    """This project and every dependency as wheels (pip, from the package index)."""
    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir",
                           str(wheels), str(ROOT)], check=False)
    if done.returncode != 0:
        raise BuildError(f"pip wheel failed (exit {done.returncode}); see its output above")
    return wheels


def build(out: Path, base_image: str | None = None, tag: str = "streambench-pipeline-launcher",
          environment: Spec | None = None, wheels: Path | None = None,
          image: bool = True) -> BuildResult:
    """Fill ``out`` (wheels/, main.py, Dockerfile, metadata.json[, template spec]) and build the
    image from it with ``docker build`` (unless ``image`` is False)."""
    out.mkdir(parents=True, exist_ok=True)
    if image and not docker_available():
        raise BuildError("no Docker engine answers (docker info failed): start one, or pass "
                         "--no-image to write the wheels, metadata and spec only")
    if wheels is None:
        wheels = build_wheels(out)
    elif wheels.resolve() != (out / "wheels").resolve():
        shutil.copytree(wheels, out / "wheels", dirs_exist_ok=True)
    ours = sorted((out / "wheels").glob("streambench-*.whl"))
    if not ours:
        raise BuildError(f"no streambench wheel in {out / 'wheels'}")
    shutil.copy(ASSETS / "main.py", out / "main.py")
    shutil.copy(DOCKERFILE, out / "Dockerfile")
    metadata_path = out / "metadata.json"
    metadata_path.write_text(metadata_json())
    result = BuildResult(out, out / "wheels", metadata_path)
    if environment is not None:
        remote = environment.template.get("image") or tag
        result.spec = out / f"template-spec-{environment.name}.json"
        result.spec.write_text(json.dumps(template_spec(remote), indent=2) + "\n")
    if image:
        argv = ["docker", "build", "--tag", tag, "--build-arg",
                f"STREAMBENCH_WHEEL={ours[-1].name}"]
        if base_image:
            argv += ["--build-arg", f"BASE_IMAGE={base_image}"]
        done = subprocess.run([*argv, str(out)], check=False)
        if done.returncode != 0:
            raise BuildError(f"docker build failed (exit {done.returncode}); see its output above")
        result.image = tag
    else:
        result.notes.append("(--no-image: build it with docker build --build-arg "
                            f"STREAMBENCH_WHEEL={ours[-1].name} --build-arg BASE_IMAGE=... "
                            f"{out})")
    return result
