"""HTTP wire layer: BigQuery REST v2 routes on Starlette, errors in BigQuery's JSON shape."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.http_guard import Guard, HostPolicy

from . import ids, resources
from .errors import (
    AccessDenied,
    BigQueryError,
    EmulatorBug,
    Invalid,
    NotFound,
    ParseError,
    PayloadTooLarge,
    PreconditionFailed,
    RequestTooLarge,
)
from .jobs import JobManager
from .monitoring import Monitor
from .pages import decode_page_token, encode_page_token, int_param
from .service import BigQueryService
from .types import json_depth, lone_surrogate
from .uploads import MAX_UPLOAD_BYTES, ResumableUploads, split_multipart

log = logging.getLogger("emulators.bigquery")

API = "/bigquery/v2"
UPLOAD = "/upload/bigquery/v2"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # BigQuery's limit on an API request (insertAll included)
# A request declared this much larger is refused unread with 413, as Google's front end does.
REFUSE_UNREAD_BYTES = 32 * 1024 * 1024
MAX_BODY_DEPTH = 100  # nesting levels of a JSON request body
WORKER_THREADS = 200  # handler threads; jobs.query and getQueryResults wait in theirs


def _error_response(exc: BigQueryError) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=exc.code)


def _json_body(raw: bytes, *, check_depth: bool = True) -> Any:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"Invalid JSON payload received. {exc}") from None
    except RecursionError:
        raise _too_deep() from None
    if lone_surrogate(raw, body):
        raise ParseError(
            "Invalid JSON payload received. A \\u escape is a lone surrogate, not a "
            "Unicode character."
        )
    if check_depth and (raw.count(b"[") + raw.count(b"{") > MAX_BODY_DEPTH):
        if json_depth(body) > MAX_BODY_DEPTH:
            raise _too_deep()
    return body


def _too_deep() -> ParseError:
    return ParseError(
        f"Invalid JSON payload received. Nesting too deep: more than {MAX_BODY_DEPTH} levels."
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _object_body(raw: bytes, *, check_depth: bool = True) -> dict:
    body = _json_body(raw, check_depth=check_depth)
    if not isinstance(body, dict):
        raise ParseError("Invalid JSON payload received. Expected an object.")
    return body


async def _read_body(request: Request, limit: int, refuse_unread: int) -> bytes:
    """The request body, refused past ``limit`` bytes (413 unread past ``refuse_unread``)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) > refuse_unread:
            raise RequestTooLarge("Request Too Large")
        if int(declared) > limit:
            raise PayloadTooLarge(f"Request payload size exceeds the limit: {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request payload size exceeds the limit: {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _watch_disconnect(request: Request, gone: threading.Event) -> None:
    """Set ``gone`` when the client closes the connection (the body is already read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


def _base_table(table_id: str) -> str:
    """Table id without a partition decorator (`events$20240101` -> `events`)."""
    return table_id.split("$", 1)[0]


def _paginate(items: list, params: dict) -> tuple[list, str | None]:
    start = decode_page_token(params.get("pageToken")) or 0
    size = int_param(params, "maxResults", 0) or 1000
    page = items[start : start + size]
    token = encode_page_token(start + size) if start + size < len(items) else None
    return page, token


class Api:
    """Route handlers; each runs its blocking work on a worker thread."""

    def __init__(self, service: BigQueryService, max_query_seconds: float = 600.0):
        self.service = service
        self.catalog = service.catalog
        self.jobs = JobManager(
            service.catalog,
            service.storage,
            service.engine,
            service.appender,
            service.gcs,
            base_url=service.base_url,
            max_query_seconds=max_query_seconds,
        )
        # query results behind anonymous tables, for tables.get, tabledata.list and Storage Read
        service.anonymous_result = self.jobs.anonymous_result
        self.uploads = ResumableUploads()

    # ------------------------------------------------------------------ projects / datasets

    def list_projects(self, req: Request, raw: bytes) -> dict:
        projects = self.service.list_projects()
        page, token = _paginate(projects, dict(req.query_params))
        out: dict[str, Any] = {
            "kind": "bigquery#projectList",
            "etag": uuid.uuid4().hex[:16],
            "projects": [
                {
                    "kind": "bigquery#project",
                    "id": p,
                    "numericId": _numeric_id(p),
                    "projectReference": {"projectId": p},
                    "friendlyName": p,
                }
                for p in page
            ],
            "totalItems": len(projects),
        }
        if token:
            out["nextPageToken"] = token
        return out

    def list_datasets(self, req: Request, raw: bytes) -> dict:
        project = req.path_params["project"]
        datasets = self.catalog.list_datasets(project)
        label_filter = req.query_params.get("filter")
        if label_filter:
            wanted = dict(
                m.groups() for m in re.finditer(r"labels\.([\w-]+)(?::([\w-]*))?", label_filter)
            )
            datasets = [
                d
                for d in datasets
                if all(
                    k in d.properties.get("labels", {})
                    and (not v or d.properties["labels"][k] == v)
                    for k, v in wanted.items()
                )
            ]
        page, token = _paginate(datasets, dict(req.query_params))
        out: dict[str, Any] = {
            "kind": "bigquery#datasetList",
            "etag": uuid.uuid4().hex[:16],
            "datasets": [resources.dataset_list_entry(d) for d in page],
        }
        if token:
            out["nextPageToken"] = token
        return out

    def insert_dataset(self, req: Request, raw: bytes) -> dict:
        project = req.path_params["project"]
        ds = self.catalog.create_dataset(project, _object_body(raw))
        return resources.dataset_resource(ds, self.service.base_url)

    def get_dataset(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        return self.service.dataset_resource(p["project"], p["dataset"])

    def _check_etag(self, req: Request, etag: str) -> None:
        wanted = req.headers.get("if-match")
        if wanted and wanted not in ("*", etag):
            raise PreconditionFailed("Precondition check failed.")

    def patch_dataset(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        ds = self.catalog.get_dataset(p["project"], p["dataset"])
        self._check_etag(req, ds.etag)
        ds = self.catalog.update_dataset(ds, _object_body(raw), replace=req.method == "PUT")
        return resources.dataset_resource(ds, self.service.base_url)

    def delete_dataset(self, req: Request, raw: bytes) -> None:
        p = req.path_params
        contents = req.query_params.get("deleteContents", "").lower() == "true"
        self.catalog.delete_dataset(p["project"], p["dataset"], delete_contents=contents)

    def service_account(self, req: Request, raw: bytes) -> dict:
        return {
            "kind": "bigquery#getServiceAccountResponse",
            "email": f"bq-{req.path_params['project']}@bigquery-emulator.local",
        }

    def empty_list(self, key: str) -> Callable[[Request, bytes], dict]:
        """Models are not emulated: their datasets list none."""

        def handler(req: Request, raw: bytes) -> dict:
            p = req.path_params
            self.catalog.get_dataset(p["project"], p["dataset"])
            return {key: []}

        return handler

    # ------------------------------------------------------------------ routines

    def list_routines(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        found = self.service.routines.list(p["project"], p["dataset"])
        page, token = _paginate(found, dict(req.query_params))
        out: dict[str, Any] = {"routines": page}
        if token:
            out["nextPageToken"] = token
        return out

    def insert_routine(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        return self.service.routines.insert(p["project"], p["dataset"], _object_body(raw))[0]

    def get_routine(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        return self.service.routines.get(p["project"], p["dataset"], p["routine"])

    def update_routine(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        return self.service.routines.update(p["project"], p["dataset"], p["routine"],
                                            _object_body(raw), req.headers.get("if-match"))  # fmt: skip

    def delete_routine(self, req: Request, raw: bytes) -> None:
        p = req.path_params
        self.service.routines.delete(p["project"], p["dataset"], p["routine"])

    # ------------------------------------------------------------------ tables

    def list_tables(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        self.catalog.get_dataset(p["project"], p["dataset"])
        tables = self.catalog.list_tables(p["project"], p["dataset"])
        page, token = _paginate(tables, dict(req.query_params))
        out: dict[str, Any] = {
            "kind": "bigquery#tableList",
            "etag": uuid.uuid4().hex[:16],
            "tables": [resources.table_list_entry(t) for t in page],
            "totalItems": len(tables),
        }
        if token:
            out["nextPageToken"] = token
        return out

    def insert_table(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        table = self.service.create_table(p["project"], p["dataset"], _object_body(raw))
        return self.service.table_resource(table)

    def get_table(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        anonymous = self.service.anonymous_table(p["project"], p["dataset"], p["table"])
        if anonymous is not None:  # a query's results (the Storage Read API reads them too)
            return anonymous
        table = self.catalog.get_table(p["project"], p["dataset"], _base_table(p["table"]))
        return self.service.table_resource(table)

    def patch_table(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        table = self.catalog.get_table(p["project"], p["dataset"], p["table"])
        self._check_etag(req, table.etag)
        table = self.catalog.update_table(table, _object_body(raw), replace=req.method == "PUT")
        return self.service.table_resource(table)

    def delete_table(self, req: Request, raw: bytes) -> None:
        p = req.path_params
        self.service.delete_table(p["project"], p["dataset"], p["table"])

    def insert_all(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        body = _object_body(raw, check_depth=False)  # rows are checked against the schema
        return self.service.insert_all(p["project"], p["dataset"], _base_table(p["table"]), body)

    def list_rows(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        return self.service.list_rows(
            p["project"], p["dataset"], _base_table(p["table"]), dict(req.query_params)
        )

    # ------------------------------------------------------------------ jobs

    def insert_job(self, req: Request, raw: bytes) -> dict:
        return self.jobs.insert(req.path_params["project"], _object_body(raw))

    def list_jobs(self, req: Request, raw: bytes) -> dict:
        params = dict(req.query_params)
        params["stateFilter"] = req.query_params.getlist("stateFilter")
        jobs = self.jobs.list(req.path_params["project"], params)
        page, token = _paginate(jobs, params)
        entries = []
        for job in page:
            entry = {
                k: job[k]
                for k in ("kind", "id", "jobReference", "configuration", "status", "statistics",
                          "user_email", "principal_subject")
                if k in job
            }  # fmt: skip
            entry["state"] = job["status"]["state"]
            if "errorResult" in job["status"]:
                entry["errorResult"] = job["status"]["errorResult"]
            entries.append(entry)
        out: dict[str, Any] = {"kind": "bigquery#jobList", "etag": "x", "jobs": entries}
        if token:
            out["nextPageToken"] = token
        return out

    def get_job(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        return self.jobs.get(p["project"], p["job"])

    def cancel_job(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        return {
            "kind": "bigquery#jobCancelResponse",
            "job": self.jobs.cancel(p["project"], p["job"]),
        }

    def delete_job(self, req: Request, raw: bytes) -> None:
        p = req.path_params
        self.jobs.delete(p["project"], p["job"])

    def query_results(self, req: Request, raw: bytes) -> dict:
        p = req.path_params
        return self.jobs.query_results(
            p["project"], p["job"], dict(req.query_params), req.state.gone
        )

    def query(self, req: Request, raw: bytes) -> dict:
        return self.jobs.query(req.path_params["project"], _object_body(raw), req.state.gone)

    # ------------------------------------------------------------------ uploads

    def upload_job(self, req: Request, raw: bytes) -> Any:
        project = req.path_params["project"]
        upload_type = req.query_params.get("uploadType", "")
        if req.method == "PUT" or req.query_params.get("upload_id"):
            upload_id = req.query_params.get("upload_id", "")
            done = self.uploads.add_chunk(upload_id, req.headers.get("content-range", ""), raw)
            if done is None:
                received = self.uploads.received(upload_id)
                headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
                return Response(status_code=308, headers=headers)
            session_project, metadata, data = done
            return self.jobs.insert(session_project, metadata, data)
        if upload_type == "multipart":
            metadata, data = split_multipart(req.headers.get("content-type", ""), raw)
            return self.jobs.insert(project, _object_body(metadata), data)
        if upload_type == "resumable":
            upload_id = self.uploads.start(project, _object_body(raw))
            location = (
                f"{str(req.base_url).rstrip('/')}{UPLOAD}/projects/{project}/jobs"
                f"?uploadType=resumable&upload_id={upload_id}"
            )
            return Response(status_code=200, headers={"Location": location})
        if upload_type == "media":
            raise Invalid("uploadType=media needs job metadata; use multipart or resumable.")
        raise Invalid(f"Unsupported uploadType: {upload_type or '(none)'}")


Handler = Callable[[Request, bytes], Any]


def _numeric_id(project: str) -> str:
    """A project's numericId: stable across restarts (Python's hash() is salted per process)."""
    return str(int(hashlib.sha256(project.encode()).hexdigest()[:15], 16) % 10**12)


def _endpoint(
    handler: Handler, *, upload: bool = False, watch: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """An async endpoint running ``handler`` on a worker thread, every failure in BigQuery's
    error shape. ``upload`` allows a load job's data; ``watch`` gives the handler
    ``request.state.gone``, set when the client disconnects."""
    limit = MAX_UPLOAD_BYTES if upload else MAX_REQUEST_BYTES
    refuse_unread = MAX_UPLOAD_BYTES if upload else REFUSE_UNREAD_BYTES

    async def endpoint(request: Request) -> Response:
        watcher = None
        try:
            ids.check_path(request.path_params)
            raw = await _read_body(request, limit, refuse_unread)
            request.state.gone = threading.Event()
            if watch:
                watcher = asyncio.ensure_future(_watch_disconnect(request, request.state.gone))
            result = await run_in_threadpool(handler, request, raw)
        except BigQueryError as exc:
            return _error_response(exc)
        except RecursionError:  # input nested past what any check above let through
            return _error_response(Invalid("The request is nested too deeply."))
        except Exception as exc:  # noqa: BLE001 - the server must keep serving
            log.exception("internal error in %s", request.url.path)
            return _error_response(_internal(exc))
        finally:
            if watcher is not None:
                watcher.cancel()
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=204)
        try:
            return JSONResponse(result, status_code=200)
        except (TypeError, ValueError, RecursionError) as exc:  # a bug, still a JSON answer
            log.exception("cannot encode the response of %s", request.url.path)
            return _error_response(_internal(exc))

    return endpoint


def _internal(exc: Exception) -> BigQueryError:
    return EmulatorBug(f"Internal error: {type(exc).__name__}: {exc}")


def build_app(
    service: BigQueryService,
    on_startup: Callable[[], None] | None = None,
    *,
    policy: HostPolicy | None = None,
    max_query_seconds: float = 600.0,
) -> Guard:
    """The ASGI app: BigQuery's routes behind the Host/Origin guard (loopback only unless
    ``policy`` says otherwise)."""
    api = Api(service, max_query_seconds)
    ds = API + "/projects/{project}/datasets/{dataset}"
    tb = ds + "/tables/{table}"
    rt = ds + "/routines/{routine}"
    routes = [
        Route(API + "/projects", _endpoint(api.list_projects), methods=["GET"]),
        Route(API + "/projects/{project}/datasets", _endpoint(api.list_datasets), methods=["GET"]),
        Route(API + "/projects/{project}/datasets", _endpoint(api.insert_dataset), methods=["POST"]),
        Route(ds, _endpoint(api.get_dataset), methods=["GET"]),
        Route(ds, _endpoint(api.patch_dataset), methods=["PATCH", "PUT"]),
        Route(ds, _endpoint(api.delete_dataset), methods=["DELETE"]),
        Route(ds + "/tables", _endpoint(api.list_tables), methods=["GET"]),
        Route(ds + "/routines", _endpoint(api.list_routines), methods=["GET"]),
        Route(ds + "/routines", _endpoint(api.insert_routine), methods=["POST"]),
        Route(rt, _endpoint(api.get_routine), methods=["GET"]),
        Route(rt, _endpoint(api.update_routine), methods=["PUT"]),
        Route(rt, _endpoint(api.delete_routine), methods=["DELETE"]),
        Route(ds + "/models", _endpoint(api.empty_list("models")), methods=["GET"]),
        Route(API + "/projects/{project}/serviceAccount", _endpoint(api.service_account), methods=["GET"]),
        Route(ds + "/tables", _endpoint(api.insert_table), methods=["POST"]),
        Route(tb, _endpoint(api.get_table), methods=["GET"]),
        Route(tb, _endpoint(api.patch_table), methods=["PATCH", "PUT"]),
        Route(tb, _endpoint(api.delete_table), methods=["DELETE"]),
        Route(tb + "/insertAll", _endpoint(api.insert_all), methods=["POST"]),
        Route(tb + "/data", _endpoint(api.list_rows), methods=["GET"]),
        Route(API + "/projects/{project}/jobs", _endpoint(api.insert_job), methods=["POST"]),
        Route(API + "/projects/{project}/jobs", _endpoint(api.list_jobs), methods=["GET"]),
        Route(API + "/projects/{project}/jobs/{job}", _endpoint(api.get_job), methods=["GET"]),
        Route(API + "/projects/{project}/jobs/{job}/cancel", _endpoint(api.cancel_job), methods=["POST"]),
        Route(API + "/projects/{project}/jobs/{job}/delete", _endpoint(api.delete_job), methods=["DELETE"]),
        Route(API + "/projects/{project}/queries", _endpoint(api.query, watch=True), methods=["POST"]),
        Route(API + "/projects/{project}/queries/{job}", _endpoint(api.query_results, watch=True), methods=["GET"]),
        Route(UPLOAD + "/projects/{project}/jobs", _endpoint(api.upload_job, upload=True), methods=["POST", "PUT"]),
    ]  # fmt: skip

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error_response(NotFound(f"Not found: URL {request.url.path}"))

    async def bad_method(request: Request, exc: Exception) -> Response:
        error = BigQueryError(f"Method {request.method} not allowed on {request.url.path}")
        error.code = 405
        return _error_response(error)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        if on_startup is not None:
            on_startup()
        try:
            yield
        finally:
            await run_in_threadpool(api.jobs.close)

    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: bad_method},
        lifespan=lifespan,
    )
    # /_emulator/ (metrics, faults) behind the same guard as the API
    monitored = Monitor(app, service)
    return Guard(
        monitored, policy or HostPolicy(), lambda code, message: AccessDenied(message).to_json()
    )
