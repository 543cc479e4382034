"""``nox -s demo``: the real pipeline, end to end, on the local emulators.

Starts the emulators, provisions them from ``harness.toml``, runs the pipeline on Beam's
DirectRunner in streaming mode, publishes sample events (some deliberately bad), waits until
every one is a row or a dead letter, prints a summary and a sample query, and shuts down.

``--via rest`` sends the events through the REST ingestion edge (``python -m ingest``, which
refuses the bad ones with their reason), ``--via mqtt`` through an MQTT broker and the bridge
(which publishes the bad ones for the pipeline to dead-letter), instead of publishing directly.

With ``--batch`` (``nox -s demo -- --batch``) a batch step follows on the same stack: an NDJSON
file of sample events is uploaded to the emulated bucket, ``pipeline.backfill`` loads it
through the same transforms (FILE_LOADS, MERGE by event_id), a second run shows that nothing
is added twice, and ``pipeline.backup`` backs the tables up and restores the events table
into ``events_restored``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

from harness import clients, edge, traffic, via
from harness.provision import HarnessConfig, provision
from harness.running import PipelineRun
from harness.stack import BACKENDS, Stack
from pipeline import samples


def _say(text: str) -> None:
    print(text, flush=True)


def _percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class LandingWatch(threading.Thread):
    """Polls both tables in the background; notes when each event_id first becomes visible."""

    def __init__(self, bq, events_table: str, dead_letter_table: str, interval: float = 0.2):
        super().__init__(name="landing-watch", daemon=True)
        self.bq, self.events_table, self.dead_letter_table = bq, events_table, dead_letter_table
        self.interval = interval
        self.first_seen: dict[str, float] = {}
        self.written = self.dead = 0
        self._since = datetime(1970, 1, 1, tzinfo=timezone.utc)
        self._stop_event = threading.Event()

    def poll(self) -> None:
        # Only rows processed since the last poll: a full scan each time would slow the demo.
        rows = traffic.query_rows(
            self.bq,
            f"SELECT event_id, processing_time FROM `{self.events_table}` "
            f"WHERE processing_time >= @since",
            since=self._since,
        )
        now = time.monotonic()
        for row in rows:
            self.first_seen.setdefault(row["event_id"], now)
            self._since = max(self._since, row["processing_time"])
        self.written = len(self.first_seen)
        self.dead = traffic.count_rows(self.bq, self.dead_letter_table)

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.poll()


def _producer(how: str, stack: Stack, topic: str, publisher):
    """The demo's producer for ``--via`` and the edge processes it needs (to stop)."""
    if how == "pubsub":
        return via.Direct(publisher, topic), None
    problem = edge.missing_extra()
    if problem:
        raise SystemExit(f"error: {problem}")
    # Loopback only and no API keys: the demo's local edge, like `up` with the default file.
    running = edge.Edge(log_dir=stack.run_dir / "logs", pubsub=stack.endpoints.pubsub,
                        topic=topic, allow_unauthenticated=True)
    running.start(rest=how == "rest", mqtt=how == "mqtt")
    if how == "rest":
        _say(f"      REST edge {running.urls['ingest']}")
        return via.Rest(running.urls["ingest"]), running
    _say(f"      MQTT broker {running.urls['mqtt']}, bridge to {topic}")
    return via.Mqtt(running.urls["mqtt"]), running


