"""BigQuery emulator benchmark: insertAll throughput vs PyPI peers, query overhead vs DuckDB.

    python bench/bigquery_bench.py --out bench/results/bigquery.json

* insertAll rows/s: batches of 500 events-like rows (event_id STRING, event_timestamp TIMESTAMP,
  data JSON, source STRING, attributes JSON, processing_time TIMESTAMP) posted over HTTP,
  sequentially and from 4 threads, for our emulator and each peer emulator found. Peers are
  looked for on PATH and in --peer-bin (throwaway venvs, never project dependencies); a peer
  that is missing, cannot start offline or lacks insertAll is reported as skipped with why.
* query latency over 1 M rows (GROUP BY + window + UNNEST): ours end to end over HTTP
  (jobs.query, all result rows read) vs the same translated SQL run directly in DuckDB on the
  same data in-process; the ratio is the emulator's overhead.
* SELECT 1 while another client's 40-million-row query runs: seconds per SELECT 1 (jobs.query,
  5 in a row), and whether the long query was still running after them (job state).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.process import ServerProcess, free_port  # noqa: E402

PROJECT = "bench-project"
DATASET = "bench"
BATCH = 500
SCHEMA = [
    {"name": "event_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "event_timestamp", "type": "TIMESTAMP", "mode": "REQUIRED"},
    {"name": "data", "type": "JSON", "mode": "NULLABLE"},
    {"name": "source", "type": "STRING", "mode": "NULLABLE"},
    {"name": "attributes", "type": "JSON", "mode": "NULLABLE"},
    {"name": "processing_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
]
GENERATE_SQL = """
CREATE TABLE `{project}.{dataset}.big` AS
SELECT CONCAT('e', CAST(i AS STRING)) AS event_id,
       TIMESTAMP_ADD(TIMESTAMP '2024-01-01 00:00:00+00', INTERVAL i SECOND) AS event_timestamp,
       CONCAT('src', CAST(MOD(i, 50) AS STRING)) AS source,
       [CONCAT('t', CAST(MOD(i, 7) AS STRING)), CONCAT('u', CAST(MOD(i, 3) AS STRING))] AS tags,
       MOD(i, 1000) AS value
FROM UNNEST(GENERATE_ARRAY(1, {rows})) AS i
"""
QUERY_SQL = """
SELECT source, tag, COUNT(*) AS n, SUM(value) AS total,
       RANK() OVER (PARTITION BY source ORDER BY COUNT(*) DESC, tag) AS rnk
FROM `{project}.{dataset}.big`, UNNEST(tags) AS tag
GROUP BY source, tag
ORDER BY source, rnk
"""

LONG_ROWS = 40_000_000
LONG_SQL = """
SELECT MOD(a * b, 997) AS k, COUNT(*) AS n, SUM(a + b) AS s
FROM UNNEST(GENERATE_ARRAY(1, 8000)) AS a, UNNEST(GENERATE_ARRAY(1, 5000)) AS b
GROUP BY k ORDER BY k
"""

# name -> (executables to look for, argv template)
PEERS = {
    "crucible-emulator": (
        ["crucible"],
        ["serve", "--dialect", "bigquery", "--host", "127.0.0.1", "--port", "{port}"],
    ),
    "bqemulator": (
        ["bqemulator"],
        ["start", "--rest-port", "{port}", "--grpc-port", "0", "--ephemeral"],
    ),
    "local-bigquery": (["local-bigquery", "local_bigquery"], ["--port", "{port}"]),
}


def wait_http(url: str, process: subprocess.Popen, timeout: float = 40.0) -> str | None:
    """None when the server answers HTTP; otherwise why it is not up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with code {process.returncode}"
        try:
            requests.get(url, timeout=1)
            return None
        except requests.RequestException:
            time.sleep(0.2)
    return f"no HTTP answer within {timeout:.0f}s"


def start_ours() -> tuple[subprocess.Popen, str]:
    server = ServerProcess.emulator("bigquery", "--project", PROJECT)
    return server.process, server.url


def find_peer(executables: list[str], bin_dirs: list[str]) -> str | None:
    for directory in bin_dirs:
        for name in executables:
            candidate = Path(directory) / name
            if candidate.exists():
                return str(candidate)
    for name in executables:
        found = shutil.which(name)
        if found:
            return found
    return None


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def make_rows(count: int, offset: int = 0) -> list[dict]:
    now = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    rows = []
    for i in range(offset, offset + count):
        rows.append(
            {
                "insertId": f"id-{i}",
                "json": {
                    "event_id": str(uuid.UUID(int=i)),
                    "event_timestamp": (now + dt.timedelta(seconds=i)).isoformat(),
                    "data": json.dumps({"user": i % 977, "amount": i * 0.5, "ok": True}),
                    "source": f"src-{i % 20}",
                    "attributes": json.dumps({"origin": "bench", "attempt": "1"}),
                    "processing_time": (now + dt.timedelta(seconds=i, milliseconds=3)).isoformat(),
                },
            }
        )
    return rows


