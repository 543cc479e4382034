"""Backups of the pipeline's tables to Cloud Storage, and restore.

``python -m pipeline.backup backup --tables P:analytics.events,P:analytics.events_dlq
--to gs://BUCKET/backups`` runs one BigQuery extract job per table into a dated folder::

    gs://BUCKET/backups/2024-05-01/analytics.events/part-000000000000.avro   (Avro, DEFLATE,
    gs://BUCKET/backups/2024-05-01/analytics.events/table.json                logical types)

``table.json`` holds what the Avro files alone do not: the table's full schema (JSON columns,
modes, descriptions), partitioning and clustering, the row count at backup time. A folder that
already holds a backup is not overwritten unless ``--overwrite`` is given.

``python -m pipeline.backup restore --from gs://BUCKET/backups/2024-05-01/analytics.events
--table P:analytics.events`` creates the table from ``table.json`` (if it is missing) and loads
the Avro files into it with one load job (WRITE_EMPTY: an existing table must be empty;
``--replace`` truncates it), then checks the row count. ``list --to gs://BUCKET/backups``
shows the backups there. Only the Google clients are used: this runs against real BigQuery and
Cloud Storage as well as against the stack (``STORAGE_EMULATOR_HOST``,
``BIGQUERY_EMULATOR_HOST``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass

MANIFEST = "table.json"
FILES = "part-*.avro"


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why in one sentence."""


def _dotted(table: str) -> str:
    return table.replace(":", ".")


