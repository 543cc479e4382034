"""End to end on the embedded stack: Beam's stock DirectRunner against prototype fixes.

    python bench/pipeline_bench.py --out bench/results/pipeline.json [--profile]

Variants (harness/beam_local/__init__.py): ``stock`` (Beam and the pipeline as they are),
``pull500`` (pulls of 500 messages instead of 10), ``tuned`` (pull500 plus cached DoFn
specs, a JSON-length row size and a pre-crawled JSON Schema registry). For each variant, on a
fresh embedded stack each time:

1. saturation: a backlog is published before the pipeline starts, then the pipeline drains it;
   events/s = rows landed per second over the steady part of the drain (start-up excluded),
   counted with ``COUNT(*)`` on the events table every 0.5 s; time-boxed.
2. latency: a fresh stack, the pipeline warmed up, then events published at 50 % of the
   saturation rate for a fixed time, from a separate process; about 25 events a second are
   probes, each measured on its own (``loadtest.landing.VisibilityWatch``, the same watch as
   the load test): publish() called -> row visible in BigQuery, as the middle of a window whose
   half-width (the resolution) is reported with the figures. p50 / p95 / p99 over the probes.

``--profile`` runs cProfile on the DirectRunner's executor thread during saturation and writes
the top entries next to the JSON (see bench/README.md for the reading of it).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.beam_local import ALL, PULL_ONLY, STOCK, Tuning  # noqa: E402

VARIANTS = {"stock": STOCK, "pull500": PULL_ONLY, "tuned": ALL}
GOAL_EVENTS_PER_S = 1000
GOAL_P99_S = 3.0


def _count(bq, table: str, prefix: str) -> int:
    from harness import traffic

    sql = f"SELECT COUNT(*) AS n FROM `{table}` WHERE STARTS_WITH(event_id, @prefix)"
    return traffic.query_rows(bq, sql, prefix=prefix)[0]["n"]


def _payloads(prefix: str, count: int) -> list[bytes]:
    import random

    from pipeline import samples

    rng = random.Random(1)
    return [
        samples.encode(samples.valid_event(rng, event_id=f"{prefix}{i:08d}")) for i in range(count)
    ]


class WorkerProfile:
    """cProfile of the DirectRunner's executor thread(s), plus their CPU time against wall time."""

    def __init__(self):
        self.profiles: list[cProfile.Profile] = []
        self.cpu: dict[str, float] = {}
        self.enabled = False

    def install(self) -> None:
        from apache_beam.runners.direct.executor import _ExecutorService

        worker = _ExecutorService._ExecutorServiceWorker
        original = worker.run
        probe = self

        def run(thread):
            if not probe.enabled:
                return original(thread)
            profile = cProfile.Profile()
            probe.profiles.append(profile)
            start = time.thread_time()
            profile.enable()
            try:
                return original(thread)
            finally:
                profile.disable()
                probe.cpu[thread.name] = time.thread_time() - start

        worker.run = run
        self.enabled = True

    def stop(self) -> None:
        for profile in self.profiles:
            profile.disable()
        self.enabled = False

    def dump(self, path: Path) -> None:
        """Raw stats, for ``python -m pstats`` or snakeviz."""
        if self.profiles:
            stats = pstats.Stats(self.profiles[0])
            for profile in self.profiles[1:]:
                stats.add(profile)
            stats.dump_stats(path)

    def report(self, limit: int = 40) -> str:
        if not self.profiles:
            return "no executor thread was profiled"
        stats = pstats.Stats(self.profiles[0])
        for profile in self.profiles[1:]:
            stats.add(profile)
        out = io.StringIO()
        stats.stream = out
        stats.sort_stats("cumulative").print_stats(limit)
        stats.sort_stats("tottime").print_stats(limit)
        return out.getvalue()


def saturation(tuning: Tuning, backlog: int, time_box: float, profile: WorkerProfile | None):
    """Publish ``backlog`` events, start the pipeline, measure the steady drain rate."""
    from loadtest.local_stack import LocalStack

    prefix = f"sat-{uuid.uuid4().hex[:6]}-"
    stack = LocalStack(tuning=tuning)
    target = stack.start_emulators()
    try:
        publisher = target.publisher(max_messages=1000, max_latency=0.05)
        futures = [publisher.publish(target.topic, p) for p in _payloads(prefix, backlog)]
        for future in futures:
            future.result(timeout=120)
        publisher.transport.close()
        if profile:
            profile.install()
        started = time.monotonic()
        stack.start_pipeline(warm_up=False)
        series = [(0.0, 0)]
        while True:
            time.sleep(0.5)
            count = _count(stack.bq, target.events_table, prefix)
            series.append((time.monotonic() - started, count))
            if count >= backlog or time.monotonic() - started > time_box:
                break
        if profile:
            profile.stop()
        counters = stack.counters()
    finally:
        stack.stop(drain=False)
    return _drain_rate(series, backlog), series, counters