def api(url: str, path: str) -> str:
    return f"{url}/bigquery/v2/projects/{PROJECT}{path}"


def setup_table(session: requests.Session, url: str, table: str) -> None:
    response = session.post(
        api(url, "/datasets"), json={"datasetReference": {"datasetId": DATASET}}
    )
    if response.status_code not in (200, 409):
        raise RuntimeError(f"create dataset: HTTP {response.status_code} {response.text[:200]}")
    response = session.post(
        api(url, f"/datasets/{DATASET}/tables"),
        json={"tableReference": {"tableId": table}, "schema": {"fields": SCHEMA}},
    )
    if response.status_code == 400:  # a peer without REQUIRED columns: give it NULLABLE ones
        nullable = [dict(f, mode="NULLABLE") for f in SCHEMA]
        response = session.post(
            api(url, f"/datasets/{DATASET}/tables"),
            json={"tableReference": {"tableId": table}, "schema": {"fields": nullable}},
        )
    if response.status_code not in (200, 409):
        raise RuntimeError(f"create table: HTTP {response.status_code} {response.text[:200]}")


def insert_all_rate(url: str, batches: int, threads: int, table: str) -> dict:
    """rows/s of insertAll with `threads` concurrent senders (HTTP keep-alive sessions)."""
    session = requests.Session()
    setup_table(session, url, table)
    bodies = [json.dumps({"rows": make_rows(BATCH, b * BATCH)}).encode() for b in range(batches)]
    target = api(url, f"/datasets/{DATASET}/tables/{table}/insertAll")
    headers = {"content-type": "application/json"}
    warm = session.post(target, data=json.dumps({"rows": make_rows(5, 10**8)}), headers=headers)
    if warm.status_code != 200 or warm.json().get("insertErrors"):
        raise RuntimeError(f"insertAll: HTTP {warm.status_code} {warm.text[:200]}")

    def send(chunk: list[bytes]) -> None:
        own = requests.Session()
        for body in chunk:
            response = own.post(target, data=body, headers=headers)
            if response.status_code != 200 or response.json().get("insertErrors"):
                raise RuntimeError(f"insertAll: HTTP {response.status_code} {response.text[:200]}")

    chunks = [bodies[i::threads] for i in range(threads)]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, chunks))
    elapsed = time.perf_counter() - start
    rows = batches * BATCH
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed)}


def _sql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def dml_insert_rate(url: str, batches: int, budget_s: float = 15.0) -> dict:
    """rows/s of `INSERT ... VALUES` statements of 500 rows through jobs.query: the fallback
    ingestion path of a peer without insertAll (and a reference point for ours)."""
    session = requests.Session()
    setup_table(session, url, "events_dml")
    statements = []
    for b in range(batches):
        values = []
        for entry in make_rows(BATCH, b * BATCH):
            r = entry["json"]
            values.append(
                f"({_sql_literal(r['event_id'])}, TIMESTAMP {_sql_literal(r['event_timestamp'])}, "
                f"JSON {_sql_literal(r['data'])}, {_sql_literal(r['source'])}, "
                f"JSON {_sql_literal(r['attributes'])}, "
                f"TIMESTAMP {_sql_literal(r['processing_time'])})"
            )
        statements.append(
            f"INSERT INTO `{PROJECT}.{DATASET}.events_dml` (event_id, event_timestamp, data, "
            f"source, attributes, processing_time) VALUES {', '.join(values)}"
        )
    start = time.perf_counter()
    done = 0
    for sql in statements:  # stops early past the time budget (slow peers)
        run_query(session, url, sql)
        done += 1
        if time.perf_counter() - start > budget_s:
            break
    elapsed = time.perf_counter() - start
    rows = done * BATCH
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed)}


def run_query(session: requests.Session, url: str, sql: str) -> dict:
    response = session.post(
        api(url, "/queries"), json={"query": sql, "useLegacySql": False, "timeoutMs": 600000}
    )
    body = response.json()
    if response.status_code != 200:
        raise RuntimeError(f"query: HTTP {response.status_code} {json.dumps(body)[:300]}")
    rows = list(body.get("rows", []))
    token = body.get("pageToken")
    while token:
        job = body["jobReference"]["jobId"]
        page = session.get(api(url, f"/queries/{job}"), params={"pageToken": token}).json()
        rows.extend(page.get("rows", []))
        token = page.get("pageToken")
    return {"rows": rows}


