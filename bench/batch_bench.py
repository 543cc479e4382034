"""Batch uploads on the embedded stack: a backfill through the pipeline next to a raw load.

    python bench/batch_bench.py --out bench/results/batch.json [--events 1000000]

One NDJSON file of ``--events`` sample events (5 % bad lines, pipeline.samples.mixed_batch) is
uploaded to the emulated bucket, then

* ``backfill``: ``python -m pipeline.backfill`` on it (DirectRunner, batch: read numbered
  lines, parse/validate/enrich, FILE_LOADS into staging tables, MERGE by event_id), with the
  local-run DoFn-spec cache of harness/beam_local; events/s = lines / wall time, with the
  pipeline and MERGE parts shown;
* ``raw load``: one BigQuery load job of the same ``gs://`` file into a table of the raw event
  shape (no parsing, validation, enrichment or de-duplication: bad lines are counted as bad
  records), the ceiling a backfill is set against.

Both read the file through the Cloud Storage emulator; the upload itself is timed too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RAW_SCHEMA = [
    {"name": "event_id", "type": "STRING"},
    {"name": "timestamp", "type": "STRING"},
    {"name": "data", "type": "JSON"},
    {"name": "metadata", "type": "RECORD", "fields": [
        {"name": "source", "type": "STRING"}, {"name": "version", "type": "STRING"}]},
]  # fmt: skip


def measure(events: int) -> dict:
    import os

    from google.cloud import bigquery

    from harness import beam_local, clients
    from harness.provision import HarnessConfig, provision
    from harness.stack import Stack
    from pipeline import backfill, samples

    project = "batch-bench"
    with Stack() as stack:
        endpoints = stack.endpoints
        os.environ.update(endpoints.env())
        os.environ["GOOGLE_CLOUD_PROJECT"] = project
        config = HarnessConfig.load(project=project)
        bq = clients.bigquery(endpoints, project)
        gcs = clients.storage(endpoints, project)
        provision(config, clients.publisher(endpoints), clients.subscriber(endpoints), bq,
                  storage_client=gcs)  # fmt: skip
        batch = samples.mixed_batch(events, bad_ratio=0.05, seed=11)
        data = b"".join(payload + b"\n" for payload, _ in batch)
        bad = sum(1 for _, error in batch if error)
        del batch
        bucket = gcs.bucket(config.bucket_name("{project}-batch"))
        started = time.monotonic()
        bucket.blob("incoming/events.ndjson").upload_from_string(data)
        upload_s = time.monotonic() - started
        uri = f"gs://{bucket.name}/incoming/events.ndjson"

        started = time.monotonic()
        job = bq.load_table_from_uri(uri, f"{project}.analytics.raw_events",
                                     job_config=bigquery.LoadJobConfig(
                                         source_format="NEWLINE_DELIMITED_JSON",
                                         schema=[bigquery.SchemaField.from_api_repr(f)
                                                 for f in RAW_SCHEMA],
                                         ignore_unknown_values=True, max_bad_records=events))  # fmt: skip
        job.result()
        raw_s = time.monotonic() - started

        beam_local.apply("cached_dofn_specs")
        started = time.monotonic()
        summary = backfill.run([
            "--input", uri,
            "--output_table", config.table_ref(config.pipeline["output_table"]),
            "--dead_letter_table", config.table_ref(config.pipeline["dead_letter_table"]),
            "--reference_table", config.table_ref(config.pipeline["reference_table"]),
            "--temp_location", config.gcs_path("temp_location"),
            "--project", project,
        ])
        backfill_s = time.monotonic() - started
        beam_local.reset("cached_dofn_specs")
    assert summary["lines"] == events and summary["dead_letters"] == bad, summary
    return {
        "events": events,
        "bad_lines": bad,
        "file_mb": round(len(data) / 1e6, 1),
        "upload_s": round(upload_s, 2),
        "raw_load": {"seconds": round(raw_s, 2), "events_per_s": round(events / raw_s),
                     "rows": job.output_rows, "bad_records": events - (job.output_rows or 0)},
        "backfill": {"seconds": round(backfill_s, 2), "events_per_s": round(events / backfill_s),
                     "pipeline_s": summary["pipeline_seconds"],
                     "merge_s": summary["merge_seconds"], "rows": summary["rows"],
                     "dead_letters": summary["dead_letters"]},
    }  # fmt: skip


def markdown(result: dict) -> str:
    raw, fill = result["raw_load"], result["backfill"]
    ratio = fill["events_per_s"] / raw["events_per_s"] if raw["events_per_s"] else 0
    return "\n".join([
        "| path | events/s | seconds | rows | rejected |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| raw BigQuery load job of the file | {raw['events_per_s']:,} | {raw['seconds']} | "
        f"{raw['rows']:,} | {raw['bad_records']:,} bad records |",
        f"| backfill (pipeline, FILE_LOADS, MERGE) | {fill['events_per_s']:,} | {fill['seconds']} "
        f"| {fill['rows']:,} | {fill['dead_letters']:,} dead letters |",
        "",
        f"- {result['events']:,} events ({result['file_mb']} MB NDJSON, "
        f"{result['bad_lines']:,} bad lines) uploaded in {result['upload_s']} s; the backfill "
        f"runs at {ratio:.2f}x the raw load ({fill['pipeline_s']} s in the Beam pipeline, "
        f"{fill['merge_s']} s in the two MERGEs).",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(ROOT / "bench/results/batch.json"))
    args = parser.parse_args(argv)
    result = measure(args.events)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
