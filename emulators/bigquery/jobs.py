"""Jobs: query, load, copy and extract jobs run in the background, as BigQuery runs them.

jobs.insert starts the job and answers when it is done or after a moment (RUNNING then);
jobs.query and jobs.getQueryResults wait up to ``timeoutMs`` (10 s by default) and answer
``jobComplete: false`` when the job is still running, so the client polls. jobs.cancel, a
client that drops its jobs.query, ``configuration.jobTimeoutMs`` and the emulator's own cap on a
job's run time (``--max-query-seconds``) interrupt the job's DuckDB statement. Loads from and
extracts to ``gs://`` go through the Cloud Storage client the manager is given.
"""

from __future__ import annotations

import concurrent.futures
import copy
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import clones, ids, scripting
from .appends import Appender
from .catalog import Catalog, now_ms
from .errors import (
    BackendError,
    BigQueryError,
    Duplicate,
    EmulatorBug,
    Invalid,
    InvalidQuery,
    NotFound,
    expect_dict,
    expect_list,
)
from .extract import run_extract
from .gcs import CloudStorage
from .load import run_load
from .pages import arrow_rows, int_param, read_page, ts_format_from
from .query import QueryEngine, QueryOutcome, Stop
from .storage import Storage

USER_EMAIL = "emulator@localhost"
# Query results kept in memory for jobs.getQueryResults; the oldest go first past either bound
# (the newest result is always kept, however large).
MAX_KEPT_RESULTS = 500
MAX_KEPT_BYTES = 1 << 30
INSERT_WAIT_S = 1.0  # jobs.insert answers DONE when the job ends within this, else RUNNING
DEFAULT_WAIT_MS = 10_000  # jobs.query / getQueryResults without timeoutMs, as BigQuery
MAX_RUNNING = 32  # jobs run at once; later ones wait in PENDING
_POLL_S = 0.05  # how often a waiting request looks whether its client went away


class JobStopped(BigQueryError):
    """A job interrupted by jobs.cancel, a dropped client or a time limit."""

    code = 400
    reason = "stopped"


def cancelled(why: str) -> JobStopped:
    return JobStopped(f"Job execution was cancelled: {why}")


def timed_out(seconds: float, what: str) -> JobStopped:
    return cancelled(f"Job timed out after {int(seconds)}s ({what})")


class _Run:
    """A job between jobs.insert and DONE: how to stop it, when it must end, its end."""

    def __init__(self, timeout_s: float, what: str):
        self.stop = Stop()
        self.deadline = time.monotonic() + timeout_s
        self.timeout_s = timeout_s
        self.what = what
        self.done = threading.Event()