def duckdb_baseline(rows: int):
    """An in-process DuckDB holding the same generated table; returns (run query, query SQL)."""
    import duckdb

    from emulators.bigquery.sql import translate

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def resolve(project: str, dataset: str, table: str) -> str:
        return f'"{table}"'

    generate = translate(
        GENERATE_SQL.format(project=PROJECT, dataset=DATASET, rows=rows),
        default_project=PROJECT,
        default_dataset=None,
        resolve_table=resolve,
    )
    con.execute(f'CREATE TABLE "big" AS {generate.query_sql}', generate.duckdb_params or None)
    query = translate(
        QUERY_SQL.format(project=PROJECT, dataset=DATASET),
        default_project=PROJECT,
        default_dataset=None,
        resolve_table=resolve,
    )

    def run() -> int:
        return len(con.execute(query.duckdb_sql, query.duckdb_params or None).fetchall())

    return run, query.duckdb_sql


def query_latency(url: str, rows: int, repeats: int) -> dict:
    """Ours over HTTP vs DuckDB direct, measured alternately so machine load hits both alike."""
    session = requests.Session()
    session.post(api(url, "/datasets"), json={"datasetReference": {"datasetId": DATASET}})
    start = time.perf_counter()
    run_query(session, url, GENERATE_SQL.format(project=PROJECT, dataset=DATASET, rows=rows))
    generate_s = time.perf_counter() - start
    duck_run, duck_sql = duckdb_baseline(rows)
    sql = QUERY_SQL.format(project=PROJECT, dataset=DATASET)
    ours_rows = len(run_query(session, url, sql)["rows"])  # warm-up, both sides
    duck_rows = duck_run()
    ours_t, duck_t = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        run_query(session, url, sql)
        ours_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        duck_run()
        duck_t.append(time.perf_counter() - start)
    return {
        "ours": {
            "generate_seconds": round(generate_s, 3),
            "median_ms": round(statistics.median(ours_t) * 1000, 2),
            "result_rows": ours_rows,
        },
        "duckdb": {
            "median_ms": round(statistics.median(duck_t) * 1000, 2),
            "result_rows": duck_rows,
            "sql": duck_sql,
        },
    }


def select_1_beside_long_query(url: str, probes: int = 5) -> dict:
    """SELECT 1 answered while a 40M-row query (LONG_SQL) runs on another connection."""
    session = requests.Session()
    job_id = f"long_{uuid.uuid4().hex}"
    body = {"query": LONG_SQL, "useLegacySql": False, "requestId": job_id[5:], "timeoutMs": 600000}
    started = time.perf_counter()
    long_done: dict = {}

    def run_long() -> None:
        requests.post(api(url, "/queries"), json=body, timeout=900)
        long_done["seconds"] = time.perf_counter() - started

    thread = concurrent.futures.ThreadPoolExecutor(1).submit(run_long)
    job_path = api(url, f"/jobs/job_{job_id[5:]}")
    while session.get(job_path).json().get("status", {}).get("state") != "RUNNING":
        time.sleep(0.01)
    timings = []
    for _ in range(probes):
        start = time.perf_counter()
        run_query(session, url, "SELECT 1")
        timings.append(time.perf_counter() - start)
    still_running = session.get(job_path).json()["status"]["state"] == "RUNNING"
    thread.result()
    return {
        "long_query_rows": LONG_ROWS,
        "long_query_seconds": round(long_done["seconds"], 3),
        "select_1_seconds": [round(t, 4) for t in timings],
        "select_1_max_seconds": round(max(timings), 4),
        "long_query_still_running_after": still_running,
    }


