"""Why the warm pipeline isolates tests by message id: the two designs of issue 21, measured.

    python bench/warm_designs.py [--slots 1,4,8] [--out bench/results/warm_designs.json]

* **namespace** (what the harness does): one pipeline, one subscription, the shared tables; a
  test's namespace is the set of message ids it published. Per test: nothing to provision; a
  poll of its rows is one query; publish -> row as the pipeline delivers it.
* **resources per test**: a topic, a subscription and two tables of its own for each test, and a
  pipeline reading several subscriptions. Beam fixes the graph when the pipeline starts, so
  the pipeline must be built with a pool of K such slots (K copies of the production
  ``EventPipeline`` transform in one pipeline, the transform unchanged): measured here are the
  provisioning of one slot, the pipeline's start and publish -> row with K slots.

Every figure is a median over ``--repeats`` tries, on the embedded stack, in this process; the
start-up figures include provisioning, not importing Beam.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import apache_beam  # noqa: E402, F401  (imported once up front: no start-up below pays for it)

from harness import beam_local, clients, traffic  # noqa: E402
from harness.provision import DEFAULT_CONFIG, HarnessConfig, provision, table_schema  # noqa: E402
from harness.stack import Stack  # noqa: E402
from harness.warm import WarmPipeline  # noqa: E402
from pipeline import samples  # noqa: E402


def median_of(repeats: int, measure) -> float:
    return statistics.median(measure() for _ in range(repeats))


def timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def namespace_design(endpoints, repeats: int) -> dict:
    warm = WarmPipeline(endpoints, HarnessConfig.load(DEFAULT_CONFIG, project="design-ns"))
    started = time.monotonic()
    warm.start()
    start_s = time.monotonic() - started
    warm.namespace("warm-up").publish([samples.valid_event(event_id="warm-up")])
    try:
        setup_s = median_of(repeats, lambda: timed(lambda: warm.namespace("t")))

        def publish_to_row() -> float:
            ns = warm.namespace("t")
            return timed(lambda: (ns.publish([samples.valid_event(event_id=ns.unique_id())]),
                                  ns.wait_for(events=1, timeout=60)))

        latency_s = median_of(repeats, publish_to_row)
        ns = warm.namespace("t")
        ns.publish([samples.valid_event(event_id=ns.unique_id())])
        ns.wait_for(events=1, timeout=60)
        poll_s = median_of(repeats * 2, lambda: timed(ns.poll))
    finally:
        warm.stop()
    return {"pipeline_start_s": start_s, "per_test_setup_s": setup_s,
            "publish_to_row_s": latency_s, "poll_s": poll_s}


def slot_resources(endpoints, repeats: int) -> float:
    """Provisioning one test's topic, subscription, dataset and two tables."""
    from google.cloud import bigquery

    publisher, subscriber = clients.publisher(endpoints), clients.subscriber(endpoints)
    bq = clients.bigquery(endpoints, "design-slots")
    made = {"n": 0}

    def one() -> None:
        made["n"] += 1
        n = made["n"]
        topic = f"projects/design-slots/topics/topic-{n}"
        publisher.create_topic(name=topic)
        subscriber.create_subscription(
            request={"name": f"projects/design-slots/subscriptions/sub-{n}", "topic": topic})
        bq.create_dataset(f"design-slots.slot_{n}")
        for name, schema in (("events", "events"), ("events_dlq", "dead_letter")):
            bq.create_table(bigquery.Table(f"design-slots.slot_{n}.{name}",
                                           schema=table_schema({"schema": schema})))

    try:
        return median_of(repeats, lambda: timed(one))
    finally:
        subscriber.close()


def pipeline_with_slots(endpoints, slots: int, repeats: int) -> dict:
    """K copies of the production transform in one streaming pipeline, one per slot."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from pipeline.endpoints import use_emulators_from_env
    from pipeline.options import EventPipelineOptions
    from pipeline.run import EventPipeline

    started = time.monotonic()
    configs = [HarnessConfig.load(DEFAULT_CONFIG, project=f"design-k{slots}-{i}")
               for i in range(slots)]
    publisher, subscriber = clients.publisher(endpoints), clients.subscriber(endpoints)
    for config in configs:
        provision(config, publisher, subscriber, clients.bigquery(endpoints, config.project))
    subscriber.close()
    os.environ.update(endpoints.env())
    use_emulators_from_env()
    beam_local.tune(beam_local.LOCAL)
    options = PipelineOptions(configs[0].pipeline_args())
    options.view_as(StandardOptions).streaming = True
    p = beam.Pipeline(options=options)
    for i, config in enumerate(configs):
        slot_options = PipelineOptions(config.pipeline_args()).view_as(EventPipelineOptions)
        _ = p | f"Slot{i}" >> EventPipeline(slot_options)
    result = p.run()
    start_s = time.monotonic() - started
    bq = clients.bigquery(endpoints, configs[0].project)
    sent = {"n": 0}

    def publish_to_row() -> float:
        config = configs[sent["n"] % slots]
        sent["n"] += 1
        table = f"{config.project}.analytics.events"
        before = traffic.count_rows(bq, table)
        return timed(lambda: (
            traffic.publish(publisher, config.topic_path("events"),
                            [samples.encode(samples.valid_event())]),
            traffic.wait_until(lambda: traffic.count_rows(bq, table) > before, 120, 0.02)))

    try:
        publish_to_row()  # the first bundle of each slot pays Beam's start-up
        latency_s = median_of(repeats, publish_to_row)
    finally:
        result.cancel()
    return {"slots": slots, "pipeline_start_s": start_s, "publish_to_row_s": latency_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", default="1,4,8", help="pool sizes to measure")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "warm_designs.json")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with Stack() as stack:
        chosen = namespace_design(stack.endpoints, args.repeats)
        per_slot = slot_resources(stack.endpoints, args.repeats)
        pools = [pipeline_with_slots(stack.endpoints, int(k), args.repeats)
                 for k in args.slots.split(",")]
    report = {"namespace": chosen, "slot_provisioning_s": per_slot, "pools": pools,
              "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("| design | per-test setup | start (provisioning + pipeline) | publish → row (median) |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| namespace of message ids (one pipeline, shared tables) "
          f"| {chosen['per_test_setup_s'] * 1000:.2f} ms | {chosen['pipeline_start_s']:.1f} s "
          f"| {chosen['publish_to_row_s']:.2f} s |")
    for pool in pools:
        print(f"| resources per test, pipeline reading {pool['slots']} slot(s) "
              f"| {per_slot * 1000:.0f} ms | {pool['pipeline_start_s']:.1f} s "
              f"| {pool['publish_to_row_s']:.2f} s |")
    print(f"\n- one poll of a namespace's rows and dead letters: {chosen['poll_s'] * 1000:.0f} ms; "
          f"load average {report['load_average'][0]} → {report['load_average'][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
