"""JavaScript UDFs: run in V8 through mini-racer (PyPI ``mini-racer``), BigQuery's types mapped
as its documentation states, with a time and memory limit per call.

The translator turns a call of a JavaScript UDF into ``bq_js_call(handle, json_array(args))``;
``bq_js_call`` is registered once on the DuckDB connection (``register``) and looks the handle
up in ``REGISTRY``, where the core put the function for the duration of one query. Each function
gets a V8 isolate of its own, made on its first call and closed with the query, so nothing
leaks between queries. The isolates live in V8 worker processes (``jsworker.py``, ``POOL``), not
in the emulator: mini-racer's native code crashes when threads make isolates at once, and a crash
there must end a worker, never the server. V8 alone has no file, network or process access
(no ``require``, ``fetch`` or ``process``; dynamic ``import()`` is refused). DuckDB calls the function once per
chunk of rows, and the whole chunk is one JavaScript call: the time limit is per call.

Type mapping (BigQuery's "Supported JavaScript UDF data types"): INT64 arguments arrive as
strings (JavaScript has no 64-bit integer; an INT64 result may be a Number or a String),
NUMERIC/BIGNUMERIC as Numbers when integral and within +/-2^53, else strings, BYTES as base64
strings, DATE and TIMESTAMP as ``Date`` objects (a TIMESTAMP's Date has a ``microsecond``
field with the microsecond fraction of its second), DATETIME/TIME/INTERVAL/GEOGRAPHY as their
canonical text, JSON as the parsed value, ARRAY as Array and STRUCT as Object. A Promise result
is awaited.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import decimal
import itertools
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TIMEOUT_S = 60.0  # per call of a function (one chunk of rows); --js-udf-timeout-seconds
MEMORY_BYTES = 256 << 20  # per function's V8 heap; --js-udf-memory-mb
# V8 worker processes at most (a function's calls wait for its worker)
WORKERS = min(4, max(2, os.cpu_count() or 2))
DEADLINE_MARGIN_S = 10.0  # a worker silent this long past the call's time limit is killed
_FUNCTION_IDS = itertools.count(1)
_SAFE = 2**53
_INT64 = (-(2**63), 2**63 - 1)

class JsFunction:
    """One JavaScript UDF of one query: its code, types and the V8 worker holding its isolate."""

    def __init__(self, name: str, arguments: list[tuple[str, dict]], return_type: dict,
                 code: str, stopped: Any = None) -> None:  # fmt: skip
        self.name = name
        self.names = [n for n, _ in arguments]
        self.types = [t for _, t in arguments]
        self.return_type = return_type
        self.code = code
        self.stopped = stopped  # () -> BaseException | None: the query was stopped
        self.timeout_s = TIMEOUT_S
        self.memory = MEMORY_BYTES
        self._id = f"f{next(_FUNCTION_IDS)}"
        self._worker: _Worker | None = None
        self._lock = threading.Lock()

    @property
    def signature(self) -> str:
        from .standard_types import to_text

        return f"{self.name}({', '.join(to_text(t) for t in self.types)})"

    def call(self, rows: list[str]) -> list[str | None]:
        """Results (text for the SQL CAST to the return type) of a chunk of argument rows (each
        the JSON text of an array of arguments)."""
        reason = self.stopped() if self.stopped else None
        if reason is not None:
            raise reason
        batch = "[" + ",".join(json.dumps(self._arguments(row)) for row in rows) + "]"
        with self._lock:
            if self._worker is None:
                self._worker = POOL.assign()
            setup = {"names": self.names, "code": self.code, "types": self.types,
                     "ret": self.return_type, "memory": self.memory}  # fmt: skip
            try:
                answer = self._worker.call(self._id, setup, batch, self.timeout_s, self.stopped)
            except _WorkerLost as lost:
                raise ValueError(f"Resources exceeded during query execution: JavaScript UDF "
                                 f"{self.signature} failed: {lost}") from None  # fmt: skip
        error = answer.get("error")
        if error == "timeout":
            raise ValueError(f"Resources exceeded during query execution: JavaScript UDF "
                             f"{self.signature} timed out after {self.timeout_s:g} "
                             "seconds.")  # fmt: skip
        if error == "oom":
            raise ValueError("Resources exceeded during query execution: UDF out of memory.")
        if error == "result":
            raise ValueError(f"JavaScript UDF {self.signature} returned no result")
        if error is not None:
            raise ValueError(self._message(answer.get("message", "")))
        values = json.loads(answer["result"], parse_float=decimal.Decimal)
        return [_to_sql(v, self.return_type) for v in values]

    def _arguments(self, row: str) -> list:
        values = json.loads(row, parse_float=decimal.Decimal)
        return [_to_js(v, t) for v, t in zip(values, self.types, strict=True)]

    def _message(self, text: str) -> str:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        # mini-racer: "<anonymous>:L: TypeError: ...", the source line, a caret, the stack
        head = next((ln for ln in reversed(lines) if ln.split(":", 1)[0].endswith(
            ("Error", "Exception"))), lines[0] if lines else "Error")  # fmt: skip
        head = head.split(" at ", 1)[0].strip()
        return f"{head} at {self.signature}"

    def close(self) -> None:
        """Free the function's isolate (in its worker, at once or with the worker's next
        request)."""
        with self._lock:
            if self._worker is not None:
                self._worker.drop(self._id)
            self._worker = None


class _WorkerLost(Exception):
    """The worker process died or was killed during a call (the message says how)."""


class _Worker:
    """One V8 worker process (``jsworker.py``), started on first use and again after it died;
    one request at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held for a whole request
        self.functions = 0  # functions assigned to it (the pool's balance)
        self._process: subprocess.Popen | None = None
        self._held: set[str] = set()  # function ids whose isolate the process holds
        self._drops: list[str] = []  # to free with the next request
        self._drops_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def call(self, fid: str, setup: dict, batch: str, timeout: float, stopped: Any) -> dict:
        with self.lock:
            request = {"op": "call", "id": fid, "timeout": timeout, "batch": batch}
            if fid not in self._held:
                request["setup"] = setup
            answer = self._request(request, timeout + DEADLINE_MARGIN_S, stopped)
            if answer.get("error") in ("timeout", "oom"):
                self._held.discard(fid)  # the worker closed the isolate
            else:
                self._held.add(fid)
            return answer

    def drop(self, fid: str) -> None:
        with self._drops_lock:
            self._drops.append(fid)
            self.functions -= 1
        if self.lock.acquire(blocking=False):  # else the running request's successor does it
            try:
                if self._process is not None and self._process.poll() is None:
                    self._request({"op": "drop"}, DEADLINE_MARGIN_S, None)
            except _WorkerLost:
                pass
            finally:
                self.lock.release()

    def _request(self, request: dict, wait_s: float, stopped: Any) -> dict:
        """Send one request and wait for its answer; kill the process when it does not answer
        in time or the query was stopped."""
        from .jsworker import frame, read_frame

        with self._drops_lock:
            request["drop"], self._drops = [d for d in self._drops if d in self._held], []
        self._held.difference_update(request["drop"])
        process = self._running()
        try:
            process.stdin.write(frame(request))
            process.stdin.flush()
        except OSError:
            raise _WorkerLost(self._ended("its V8 worker process ended unexpectedly")) from None
        deadline = time.monotonic() + wait_s
        fd = process.stdout.fileno()

        def read(size: int) -> bytes:
            while True:
                reason = stopped() if stopped else None
                if reason is not None:
                    self._kill()
                    raise reason
                left = deadline - time.monotonic()
                if left <= 0:
                    self._kill()
                    raise _WorkerLost(f"its V8 worker did not answer within {wait_s:g} seconds "
                                      "and was restarted")  # fmt: skip
                if select.select([fd], [], [], min(left, 0.2))[0]:
                    return os.read(fd, size)

        answer = read_frame(read)
        if answer is None:
            raise _WorkerLost(self._ended("its V8 worker process ended unexpectedly"))
        return answer

    def _running(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._reap()
            from py_mini_racer import __file__ as library

            worker = Path(__file__).with_name("jsworker.py")
            # -I: no environment variables, user site or working directory on sys.path; the
            # library's directory is passed instead
            self._process = subprocess.Popen(
                [sys.executable, "-I", str(worker), str(Path(library).parent.parent),
                 str(os.getpid())], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                env={"TZ": "UTC"}, cwd="/", close_fds=True)  # fmt: skip
            self._held.clear()
        return self._process

    def _ended(self, what: str) -> str:
        process = self._process
        code = process.wait() if process is not None else None
        self._reap()
        if code is not None and code < 0:
            return f"{what} (signal {-code}) and was restarted"
        return f"{what} (exit status {code}) and was restarted"

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
        self._reap()

    def _reap(self) -> None:
        process, self._process = self._process, None
        self._held.clear()
        if process is not None:
            for stream in (process.stdin, process.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()

    def stop(self) -> None:
        self._kill()


class _Pool:
    """The V8 worker processes: up to ``WORKERS``, each function kept on the worker it was
    first given (its isolate lives there), an idle worker preferred."""

    def __init__(self) -> None:
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._registered = False

    def assign(self) -> _Worker:
        with self._lock:
            if not self._registered:
                atexit.register(self.stop)
                self._registered = True
            idle = [w for w in self._workers if not w.lock.locked()]
            if idle:
                worker = min(idle, key=lambda w: w.functions)
            elif len(self._workers) < WORKERS:
                worker = _Worker()
                self._workers.append(worker)
            else:
                worker = min(self._workers, key=lambda w: w.functions)
            worker.functions += 1
            return worker

    def pids(self) -> list[int]:
        """Process ids of the running workers (for tests and diagnostics)."""
        with self._lock:
            return [pid for w in self._workers if (pid := w.pid) is not None]

    def stop(self) -> None:
        """Kill and reap every worker (at the emulator's exit)."""
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.stop()


POOL = _Pool()


def _to_js(value: Any, sdt: dict, top: bool = True) -> Any:
    """A JSON value DuckDB encoded, in the form the wrapper's ``__bq_in`` expects."""
    if value is None:
        return None
    kind = sdt["typeKind"]
    if kind == "BYTES" and not top:  # top-level BYTES come base64 already (TO_BASE64 in SQL)
        return base64.b64encode(_blob_from_text(value)).decode("ascii")
    if kind == "INT64":
        return str(int(value))
    if kind in ("NUMERIC", "BIGNUMERIC"):
        number = decimal.Decimal(str(value)).normalize()
        integral = number == number.to_integral_value()
        return int(number) if integral and abs(number) <= _SAFE else format(number, "f")
    if kind == "FLOAT64":
        number = float(value)
        return number if number == number and abs(number) != float("inf") else str(number)
    if kind == "TIMESTAMP":
        stamp = dt.datetime.fromisoformat(str(value).replace(" ", "T"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        delta = stamp - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if kind == "DATETIME":
        return str(value).replace(" ", "T")
    if kind == "ARRAY":
        return [_to_js(v, sdt["arrayElementType"], False) for v in value]
    if kind == "STRUCT":
        fields = sdt["structType"]["fields"]
        if isinstance(value, dict):
            return {f["name"]: _to_js(value.get(f["name"]), f["type"], False) for f in fields}
        return {f["name"]: _to_js(v, f["type"], False)
                for f, v in zip(fields, value, strict=False)}  # fmt: skip
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _to_sql(value: Any, sdt: dict, top: bool = True) -> Any:
    """A JavaScript result as text the SQL CAST to the return type reads (nested values stay
    JSON values, the whole rendered as JSON text)."""
    if value is None:
        return None
    kind = sdt["typeKind"]
    if kind == "INT64":
        number = _int64(value)
        return str(number) if top else number
    if kind == "FLOAT64":
        if isinstance(value, str):
            number = float(value)
        elif isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool):
            number = float(value)
        else:
            raise ValueError(f"Failed to coerce output value {json.dumps(value)} to type FLOAT64")
        return repr(number) if top else number
    if kind in ("NUMERIC", "BIGNUMERIC"):
        number = decimal.Decimal(str(value))
        return str(number) if top else number
    if kind == "BOOL":
        if not isinstance(value, bool):
            raise ValueError(f"Failed to coerce output value {json.dumps(value)} to type BOOL")
        return ("true" if value else "false") if top else value
    if kind == "DATE" and isinstance(value, str):
        return value[:10]
    if kind == "TIMESTAMP" and isinstance(value, str):
        return value.replace("Z", "+00:00")
    if kind == "DATETIME" and isinstance(value, str):
        return value.rstrip("Z")
    if kind == "JSON":
        return json.dumps(value, default=_json_default) if top else value
    if kind == "BYTES" and not top:  # base64 from JavaScript; the JSON -> BLOB CAST reads \\xNN
        try:
            raw = base64.b64decode(str(value), validate=True)
        except ValueError:
            raise ValueError(f"Failed to coerce output value {json.dumps(value)} to type BYTES: "
                             "not base64") from None  # fmt: skip
        return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02X}" for b in raw)
    if kind == "ARRAY":
        if not isinstance(value, list):
            raise ValueError("Failed to coerce output value to type ARRAY")
        items = [_to_sql(v, sdt["arrayElementType"], False) for v in value]
        return json.dumps(items, default=_json_default) if top else items
    if kind == "STRUCT":
        if not isinstance(value, dict):
            raise ValueError("Failed to coerce output value to type STRUCT")
        fields = sdt["structType"]["fields"]
        obj = {f["name"]: _to_sql(value.get(f["name"]), f["type"], False) for f in fields}
        return json.dumps(obj, default=_json_default) if top else obj
    return value if isinstance(value, str) else json.dumps(value, default=_json_default)


_BLOB_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})|(.)", re.DOTALL)