def _drain_rate(series: list[tuple[float, int]], backlog: int) -> dict:
    """Rows/s between 10 % and 90 % of what landed (start-up and tail excluded)."""
    landed = series[-1][1]
    low = next((p for p in series if p[1] >= 0.1 * landed), series[0])
    high = next((p for p in series if p[1] >= 0.9 * landed), series[-1])
    steady = (high[1] - low[1]) / (high[0] - low[0]) if high[0] > low[0] else 0.0
    first = next((p for p in series if p[1] > 0), series[-1])
    return {
        "events_per_s": round(steady, 1),
        "backlog": backlog,
        "landed": landed,
        "seconds": round(series[-1][0], 2),
        "first_row_after_s": round(first[0], 2),
    }


def latency(tuning: Tuning, rate: float, seconds: float, probes_per_s: float = 25.0,
            keep: bool = False) -> dict:
    """Publish at ``rate`` for ``seconds`` from another process; end-to-end latency of probes.

    The load generator and the landing watch run in a process of their own (spawned), so the
    pipeline's process spends its one busy thread on the pipeline only. Every k-th event is a
    probe (about ``probes_per_s`` a second): watching every event would make each poll return
    thousands of rows and measure the watcher instead. ``keep``: the result also lists every
    probe's latency (``latencies_ms``), for pooling several runs.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from loadtest.local_stack import LocalStack

    with LocalStack(tuning=tuning) as stack:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            result = pool.submit(
                load_and_watch, stack.target.to_env(), rate, seconds, probes_per_s, keep=keep
            ).result()
        result["landed_when_probes_done"] = stack.landed()[0] - 1  # less the warm-up event
    return result


def load_and_watch(target_env: dict, rate: float, seconds: float, probes_per_s: float,
                   settle: float = 60.0, keep: bool = False) -> dict:
    """In the load process: paced publishing, probes watched until they land (or ``settle``)."""
    import queue
    import random

    from loadtest.landing import CHECK_PAUSE, VisibilityWatch, summarise
    from loadtest.target import Target
    from pipeline import samples

    target = Target.from_env(target_env)
    prefix = f"lat-{uuid.uuid4().hex[:6]}-"
    count = max(1, int(rate * seconds))
    every = max(1, round(rate / probes_per_s))
    probe_ids = {i: f"{prefix}p{i:08d}" for i in range(0, count, every)}
    rng = random.Random(2)
    payloads = [
        samples.encode(samples.valid_event(rng, event_id=probe_ids.get(i, f"{prefix}b{i:08d}")))
        for i in range(count)
    ]
    watch = VisibilityWatch(target.bigquery_client(), target.events_table, feed=True)
    publisher = target.publisher(max_messages=100, max_latency=0.01)
    sent: queue.SimpleQueue = queue.SimpleQueue()  # (event_id, publish time) from the publisher
    done = threading.Event()

    def publish():
        start = time.monotonic()
        futures = []
        for i, payload in enumerate(payloads):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            if i in probe_ids:
                sent.put((probe_ids[i], time.time()))
            futures.append(publisher.publish(target.topic, payload))
        for future in futures:
            future.result(timeout=120)
        done.set()

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    deadline = None
    while True:
        while not sent.empty():
            watch.expect(*sent.get())
        watch.check()
        if done.is_set() and sent.empty():
            if not watch.outstanding:
                break
            deadline = deadline or time.monotonic() + settle
            if time.monotonic() > deadline:
                break
        time.sleep(CHECK_PAUSE)
    thread.join(5)
    publisher.transport.close()
    figures = summarise(watch.landed)
    return {
        "rate_offered": round(rate, 1),
        "seconds": seconds,
        "published": count,
        "probes": len(probe_ids),
        "probes_landed": len(watch.landed),
        **{f"p{q}_s": round(figures.get(f"p{q}_ms", float("nan")) / 1000, 4)
           for q in (50, 95, 99)},
        "max_s": round(figures["max_ms"] / 1000, 4) if watch.landed else None,
        "resolution_median_ms": figures.get("resolution_median_ms"),
        "resolution_max_ms": figures.get("resolution_max_ms"),
        "checks": watch.checks,
        **({"latencies_ms": [x.latency_s * 1000 for x in watch.landed]} if keep else {}),
    }


def run_variant(name: str, args, profile: bool) -> dict:
    tuning = VARIANTS[name]
    probe = WorkerProfile() if profile else None
    backlog = args.backlog if tuning.pull_max_messages else args.stock_backlog
    print(f"[{name}] saturation: backlog {backlog} ...", flush=True)
    drain, series, counters = saturation(tuning, backlog, args.time_box, probe)
    print(f"[{name}] {drain}", flush=True)
    rate = max(1.0, drain["events_per_s"] / 2)
    print(f"[{name}] latency at {rate:.0f}/s for {args.latency_seconds:.0f} s ...", flush=True)
    lat = latency(tuning, rate, args.latency_seconds)
    print(f"[{name}] {lat}", flush=True)
    result = {"tuning": asdict(tuning), "saturation": drain, "latency_at_half": lat,
              "drain_series": series, "pipeline_counters": counters}
    if probe:
        result["executor_cpu_s"] = probe.cpu
        path = Path(args.out).with_name(f"pipeline-profile-{name}.txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(probe.report())
        probe.dump(path.with_suffix(".prof"))
        result["profile"] = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench/results/pipeline.json"))
    parser.add_argument("--variants", default="stock,pull500,tuned", help="comma-separated")
    parser.add_argument("--backlog", type=int, default=30_000, help="saturation backlog (tuned)")
    parser.add_argument("--stock-backlog", type=int, default=2_000)
    parser.add_argument("--time-box", type=float, default=30.0, help="saturation max seconds")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--profile", action="store_true", help="cProfile the executor thread")
    args = parser.parse_args(argv)

    variants = {}
    for name in args.variants.split(","):
        if name not in VARIANTS:
            parser.error(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
        variants[name] = run_variant(name, args, args.profile)

    report = {"variants": variants, "goals": {"events_per_s": GOAL_EVENTS_PER_S,
                                               "p99_s_at_half_rate": GOAL_P99_S}}
    stock = variants.get("stock")
    for name, v in variants.items():
        if stock and name != "stock":
            report[f"ratio_{name}_over_stock"] = {
                "events_per_s": _ratio(v["saturation"]["events_per_s"],
                                       stock["saturation"]["events_per_s"]),
                "p99_s": _ratio(v["latency_at_half"]["p99_s"], stock["latency_at_half"]["p99_s"]),
            }
    for name, v in variants.items():
        report["goals"][f"{name}_met"] = bool(
            v["saturation"]["events_per_s"] >= GOAL_EVENTS_PER_S
            and v["latency_at_half"]["p99_s"] <= GOAL_P99_S
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\nwritten to {out}")
    return 0


LABELS = {
    "stock": "stock DirectRunner (pulls of 10)",
    "pull500": "pulls of 500",
    "tuned": "pulls of 500 + cached DoFn specs",
}


def markdown(report: dict) -> str:
    """One row per variant; ratios against the stock DirectRunner measured in the same run."""
    goals = report["goals"]
    lines = [
        "| pipeline variant | events/s end to end | vs stock | offered (50 %) "
        "| p50 s | p95 s | p99 s | measured within | goal met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, v in report["variants"].items():
        sat, lat = v["saturation"], v["latency_at_half"]
        ratio = (report.get(f"ratio_{name}_over_stock") or {}).get("events_per_s")
        lines.append(
            f"| {LABELS.get(name, name)} | {sat['events_per_s']:,.0f} | "
            f"{f'{ratio:.1f}x' if ratio else '1.0x' if name == 'stock' else 'n/a'} | "
            f"{lat['rate_offered']:,.0f}/s | {lat['p50_s']:.2f} | {lat['p95_s']:.2f} | "
            f"{lat['p99_s']:.2f} | {_within(lat)} | {'yes' if goals.get(f'{name}_met') else 'no'} |"
        )
    lines.append("")
    lines.append(
        "Latency: publish() called -> row visible in BigQuery, per probe; \"measured within\" is "
        "the half-width of each probe's window (median / worst)."
    )
    lines.append(
        f"Goal: >= {goals['events_per_s']:,} events/s end to end with p99 <= "
        f"{goals['p99_s_at_half_rate']:.0f} s at 50 % of that rate (2 cores)."
    )
    return "\n".join(lines)


def _within(latency: dict) -> str:
    median, worst = latency.get("resolution_median_ms"), latency.get("resolution_max_ms")
    return "n/a" if median is None else f"±{median:.0f} / ±{worst:.0f} ms"


def _ratio(a, b):
    return round(a / b, 2) if a and b else None


if __name__ == "__main__":
    raise SystemExit(main())