def bench_peer(name: str, executable: str, argv: list[str], args: argparse.Namespace) -> dict:
    port = free_port()
    env = dict(os.environ)
    env.pop("BIGQUERY_EMULATOR_HOST", None)
    with open(os.devnull, "w") as devnull:
        process = subprocess.Popen(
            [executable, *(a.format(port=port) for a in argv)],
            stdout=devnull,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        problem = wait_http(url, process)
        if problem:
            tail = ""
            if process.poll() is not None and process.stderr:
                lines = [line for line in process.stderr.read().splitlines() if line.strip()]
                errors = [line for line in lines if "Error" in line]
                tail = (errors or lines or [""])[-1][:400]
            return {"status": "skipped", "why": f"did not start: {problem}. {tail}".strip()}
        result: dict = {"status": "ran", "executable": executable}
        try:
            result["insert_all"] = insert_all_rate(url, args.batches, 1, "events_seq")
        except Exception as exc:  # noqa: BLE001 - a peer's gap is a finding, not a crash
            result["insert_all"] = {"status": "unsupported", "why": str(exc)[:300]}
            try:
                result["dml_insert"] = dml_insert_rate(url, max(args.batches // 4, 1))
            except Exception as dml_exc:  # noqa: BLE001
                result["dml_insert"] = {"status": "unsupported", "why": str(dml_exc)[:300]}
        return result
    finally:
        stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/bigquery.json")
    parser.add_argument("--batches", type=int, default=60, help="insertAll batches of 500 rows")
    parser.add_argument("--query-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument(
        "--peer-bin",
        action="append",
        default=["/tmp/bqpeers/bin", "/tmp/bqpeers2/bin"],
        help="directory with peer executables (a throwaway venv's bin); repeatable",
    )
    args = parser.parse_args()

    results: dict = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "batch_rows": BATCH,
        "peers": {},
    }
    process, url = start_ours()
    try:
        latency = query_latency(url, args.query_rows, args.repeats)
        results["ours"] = {
            "insert_all": insert_all_rate(url, args.batches, 1, "events_seq"),
            "insert_all_4_threads": insert_all_rate(url, args.batches, 4, "events_par"),
            "dml_insert": dml_insert_rate(url, max(args.batches // 4, 1)),
            "query": latency["ours"],
            "select_1_beside_long_query": select_1_beside_long_query(url),
        }
        results["duckdb"] = {"query": latency["duckdb"]}
    finally:
        stop(process)
    ours_q = results["ours"]["query"]["median_ms"]
    duck_q = results["duckdb"]["query"]["median_ms"]
    results["query_overhead_ratio"] = round(ours_q / duck_q, 2) if duck_q else None

    for name, (executables, argv) in PEERS.items():
        executable = find_peer(executables, args.peer_bin)
        if executable is None:
            results["peers"][name] = {"status": "skipped", "why": "not installed"}
            continue
        results["peers"][name] = bench_peer(name, executable, argv, args)
    peer_rates = {
        name: peer["insert_all"]["rows_per_s"]
        for name, peer in results["peers"].items()
        if isinstance(peer.get("insert_all"), dict) and "rows_per_s" in peer["insert_all"]
    }
    best = max(peer_rates.items(), key=lambda kv: kv[1]) if peer_rates else None
    ours_rate = results["ours"]["insert_all"]["rows_per_s"]
    results["best_peer"] = best[0] if best else None
    results["insert_all_vs_best_peer"] = round(ours_rate / best[1], 2) if best else None

    out = ROOT / args.out if not os.path.isabs(args.out) else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    return 0


def markdown(r: dict) -> str:
    ours = r["ours"]
    lines = [
        "| metric | ours | reference | ratio | goal |",
        "| --- | --- | --- | --- | --- |",
    ]
    peer = r["best_peer"]
    peer_rate = r["peers"][peer]["insert_all"]["rows_per_s"] if peer else None
    lines.append(
        f"| insertAll rows/s (batches of {r['batch_rows']}, 1 sender) | "
        f"{ours['insert_all']['rows_per_s']:,} | "
        f"{f'{peer}: {peer_rate:,}' if peer else 'no runnable peer with insertAll'} | "
        f"{r['insert_all_vs_best_peer'] or 'n/a'} | >= 3x best peer |"
    )
    lines.append(
        f"| insertAll rows/s (4 senders) | {ours['insert_all_4_threads']['rows_per_s']:,} | | | |"
    )
    dml_peers = {
        name: p["dml_insert"]["rows_per_s"]
        for name, p in r["peers"].items()
        if isinstance(p.get("dml_insert"), dict) and "rows_per_s" in p["dml_insert"]
    }
    for name, rate in dml_peers.items():
        ratio = round(ours["insert_all"]["rows_per_s"] / rate, 2)
        lines.append(
            f"| ours insertAll vs {name} INSERT DML (it has no insertAll), rows/s | "
            f"{ours['insert_all']['rows_per_s']:,} | {rate:,} | {ratio} | |"
        )
    lines.append(
        f"| INSERT ... VALUES DML rows/s (500 rows/statement) | "
        f"{ours['dml_insert']['rows_per_s']:,} | "
        + " ".join(f"{n}: {v:,}" for n, v in dml_peers.items())
        + " | | |"
    )
    lines.append(
        f"| query over 1M rows, median ms (GROUP BY + window + UNNEST) | "
        f"{ours['query']['median_ms']} | DuckDB direct: {r['duckdb']['query']['median_ms']} | "
        f"{r['query_overhead_ratio']} | <= 1.5x DuckDB |"
    )
    beside = ours.get("select_1_beside_long_query")
    if beside:
        lines.append(
            f"| SELECT 1 while another client's {beside['long_query_rows']:,}-row query runs, "
            f"max s of {len(beside['select_1_seconds'])} | {beside['select_1_max_seconds']} | "
            f"the long query: {beside['long_query_seconds']} s"
            f"{'' if beside['long_query_still_running_after'] else ' (ended before the probes)'}"
            " | | <= 1 s |"
        )
    lines.append("")
    for name, peer_result in r["peers"].items():
        detail = peer_result.get("why") or json.dumps(peer_result.get("insert_all"))
        lines.append(f"- peer {name}: {peer_result['status']} — {detail}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