def run_demo(
    events: int, bad_ratio: float, backend: str, timeout: float, rate: float, batch_events: int = 0,
    how: str = "pubsub",
) -> int:
    # A project of its own, so a demo against long-lived (external) emulators starts empty.
    config = HarnessConfig.load(project=f"demo-{uuid.uuid4().hex[:8]}")
    pipe = config.pipeline
    events_table = f"{config.project}.{pipe['output_table']}"
    dlq_table = f"{config.project}.{pipe['dead_letter_table']}"
    topic = config.topic_path(config.subscriptions[0]["topic"])

    _say(f"[1/5] starting the emulators ({backend}) ...")
    with Stack(backend=backend) as stack:
        ep = stack.endpoints
        _say(f"      Pub/Sub {ep.pubsub}   BigQuery {ep.bigquery}   Cloud Storage {ep.storage}")
        publisher, subscriber = clients.publisher(ep), clients.subscriber(ep)
        bq = clients.bigquery(ep, config.project)
        gcs = clients.storage(ep, config.project) if ep.storage else None
        _say("[2/5] provisioning topics, subscription, dataset, tables and buckets from "
             "harness.toml ...")
        provision(config, publisher, subscriber, bq, storage_client=gcs)

        producer, running_edge = _producer(how, stack, topic, publisher)
        _say("[3/5] starting the pipeline (DirectRunner, streaming) ...")
        landed = lambda: (  # noqa: E731
            traffic.count_rows(bq, events_table), traffic.count_rows(bq, dlq_table)
        )
        run = PipelineRun(config.pipeline_args(), ep, landed).start()
        try:
            warmup = samples.valid_event(event_id="warm-up")
            producer.send(samples.encode(warmup))
            producer.finish()
            traffic.wait_for_rows(bq, events_table, 1, timeout=timeout)
            producer.accepted = 0

            batch = samples.mixed_batch(events, bad_ratio)
            expected_bad = sum(1 for _, error in batch if error)
            pace = f"at {rate:.0f}/s" if rate > 0 else "at once"
            where = {"pubsub": "", "rest": " through the REST edge",
                     "mqtt": " through MQTT"}[how]
            _say(f"[4/5] publishing {events} events{where} {pace} ({expected_bad} deliberately "
                 "bad) ...")

            watch = LandingWatch(bq, events_table, dlq_table)
            watch.poll()
            watch.start()
            sent_at: dict[str, float] = {}
            started = time.monotonic()
            last_report = started
            for i, (payload, error) in enumerate(batch):
                if rate > 0:  # pace: event i leaves at i / rate seconds
                    time.sleep(max(0.0, started + i / rate - time.monotonic()))
                producer.send(payload)
                if error is None:
                    sent_at[samples_event_id(payload)] = time.monotonic()
                if time.monotonic() - last_report >= 2:
                    last_report = time.monotonic()
                    _progress(i + 1, watch)
            producer.finish()
            published_in = time.monotonic() - started

            refused = sum(producer.refused.values())
            total = producer.accepted + 1  # the warm-up event
            deadline = time.monotonic() + timeout
            while watch.written + watch.dead < total and time.monotonic() < deadline:
                _progress(events, watch)
                time.sleep(1)
            watch.stop()
            written, dead = watch.written, watch.dead
            _progress(events, watch)
            elapsed = time.monotonic() - started
        finally:
            producer.close()
            run.stop()
            if running_edge is not None:
                running_edge.stop()

        by_reason = traffic.query_rows(
            bq,
            f"SELECT error_type, COUNT(*) AS n FROM `{dlq_table}` GROUP BY error_type ORDER BY n DESC",
        )
        latencies = [
            (watch.first_seen[eid] - t) * 1000 for eid, t in sent_at.items() if eid in watch.first_seen
        ]
        written -= 1
        _say("[5/5] summary")
        _say(_summary(events, written, dead, by_reason, latencies, events / elapsed, published_in,
                      producer.refused, how))
        _say("\nsample query: events per source, with the reference team\n")
        sample = traffic.query_rows(
            bq,
            f"SELECT source, JSON_VALUE(reference, '$.team') AS team, COUNT(*) AS events, "
            f"ROUND(AVG(CAST(JSON_VALUE(data, '$.amount') AS FLOAT64)), 2) AS avg_amount "
            f"FROM `{events_table}` WHERE event_id != 'warm-up' "
            f"GROUP BY source, team ORDER BY events DESC",
        )
        _say(_table(["source", "team", "events", "avg_amount"], sample))
        ok = written + dead + refused == events
        refusals = f" + refused by the edge {refused}" if how == "rest" else ""
        _say(f"\n{'OK' if ok else 'MISMATCH'}: published {events} == written {written}"
             f" + dead-lettered {dead}{refusals}")
        if batch_events:
            if gcs is None:
                _say("\nbatch step skipped: this backend runs no Cloud Storage emulator")
                return 1
            ok = batch_demo(ep, config, bq, gcs, batch_events, bad_ratio) and ok
        return 0 if ok else 1


