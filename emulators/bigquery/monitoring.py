"""Metrics and fault injection (ours, off BigQuery's API surface), under ``/_emulator/``.

| request | does |
| --- | --- |
| ``GET /_emulator/metrics`` | Cloud Monitoring's metrics as Prometheus text (below) |
| ``GET /_emulator/faults`` | the faults in force |
| ``POST /_emulator/faults:fail`` ``{"method", "code", "reason", "message", "seconds", "times"}`` | the next calls of ``method`` fail |
| ``DELETE /_emulator/faults`` | no more faults |

Metrics, named as Cloud Monitoring names them (``emulators/exposition.py``):
``bigquery.googleapis.com/storage/uploaded_row_count`` and ``uploaded_bytes`` per table
(``api``: ``streaming`` for insertAll, ``load`` for load jobs), ``storage/table_count`` per
dataset, ``serviceruntime.googleapis.com/api/request_count`` per API method and response code
(what a GCP alert on BigQuery errors reads), and ``emulator_bigquery_insert_errors`` (rows
insertAll rejected, by reason: Cloud Monitoring has no metric for them; in GCP they are in
``INFORMATION_SCHEMA.STREAMING_TIMELINE``).

A fault answers BigQuery's error JSON instead of running the call: by default ``503
backendError`` "Error encountered during execution. Retrying may solve the problem.", which
the client library and Beam retry, for ``seconds`` (wall clock) or ``times`` calls. ``method``
is a REST method id (``tabledata.insertAll``, ``jobs.query``, ...) or ``*``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from typing import Any

from emulators.exposition import CONTENT_TYPE, Exposition, add_process_metrics

from .errors import BigQueryError, Invalid, NotFound

_P = r"/bigquery/v2/projects/[^/]+"
_T = _P + r"/datasets/[^/]+/tables/[^/]+"
# (HTTP method, path pattern, REST method id, Cloud Monitoring's consumed_api method label)
_METHODS = [
    ("POST", _T + r"/insertAll", "tabledata.insertAll", "TableDataService.InsertAll"),
    ("GET", _T + r"/data", "tabledata.list", "TableDataService.List"),
    ("GET", _T, "tables.get", "TableService.GetTable"),
    ("PATCH", _T, "tables.patch", "TableService.PatchTable"),
    ("PUT", _T, "tables.update", "TableService.UpdateTable"),
    ("DELETE", _T, "tables.delete", "TableService.DeleteTable"),
    ("POST", _P + r"/datasets/[^/]+/tables", "tables.insert", "TableService.InsertTable"),
    ("GET", _P + r"/datasets/[^/]+/tables", "tables.list", "TableService.ListTables"),
    ("GET", _P + r"/datasets/[^/]+", "datasets.get", "DatasetService.GetDataset"),
    ("PATCH", _P + r"/datasets/[^/]+", "datasets.patch", "DatasetService.PatchDataset"),
    ("PUT", _P + r"/datasets/[^/]+", "datasets.update", "DatasetService.UpdateDataset"),
    ("DELETE", _P + r"/datasets/[^/]+", "datasets.delete", "DatasetService.DeleteDataset"),
    ("POST", _P + r"/datasets", "datasets.insert", "DatasetService.InsertDataset"),
    ("GET", _P + r"/datasets", "datasets.list", "DatasetService.ListDatasets"),
    ("POST", _P + r"/jobs/[^/]+/cancel", "jobs.cancel", "JobService.CancelJob"),
    ("DELETE", _P + r"/jobs/[^/]+/delete", "jobs.delete", "JobService.DeleteJob"),
    ("GET", _P + r"/jobs/[^/]+", "jobs.get", "JobService.GetJob"),
    ("POST", _P + r"/jobs", "jobs.insert", "JobService.InsertJob"),
    ("GET", _P + r"/jobs", "jobs.list", "JobService.ListJobs"),
    ("POST", _P + r"/queries", "jobs.query", "JobService.Query"),
    ("GET", _P + r"/queries/[^/]+", "jobs.getQueryResults", "JobService.GetQueryResults"),
    ("POST", r"/upload" + _P + r"/jobs", "jobs.insert", "JobService.InsertJob"),
    ("PUT", r"/upload" + _P + r"/jobs", "jobs.insert", "JobService.InsertJob"),
]
_COMPILED = [(verb, re.compile(path + "$"), rest, grpc) for verb, path, rest, grpc in _METHODS]
REST_METHODS = sorted({rest for _, _, rest, _ in _METHODS})
BACKEND_ERROR = "Error encountered during execution. Retrying may solve the problem."


def api_method(verb: str, path: str) -> tuple[str, str] | None:
    """(REST method id, ``google.cloud.bigquery.v2.<Service>.<Method>``) of a request."""
    for method, pattern, rest, grpc in _COMPILED:
        if method == verb and pattern.match(path):
            return rest, f"google.cloud.bigquery.v2.{grpc}"
    return None


class Usage:
    """Rows and bytes written per table, rows refused per table and reason (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: Counter = Counter()  # (project, dataset, table, api) -> rows
        self.bytes: Counter = Counter()
        self.errors: Counter = Counter()  # (project, dataset, table, reason) -> rows

    def uploaded(self, ref: tuple[str, str, str], api: str, rows: int, size: int) -> None:
        with self._lock:
            self.rows[(*ref, api)] += rows
            self.bytes[(*ref, api)] += size

    def refused(self, ref: tuple[str, str, str], failures: list[dict]) -> None:
        """insertErrors entries of one request (each a row, with its errors)."""
        with self._lock:
            for failure in failures:
                errors = failure.get("errors") or [{}]
                self.errors[(*ref, errors[0].get("reason") or "invalid")] += 1

    def snapshot(self) -> tuple[dict, dict, dict]:
        with self._lock:
            return dict(self.rows), dict(self.bytes), dict(self.errors)


class Faults:
    """Calls that fail on purpose: ``fail`` queues a rule, the first matching one answers."""

    def __init__(self, clock=time.monotonic) -> None:
        self._lock = threading.Lock()
        self._rules: list[dict] = []
        self.clock = clock

    def fail(self, method: str, code: int = 503, reason: str = "backendError",
             message: str = "", seconds: float | None = None, times: int | None = None) -> None:
        if method != "*" and method not in REST_METHODS:
            raise Invalid(f"Unknown method {method!r}; one of: *, {', '.join(REST_METHODS)}.")
        if not isinstance(code, int) or isinstance(code, bool) or not 400 <= code <= 599:
            raise Invalid("code must be an HTTP error status (400..599).")
        for name, value in (("seconds", seconds), ("times", times)):
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float)) or value <= 0):
                raise Invalid(f"{name} must be a positive number.")
        rule = {"method": method, "code": code, "reason": str(reason),
                "message": str(message or (BACKEND_ERROR if code >= 500 else "Injected fault.")),
                "until": None if seconds is None else self.clock() + float(seconds),
                "remaining": None if times is None else int(times)}  # fmt: skip
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def check(self, method: str) -> BigQueryError | None:
        """The error a call of ``method`` answers now, if a fault says so."""
        now = self.clock()
        with self._lock:
            self._rules = [r for r in self._rules if r["until"] is None or r["until"] > now]
            for rule in self._rules:
                if rule["method"] not in ("*", method):
                    continue
                if rule["remaining"] is not None:
                    rule["remaining"] -= 1
                    if rule["remaining"] <= 0:
                        self._rules.remove(rule)
                error = BigQueryError(rule["message"], reason=rule["reason"])
                error.code = rule["code"]
                return error
        return None

    def state(self) -> dict:
        now = self.clock()
        with self._lock:
            return {"faults": [
                {"method": r["method"], "code": r["code"], "reason": r["reason"],
                 "message": r["message"], "times": r["remaining"],
                 "seconds": None if r["until"] is None else round(max(0.0, r["until"] - now), 3)}
                for r in self._rules if r["until"] is None or r["until"] > now
            ]}  # fmt: skip