class JobManager:
    """Creates, runs and looks up jobs; query results are paged from memory (Arrow) or from the
    destination table."""

    def __init__(
        self,
        catalog: Catalog,
        storage: Storage,
        engine: QueryEngine,
        appender: Appender,
        gcs: CloudStorage | None = None,
        *,
        base_url: str = "",
        max_query_seconds: float = 600.0,
    ):
        self.catalog = catalog
        self.storage = storage
        self.engine = engine
        self.appender = appender
        self.gcs = gcs
        self.base_url = base_url
        self.max_query_seconds = max_query_seconds
        self._results: dict[tuple[str, str], QueryOutcome] = {}
        # (project, dataset, table) of a query's anonymous destination -> (project, job id)
        self._anonymous: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._runs: dict[tuple[str, str], _Run] = {}
        self._lock = threading.RLock()  # jobs' state, results and runs
        self._pool = concurrent.futures.ThreadPoolExecutor(MAX_RUNNING, "bigquery-job")
        self._wake = threading.Event()
        self._closing = False
        self._watchdog: threading.Thread | None = None

    # ------------------------------------------------------------------ lookup

    def _job(self, project: str, job_id: str) -> dict:
        job = self.catalog.find_job(project, job_id)
        if job is None:
            raise NotFound(f"Not found: Job {project}:{job_id}")
        return job

    def get(self, project: str, job_id: str) -> dict:
        """A snapshot of the job resource (running jobs change under the lock)."""
        with self._lock:
            return copy.deepcopy(self._job(project, job_id))

    def list(self, project: str, params: dict) -> list[dict]:
        """jobs.list: top-level jobs, or the child jobs of ``parentJobId`` (a script's)."""
        parent = params.get("parentJobId") or None
        with self._lock:
            jobs = [copy.deepcopy(j) for j in self.catalog.list_jobs(project)
                    if j["statistics"].get("parentJobId") == parent]  # fmt: skip
        state = params.get("stateFilter")
        if state:
            wanted = {s.upper() for s in (state if isinstance(state, list) else [state])}
            jobs = [j for j in jobs if j["status"]["state"] in wanted]
        jobs.sort(key=lambda j: int(j["statistics"]["creationTime"]), reverse=True)
        return jobs

    def cancel(self, project: str, job_id: str) -> dict:
        """jobs.cancel: interrupt the job if it still runs; answers the job (DONE if it stopped
        within a moment)."""
        self._job(project, job_id)
        with self._lock:
            run = self._runs.get((project, job_id))
        if run is not None:
            run.stop.stop(cancelled("User requested cancellation"))
            self._wake.set()
            run.done.wait(INSERT_WAIT_S)
        return self.get(project, job_id)

    def delete(self, project: str, job_id: str) -> None:
        """jobs.delete: the job's metadata and results are gone (a running job is stopped). As in
        BigQuery, a script's child jobs go with it and cannot be deleted on their own."""
        job = self._job(project, job_id)
        if job["statistics"].get("parentJobId"):
            raise Invalid(
                f"Job {project}:{job_id} is a child job of {job['statistics']['parentJobId']}: "
                "direct deletion of the metadata of child jobs is not allowed."
            )
        with self._lock:
            run = self._runs.get((project, job_id))
            children = [j["jobReference"]["jobId"] for j in self.catalog.list_jobs(project)
                        if j["statistics"].get("parentJobId") == job_id]  # fmt: skip
            for gone in (job_id, *children):
                self._results.pop((project, gone), None)
                self._anonymous.pop(tuple(anonymous_table(project, gone).values()), None)
        if run is not None:
            run.stop.stop(cancelled("The job was deleted"))
            self._wake.set()
        for gone in (*children, job_id):
            self.catalog.delete_job(project, gone)

    # ------------------------------------------------------------------ insert

    def insert(
        self, project: str, body: dict, upload: bytes | None = None, *, wait: float = INSERT_WAIT_S
    ) -> dict:
        """jobs.insert: start the job; answer when it is done or after ``wait`` seconds."""
        job, run = self._start(project, body, upload)
        if run is None:
            return job
        run.done.wait(wait)
        ref = job["jobReference"]
        return self.get(ref["projectId"], ref["jobId"])

    def _start(self, project: str, body: dict, upload: bytes | None) -> tuple[dict, _Run | None]:
        """Validate and register the job, then run it (in the background unless a dry run,
        which answers at once and is not kept)."""
        if not isinstance(body, dict):
            raise Invalid("Invalid job resource.")
        config = copy.deepcopy(expect_dict(body.get("configuration"), "configuration"))
        ref = dict(expect_dict(body.get("jobReference"), "jobReference"))
        ref["projectId"] = ids.project_id(ref.get("projectId") or project)
        job_id = ids.job_id(ref.get("jobId") or f"job_{uuid.uuid4().hex}")
        ref["jobId"] = job_id
        location = ref.get("location") or "US"
        if not isinstance(location, str):
            raise Invalid("Invalid value for jobReference.location: expected a string.")
        ref["location"] = location
        job_type = next((k for k in ("query", "load", "copy", "extract") if k in config), None)
        if job_type is None:
            raise Invalid("Required parameter is missing: configuration must hold a job type.")
        config[job_type] = expect_dict(config[job_type], f"configuration.{job_type}")
        config["jobType"] = job_type.upper()
        dry_run = bool(config.get("dryRun"))
        timeout_s, what = self._time_limit(config)
        created = now_ms()
        job: dict[str, Any] = {
            "kind": "bigquery#job",
            "etag": uuid.uuid4().hex[:16],
            "id": f"{ref['projectId']}:{ref['location']}.{job_id}",
            "selfLink": f"{self.base_url}/bigquery/v2/projects/{ref['projectId']}/jobs/{job_id}",
            "jobReference": ref,
            "configuration": config,
            "status": {"state": "PENDING"},
            "statistics": {"creationTime": str(created)},
            "user_email": USER_EMAIL,
            "principal_subject": f"user:{USER_EMAIL}",
        }
        run = _Run(timeout_s, what)
        if dry_run:
            self._execute(job, run, upload, dry_run=True)
            return job, None
        key = (ref["projectId"], job_id)
        with self._lock:
            if self._closing:
                raise BackendError("The emulator is shutting down.")
            self.catalog.add_job(job)
            self._runs[key] = run
        self._ensure_watchdog()
        self._pool.submit(self._execute, job, run, upload)
        return job, run

    def _time_limit(self, config: dict) -> tuple[float, str]:
        """Seconds the job may run: ``jobTimeoutMs`` if given and shorter than the cap."""
        cap = (self.max_query_seconds, "the emulator's --max-query-seconds")
        value = config.get("jobTimeoutMs")
        if value is None:
            return cap
        try:
            ms = int(value)
        except (TypeError, ValueError):
            raise Invalid(f"Invalid value for jobTimeoutMs: {value!r}") from None
        if ms <= 0:
            raise Invalid(f"Invalid value for jobTimeoutMs: {value!r}")
        return min(cap, (ms / 1000, "jobTimeoutMs"))

    def _execute(self, job: dict, run: _Run, upload: bytes | None, dry_run: bool = False) -> None:
        """Run the job to the end; every failure becomes status.errorResult."""
        ref = job["jobReference"]
        config = job["configuration"]
        with self._lock:
            job["status"] = {"state": "RUNNING"}
            job["statistics"]["startTime"] = str(now_ms())
        result: dict[str, Any] = {}
        try:
            run.stop.check()  # cancelled while PENDING
            job_type = config["jobType"]
            if job_type == "QUERY":
                result = self._run_query(ref, config["query"], run, dry_run)
            elif job_type == "LOAD":
                result = {"load": run_load(self.catalog, self.appender, self.gcs, config["load"],
                                           upload, run.stop.check)}  # fmt: skip
            elif job_type == "COPY":
                self._run_copy(config["copy"], run)
            else:
                with self.engine.context(run.stop) as ctx:
                    result = {"extract": run_extract(self.catalog, self.gcs, config["extract"], ctx)}
            status: dict[str, Any] = {"state": "DONE"}
        except BigQueryError as exc:
            status = {"state": "DONE", "errorResult": exc.error_proto(),
                      "errors": [exc.error_proto()]}  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - any bug becomes a failed job, not a crash
            error = EmulatorBug(f"Internal error: {exc}").error_proto()
            status = {"state": "DONE", "errorResult": error, "errors": [error]}
        with self._lock:
            statistics = job["statistics"]
            for key, value in result.items():
                if key == "destinationTable":
                    config["query"]["destinationTable"] = value
                elif key == "outcome":
                    job_key = (ref["projectId"], ref["jobId"])
                    self._results[job_key] = value
                    if value.arrow is not None:
                        # Like BigQuery, results land in an anonymous table, which the Storage
                        # Read API (and so the client's to_dataframe/to_arrow) reads.
                        anonymous = anonymous_table(*job_key)
                        config["query"]["destinationTable"] = anonymous
                        self._anonymous[tuple(anonymous.values())] = job_key
                    self._expire_results()
                else:
                    statistics[key] = value
            job["status"] = status
            statistics["endTime"] = str(now_ms())
            self._runs.pop((ref["projectId"], ref["jobId"]), None)
        try:
            if not dry_run and not self._closing:
                if self.catalog.find_job(ref["projectId"], ref["jobId"]) is job:
                    with self._lock:
                        saved = copy.deepcopy(job)
                    self.catalog.save_job(saved)
        finally:
            run.done.set()

    def _run_query(self, ref: dict, qconfig: dict, run: _Run, dry_run: bool) -> dict:
        """Statistics (and the outcome, kept for getQueryResults) of a query job."""
        project, job_id = ref["projectId"], ref["jobId"]
        nodes = scripting.plan(qconfig.get("query"))
        if nodes is None:
            outcome = self.engine.run(project, qconfig, dry_run=dry_run, stop=run.stop,
                                      job_id=job_id)  # fmt: skip
        else:
            outcome = scripting.run(self.engine, project, qconfig, nodes, job_id=job_id,
                                    stop=run.stop, children=_Children(self, ref),
                                    dry_run=dry_run)  # fmt: skip
        return self._statistics(outcome, dry_run)

    def _statistics(self, outcome: QueryOutcome, dry_run: bool) -> dict:
        """A query job's statistics, its destination and its outcome, from the outcome."""
        stats: dict[str, Any] = {
            "statementType": outcome.statement_type,
            "totalBytesProcessed": str(outcome.total_bytes),
            "totalBytesBilled": "0" if dry_run else str(outcome.total_bytes),
            "cacheHit": False,
            "totalPartitionsProcessed": "0",
        }
        if outcome.schema or outcome.statement_type == "SELECT":
            stats["schema"] = {"fields": outcome.schema}
        if outcome.dml_affected is not None:
            stats["numDmlAffectedRows"] = str(outcome.dml_affected)
            stats["dmlStats"] = outcome.dml_stats
        if outcome.ddl_operation:
            stats["ddlOperationPerformed"] = outcome.ddl_operation
            if outcome.ddl_target and "routineId" in outcome.ddl_target:
                stats["ddlTargetRoutine"] = outcome.ddl_target
            elif outcome.ddl_target:
                stats["ddlTargetTable"] = outcome.ddl_target
        result: dict[str, Any] = {
            "query": stats,
            "totalBytesProcessed": stats["totalBytesProcessed"],
        }
        if outcome.num_child_jobs is not None:
            result["numChildJobs"] = str(outcome.num_child_jobs)
        if outcome.destination:
            result["destinationTable"] = outcome.destination
        if not dry_run:
            result["outcome"] = outcome
        return result

    def record_child(self, parent: dict, job_id: str, statement: dict,
                     outcome: QueryOutcome | None, error: BigQueryError | None) -> None:  # fmt: skip
        """Store a finished child job of a script, as jobs.get/list/getQueryResults show it."""
        project = parent["projectId"]
        ref = {"projectId": project, "jobId": job_id, "location": parent.get("location", "US")}
        started = str(statement["startTime"])
        statistics: dict[str, Any] = {
            "creationTime": started, "startTime": started, "endTime": str(now_ms()),
            "parentJobId": parent["jobId"],
            "scriptStatistics": {"evaluationKind": statement["evaluationKind"],
                                 "stackFrames": statement["frames"]},
        }  # fmt: skip
        status: dict[str, Any] = {"state": "DONE"}
        if error is not None:
            status.update(errorResult=error.error_proto(), errors=[error.error_proto()])
        result = self._statistics(outcome, False) if outcome is not None else {}
        kept = result.pop("outcome", None)
        query_config: dict[str, Any] = {"query": statement["text"], "useLegacySql": False}
        if "destinationTable" in result:
            query_config["destinationTable"] = result.pop("destinationTable")
        statistics.update(result)
        job = {
            "kind": "bigquery#job",
            "etag": uuid.uuid4().hex[:16],
            "id": f"{project}:{ref['location']}.{job_id}",
            "selfLink": f"{self.base_url}/bigquery/v2/projects/{project}/jobs/{job_id}",
            "jobReference": ref,
            "configuration": {"query": query_config, "jobType": "QUERY"},
            "status": status,
            "statistics": statistics,
            "user_email": USER_EMAIL,
            "principal_subject": f"user:{USER_EMAIL}",
        }
        with self._lock:
            self.catalog.add_job(job)
            if kept is not None:
                self._results[(project, job_id)] = kept
                self._expire_results()
            saved = copy.deepcopy(job)
        self.catalog.save_job(saved)

    def _expire_results(self) -> None:
        def size(outcome: QueryOutcome) -> int:
            return outcome.arrow.nbytes if outcome.arrow is not None else 0

        total = sum(size(o) for o in self._results.values())
        while len(self._results) > 1 and (
            len(self._results) > MAX_KEPT_RESULTS or total > MAX_KEPT_BYTES
        ):
            key = next(iter(self._results))
            total -= size(self._results.pop(key))
            self._anonymous.pop(tuple(anonymous_table(*key).values()), None)

    def anonymous_result(self, project: str, dataset_id: str, table_id: str) -> QueryOutcome | None:
        """The in-memory results behind a query's anonymous destination table, if kept."""
        with self._lock:
            key = self._anonymous.get((project, dataset_id, table_id))
            return self._results.get(key) if key is not None else None

    def _run_copy(self, config: dict, run: _Run) -> None:
        """Copy jobs: COPY (the default), SNAPSHOT, CLONE and RESTORE (``clones.py``); a source
        ``tableId@<millis>`` reads the table as it was then, deleted tables included."""
        operation = clones.copy_operation(config)
        sources = expect_list(config.get("sourceTables"), "sourceTables") or (
            [config["sourceTable"]] if config.get("sourceTable") else []
        )
        dest = expect_dict(config.get("destinationTable"), "destinationTable")
        if not sources or not dest:
            raise Invalid("A copy job needs sourceTable(s) and destinationTable.")
        refs = []
        for source in sources:
            project, dataset_id, table_id = _table_ref(expect_dict(source, "sourceTable"))
            table_id, at_ms = clones.split_decorator(table_id)
            refs.append(((project, dataset_id, table_id), at_ms))
        _table_ref(dest)
        if operation != "COPY" and len(refs) != 1:
            raise Invalid(f"A {operation} copy job takes exactly one source table.")
        kinds = {"SNAPSHOT": ("TABLE",), "RESTORE": ("SNAPSHOT",)}.get(operation,
                                                                         ("TABLE", "SNAPSHOT"))
        selects = [clones.source_rows(self.catalog, ref, at_ms, current_only=False, kinds=kinds)
                   for ref, at_ms in refs]  # fmt: skip
        schema = selects[0][0]
        union = " UNION ALL ".join(f"SELECT * FROM ({select}) AS _s{i}"
                                   for i, (_, select) in enumerate(selects))  # fmt: skip
        write = config.get("writeDisposition") or "WRITE_EMPTY"
        with self.engine.context(run.stop) as ctx:
            table = self.engine.write_into_table(
                ctx, dest, schema, union, [], write,
                config.get("createDisposition") or "CREATE_IF_NEEDED",
            )  # fmt: skip
        if operation in ("SNAPSHOT", "CLONE"):
            (base, at_ms), = refs
            expiration = config.get("destinationExpirationTime")
            expiration_ms = None
            if expiration:
                expiration_ms = int(datetime.fromisoformat(
                    str(expiration).replace("Z", "+00:00")).timestamp() * 1000)  # fmt: skip
            clones.mark(self.catalog, table, operation, base,
                        at_ms if at_ms is not None else now_ms(), expiration_ms)

    # ------------------------------------------------------------------ waiting

    def _wait(self, project: str, job_id: str, timeout_ms: Any, gone: threading.Event | None,
              on_gone: Callable[[_Run], None] | None = None) -> bool:  # fmt: skip
        """Wait until the job is done (True) or ``timeout_ms`` passed or the client went away
        (False); ``on_gone`` is told about a client that went away while the job ran."""
        with self._lock:
            run = self._runs.get((project, job_id))
        if run is None:
            return True
        until = time.monotonic() + _timeout_s(timeout_ms)
        while True:
            left = until - time.monotonic()
            if run.done.wait(min(max(left, 0), _POLL_S) if gone is not None else max(left, 0)):
                return True
            if gone is not None and gone.is_set():
                if on_gone is not None:
                    on_gone(run)
                return False
            if left <= 0:
                return False

    def _stop_abandoned(self, run: _Run) -> None:
        run.stop.stop(cancelled("the client that ran jobs.query disconnected"))
        self._wake.set()

    # ------------------------------------------------------------------ results

    def query_results(
        self, project: str, job_id: str, params: dict, gone: threading.Event | None = None
    ) -> dict:
        """jobs.getQueryResults (waits up to ``timeoutMs`` for a running job)."""
        self._job(project, job_id)
        complete = self._wait(project, job_id, params.get("timeoutMs"), gone)
        job = self.get(project, job_id)
        ref = job["jobReference"]
        response: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "etag": job["etag"],
            "jobReference": ref,
            "jobComplete": complete,
        }
        if not complete:
            return response
        response["cacheHit"] = False
        if "errorResult" in job["status"]:
            raise job_error(job)
        if job["configuration"]["jobType"] != "QUERY":
            raise Invalid(f"Job {project}:{job_id} is not a query job.")
        stats = job["statistics"].get("query", {})
        response["totalBytesProcessed"] = stats.get("totalBytesProcessed", "0")
        if "numDmlAffectedRows" in stats:
            response["numDmlAffectedRows"] = stats["numDmlAffectedRows"]
            response["dmlStats"] = stats.get("dmlStats")
        with self._lock:
            outcome = self._results.get((ref["projectId"], ref["jobId"]))
        if outcome is None or (outcome.result_name is None and outcome.arrow is None):
            if stats.get("statementType") == "SELECT":
                raise NotFound(
                    f"Not found: results of job {project}:{job_id} (they are kept in memory "
                    "and do not survive a restart)"
                )
            response["schema"] = {"fields": []}
            return response
        response["schema"] = {"fields": outcome.schema}
        storage = self.storage
        if outcome.arrow is not None:
            total, fetch = outcome.arrow.num_rows, arrow_rows(outcome.arrow)
        else:
            name = outcome.result_name
            total = storage.count_rows(name)
            columns = [f["name"] for f in outcome.schema]

            def fetch(offset: int, limit: int) -> list[tuple]:
                return storage.read_rows(name, columns, offset, limit)

        page = read_page(fetch, outcome.schema, total, params, ts_format_from(params))
        response.update(page)
        return response

    def query(self, project: str, body: dict, gone: threading.Event | None = None) -> dict:
        """jobs.query: run the statement, wait up to ``timeoutMs``, the first page inline. A
        client that disconnects while its query runs stops it."""
        if not isinstance(body, dict):
            raise Invalid("Invalid query request.")
        qconfig = {
            k: body[k]
            for k in (
                "query", "useLegacySql", "defaultDataset", "queryParameters", "parameterMode",
                "useQueryCache", "maximumBytesBilled", "labels", "createSession",
                "connectionProperties",
            )
            if k in body
        }  # fmt: skip
        config: dict[str, Any] = {"query": qconfig}
        if body.get("dryRun"):
            config["dryRun"] = True
        if body.get("jobTimeoutMs") is not None:
            config["jobTimeoutMs"] = body["jobTimeoutMs"]
        ref = {"projectId": project, "jobId": f"job_{uuid.uuid4().hex}"}
        if body.get("location"):
            ref["location"] = body["location"]
        existing = None
        if body.get("requestId"):
            if not isinstance(body["requestId"], str):
                raise Invalid("Invalid value for requestId: expected a string.")
            ref["jobId"] = ids.job_id(f"job_{body['requestId']}".replace("-", "_")[:1024])
            existing = self.catalog.find_job(project, ref["jobId"])
        if existing is None:
            job, run = self._start(project, {"jobReference": ref, "configuration": config}, None)
            if run is None:  # a dry run
                if "errorResult" in job["status"]:
                    raise job_error(job)
                stats = job["statistics"]["query"]
                return {
                    "kind": "bigquery#queryResponse",
                    "schema": stats.get("schema", {"fields": []}),
                    "jobReference": {"projectId": project, "location": ref.get("location", "US")},
                    "totalBytesProcessed": stats["totalBytesProcessed"],
                    "jobComplete": True,
                    "cacheHit": False,
                }
        ref = {"projectId": project, "jobId": ref["jobId"]}
        params: dict[str, Any] = {"timeoutMs": body.get("timeoutMs")}
        if body.get("maxResults") is not None:
            params["maxResults"] = body["maxResults"]
        fmt = expect_dict(body.get("formatOptions"), "formatOptions")
        if fmt.get("useInt64Timestamp"):
            params["formatOptions.useInt64Timestamp"] = True
        if fmt.get("timestampOutputFormat"):
            params["formatOptions.timestampOutputFormat"] = fmt["timestampOutputFormat"]
        complete = self._wait(
            project, ref["jobId"], params["timeoutMs"], gone,
            on_gone=None if existing is not None else self._stop_abandoned,
        )  # fmt: skip
        job = self.get(project, ref["jobId"])
        if not complete:
            return {
                "kind": "bigquery#queryResponse",
                "jobReference": job["jobReference"],
                "jobComplete": False,
            }
        response = self.query_results(project, ref["jobId"], params)
        response["kind"] = "bigquery#queryResponse"
        stats = job["statistics"].get("query", {})
        for key in ("ddlOperationPerformed", "ddlTargetTable", "ddlTargetRoutine"):
            if key in stats:
                response[key] = stats[key]
        response["totalSlotMs"] = "0"
        response["creationTime"] = job["statistics"]["creationTime"]
        response["startTime"] = job["statistics"].get("startTime")
        response["endTime"] = job["statistics"].get("endTime")
        return response

    # ------------------------------------------------------------------ time limits, shutdown

    def _ensure_watchdog(self) -> None:
        with self._lock:
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch, name="bigquery-job-watchdog", daemon=True
                )
                self._watchdog.start()
        self._wake.set()

    def _watch(self) -> None:
        """Stops jobs past their deadline, and interrupts stopped jobs again until they end
        (an interrupt that lands between two statements is otherwise lost)."""
        while not self._closing:
            now = time.monotonic()
            with self._lock:
                runs = list(self._runs.values())
            nearest = None
            for run in runs:
                if run.stop.reason is None and now >= run.deadline:
                    run.stop.stop(timed_out(run.timeout_s, run.what))
                if run.stop.reason is not None:
                    run.stop.stop(run.stop.reason)
                    nearest = _POLL_S
                else:
                    left = run.deadline - now
                    nearest = left if nearest is None else min(nearest, left)
            self._wake.wait(nearest)
            self._wake.clear()

    def close(self, grace: float = 5.0) -> None:
        """Stop every running job and wait (up to ``grace`` seconds) for them to end."""
        with self._lock:
            self._closing = True
            runs = list(self._runs.values())
        for run in runs:
            run.stop.stop(cancelled("The emulator is shutting down"))
        self._wake.set()
        until = time.monotonic() + grace
        for run in runs:
            run.done.wait(max(until - time.monotonic(), 0))
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Children:
    """The child jobs of one script (``scripting.ChildJobs``): ids as BigQuery makes them,
    ``script_job_<hash>_<n>``."""

    def __init__(self, manager: JobManager, parent: dict) -> None:
        self.manager = manager
        self.parent = parent
        self.prefix = f"script_job_{uuid.uuid4().hex}"
        self.count = 0

    def start(self) -> str:
        job_id = f"{self.prefix}_{self.count}"
        self.count += 1
        return job_id

    def finish(self, job_id: str, statement: dict, outcome: QueryOutcome | None,
               error: BigQueryError | None) -> None:  # fmt: skip
        self.manager.record_child(self.parent, job_id, statement, outcome, error)


