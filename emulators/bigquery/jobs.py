"""Jobs: query, load, copy (run synchronously on insert) and their results."""

from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from typing import TYPE_CHECKING, Any

from .catalog import now_ms
from .errors import BigQueryError, Duplicate, Invalid, NotFound, expect_dict, expect_list
from .query import QueryOutcome, run_query, write_into_table
from .service import arrow_rows, ts_format_from

if TYPE_CHECKING:
    from .service import BigQueryService

USER_EMAIL = "emulator@localhost"
# Query results kept in memory for jobs.getQueryResults; the oldest go first past either bound
# (the newest result is always kept, however large).
MAX_KEPT_RESULTS = 500
MAX_KEPT_BYTES = 1 << 30


class JobManager:
    """Creates, runs and looks up jobs; query results are paged from memory (Arrow) or from the
    destination table."""

    def __init__(self, service: BigQueryService):
        self.service = service
        self.catalog = service.catalog
        self._results: dict[tuple[str, str], QueryOutcome] = {}
        # (project, dataset, table) of a query's anonymous destination -> (project, job id)
        self._anonymous: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._lock = threading.Lock()
        service.anonymous_result = self.anonymous_result

    # ------------------------------------------------------------------ lookup

    def get(self, project: str, job_id: str) -> dict:
        job = self.catalog.jobs.get((project, job_id))
        if job is None:
            raise NotFound(f"Not found: Job {project}:{job_id}")
        return job

    def list(self, project: str, params: dict) -> list[dict]:
        jobs = [j for (p, _), j in list(self.catalog.jobs.items()) if p == project]
        state = params.get("stateFilter")
        if state:
            wanted = {s.upper() for s in (state if isinstance(state, list) else [state])}
            jobs = [j for j in jobs if j["status"]["state"] in wanted]
        jobs.sort(key=lambda j: int(j["statistics"]["creationTime"]), reverse=True)
        return jobs

    def cancel(self, project: str, job_id: str) -> dict:
        return self.get(project, job_id)  # jobs finish before jobs.insert returns

    # ------------------------------------------------------------------ insert

    def insert(self, project: str, body: dict, upload: bytes | None = None) -> dict:
        """jobs.insert: run the job now; failures become status.errorResult."""
        if not isinstance(body, dict):
            raise Invalid("Invalid job resource.")
        config = copy.deepcopy(expect_dict(body.get("configuration"), "configuration"))
        ref = dict(expect_dict(body.get("jobReference"), "jobReference"))
        ref["projectId"] = ref.get("projectId") or project
        job_id = ref.get("jobId") or f"job_{uuid.uuid4().hex}"
        ref["jobId"] = job_id
        ref["location"] = ref.get("location") or "US"
        job_type = next((k for k in ("query", "load", "copy", "extract") if k in config), None)
        if job_type is None:
            raise Invalid("Required parameter is missing: configuration must hold a job type.")
        config[job_type] = expect_dict(config[job_type], f"configuration.{job_type}")
        config["jobType"] = job_type.upper()
        dry_run = bool(config.get("dryRun"))
        with self._lock:
            if not dry_run and (ref["projectId"], job_id) in self.catalog.jobs:
                raise Duplicate(
                    f"Already Exists: Job {ref['projectId']}:{ref['location']}.{job_id}"
                )
            created = now_ms()
            job: dict[str, Any] = {
                "kind": "bigquery#job",
                "etag": uuid.uuid4().hex[:16],
                "id": f"{ref['projectId']}:{ref['location']}.{job_id}",
                "selfLink": f"{self.service.base_url}/bigquery/v2/projects/{ref['projectId']}/jobs/{job_id}",
                "jobReference": ref,
                "configuration": config,
                "status": {"state": "RUNNING"},
                "statistics": {"creationTime": str(created), "startTime": str(created)},
                "user_email": USER_EMAIL,
                "principal_subject": f"user:{USER_EMAIL}",
            }
            if not dry_run:
                self.catalog.jobs[(ref["projectId"], job_id)] = job
        try:
            if job_type == "query":
                self._run_query(job, dry_run)
            elif job_type == "load":
                from .load import run_load

                stats = run_load(self.service, config["load"], upload)
                job["statistics"]["load"] = stats
            elif job_type == "copy":
                self._run_copy(config["copy"])
            else:
                raise Invalid(
                    "Extract jobs write to Cloud Storage, which this emulator does not provide."
                )
        except BigQueryError as exc:
            job["status"] = {
                "state": "DONE",
                "errorResult": exc.error_proto(),
                "errors": [exc.error_proto()],
            }
        except Exception as exc:  # noqa: BLE001 - any bug becomes a failed job, not a crash
            error = {
                "reason": "emulatorInternalError",
                "message": f"Internal error: {exc}",
                "domain": "global",
            }
            job["status"] = {"state": "DONE", "errorResult": error, "errors": [error]}
        else:
            job["status"] = {"state": "DONE"}
        job["statistics"]["endTime"] = str(now_ms())
        if not dry_run:
            self.catalog.save_job(job)
        return job

    def _run_query(self, job: dict, dry_run: bool) -> None:
        ref = job["jobReference"]
        qconfig = job["configuration"]["query"]
        outcome = run_query(
            self.service, ref["projectId"], qconfig, job_id=f"{ref['projectId']}_{ref['jobId']}",
            dry_run=dry_run,
        )  # fmt: skip
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
            stats["ddlTargetTable"] = outcome.ddl_target
        job["statistics"]["query"] = stats
        job["statistics"]["totalBytesProcessed"] = stats["totalBytesProcessed"]
        if outcome.destination:
            qconfig["destinationTable"] = outcome.destination
        key = (ref["projectId"], ref["jobId"])
        if not dry_run and outcome.arrow is not None:
            # Like BigQuery, results land in an anonymous table, which the Storage Read API
            # (and so the client's to_dataframe/to_arrow) reads.
            anonymous = _anonymous_table(*key)
            qconfig["destinationTable"] = anonymous
            with self._lock:
                self._anonymous[tuple(anonymous.values())] = key
        if not dry_run:
            with self._lock:
                self._results[key] = outcome
                self._expire_results()

    def _expire_results(self) -> None:
        def size(outcome: QueryOutcome) -> int:
            return outcome.arrow.nbytes if outcome.arrow is not None else 0

        total = sum(size(o) for o in self._results.values())
        while len(self._results) > 1 and (
            len(self._results) > MAX_KEPT_RESULTS or total > MAX_KEPT_BYTES
        ):
            key = next(iter(self._results))
            total -= size(self._results.pop(key))
            self._anonymous.pop(tuple(_anonymous_table(*key).values()), None)

    def anonymous_result(self, project: str, dataset_id: str, table_id: str) -> QueryOutcome | None:
        """The in-memory results behind a query's anonymous destination table, if kept."""
        with self._lock:
            key = self._anonymous.get((project, dataset_id, table_id))
            return self._results.get(key) if key is not None else None

    def _run_copy(self, config: dict) -> None:
        sources = expect_list(config.get("sourceTables"), "sourceTables") or (
            [config["sourceTable"]] if config.get("sourceTable") else []
        )
        dest = expect_dict(config.get("destinationTable"), "destinationTable")
        if not sources or not dest:
            raise Invalid("A copy job needs sourceTable(s) and destinationTable.")
        refs = [_table_ref(expect_dict(s, "sourceTable")) for s in sources]
        _table_ref(dest)
        tables = [self.catalog.get_table(*ref) for ref in refs]
        for table in tables:
            if table.type != "TABLE":
                raise Invalid(f"Cannot copy {table.table_id}: it is a {table.type}.")
        schema = tables[0].schema
        from .types import quote_ident

        cols = ", ".join(quote_ident(f["name"]) for f in schema)
        union = " UNION ALL ".join(
            f"SELECT {cols} FROM {quote_ident(t.storage_name)}" for t in tables
        )
        with self.service.storage.lock:
            write_into_table(
                self.service, dest, schema, union, [],
                config.get("writeDisposition") or "WRITE_EMPTY",
                config.get("createDisposition") or "CREATE_IF_NEEDED",
            )  # fmt: skip

    # ------------------------------------------------------------------ results

    def query_results(self, project: str, job_id: str, params: dict) -> dict:
        """jobs.getQueryResults."""
        job = self.get(project, job_id)
        ref = job["jobReference"]
        response: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "etag": job["etag"],
            "jobReference": ref,
            "jobComplete": True,
            "cacheHit": False,
        }
        if "errorResult" in job["status"]:
            raise _job_error(job)
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
        storage = self.service.storage
        if outcome.arrow is not None:
            total, fetch = outcome.arrow.num_rows, arrow_rows(outcome.arrow)
        else:
            name = outcome.result_name
            total = storage.count_rows(name)
            columns = [f["name"] for f in outcome.schema]

            def fetch(offset: int, limit: int) -> list[tuple]:
                return storage.read_rows(name, columns, offset, limit)

        page = self.service.read_page(fetch, outcome.schema, total, params, ts_format_from(params))
        response.update(page)
        return response

    def query(self, project: str, body: dict) -> dict:
        """jobs.query: run synchronously and return the first page inline."""
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
        ref = {"projectId": project, "jobId": f"job_{uuid.uuid4().hex}"}
        if body.get("location"):
            ref["location"] = body["location"]
        if body.get("requestId"):
            ref["jobId"] = f"job_{body['requestId']}".replace("-", "_")
            existing = self.catalog.jobs.get((project, ref["jobId"]))
            if existing is not None:
                return self._query_response(existing, body)
        job = self.insert(project, {"jobReference": ref, "configuration": config})
        if "errorResult" in job["status"]:
            raise _job_error(job)
        if body.get("dryRun"):
            stats = job["statistics"]["query"]
            return {
                "kind": "bigquery#queryResponse",
                "schema": stats.get("schema", {"fields": []}),
                "jobReference": {"projectId": project, "location": ref.get("location", "US")},
                "totalBytesProcessed": stats["totalBytesProcessed"],
                "jobComplete": True,
                "cacheHit": False,
            }
        return self._query_response(job, body)

    def _query_response(self, job: dict, body: dict) -> dict:
        ref = job["jobReference"]
        params: dict[str, Any] = {}
        if body.get("maxResults") is not None:
            params["maxResults"] = body["maxResults"]
        fmt = expect_dict(body.get("formatOptions"), "formatOptions")
        if fmt.get("useInt64Timestamp"):
            params["formatOptions.useInt64Timestamp"] = True
        if fmt.get("timestampOutputFormat"):
            params["formatOptions.timestampOutputFormat"] = fmt["timestampOutputFormat"]
        response = self.query_results(ref["projectId"], ref["jobId"], params)
        response["kind"] = "bigquery#queryResponse"
        stats = job["statistics"].get("query", {})
        if "ddlOperationPerformed" in stats:
            response["ddlOperationPerformed"] = stats["ddlOperationPerformed"]
            response["ddlTargetTable"] = stats["ddlTargetTable"]
        response["totalSlotMs"] = "0"
        response["creationTime"] = job["statistics"]["creationTime"]
        response["startTime"] = job["statistics"]["startTime"]
        response["endTime"] = job["statistics"].get("endTime")
        return response