def render(service: Any, requests: dict) -> str:
    """The emulator's metrics now, in the Prometheus text format."""
    out = Exposition()
    rows, sizes, errors = service.appender.usage.snapshot()

    def table_labels(key: tuple) -> dict:
        return {"project_id": key[0], "dataset_id": key[1], "table": key[2], "api": key[3]}

    out.add("bigquery.googleapis.com/storage/uploaded_row_count", "counter", "Uploaded rows.",
            [(table_labels(k), v) for k, v in sorted(rows.items())])
    out.add("bigquery.googleapis.com/storage/uploaded_bytes", "counter", "Uploaded bytes.",
            [(table_labels(k), v) for k, v in sorted(sizes.items())])
    per_dataset = Counter((t.project, t.dataset_id) for t in list(service.catalog.tables.values()))
    for project, dataset in list(service.catalog.datasets):
        per_dataset.setdefault((project, dataset), 0)
    out.add("bigquery.googleapis.com/storage/table_count", "gauge",
            "Number of tables.",
            [({"project_id": p, "dataset_id": d}, n) for (p, d), n in sorted(per_dataset.items())])
    out.add("serviceruntime.googleapis.com/api/request_count", "counter",
            "The count of completed requests.",
            [({"service": "bigquery.googleapis.com", "method": method,
               "response_code": str(code), "response_code_class": f"{code // 100}xx"}, n)
             for (method, code), n in sorted(requests.items())])  # fmt: skip
    out.add("emulator_bigquery_insert_errors", "counter",
            "Rows insertAll refused, by reason (no Cloud Monitoring metric: in GCP, "
            "INFORMATION_SCHEMA.STREAMING_TIMELINE).",
            [({"project_id": k[0], "dataset_id": k[1], "table": k[2], "reason": k[3]}, v)
             for k, v in sorted(errors.items())])  # fmt: skip
    add_process_metrics(out, "bigquery", service.storage.data_dir)
    return out.render()


