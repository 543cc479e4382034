"""Provision topics, subscriptions, datasets, tables, reference rows, buckets and objects from
``harness.toml``.

Uses the real Google clients, so it works against our emulators, Google's, or real GCP.
Idempotent: what exists already is left as it is.
"""

from __future__ import annotations

from harness.config import DEFAULT_CONFIG, ConfigError, HarnessConfig, find_config
from pipeline import schema

__all__ = ["DEFAULT_CONFIG", "ConfigError", "HarnessConfig", "find_config", "provision"]

DERIVED_SCHEMAS = {
    "events": schema.events_table_schema,
    "dead_letter": schema.dead_letter_table_schema,
}


def table_schema(spec: dict) -> list:
    """BigQuery ``SchemaField`` list for a table entry: a derived name or inline fields."""
    from google.cloud import bigquery

    fields = spec["schema"]
    if isinstance(fields, str):
        fields = DERIVED_SCHEMAS[fields]()["fields"]
    return [bigquery.SchemaField.from_api_repr({"mode": "NULLABLE", **f}) for f in fields]


def read_seeds(config: HarnessConfig, extra=()) -> list:
    """The seed tables of the harness file's ``seed`` list and of ``extra`` paths, read and
    checked (:class:`ConfigError`) before anything starts."""
    from harness import seed

    return [table for path in (*config.seed, *extra) for table in seed.read(path)]


def _duration(seconds: float):
    from google.protobuf import duration_pb2

    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def provision(config: HarnessConfig, publisher, subscriber, bigquery_client,
              seeds: list | None = None, storage_client=None) -> list[str]:
    """Create everything in ``config`` that does not exist yet (buckets and their objects only
    with a ``storage_client``), then load the seed rows (``seeds``: from :func:`read_seeds`;
    default: the file's own ``seed`` list). Returns one line per seeded table."""
    from google.api_core.exceptions import AlreadyExists, Conflict
    from google.cloud import bigquery

    from harness import seed

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
                "minimum_backoff": _duration(sub["retry_min_backoff_seconds"]),
                "maximum_backoff": _duration(sub.get("retry_max_backoff_seconds", 600)),
            }
        if sub.get("filter"):
            request["filter"] = sub["filter"]
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
                first = errors[0]
                raise ConfigError(
                    f"{config.path}: row {first['index'] + 1} of table {spec['dataset']}."
                    f"{spec['name']} was rejected: {first['errors'][0].get('message')}"
                )
    if storage_client is not None:
        provision_buckets(config, storage_client)
    if seeds is None:
        seeds = read_seeds(config)
    return seed.load(seeds, bigquery_client, config.file_project, config.project)


def provision_buckets(config: HarnessConfig, storage_client) -> None:
    """``[[buckets]]``: create missing buckets and upload their ``objects`` (``content`` text or
    a ``file`` relative to the harness file) that do not exist yet."""
    from google.api_core.exceptions import Conflict

    for spec in config.buckets:
        bucket = storage_client.bucket(config.bucket_name(spec["name"]))
        try:
            bucket = storage_client.create_bucket(bucket, location=spec.get("location"))
        except Conflict:
            pass
        else:
            if "soft_delete_retention_seconds" in spec:
                # A patch, not a field of the insert: gcp-storage-emulator ignores the latter.
                bucket.soft_delete_policy.retention_duration_seconds = int(
                    spec["soft_delete_retention_seconds"]
                )
                bucket.patch()
        for item in spec.get("objects", []):
            blob = bucket.blob(item["name"])
            if blob.exists():
                continue
            if "file" in item:
                blob.upload_from_filename(str(config.path.parent / item["file"]))
            else:
                blob.upload_from_string(item.get("content", ""))
