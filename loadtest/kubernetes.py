"""Kubernetes manifests and IAM commands for a distributed load test against a staging project.

    python -m loadtest.kubernetes manifests --project P --workers 20 --image IMAGE > load.yaml
    python -m loadtest.kubernetes iam --project P        # the gcloud / bq commands, one a line

Rendered here, never applied here: a namespace, a Kubernetes service account bound by Workload
Identity to a Google service account, the Locust master (a Deployment of one pod running
``python -m loadtest --master --target gcp``, then holding its reports for ``kubectl cp``) with
a ClusterIP Service, a worker Deployment of ``--workers`` replicas (one worker process and one
core each, ``python -m loadtest --worker``: every setting comes from the master), and a
NetworkPolicy that lets only the workers reach the master's port (Locust's master-worker channel
has no authentication). The Google service account gets ``roles/pubsub.publisher`` on the topic
only; the probe reads the events table (``roles/bigquery.dataViewer`` on that table only) with
query jobs (``roles/bigquery.jobUser``, which exists only at project level).
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from dataclasses import dataclass

import yaml

from loadtest.shapes import KINDS as SHAPES
from loadtest.shapes import parse_duration

IMAGE = "streambench-loadtest:local"  # see loadtest/Dockerfile; push it where GKE can pull it
MASTER_PORT = 5557
APP = "streambench-loadtest"
REPORTS = "/reports"

_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_TOPIC = re.compile(r"[A-Za-z][\w.~+%-]{2,254}")
_DATASET_TABLE = re.compile(r"\w{1,1024}\.[\w-]{1,1024}")
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_IMAGE = re.compile(r"[\w][\w.\-/:@]{0,254}")


class ManifestError(ValueError):
    """A value that cannot go into the manifests; the message says which and why."""


@dataclass(frozen=True)
class LoadDeployment:
    """One distributed load test against ``project``: what the manifests are rendered from."""

    project: str
    topic: str = "events"
    table: str = "analytics.events"
    workers: int = 4
    image: str = IMAGE
    namespace: str = "loadtest"
    service_account: str = "streambench-loadtest"  # both the Kubernetes and the Google one
    run_time: str = "10m"
    users: int = 200
    user_rate: float = 1.0
    events_per_task: int = 5
    shape: str = "steady"
    worker_cpu: str = "1"

    def __post_init__(self):
        checks = [
            (_PROJECT.fullmatch(self.project), "--project must be a GCP project id"),
            (_TOPIC.fullmatch(self.topic) and not self.topic.startswith("goog"),
             "--topic must be a Pub/Sub topic name (not a path)"),
            (_DATASET_TABLE.fullmatch(self.table), "--table must be dataset.table"),
            (_DNS_LABEL.fullmatch(self.namespace), "--namespace must be a DNS label"),
            (_DNS_LABEL.fullmatch(self.service_account) and 6 <= len(self.service_account) <= 30,
             "--service-account must be 6-30 lowercase letters, digits and hyphens"),
            (_IMAGE.fullmatch(self.image), "--image must be an image reference"),
            (self.workers >= 1, "--workers needs at least 1 replica"),
            (self.users >= 1, "--users needs at least 1 user"),
            (self.shape in SHAPES, f"--shape must be one of {', '.join(SHAPES)}"),
        ]
        for ok, sentence in checks:
            if not ok:
                raise ManifestError(sentence)
        try:
            parse_duration(self.run_time)
        except ValueError as exc:
            raise ManifestError(f"--run-time: {exc}") from None

    @property
    def google_service_account(self) -> str:
        return f"{self.service_account}@{self.project}.iam.gserviceaccount.com"

    @property
    def master_service(self) -> str:
        return f"{APP}-master"

    def labels(self, role: str) -> dict[str, str]:
        return {"app": APP, "role": role}


def _container(name: str, image: str, args: list[str], **extra) -> dict:
    return {
        "name": name,
        "image": image,
        "command": ["python", "-m", "loadtest"],
        "args": args,
        "env": [{"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"}],
        # No emulator variable can reach these pods: the clients go to Google, with the
        # Workload Identity credentials of the service account.
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        **extra,
    }


def _deployment(d: LoadDeployment, role: str, replicas: int, container: dict,
                volumes: list[dict] | None = None) -> dict:
    labels = d.labels(role)
    spec = {"serviceAccountName": d.service_account, "containers": [container]}
    if volumes:
        spec["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{APP}-{role}", "namespace": d.namespace, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                 "template": {"metadata": {"labels": dict(labels)}, "spec": spec}},
    }


def render(d: LoadDeployment) -> list[dict]:
    """Every Kubernetes object of the load test, in the order ``kubectl apply`` needs them."""
    master_args = [
        "--master", "--workers", str(d.workers), "--master-bind-host", "0.0.0.0",
        "--master-port", str(MASTER_PORT), "--target", "gcp", "--project", d.project,
        "--topic", d.topic, "--table", d.table, "--run-time", d.run_time,
        "--users", str(d.users), "--user-rate", str(d.user_rate),
        "--events-per-task", str(d.events_per_task), "--shape", d.shape,
        "--reports", REPORTS, "--name", "staging", "--hold", "--workers-wait", "600",
    ]
    master = _container(
        "master", d.image, master_args,
        ports=[{"name": "locust", "containerPort": MASTER_PORT}],
        volumeMounts=[{"name": "reports", "mountPath": REPORTS},
                      {"name": "tmp", "mountPath": "/tmp"}],
        resources={"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    )
    worker = _container(
        "worker", d.image,
        ["--worker", "--master-host", d.master_service, "--master-port", str(MASTER_PORT),
         "--processes", "1"],
        volumeMounts=[{"name": "tmp", "mountPath": "/tmp"}],
        resources={"requests": {"cpu": d.worker_cpu, "memory": "512Mi"},
                   "limits": {"memory": "1Gi"}},
    )
    empty = [{"name": "tmp", "emptyDir": {}}]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": d.namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": d.service_account, "namespace": d.namespace,
                      "annotations": {"iam.gke.io/gcp-service-account":
                                      d.google_service_account}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": d.master_service, "namespace": d.namespace,
                      "labels": d.labels("master")},
         "spec": {"type": "ClusterIP", "selector": d.labels("master"),
                  "ports": [{"name": "locust", "port": MASTER_PORT,
                             "targetPort": MASTER_PORT}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": f"{APP}-master-from-workers", "namespace": d.namespace},
         "spec": {"podSelector": {"matchLabels": d.labels("master")},
                  "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"podSelector": {"matchLabels": d.labels("worker")}}],
                               "ports": [{"protocol": "TCP", "port": MASTER_PORT}]}]}},
        _deployment(d, "master", 1, master, [{"name": "reports", "emptyDir": {}}, *empty]),
        _deployment(d, "worker", d.workers, worker, empty),
    ]


def iam_commands(d: LoadDeployment) -> list[list[str]]:
    """The Google side: the service account, its three grants (each as narrow as it exists), and
    the Workload Identity binding of the Kubernetes service account to it."""
    member = f"serviceAccount:{d.google_service_account}"
    return [
        ["gcloud", "iam", "service-accounts", "create", d.service_account,
         "--project", d.project, "--display-name", "streambench load test"],
        ["gcloud", "pubsub", "topics", "add-iam-policy-binding", d.topic,
         "--project", d.project, "--member", member, "--role", "roles/pubsub.publisher"],
        ["bq", "add-iam-policy-binding", f"--member={member}",
         "--role=roles/bigquery.dataViewer", f"{d.project}:{d.table}"],
        ["gcloud", "projects", "add-iam-policy-binding", d.project, "--member", member,
         "--role", "roles/bigquery.jobUser", "--condition", "None"],
        ["gcloud", "iam", "service-accounts", "add-iam-policy-binding",
         d.google_service_account, "--project", d.project,
         "--role", "roles/iam.workloadIdentityUser",
         "--member", f"serviceAccount:{d.project}.svc.id.goog[{d.namespace}/{d.service_account}]"],
    ]


def to_yaml(objects: list[dict]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest.kubernetes",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("manifests", "iam"))
    p.add_argument("--project", required=True, help="the staging project (never implied)")
    defaults = LoadDeployment("placeholder")
    for name in ("topic", "table", "workers", "image", "namespace", "service_account",
                 "run_time", "users", "user_rate", "events_per_task", "shape", "worker_cpu"):
        default = getattr(defaults, name)
        p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default,
                       help="default: %(default)s")
    return p


def main(argv: list[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    what = args.pop("what")
    try:
        deployment = LoadDeployment(**args)
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if what == "manifests":
        sys.stdout.write(to_yaml(render(deployment)))
    else:
        sys.stdout.write("".join(shlex.join(c) + "\n" for c in iam_commands(deployment)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
