"""BigQuery emulator benchmark: ours vs bqemulator (the live rival) and raw DuckDB.

    python bench/bigquery_bench.py --out bench/results/bigquery.json

* insertAll rows/s: batches of 500 events-like rows (event_id STRING, event_timestamp TIMESTAMP,
  data JSON, source STRING, attributes JSON, processing_time TIMESTAMP) posted over HTTP,
  sequentially and from 4 threads.
* query latency over 1 M rows (GROUP BY + window + UNNEST): end to end over HTTP (jobs.query,
  all result rows read), and the same translated SQL run directly in DuckDB in-process.
* Storage Read rows/s into Arrow: the 1 M-row table through google-cloud-bigquery's
  `list_rows(...).to_arrow()` with a BigQueryReadClient on the emulator's gRPC port; DuckDB
  direct: the same table into Arrow in-process.
* Storage Write rows/s through `_default`: 100,000 events-like rows in proto rows of 500 per
  AppendRows request, through the client's AppendRowsStream (rows serialized before the clock
  starts); DuckDB direct: the same rows appended as Arrow batches of 500 in-process.
* SELECT 1 while another client's 40-million-row query runs (ours): seconds per SELECT 1
  (jobs.query, 5 in a row), and whether the long query was still running after them (job state).

bqemulator (PyPI) is installed in a venv of its own and started offline by parity/bqemulator.py
(the first run installs it from the package index). Other PyPI peers are looked for on PATH and
in --peer-bin; one that is missing, cannot start or lacks insertAll is reported with why.
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

# name -> (executables to look for, argv template); bqemulator is managed by parity/bqemulator.py
PEERS = {
    "crucible-emulator": (
        ["crucible"],
        ["serve", "--dialect", "bigquery", "--host", "127.0.0.1", "--port", "{port}"],
    ),
    "local-bigquery": (["local-bigquery", "local_bigquery"], ["--port", "{port}"]),
}
WRITE_BATCHES = 200  # Storage Write: 200 requests of 500 rows


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


def start_ours() -> tuple[subprocess.Popen, str, str]:
    """(process, REST URL, Storage API host:port) of our emulator on free ports."""
    server = ServerProcess.emulator("bigquery", "--project", PROJECT)
    return server.process, server.url, server.storage_address


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


def generate_big(session: requests.Session, url: str, rows: int) -> float:
    """Create the `big` table of `rows` rows with CTAS; returns the seconds it took."""
    session.post(api(url, "/datasets"), json={"datasetReference": {"datasetId": DATASET}})
    start = time.perf_counter()
    run_query(session, url, GENERATE_SQL.format(project=PROJECT, dataset=DATASET, rows=rows))
    return time.perf_counter() - start


def query_setup(url: str, storage: str, rows: int) -> dict:
    """The `big` table on one emulator and a warm-up run of QUERY_SQL."""
    session = requests.Session()
    generate_s = generate_big(session, url, rows)
    sql = QUERY_SQL.format(project=PROJECT, dataset=DATASET)
    result_rows = len(run_query(session, url, sql)["rows"])
    return {"session": session, "sql": sql, "generate_seconds": round(generate_s, 3),
            "result_rows": result_rows}  # fmt: skip


def query_once(url: str, state: dict, _round: int) -> float:
    start = time.perf_counter()
    run_query(state["session"], url, state["sql"])
    return time.perf_counter() - start


def read_setup(url: str, storage: str, _rows: int) -> dict:
    """A client reading the `big` table through the Storage Read API, warmed up once."""
    from emulators.bigquery.storage_api.clients import bigquery_client, read_client

    client = bigquery_client(PROJECT, url, storage)
    reader = read_client(storage)
    table = client.get_table(f"{PROJECT}.{DATASET}.big")
    rows = client.list_rows(table).to_arrow(bqstorage_client=reader).num_rows
    if rows != table.num_rows:
        raise RuntimeError(f"Storage Read returned {rows} of {table.num_rows} rows")
    return {"client": client, "reader": reader, "table": table, "rows": rows}


def read_once(url: str, state: dict, _round: int) -> float:
    """One read of the whole table into Arrow, the way google-cloud-bigquery reads (a session,
    its streams read in parallel)."""
    start = time.perf_counter()
    state["client"].list_rows(state["table"]).to_arrow(bqstorage_client=state["reader"])
    return time.perf_counter() - start


def _write_rows(batches: int) -> list[list[bytes]]:
    """The events rows as serialized proto rows (the EVENT_PROTO message), per request."""
    message = event_message()
    out = []
    for b in range(batches):
        batch = []
        for entry in make_rows(BATCH, b * BATCH):
            r = entry["json"]
            batch.append(
                message(
                    event_id=r["event_id"],
                    event_timestamp=_micros(r["event_timestamp"]),
                    data=r["data"],
                    source=r["source"],
                    attributes=r["attributes"],
                    processing_time=_micros(r["processing_time"]),
                ).SerializeToString()
            )
        out.append(batch)
    return out


def event_descriptor():
    """The proto (proto2) of an events row, as a writer would declare it."""
    from google.protobuf import descriptor_pb2

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.DescriptorProto(name="Event")
    for number, (name, kind) in enumerate(
        [("event_id", field.TYPE_STRING), ("event_timestamp", field.TYPE_INT64),
         ("data", field.TYPE_STRING), ("source", field.TYPE_STRING),
         ("attributes", field.TYPE_STRING), ("processing_time", field.TYPE_INT64)], 1
    ):  # fmt: skip
        proto.field.add(name=name, number=number, type=kind, label=field.LABEL_OPTIONAL)
    return proto


def event_message():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file_proto = descriptor_pb2.FileDescriptorProto(name="event.proto", syntax="proto2")
    file_proto.message_type.add().CopyFrom(event_descriptor())
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("Event"))


def _micros(text: str) -> int:
    moment = dt.datetime.fromisoformat(text)
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(
        microseconds=1
    )


def storage_write_rate(url: str, storage: str, batches: int, table: str) -> dict:
    """rows/s through `_default` with the client's AppendRowsStream. Every request names the
    stream (allowed by the API; bqemulator needs it after the first request)."""
    from google.cloud.bigquery_storage_v1 import types, writer

    from emulators.bigquery.storage_api.clients import write_client

    setup_table(requests.Session(), url, table)
    client = write_client(storage)
    stream_name = f"projects/{PROJECT}/datasets/{DATASET}/tables/{table}/streams/_default"
    requests_ = []
    for rows in _write_rows(batches):
        request = types.AppendRowsRequest(write_stream=stream_name)
        data = types.AppendRowsRequest.ProtoData()
        data.rows = types.ProtoRows(serialized_rows=rows)
        request.proto_rows = data
        requests_.append(request)
    template = types.AppendRowsRequest(write_stream=stream_name)
    data = types.AppendRowsRequest.ProtoData()
    data.writer_schema = types.ProtoSchema(proto_descriptor=event_descriptor())
    template.proto_rows = data
    start = time.perf_counter()
    stream = writer.AppendRowsStream(client, template)
    futures = [stream.send(request) for request in requests_]
    for future in futures:
        future.result(timeout=300)
    stream.close()
    elapsed = time.perf_counter() - start
    counted = run_query(
        requests.Session(), url, f"SELECT COUNT(*) FROM `{PROJECT}.{DATASET}.{table}`"
    )["rows"][0]["f"][0]["v"]
    rows = batches * BATCH
    if int(counted) != rows:
        raise RuntimeError(f"Storage Write stored {counted} of {rows} rows")
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed)}


def duckdb_storage_baselines(rows: int, batches: int, repeats: int) -> dict:
    """DuckDB in-process: the `big` table into Arrow, and the events rows appended as Arrow
    batches of 500 (the floors under the Storage Read and Write figures)."""
    import duckdb
    import pyarrow as pa

    from emulators.bigquery.sql import translate
    from emulators.bigquery.types import arrow_type, bq_to_duckdb_type

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    generate = translate(
        GENERATE_SQL.format(project=PROJECT, dataset=DATASET, rows=rows),
        default_project=PROJECT, default_dataset=None, resolve_table=lambda p, d, t: f'"{t}"',
    )  # fmt: skip
    con.execute(f'CREATE TABLE "big" AS {generate.query_sql}', generate.duckdb_params or None)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        relation = con.sql('SELECT * FROM "big"')
        (getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table)()
        times.append(time.perf_counter() - start)
    read_s = statistics.median(times[1:])
    schema = pa.schema([pa.field(f["name"], arrow_type(f)) for f in SCHEMA])
    con.execute(
        "CREATE TABLE events ("
        + ", ".join(f'"{f["name"]}" {bq_to_duckdb_type(f)}' for f in SCHEMA)
        + ")"
    )
    arrow_batches = []
    for b in range(batches):
        converted = []
        for entry in make_rows(BATCH, b * BATCH):
            r = dict(entry["json"])
            for key in ("event_timestamp", "processing_time"):
                r[key] = dt.datetime.fromisoformat(r[key])
            converted.append(r)
        arrow_batches.append(pa.Table.from_pylist(converted, schema=schema))
    start = time.perf_counter()
    for batch in arrow_batches:
        con.register("incoming", batch)
        con.execute("INSERT INTO events SELECT * FROM incoming")
        con.unregister("incoming")
    write_s = time.perf_counter() - start
    return {
        "read": {"rows": rows, "seconds": round(read_s, 3), "rows_per_s": round(rows / read_s)},
        "write": {
            "rows": batches * BATCH,
            "seconds": round(write_s, 3),
            "rows_per_s": round(batches * BATCH / write_s),
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


def alternate(runners: dict, rounds: int) -> dict:
    """Each runner's median seconds over `rounds`, measured in turn (ours, the rival, ...) so
    that the load of a shared machine hits them alike. `runners`: {name: (setup() -> state,
    once(state, round number) -> seconds)}; a runner whose setup or a round fails is reported
    failed (a rival's gap is a finding, not a crash)."""
    states, out = {}, {}
    for name, (setup, _once) in runners.items():
        try:
            states[name] = setup()
        except Exception as exc:  # noqa: BLE001
            out[name] = _failed(exc)
    times: dict[str, list[float]] = {name: [] for name in states}
    for number in range(rounds):
        for name in list(states):
            try:
                times[name].append(runners[name][1](states[name], number))
            except Exception as exc:  # noqa: BLE001
                out[name] = _failed(exc)
                del states[name]
    for name, state in states.items():
        out[name] = {"state": state, "median_s": statistics.median(times[name])}
    return out


def _failed(exc: Exception) -> dict:
    return {"status": "failed", "why": f"{type(exc).__name__}: {exc}"[:300]}


def _rows_per_s(rows: int, seconds: float) -> dict:
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds)}