class Monitor:
    """ASGI wrapper (inside the Host/Origin guard): serves ``/_emulator/``, applies faults and
    counts every API call by method and response code."""

    def __init__(self, app: Any, service: Any):
        self.app = app
        self.service = service
        self.faults = Faults()
        self._requests: Counter = Counter()  # (consumed_api method, HTTP status) -> calls
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, verb = scope["path"], scope["method"]
        if path.startswith("/_emulator/"):
            await self._admin(verb, path[len("/_emulator"):], receive, send)
            return
        method = api_method(verb, path)
        if method is None:
            await self.app(scope, receive, send)
            return
        error = self.faults.check(method[0])
        if error is not None:
            self._count(method[1], error.code)
            await _send_json(send, error.to_json(), error.code)
            return
        status = {"code": 500}

        async def noting(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            self._count(method[1], status["code"])

    def _count(self, method: str, code: int) -> None:
        with self._lock:
            self._requests[(method, code)] += 1

    async def _admin(self, verb: str, route: str, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > 65536:
                await _send_json(send, Invalid("The request body is too large.").to_json(), 400)
                return
            if not message.get("more_body"):
                break
        try:
            if (verb, route) == ("GET", "/metrics"):
                with self._lock:
                    requests = dict(self._requests)
                text = render(self.service, requests).encode()
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", CONTENT_TYPE.encode()),
                    (b"content-length", str(len(text)).encode())]})
                await send({"type": "http.response.body", "body": text})
                return
            if (verb, route) == ("GET", "/faults"):
                payload = self.faults.state()
            elif (verb, route) == ("POST", "/faults:fail"):
                payload = self._fail(body)
            elif (verb, route) == ("DELETE", "/faults"):
                self.faults.clear()
                payload = self.faults.state()
            else:
                raise NotFound(f"Not found: no admin endpoint {verb} /_emulator{route}")
        except BigQueryError as exc:
            await _send_json(send, exc.to_json(), exc.code)
            return
        await _send_json(send, payload, 200)

    def _fail(self, raw: bytes) -> dict:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise Invalid("The request body must be JSON.") from None
        if not isinstance(body, dict) or not isinstance(body.get("method"), str):
            raise Invalid('A JSON object with "method" (e.g. "tabledata.insertAll" or "*") is '
                          "required.")
        self.faults.fail(body["method"], body.get("code", 503),
                         body.get("reason", "backendError"), body.get("message", ""),
                         body.get("seconds"), body.get("times"))
        return self.faults.state()


async def _send_json(send, payload: dict, status: int) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json; charset=UTF-8"),
        (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class AdminClient:
    """``/_emulator/`` of a running BigQuery emulator (plain HTTP/JSON)."""

    def __init__(self, url: str, timeout: float = 30.0):
        import requests

        self.base = (url if "://" in url else f"http://{url}").rstrip("/") + "/_emulator"
        self.timeout = timeout
        self.http = requests.Session()

    def _call(self, verb: str, path: str, body: Any = None) -> Any:
        response = self.http.request(verb, self.base + path, json=body, timeout=self.timeout)
        if response.status_code >= 400:
            error = response.json().get("error", {})
            raise RuntimeError(f"{response.status_code}: {error.get('message')}")
        return response.json()

    def metrics(self) -> str:
        response = self.http.get(self.base + "/metrics", timeout=self.timeout)
        response.raise_for_status()
        return response.text

    def fail(self, method: str, code: int = 503, reason: str = "backendError", *,
             seconds: float | None = None, times: int | None = None, message: str = "") -> dict:
        """The next calls of ``method`` answer ``code``/``reason``, for ``seconds`` or ``times``
        calls (neither: until cleared)."""
        return self._call("POST", "/faults:fail", {
            "method": method, "code": code, "reason": reason, "message": message,
            "seconds": seconds, "times": times})  # fmt: skip

    def faults(self) -> dict:
        return self._call("GET", "/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")