def batch_demo(ep, config: HarnessConfig, bq, gcs, events: int, bad_ratio: float) -> bool:
    """The batch step: upload, backfill twice, back up, restore; True if every count adds up."""
    import os

    from harness import beam_local
    from pipeline import backfill, backup

    os.environ.update(ep.env())  # the backfill and backup talk to the stack through these
    pipe = config.pipeline
    bucket = gcs.bucket(config.bucket_name("{project}-batch"))
    batch = samples.mixed_batch(events, bad_ratio, seed=99)
    bad = sum(1 for _, error in batch if error)
    _say(f"\n[batch 1/4] uploading {events} events ({bad} bad lines) to "
         f"gs://{bucket.name}/incoming/demo.ndjson ...")
    bucket.blob("incoming/demo.ndjson").upload_from_string(
        b"".join(payload + b"\n" for payload, _ in batch))
    args = [
        "--input", config.bucket_name(pipe["batch_input"]),
        "--output_table", config.table_ref(pipe["output_table"]),
        "--dead_letter_table", config.table_ref(pipe["dead_letter_table"]),
        "--reference_table", config.table_ref(pipe["reference_table"]),
        "--temp_location", config.gcs_path("temp_location"),
        "--project", config.project,
    ]
    _say("[batch 2/4] python -m pipeline.backfill (DirectRunner, batch; FILE_LOADS into staging "
         "tables, then MERGE by event_id) ...")
    beam_local.apply("cached_dofn_specs")
    try:
        started = time.monotonic()
        first = backfill.run(args)
        seconds = time.monotonic() - started
        _say("[batch 3/4] the same files again: the MERGE adds nothing twice ...")
        second = backfill.run(args)
    finally:
        beam_local.reset("cached_dofn_specs")
    _say(_table(["run", "lines", "rows added", "already there", "dead letters added"], [
        {"run": r, "lines": s["lines"], "rows added": s["rows_added"],
         "already there": s["rows_already_there"], "dead letters added": s["dead_letters_added"]}
        for r, s in (("first", first), ("second", second))
    ]))
    _say(f"      first run: {first['lines'] / seconds:.0f} lines/s "
         f"({first['pipeline_seconds']} s pipeline, {first['merge_seconds']} s MERGE)")
    root = config.gcs_path("backup_location")
    tables = [config.table_ref(pipe["output_table"]), config.table_ref(pipe["dead_letter_table"])]
    _say(f"[batch 4/4] python -m pipeline.backup backup --to {root}, then restore the events "
         "table into analytics.events_restored ...")
    date = datetime.now(timezone.utc).date()
    code = backup.main(["backup", "--tables", ",".join(tables), "--to", root,
                        "--date", date.isoformat(), "--overwrite"])
    dataset, table = pipe["output_table"].split(".")
    restored_table = f"{config.project}:{dataset}.{table}_restored"
    code = code or backup.main([
        "restore", "--from", f"{root}/{date.isoformat()}/{pipe['output_table']}",
        "--table", restored_table, "--replace",
    ])
    original = traffic.count_rows(bq, f"{config.project}.{pipe['output_table']}")
    restored = traffic.count_rows(bq, restored_table.replace(":", "."))
    ok = (code == 0 and first["rows_added"] + first["dead_letters_added"] == events
          and second["rows_added"] == second["dead_letters_added"] == 0 and restored == original)
    _say(f"\n{'OK' if ok else 'MISMATCH'}: {events} lines == {first['rows_added']} rows + "
         f"{first['dead_letters_added']} dead letters; second run added "
         f"{second['rows_added'] + second['dead_letters_added']}; restored {restored} of "
         f"{original} rows")
    return ok


def _progress(published: int, watch: LandingWatch) -> None:
    _say(
        f"      published {published:>6}   rows {watch.written - 1:>6}"
        f"   dead letters {watch.dead:>5}"
    )


def samples_event_id(payload: bytes) -> str:
    import json

    return json.loads(payload)["event_id"]


def _table(headers: list[str], rows: list[dict]) -> str:
    cells = [[str(r.get(h)) for h in headers] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def _summary(published, written, dead, by_reason, latencies, rate, published_in,
             refused=None, how="pubsub") -> str:
    rows = [
        {"metric": "published" if how == "pubsub" else f"sent via {how}", "value": published},
        {"metric": "written to events", "value": written},
        {"metric": "dead-lettered", "value": dead},
    ]
    rows += [{"metric": f"  {r['error_type']}", "value": r["n"]} for r in by_reason]
    if how == "rest":
        rows.append({"metric": "refused by the REST edge", "value": sum(refused.values())})
        rows += [{"metric": f"  {reason}", "value": n} for reason, n in refused.most_common()]
    if latencies:
        for q in (50, 95, 99):
            rows.append({"metric": f"end-to-end latency p{q}",
                         "value": f"{_percentile(latencies, q):.0f} ms"})
    rows.append({"metric": "throughput (end to end)", "value": f"{rate:.0f} events/s"})
    rows.append({"metric": "publish time", "value": f"{published_in:.2f} s"})
    return _table(["metric", "value"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000, help="events to publish")
    parser.add_argument("--bad-ratio", type=float, default=0.05, help="share of bad events")
    parser.add_argument("--backend", choices=BACKENDS, default="embedded")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for landing")
    parser.add_argument(
        "--rate", type=float, default=1000, help="events per second to publish (0: all at once)"
    )
    parser.add_argument("--via", choices=via.VIAS, default="pubsub",
                        help="how events reach Pub/Sub: the client directly, the REST edge, or "
                        "MQTT devices through a broker and the bridge (default: pubsub)")
    parser.add_argument(
        "--batch", action="store_true",
        help="then the batch step: upload, backfill twice, back up and restore",
    )
    parser.add_argument("--batch-events", type=int, default=10_000, help="events in the file")
    args = parser.parse_args(argv)
    return run_demo(args.events, args.bad_ratio, args.backend, args.timeout, args.rate,
                    args.batch_events if args.batch else 0, args.via)


if __name__ == "__main__":
    sys.exit(main())
