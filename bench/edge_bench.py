"""The REST ingestion edge against publishing directly with the client, on our Pub/Sub emulator.

    python bench/edge_bench.py --out bench/results/edge.json [--events 20000] [--clients 4]

Both sides publish the same valid events to the same emulator and count an event only once
Pub/Sub accepted it:

* ``direct``: one ``PublisherClient`` (batches of up to 500, 10 ms) in this process; the
  latency is publish() -> its future resolved.
* ``rest, N events/request``: ``--clients`` threads POSTing NDJSON to ``python -m ingest``
  (a process of its own, API keys, the pipeline's validation, idempotency, the same client
  batching); the latency is one HTTP request, sent -> answered (its 2xx comes after Pub/Sub
  accepted every event in it).

On 2 cores the load generator shares the CPUs with the edge and the emulator: the REST figures
are what one edge process sustains when it has about one core, not a ceiling.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.process import ServerProcess  # noqa: E402
from harness import clients  # noqa: E402
from harness.stack import Endpoints  # noqa: E402
from pipeline import samples  # noqa: E402


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def events(count: int, source: str, prefix: str) -> list[bytes]:
    out = []
    for i in range(count):
        event = samples.valid_event(event_id=f"{prefix}-{i}")
        event["metadata"]["source"] = source
        out.append(samples.encode(event))
    return out


def direct(ends: Endpoints, topic: str, count: int) -> dict:
    from google.cloud import pubsub_v1

    publisher = clients.publisher(ends, batch_settings=pubsub_v1.types.BatchSettings(
        max_messages=500, max_latency=0.01))
    payloads = events(count, "checkout", "direct")
    latencies: list[float] = []
    lock = threading.Lock()
    started = time.perf_counter()

    def done(sent):
        def callback(future):
            future.result()
            with lock:
                latencies.append(time.perf_counter() - sent)
        return callback

    futures = []
    for payload in payloads:
        future = publisher.publish(topic, payload)
        future.add_done_callback(done(time.perf_counter()))
        futures.append(future)
    for future in futures:
        future.result(timeout=120)
    seconds = time.perf_counter() - started
    publisher.stop()
    return {"events": count, "seconds": seconds, "events_per_s": count / seconds,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000}


def rest(url: str, keys: dict[str, str], count: int, per_request: int, threads: int) -> dict:
    import requests

    sources = list(keys)
    latencies: list[float] = []
    accepted = [0]
    errors: list[str] = []
    lock = threading.Lock()
    share = count // threads

    def work(n: int) -> None:
        source = sources[n % len(sources)]
        session = requests.Session()
        headers = {"X-API-Key": keys[source], "content-type": "application/x-ndjson"}
        payloads = events(share, source, f"rest{per_request}-{n}")
        for start in range(0, share, per_request):
            body = b"\n".join(payloads[start:start + per_request])
            sent = time.perf_counter()
            response = session.post(f"{url}/v1/events", data=body, headers=headers, timeout=60)
            elapsed = time.perf_counter() - sent
            with lock:
                latencies.append(elapsed)
                if response.status_code == 200:
                    accepted[0] += len(response.json()["accepted"])
                else:
                    errors.append(f"HTTP {response.status_code}")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    return {"events": accepted[0], "requests": len(latencies), "errors": errors[:5],
            "seconds": seconds, "events_per_s": accepted[0] / seconds,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000}


def markdown(report: dict) -> str:
    direct_rate = report["direct"]["events_per_s"]
    lines = ["| path | events/s | vs direct | p50 ms | p99 ms |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, row in [("direct client (batches of 500)", report["direct"]),
                      *[(f"REST edge, {k} events/request, {report['clients']} clients", v)
                        for k, v in report["rest"].items()]]:
        lines.append(f"| {name} | {row['events_per_s']:,.0f} | "
                     f"{row['events_per_s'] / direct_rate:.2f} | {row['p50_ms']:.1f} | "
                     f"{row['p99_ms']:.1f} |")
    lines.append("")
    lines.append("- latency: direct = publish() to accepted; REST = one request, sent to its "
                 "2xx (sent after Pub/Sub accepted every event in it)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench/results/edge.json"))
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-request", default="1,100", help="events per request, comma list")
    args = parser.parse_args(argv)

    from loadtest.edge import start_edge

    work = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    pubsub = ServerProcess.emulator("pubsub", log_path=work / "logs" / "pubsub.log")
    ends = Endpoints(pubsub.address, "")
    topic = "projects/bench-edge/topics/events"
    clients.publisher(ends).create_topic(name=topic)
    edge = None
    try:
        report = {"clients": args.clients, "direct": direct(ends, topic, args.events), "rest": {}}
        print(f"[direct] {report['direct']}", flush=True)
        edge, keys = start_edge(topic, ends.pubsub, work / "edge",
                                sources=("checkout", "web", "partner-feed"),
                                batching={"max_messages": 500, "max_latency_seconds": 0.01})
        for per_request in (int(n) for n in args.per_request.split(",")):
            count = args.events if per_request > 1 else max(args.clients, args.events // 10)
            result = rest(edge.url, keys, count, per_request, args.clients)
            report["rest"][per_request] = result
            print(f"[rest x{per_request}] {result}", flush=True)
    finally:
        if edge is not None:
            edge.stop()
        pubsub.stop()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
