"""Least-privilege IAM, computed from the spec: nobody writes a role by hand.

Each binding is granted on the narrowest resource that carries the permission (a subscription, a
topic, a dataset, a bucket, a key); only roles with no resource-level form (Dataflow's worker role,
the Workflows invoker, creating a snapshot) go on the project, and none of those reads or writes
data. :func:`bindings` lists them with the reason for each; ``environments/expected/iam-NAME.txt``
is the reviewed copy a test compares against.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.spec import Spec

PRIMITIVE_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
#: Roles that grant access to data: never on the project (tests/deploy/test_iam.py).
DATA_ROLE_PREFIXES = ("roles/pubsub.", "roles/bigquery.data", "roles/storage.", "roles/cloudkms.")
#: The only project-level roles, each because the permission exists only at project level.
PROJECT_ROLES = {
    "roles/dataflow.worker": "Dataflow workers lease work items and report progress; the role "
    "has no resource-level form",
    "roles/workflows.invoker": "Cloud Scheduler starts the snapshot workflow; Workflows has no "
    "per-workflow IAM",
}
SNAPSHOT_CREATOR_ROLE_ID = "streambenchSnapshotCreator"
#: A custom role: creating a snapshot needs ``pubsub.snapshots.create`` on the project (the
#: snapshot's parent); no predefined role has it without topic and subscription administration.
SNAPSHOT_CREATOR_PERMISSIONS = ("pubsub.snapshots.create",)

#: Google-managed service agents that encrypt with a CMEK key (Google's CMEK guides per service).
CMEK_AGENTS = {
    "pubsub": ("service-{n}@gcp-sa-pubsub.iam.gserviceaccount.com",),
    "bigquery": ("bq-{n}@bigquery-encryption.iam.gserviceaccount.com",),
    "storage": ("service-{n}@gs-project-accounts.iam.gserviceaccount.com",),
    "dataflow": ("service-{n}@dataflow-service-producer-prod.iam.gserviceaccount.com",
                 "service-{n}@compute-system.iam.gserviceaccount.com"),
}
KMS_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True, order=True)
class Binding:
    """``member`` has ``role`` on ``resource`` (``kind`` says what sort of resource it is)."""

    kind: str  # project | pubsub_topic | pubsub_subscription | bigquery_dataset
    #            | storage_bucket | kms_crypto_key | artifact_registry_repository
    resource: str
    role: str
    member: str
    reason: str = ""

    def line(self) -> str:
        return f"{self.kind} {self.resource} {self.role} {self.member}"


def _sa(spec: Spec, role: str) -> str:
    return f"serviceAccount:{spec.service_account_email(role)}"


def dataset_resource(spec: Spec, dataset: str) -> str:
    return f"projects/{spec.project}/datasets/{dataset}"


def bindings(spec: Spec) -> list[Binding]:
    """Every binding the environment needs, sorted, no duplicates."""
    out: set[Binding] = set()

    def add(kind, resource, role, member, reason):
        out.add(Binding(kind, resource, role, member, reason))

    project = f"projects/{spec.project}"
    p = spec.pipeline
    if p:
        worker = _sa(spec, p.service_account)
        sub = spec.subscription_path(p.input_subscription)
        add("pubsub_subscription", sub, "roles/pubsub.subscriber", worker,
            "the pipeline pulls and acknowledges its subscription")
        add("pubsub_subscription", sub, "roles/pubsub.viewer", worker,
            "Beam's Pub/Sub source reads the subscription's configuration")
        written = {p.output_table.split(".")[0], p.dead_letter_table.split(".")[0]}
        for dataset in sorted(written):
            add("bigquery_dataset", dataset_resource(spec, dataset), "roles/bigquery.dataEditor",
                worker, "streaming inserts into the events and dead-letter tables")
        if p.reference_table and p.reference_table.split(".")[0] not in written:
            add("bigquery_dataset", dataset_resource(spec, p.reference_table.split(".")[0]),
                "roles/bigquery.dataViewer", worker, "the pipeline reads its reference rows")
        add("project", project, "roles/dataflow.worker", worker,
                PROJECT_ROLES["roles/dataflow.worker"])
        for key in ("temp_bucket", "staging_bucket"):
            if p.dataflow.get(key):
                add("storage_bucket", f"projects/_/buckets/{p.dataflow[key]}",
                    "roles/storage.objectAdmin", worker,
                    f"Dataflow writes and deletes its {key.split('_')[0]} files")
        if spec.template.get("image"):
            add("artifact_registry_repository", repository_of(spec.template["image"]),
                "roles/artifactregistry.reader", worker,
                "the Flex Template launcher pulls its image")
    if spec.ingest:
        member = _sa(spec, spec.ingest.service_account)
        for topic in filter(None, (spec.ingest.topic, spec.ingest.dead_letter_topic)):
            add("pubsub_topic", spec.topic_path(topic), "roles/pubsub.publisher", member,
                "the ingestion edge publishes accepted events")
    for producer in spec.producers:
        add("pubsub_topic", spec.topic_path(producer.topic), "roles/pubsub.publisher",
            producer.member, f"producer {producer.name} publishes (and nothing else)")
    agent = f"serviceAccount:{spec.pubsub_service_agent()}"
    for s in spec.subscriptions:
        if s.dead_letter_topic:
            # https://cloud.google.com/pubsub/docs/handling-failures: the service agent forwards
            # undeliverable messages (publisher on the dead-letter topic) and acknowledges them
            # on the source subscription (subscriber there).
            add("pubsub_topic", spec.topic_path(s.dead_letter_topic), "roles/pubsub.publisher",
                agent, f"Pub/Sub forwards dead letters of {s.name}")
            add("pubsub_subscription", spec.subscription_path(s.name), "roles/pubsub.subscriber",
                agent, "Pub/Sub acknowledges what it forwarded to the dead-letter topic")
    if spec.snapshots:
        member = _sa(spec, spec.snapshots.service_account)
        add("pubsub_subscription", spec.subscription_path(spec.snapshots.subscription),
            "roles/pubsub.subscriber", member, "a snapshot consumes the subscription's backlog")
        add("project", project, f"{project}/roles/{SNAPSHOT_CREATOR_ROLE_ID}", member,
            "creating a snapshot needs pubsub.snapshots.create on its parent, the project")
        add("project", project, "roles/workflows.invoker", member,
            PROJECT_ROLES["roles/workflows.invoker"])
    if spec.key_ring:
        for service, key in sorted(_keys_in_use(spec).items()):
            for agent_address in CMEK_AGENTS[service]:
                add("kms_crypto_key", f"{spec.key_ring}/cryptoKeys/{key}", KMS_ROLE,
                    f"serviceAccount:{agent_address.format(n=spec.project_number)}",
                    f"the {service} service agent encrypts with the key")
    return sorted(out)


def _keys_in_use(spec: Spec) -> dict[str, str]:
    """Service -> the short name of the key its resources use (one key per service)."""
    used: dict[str, str] = {}

    def note(service, full):
        if full:
            used[service] = full.rsplit("/", 1)[1]

    for t in spec.topics:
        note("pubsub", t.kms_key)
    for d in spec.datasets:
        note("bigquery", d.kms_key)
        for t in d.tables:
            note("bigquery", t.kms_key)
    for b in spec.buckets:
        note("storage", b.kms_key)
    if spec.pipeline:
        note("dataflow", spec.pipeline.dataflow.get("kms_key"))
    return used


def repository_of(image: str) -> str:
    """``REGION-docker.pkg.dev/PROJECT/REPO/IMAGE[:TAG]`` -> the repository's resource name."""
    host, project, repo = image.split("/")[:3]
    return f"projects/{project}/locations/{host.removesuffix('-docker.pkg.dev')}/repositories/{repo}"


def managed_members(spec: Spec) -> set[str]:
    """Members whose bindings on the spec's resources ``apply`` owns: extra ones are removed."""
    members = {f"serviceAccount:{a.email(spec.project)}" for a in spec.service_accounts.values()}
    members.add(f"serviceAccount:{spec.pubsub_service_agent()}")
    members.update(p.member for p in spec.producers)
    return members


def expected_file(name: str):
    from deploy.spec import ENVIRONMENTS

    return ENVIRONMENTS / "expected" / f"iam-{name}.txt"


def render(found: list[Binding]) -> str:
    """The expectation file's format: one binding a line, sorted, reasons as comments."""
    lines = []
    for b in found:
        lines.append(f"# {b.reason}")
        lines.append(b.line())
    return "\n".join(lines) + "\n"


def parse(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