def _split_gs(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise BackupError(f"{uri!r} is not a gs:// location")
    bucket, _, prefix = uri[len("gs://"):].partition("/")
    if not bucket:
        raise BackupError(f"{uri!r} names no bucket")
    return bucket, prefix.strip("/")


@dataclass(frozen=True)
class BackupLocation:
    """Where one table's backup lives: ``gs://bucket/prefix/<date>/<dataset>.<table>``."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> BackupLocation:
        return cls(*_split_gs(uri))

    @classmethod
    def dated(cls, root: str, date: dt.date, table: str) -> BackupLocation:
        bucket, prefix = _split_gs(root)
        _, dataset, name = _dotted(table).split(".")
        parts = [p for p in (prefix, date.isoformat(), f"{dataset}.{name}") if p]
        return cls(bucket, "/".join(parts))

    def uri(self, name: str = "") -> str:
        return f"gs://{self.bucket}/{self.prefix}/{name}" if name else f"gs://{self.bucket}/{self.prefix}"


def _clients(project: str):
    from pipeline.endpoints import bigquery_client, storage_client, use_emulators_from_env

    use_emulators_from_env()  # normalises the emulator variables; no-op against real GCP
    return bigquery_client(project), storage_client(project)


def backup_table(bq, gcs, table: str, root: str, date: dt.date, overwrite: bool = False) -> dict:
    """Extract ``table`` to its dated folder under ``root``; returns the manifest."""
    from google.cloud import bigquery

    location = BackupLocation.dated(root, date, table)
    bucket = gcs.bucket(location.bucket)
    existing = list(gcs.list_blobs(location.bucket, prefix=location.prefix + "/", max_results=1))
    if existing and not overwrite:
        raise BackupError(
            f"{location.uri()} already holds a backup; pass --overwrite to replace it"
        )
    for blob in gcs.list_blobs(location.bucket, prefix=location.prefix + "/"):
        blob.delete()
    resource = bq.get_table(_dotted(table))
    job = bq.extract_table(
        resource.reference,
        location.uri(FILES),
        job_config=bigquery.ExtractJobConfig(
            destination_format="AVRO", compression="DEFLATE", use_avro_logical_types=True
        ),
    )
    job.result()
    api = resource.to_api_repr()
    manifest = {
        "table": _dotted(table),
        "backup_time": dt.datetime.now(dt.UTC).isoformat(),
        "num_rows": resource.num_rows,
        "files": location.uri(FILES),
        "format": "AVRO",
        "schema": api.get("schema", {"fields": []}),
        **{key: api[key] for key in ("timePartitioning", "rangePartitioning", "clustering",
                                     "description", "labels") if api.get(key)},  # fmt: skip
    }
    bucket.blob(f"{location.prefix}/{MANIFEST}").upload_from_string(
        json.dumps(manifest, indent=2), content_type="application/json"
    )
    return {**manifest, "location": location.uri()}


def read_manifest(gcs, location: BackupLocation) -> dict:
    from google.api_core.exceptions import NotFound

    try:
        text = gcs.bucket(location.bucket).blob(f"{location.prefix}/{MANIFEST}").download_as_text()
    except NotFound:
        raise BackupError(f"no backup at {location.uri()} (no {MANIFEST} there)") from None
    return json.loads(text)


def restore_table(bq, gcs, source: str, table: str, replace: bool = False) -> dict:
    """Load the backup at ``source`` into ``table`` (created from the manifest when missing)."""
    from google.api_core.exceptions import Conflict
    from google.cloud import bigquery

    location = BackupLocation.parse(source)
    manifest = read_manifest(gcs, location)
    target = _dotted(table)
    project, dataset, name = target.split(".")
    resource = {
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": name},
        "schema": manifest["schema"],
        **{key: manifest[key] for key in ("timePartitioning", "rangePartitioning", "clustering",
                                          "description", "labels") if key in manifest},  # fmt: skip
    }
    try:
        bq.create_table(bigquery.Table.from_api_repr(resource))
    except Conflict:
        pass  # WRITE_EMPTY below refuses a table with rows unless --replace
    job = bq.load_table_from_uri(
        manifest["files"],
        target,
        job_config=bigquery.LoadJobConfig(
            source_format="AVRO",
            use_avro_logical_types=True,
            write_disposition="WRITE_TRUNCATE" if replace else "WRITE_EMPTY",
            create_disposition="CREATE_NEVER",
        ),
    )
    try:
        job.result()
    except Conflict:
        raise BackupError(f"{target} already has rows; pass --replace to overwrite them") from None
    rows = bq.get_table(target).num_rows
    if manifest.get("num_rows") is not None and rows != manifest["num_rows"]:
        raise BackupError(
            f"restored {rows} rows into {target} but the backup recorded {manifest['num_rows']}"
        )
    return {"table": target, "rows": rows, "from": location.uri()}


def list_backups(gcs, root: str) -> list[dict]:
    """Every manifest under ``root``, oldest first."""
    bucket, prefix = _split_gs(root)
    found = []
    for blob in gcs.list_blobs(bucket, prefix=f"{prefix}/" if prefix else None):
        if blob.name.endswith("/" + MANIFEST):
            manifest = json.loads(blob.download_as_text())
            location = f"gs://{bucket}/{blob.name.rsplit('/', 1)[0]}"
            found.append({"location": location, "table": manifest["table"],
                          "rows": manifest.get("num_rows"), "time": manifest["backup_time"]})  # fmt: skip
    return sorted(found, key=lambda b: b["time"])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.backup",
        description="Back up the pipeline's tables to dated gs:// folders (Avro) and restore them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    backup = sub.add_parser("backup", help="extract tables to gs://ROOT/<date>/<dataset>.<table>")
    backup.add_argument("--tables", required=True,
                        help="comma-separated PROJECT:DATASET.TABLE (or PROJECT.DATASET.TABLE)")
    backup.add_argument("--to", required=True, metavar="gs://BUCKET[/PREFIX]")
    backup.add_argument("--date", type=dt.date.fromisoformat, default=None,
                        help="the folder's date (default: today, UTC)")
    backup.add_argument("--overwrite", action="store_true", help="replace a backup of that date")
    restore = sub.add_parser("restore", help="load a backup into a table")
    restore.add_argument("--from", dest="source", required=True,
                         metavar="gs://BUCKET/PREFIX/<date>/<dataset>.<table>")
    restore.add_argument("--table", required=True, help="PROJECT:DATASET.TABLE to restore into")
    restore.add_argument("--replace", action="store_true", help="truncate the table first")
    listing = sub.add_parser("list", help="the backups under a gs:// root")
    listing.add_argument("--to", required=True, metavar="gs://BUCKET[/PREFIX]")
    listing.add_argument("--project", default=None, help="billing project (default: any)")
    return parser


def _check_table(name: str) -> str:
    if len(_dotted(name).split(".")) != 3:
        raise BackupError(f"{name!r} is not PROJECT:DATASET.TABLE")
    return name


def main(argv: list[str] | None = None) -> int:
    from google.api_core.exceptions import GoogleAPICallError
    from google.auth.exceptions import DefaultCredentialsError

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "backup":
            tables = [_check_table(t.strip()) for t in args.tables.split(",") if t.strip()]
            _split_gs(args.to)
            bq, gcs = _clients(_dotted(tables[0]).split(".")[0])
            date = args.date or dt.datetime.now(dt.UTC).date()
            for table in tables:
                done = backup_table(bq, gcs, table, args.to, date, args.overwrite)
                print(json.dumps({"table": done["table"], "rows": done["num_rows"],
                                  "location": done["location"]}))  # fmt: skip
        elif args.command == "restore":
            BackupLocation.parse(args.source)
            bq, gcs = _clients(_dotted(_check_table(args.table)).split(".")[0])
            print(json.dumps(restore_table(bq, gcs, args.source, args.table, args.replace)))
        else:
            _split_gs(args.to)
            _, gcs = _clients(args.project or "backup-list")
            for entry in list_backups(gcs, args.to):
                print(json.dumps(entry))
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GoogleAPICallError as exc:  # e.g. a table or bucket that does not exist
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except DefaultCredentialsError:
        print("error: no Google credentials: set BIGQUERY_EMULATOR_HOST and "
              "STORAGE_EMULATOR_HOST for the local stack, or configure ADC", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