def _job_error(job: dict) -> BigQueryError:
    error = job["status"]["errorResult"]
    from .errors import BackendError, EmulatorBug, InvalidQuery

    reason = error.get("reason", "invalid")
    cls = {
        "notFound": NotFound,
        "duplicate": Duplicate,
        "invalidQuery": InvalidQuery,
        "backendError": BackendError,
        "emulatorInternalError": EmulatorBug,
    }.get(reason, Invalid)
    return cls(error.get("message", ""), location=error.get("location"), reason=reason)


def _anonymous_table(project: str, job_id: str) -> dict:
    """BigQuery-style anonymous destination: dataset `_<hex>` per project, table `anon<hex>`."""
    dataset = "_" + hashlib.sha1(f"anonymous:{project}".encode()).hexdigest()
    table = "anon" + hashlib.sha1(f"{project}:{job_id}".encode()).hexdigest()
    return {"projectId": project, "datasetId": dataset, "tableId": table}


def _table_ref(ref: dict) -> tuple[str, str, str]:
    parts = (ref.get("projectId"), ref.get("datasetId"), ref.get("tableId"))
    if not all(isinstance(p, str) and p for p in parts):
        raise Invalid("A table reference needs projectId, datasetId and tableId.")
    return parts  # type: ignore[return-value]