def _timeout_s(value: Any) -> float:
    return int_param({"timeoutMs": value}, "timeoutMs", DEFAULT_WAIT_MS) / 1000


def job_error(job: dict) -> BigQueryError:
    """The HTTP error of a failed job (jobs.query, getQueryResults)."""
    error = job["status"]["errorResult"]
    reason = error.get("reason", "invalid")
    cls = {
        "notFound": NotFound,
        "duplicate": Duplicate,
        "invalidQuery": InvalidQuery,
        "backendError": BackendError,
        "emulatorInternalError": EmulatorBug,
        "stopped": JobStopped,
    }.get(reason, Invalid)
    return cls(error.get("message", ""), location=error.get("location"), reason=reason)


def anonymous_table(project: str, job_id: str) -> dict:
    """BigQuery-style anonymous destination: dataset ``_<hex>`` per project, table ``anon<hex>``."""
    dataset = "_" + hashlib.sha1(f"anonymous:{project}".encode()).hexdigest()
    table = "anon" + hashlib.sha1(f"{project}:{job_id}".encode()).hexdigest()
    return {"projectId": project, "datasetId": dataset, "tableId": table}


def _table_ref(ref: dict) -> tuple[str, str, str]:
    parts = (ref.get("projectId"), ref.get("datasetId"), ref.get("tableId"))
    if not all(isinstance(p, str) and p for p in parts):
        raise Invalid("A table reference needs projectId, datasetId and tableId.")
    return parts  # type: ignore[return-value]
