"""JavaScript UDFs: run in V8 through mini-racer (PyPI ``mini-racer``), BigQuery's types mapped
as its documentation states, with a time and memory limit per call.

The translator turns a call of a JavaScript UDF into ``bq_js_call(handle, json_array(args))``;
``bq_js_call`` is registered once on the DuckDB connection (``register``) and looks the handle
up in ``REGISTRY``, where the core put the function for the duration of one query. Each function
gets a V8 isolate of its own, made on its first call and closed with the query, so nothing
leaks between queries; V8 alone has no file, network or process access (no ``require``,
``fetch`` or ``process``; dynamic ``import()`` is refused). DuckDB calls the function once per
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

import base64
import datetime as dt
import decimal
import itertools
import json
import re
import threading
from typing import Any

TIMEOUT_S = 60.0  # per call of a function (one chunk of rows); --js-udf-timeout-seconds
MEMORY_BYTES = 256 << 20  # per function's V8 heap; --js-udf-memory-mb
_SAFE = 2**53
_INT64 = (-(2**63), 2**63 - 1)

# Our wrapper (JavaScript written here, never client text): the user's code is compiled by
# ``new Function(names..., code)`` from a string value, never spliced into source.
_WRAPPER = r"""
var __bq = {};
function __bq_setup(names, code, types, ret) {
  __bq.fn = Function.apply(null, JSON.parse(names).concat([code]));
  __bq.types = JSON.parse(types);
  __bq.ret = JSON.parse(ret);
}
function __bq_in(v, t) {
  if (v === null || v === undefined) return null;
  switch (t.typeKind) {
    case 'FLOAT64': return typeof v === 'string' ? Number(v) : v;
    case 'DATE': return new Date(v + 'T00:00:00Z');
    case 'TIMESTAMP': {
      var ms = Math.floor(v / 1000), d = new Date(ms);
      d.microsecond = ((v % 1000000) + 1000000) % 1000000;
      return d;
    }
    case 'ARRAY': return v.map(function (x) { return __bq_in(x, t.arrayElementType); });
    case 'STRUCT': {
      var o = {}, fs = t.structType.fields;
      for (var i = 0; i < fs.length; i++) o[fs[i].name] = __bq_in(v[fs[i].name], fs[i].type);
      return o;
    }
    default: return v;
  }
}
function __bq_out(v, t) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  switch (t.typeKind) {
    case 'FLOAT64': return (typeof v === 'number' && !isFinite(v)) ? String(v) : v;
    case 'STRING': return typeof v === 'string' ? v : String(v);
    case 'DATE': case 'TIMESTAMP': case 'DATETIME':
      return (v instanceof Date) ? v.toISOString() : v;
    case 'ARRAY':
      if (!Array.isArray(v)) throw new TypeError('Expected an array for ARRAY result');
      return v.map(function (x) { return __bq_out(x, t.arrayElementType); });
    case 'STRUCT': {
      var o = {}, fs = t.structType.fields;
      for (var i = 0; i < fs.length; i++) o[fs[i].name] = __bq_out(v[fs[i].name], fs[i].type);
      return o;
    }
    case 'JSON': return v;
    default: return v;
  }
}
function __bq_run(rows) {
  rows = JSON.parse(rows);
  var out = new Array(rows.length), pending = false;
  for (var r = 0; r < rows.length; r++) {
    var args = rows[r].map(function (v, j) { return __bq_in(v, __bq.types[j]); });
    out[r] = __bq.fn.apply(null, args);
    if (out[r] && typeof out[r].then === 'function') pending = true;
  }
  var finish = function (rs) {
    return JSON.stringify(rs.map(function (x) { return __bq_out(x, __bq.ret); }));
  };
  return pending ? Promise.all(out).then(finish) : finish(out);
}
"""


class JsFunction:
    """One JavaScript UDF of one query: its code, types and (lazily) its V8 isolate."""

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
        self._ctx: Any = None
        self._run: Any = None
        self._lock = threading.Lock()

    @property
    def signature(self) -> str:
        from .standard_types import to_text

        return f"{self.name}({', '.join(to_text(t) for t in self.types)})"

    def _context(self) -> Any:
        if self._ctx is None:
            from py_mini_racer import MiniRacer

            ctx = MiniRacer()
            try:
                ctx.set_hard_memory_limit(self.memory)
                ctx.eval(_WRAPPER)
                ctx.eval("__bq_setup")(json.dumps(self.names), self.code,
                                       json.dumps(self.types), json.dumps(self.return_type))
            except Exception as error:
                ctx.close()
                raise ValueError(self._message(error)) from None
            self._ctx, self._run = ctx, ctx.eval("__bq_run")
        return self._ctx

    def call(self, rows: list[str]) -> list[str | None]:
        """Results (text for the SQL CAST to the return type) of a chunk of argument rows (each
        the JSON text of an array of arguments)."""
        from py_mini_racer import JSOOMException, JSPromise, JSTimeoutException

        reason = self.stopped() if self.stopped else None
        if reason is not None:
            raise reason
        batch = "[" + ",".join(json.dumps(self._arguments(row)) for row in rows) + "]"
        with self._lock:
            self._context()
            try:
                result = self._run(batch, timeout_sec=self.timeout_s)
                if isinstance(result, JSPromise):
                    result = result.get(timeout=self.timeout_s)
            except JSTimeoutException:
                self._discard()
                raise ValueError(f"Resources exceeded during query execution: JavaScript UDF "
                                 f"{self.signature} timed out after {self.timeout_s:g} "
                                 "seconds.") from None  # fmt: skip
            except JSOOMException:
                self._discard()
                raise ValueError("Resources exceeded during query execution: UDF out of "
                                 "memory.") from None  # fmt: skip
            except Exception as error:  # noqa: BLE001 - the UDF's own error, as BigQuery shows it
                if self._ctx is not None and self._ctx.was_hard_memory_limit_reached():
                    self._discard()
                    raise ValueError("Resources exceeded during query execution: UDF out of "
                                     "memory.") from None  # fmt: skip
                raise ValueError(self._message(error)) from None
        if not isinstance(result, str):
            raise ValueError(f"JavaScript UDF {self.signature} returned no result")
        values = json.loads(result, parse_float=decimal.Decimal)
        return [_to_sql(v, self.return_type) for v in values]

    def _arguments(self, row: str) -> list:
        values = json.loads(row, parse_float=decimal.Decimal)
        return [_to_js(v, t) for v, t in zip(values, self.types, strict=True)]

    def _message(self, error: BaseException) -> str:
        text = str(error).strip()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        # mini-racer: "<anonymous>:L: TypeError: ...", the source line, a caret, the stack
        head = next((ln for ln in reversed(lines) if ln.split(":", 1)[0].endswith(
            ("Error", "Exception"))), lines[0] if lines else "Error")  # fmt: skip
        head = head.split(" at ", 1)[0].strip()
        return f"{head} at {self.signature}"

    def _discard(self) -> None:
        """Drop an isolate that hit a limit (its heap may be unusable); the next call makes
        a new one."""
        if self._ctx is not None:
            self._ctx.close()
        self._ctx = self._run = None

    def close(self) -> None:
        with self._lock:
            self._discard()


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