def _blob_from_text(text: str) -> bytes:
    """The bytes of a BLOB DuckDB rendered as text inside JSON (printable ASCII as itself,
    every other byte and the backslash as ``\\xNN``)."""
    return bytes(int(m.group(1), 16) if m.group(1) else ord(m.group(2)) & 0xFF
                 for m in _BLOB_ESCAPE.finditer(text))  # fmt: skip


def _int64(value: Any) -> int:
    shown = json.dumps(value, default=_json_default)
    try:
        if isinstance(value, bool):
            raise ValueError
        number = decimal.Decimal(str(value).strip())
        if number != number.to_integral_value():
            raise ValueError
        result = int(number)
    except (ValueError, decimal.InvalidOperation):
        raise ValueError(f"Failed to coerce output value {shown} to type INT64") from None
    if not _INT64[0] <= result <= _INT64[1]:
        raise ValueError(f"Failed to coerce output value {shown} to type INT64: Bad int64 "
                         f"value: {value}")  # fmt: skip
    return result


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


class Registry:
    """Handles of the JavaScript functions of running queries."""

    def __init__(self) -> None:
        self._functions: dict[str, JsFunction] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def add(self, function: JsFunction) -> str:
        with self._lock:
            handle = f"js{next(self._ids)}"
            self._functions[handle] = function
        return handle

    def remove(self, handle: str) -> None:
        with self._lock:
            function = self._functions.pop(handle, None)
        if function is not None:
            function.close()

    def get(self, handle: str) -> JsFunction:
        with self._lock:
            function = self._functions.get(handle)
        if function is None:
            raise ValueError("JavaScript UDF is no longer available (its query ended)")
        return function


REGISTRY = Registry()


def configure(timeout_s: float | None = None, memory_mb: int | None = None) -> None:
    """Limits for JavaScript UDFs made from now on (the server's command line)."""
    global TIMEOUT_S, MEMORY_BYTES
    if timeout_s is not None:
        TIMEOUT_S = float(timeout_s)
    if memory_mb is not None:
        MEMORY_BYTES = int(memory_mb) << 20


def _call(handles: Any, rows: Any) -> Any:
    import pyarrow as pa

    handle_values = handles.to_pylist()
    row_values = rows.to_pylist()
    if not row_values:
        return pa.array([], pa.string())
    function = REGISTRY.get(handle_values[0])
    return pa.array(function.call(row_values), pa.string())


def register(con: Any) -> None:
    """Register ``bq_js_call`` on a DuckDB connection (cursors share it)."""
    con.create_function("bq_js_call", _call, ["VARCHAR", "VARCHAR"], "VARCHAR", type="arrow",
                        null_handling="special", side_effects=True)  # fmt: skip