def measure(sides: dict[str, tuple[str, str]], args: argparse.Namespace, duck_run) -> dict:
    """Every figure of every side ({name: (REST URL, Storage host:port)}) and DuckDB's query
    time, in alternating rounds."""
    figures: dict[str, dict] = {name: {} for name in [*sides, "duckdb"]}
    rounds, few = max(args.repeats, 1), max(args.repeats // 3, 1)

    def keep(metric: str, results: dict, shape) -> None:
        for name, result in results.items():
            figures[name][metric] = shape(result) if "median_s" in result else result

    def each(setup, once) -> dict:
        return {name: (lambda u=u, s=s: setup(u, s), lambda state, n, u=u: once(u, state, n))
                for name, (u, s) in sides.items()}  # fmt: skip

    query_runners = each(lambda u, s: query_setup(u, s, args.query_rows), query_once)
    query_runners["duckdb"] = (lambda: _timed(duck_run) and None, lambda _s, _n: _timed(duck_run))
    keep("query", alternate(query_runners, rounds), lambda r: {
        "median_ms": round(r["median_s"] * 1000, 2),
        **{k: v for k, v in (r["state"] or {}).items() if k in ("generate_seconds", "result_rows")},
    })  # fmt: skip
    read = alternate(each(lambda u, s: read_setup(u, s, args.query_rows), read_once), few)
    keep("storage_read", read, lambda r: _rows_per_s(r["state"]["rows"], r["median_s"]))
    inserted = alternate(each(
        lambda u, s: None,
        lambda u, _state, n: insert_all_rate(u, args.batches, 1, f"events_seq_{n}")["seconds"],
    ), few)  # fmt: skip
    keep("insert_all", inserted, lambda r: _rows_per_s(args.batches * BATCH, r["median_s"]))
    written = alternate(each(
        lambda u, s: s,
        lambda u, storage, n: storage_write_rate(u, storage, args.write_batches,
                                                 f"events_w_{n}")["seconds"],
    ), few)  # fmt: skip
    keep("storage_write", written, lambda r: _rows_per_s(args.write_batches * BATCH, r["median_s"]))
    return figures


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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
    parser.add_argument(
        "--write-batches", type=int, default=WRITE_BATCHES, help="AppendRows requests of 500"
    )
    parser.add_argument("--query-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-rival", action="store_true", help="skip bqemulator")
    parser.add_argument(
        "--peer-bin",
        action="append",
        default=["/tmp/bqpeers/bin", "/tmp/bqpeers2/bin"],
        help="directory with other peers' executables (a throwaway venv's bin); repeatable",
    )
    args = parser.parse_args()

    results: dict = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "batch_rows": BATCH,
        "query_rows": args.query_rows,
        "write_rows": args.write_batches * BATCH,
        "peers": {},
    }
    duck_run, duck_sql = duckdb_baseline(args.query_rows)
    process, url, storage = start_ours()
    rival, results["rival"] = start_rival(args)
    try:
        sides = {"ours": (url, storage)}
        if rival is not None:
            sides["bqemulator"] = (rival.url, rival.storage)
        figures = measure(sides, args, duck_run)
        ours = figures["ours"]
        ours["insert_all_4_threads"] = insert_all_rate(url, args.batches, 4, "events_par")
        ours["dml_insert"] = dml_insert_rate(url, max(args.batches // 4, 1))
        ours["select_1_beside_long_query"] = select_1_beside_long_query(url)
        if rival is not None:
            results["rival"].update(figures["bqemulator"])
    finally:
        stop(process)
        if rival is not None:
            rival.stop()
    duck_ms = figures["duckdb"]["query"]["median_ms"]
    results["ours"] = ours
    results["duckdb"] = {
        "query": {"median_ms": duck_ms, "sql": duck_sql},
        **duckdb_storage_baselines(args.query_rows, args.write_batches, max(args.repeats // 3, 1)),
    }
    results["query_overhead_ratio"] = round(ours["query"]["median_ms"] / duck_ms, 2)
    for name, (executables, argv) in PEERS.items():
        executable = find_peer(executables, args.peer_bin)
        if executable is None:
            results["peers"][name] = {"status": "skipped", "why": "not installed"}
            continue
        results["peers"][name] = bench_peer(name, executable, argv, args)

    out = ROOT / args.out if not os.path.isabs(args.out) else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    return 0


def start_rival(args: argparse.Namespace):
    """(the running bqemulator or None, its result entry: ran, or skipped with why)."""
    if args.no_rival:
        return None, {"status": "skipped", "why": "--no-rival"}
    from parity import bqemulator

    try:
        rival = bqemulator.start(PROJECT, log=lambda text: print(text, file=sys.stderr))
    except bqemulator.RivalError as exc:
        return None, {"status": "skipped", "why": str(exc)}
    return rival, {"status": "ran", "version": bqemulator.VERSION}


def _rate(entry: dict | None, key: str = "rows_per_s") -> float | None:
    return entry.get(key) if isinstance(entry, dict) else None


def _cell(value: float | None, entry: dict | None = None) -> str:
    if value is None:
        why = (entry or {}).get("why") or (entry or {}).get("status") or "not measured"
        return f"failed ({why.split(':')[0]})" if entry else "n/a"
    return f"{value:,}" if isinstance(value, int) else f"{value}"


def markdown(r: dict) -> str:
    ours, rival, duck = r["ours"], r.get("rival", {}), r["duckdb"]
    lines = [
        "| metric | ours | bqemulator | ours/bqemulator | DuckDB direct | goal |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    rows = [  # (label, key in results, sub key, higher is better, DuckDB figure, goal)
        (f"insertAll rows/s (batches of {r['batch_rows']}, 1 sender)", "insert_all",
         "rows_per_s", True, None, ">= 3x bqemulator"),
        (f"query over {r['query_rows']:,} rows, median ms (GROUP BY + window + UNNEST)",
         "query", "median_ms",
         False, duck["query"]["median_ms"], "ahead of bqemulator; <= 1.5x DuckDB"),
        (f"Storage Read rows/s into Arrow ({r['query_rows']:,} rows, to_arrow)",
         "storage_read", "rows_per_s",
         True, _rate(duck.get("read")), "ahead of bqemulator"),
        (f"Storage Write rows/s through _default ({r['write_rows']:,} rows, AppendRowsStream)",
         "storage_write", "rows_per_s", True, _rate(duck.get("write")), "ahead of bqemulator"),
    ]  # fmt: skip
    for label, key, sub, higher, duck_value, goal in rows:
        mine = _rate(ours.get(key), sub)
        theirs = _rate(rival.get(key), sub) if rival.get("status") == "ran" else None
        ratio = "n/a"
        if mine and theirs:
            ratio = f"{(mine / theirs if higher else theirs / mine):.2f}x"
        lines.append(
            f"| {label} | {_cell(mine, ours.get(key))} | "
            f"{_cell(theirs, rival.get(key)) if rival.get('status') == 'ran' else 'n/a'} | "
            f"{ratio} | {_cell(duck_value) if duck_value else ''} | {goal} |"
        )
    lines.append(
        f"| insertAll rows/s (4 senders) | {_cell(_rate(ours.get('insert_all_4_threads')))} "
        "| | | | |"
    )
    lines.append(
        f"| INSERT ... VALUES DML rows/s (500 rows/statement) | "
        f"{_cell(_rate(ours.get('dml_insert')))} | | | | |"
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
    lines.append(
        "- ours/bqemulator: for the query row, bqemulator's time over ours; above 1 means ours "
        "is ahead. Both emulators ran side by side on the same data, measured in alternating "
        "rounds (medians) so the machine's load hits both alike."
    )
    if rival.get("status") != "ran":
        lines.append(f"- bqemulator: {rival.get('status')} — {rival.get('why')}")
    else:
        for key, entry in rival.items():
            if isinstance(entry, dict) and entry.get("status") == "failed":
                lines.append(f"- bqemulator {key}: {entry['why']}")
    for name, peer_result in r["peers"].items():
        detail = peer_result.get("why") or json.dumps(peer_result.get("insert_all"))
        lines.append(f"- peer {name}: {peer_result['status']} — {detail}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
