"""Provision topics, subscriptions, datasets, tables and reference rows from ``harness.toml``.

Uses the real Google clients, so it works against our emulators, Google's, or real GCP.
Idempotent: what exists already is left as it is.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import schema

DEFAULT_CONFIG = Path(__file__).resolve().parent / "harness.toml"
DERIVED_SCHEMAS = {
    "events": schema.events_table_schema,
    "dead_letter": schema.dead_letter_table_schema,
}


@dataclass
class HarnessConfig:
    """The parsed harness file; ``project`` can be overridden for per-test isolation."""

    project: str
    topics: list[dict] = field(default_factory=list)
    subscriptions: list[dict] = field(default_factory=list)
    datasets: list[dict] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    pipeline: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_CONFIG, project: str | None = None) -> HarnessConfig:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
        unknown = set(raw) - {"project", "topics", "subscriptions", "datasets", "tables", "pipeline"}
        if unknown:
            raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}")
        raw["project"] = project or raw.get("project", "local-project")
        return cls(**raw)

    def topic_path(self, name: str) -> str:
        return f"projects/{self.project}/topics/{name}"

    def subscription_path(self, name: str) -> str:
        return f"projects/{self.project}/subscriptions/{name}"

    def table_ref(self, dotted: str) -> str:
        """``dataset.table`` -> ``project:dataset.table`` (Beam's form)."""
        return f"{self.project}:{dotted}"

    def pipeline_args(self) -> list[str]:
        """The ``python -m pipeline`` arguments for this harness."""
        p = self.pipeline
        args = [
            f"--input_subscription={self.subscription_path(p['input_subscription'])}",
            f"--output_table={self.table_ref(p['output_table'])}",
            f"--dead_letter_table={self.table_ref(p['dead_letter_table'])}",
        ]
        if p.get("reference_table"):
            args.append(f"--reference_table={self.table_ref(p['reference_table'])}")
        return args


def table_schema(spec: dict) -> list:
    """BigQuery ``SchemaField`` list for a table entry: a derived name or inline fields."""
    from google.cloud import bigquery

    fields = spec["schema"]
    if isinstance(fields, str):
        fields = DERIVED_SCHEMAS[fields]()["fields"]
    return [bigquery.SchemaField.from_api_repr({"mode": "NULLABLE", **f}) for f in fields]


def provision(config: HarnessConfig, publisher, subscriber, bigquery_client) -> None:
    """Create everything in ``config`` that does not exist yet."""
    from google.api_core.exceptions import AlreadyExists, Conflict
    from google.cloud import bigquery
    from google.protobuf import duration_pb2

    for topic in config.topics:
        try:
            publisher.create_topic(name=config.topic_path(topic["name"]))
        except AlreadyExists:
            pass
    for sub in config.subscriptions:
        request = {
            "name": config.subscription_path(sub["name"]),
            "topic": config.topic_path(sub["topic"]),
            "ack_deadline_seconds": sub.get("ack_deadline_seconds", 10),
        }
        if sub.get("dead_letter_topic"):
            request["dead_letter_policy"] = {
                "dead_letter_topic": config.topic_path(sub["dead_letter_topic"]),
                "max_delivery_attempts": sub.get("max_delivery_attempts", 5),
            }
        if "retry_min_backoff_seconds" in sub:
            request["retry_policy"] = {
                "minimum_backoff": duration_pb2.Duration(seconds=sub["retry_min_backoff_seconds"]),
                "maximum_backoff": duration_pb2.Duration(
                    seconds=sub.get("retry_max_backoff_seconds", 600)
                ),
            }
        if sub.get("filter"):
            request["filter"] = sub["filter"]
        if sub.get("retain_acked_messages"):  # seek to a time can go back (replay)
            request["retain_acked_messages"] = True
        if "message_retention_seconds" in sub:
            request["message_retention_duration"] = duration_pb2.Duration(
                seconds=sub["message_retention_seconds"]
            )
        if sub.get("enable_message_ordering"):
            request["enable_message_ordering"] = True
        try:
            subscriber.create_subscription(request=request)
        except AlreadyExists:
            pass
    for dataset in config.datasets:
        bigquery_client.create_dataset(f"{config.project}.{dataset['name']}", exists_ok=True)
    for spec in config.tables:
        ref = f"{config.project}.{spec['dataset']}.{spec['name']}"
        table = bigquery.Table(ref, schema=table_schema(spec))
        try:
            bigquery_client.create_table(table)
        except Conflict:
            continue  # exists: its rows were loaded when it was created
        if spec.get("rows"):
            errors = bigquery_client.insert_rows_json(ref, spec["rows"])
            if errors:
                raise RuntimeError(f"reference rows for {ref} rejected: {errors}")
