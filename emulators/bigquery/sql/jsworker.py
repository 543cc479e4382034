"""The V8 worker of JavaScript UDFs: a child process of the emulator that holds the MiniRacer
isolates, so that a crash of V8 (or of mini-racer's native code) ends this process and never
the emulator. ``jsudf.py`` starts it as a script (``python -I jsworker.py <path> <parent pid>``)
and this file imports nothing of the emulator.

Protocol on stdin/stdout: frames of a 4-byte big-endian length and UTF-8 JSON. A request is
``{"op": "call", "id", "setup"?, "timeout", "batch", "drop"}`` (``setup`` when this process
does not hold the function's isolate yet: its names, code, types, return type and heap limit;
``drop``: ids of functions whose query ended) or ``{"op": "drop", "drop"}``. The answer is
``{"result": text}`` or ``{"error": kind, "message"?}``, kind one of ``setup``, ``js``,
``timeout``, ``oom``, ``result``. One request at a time: the process is single-threaded (apart
from a watchdog that ends it when the emulator is gone).
"""

from __future__ import annotations

import json
import os
import signal
import struct
import sys
import threading
import time

_HEADER = struct.Struct(">I")

# Our wrapper (JavaScript written here, never client text): the user's code is compiled by
# ``new Function(names..., code)`` from a string value, never spliced into source.
WRAPPER = r"""
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


def read_frame(read) -> dict | None:
    """One request (None at the end of the stream); ``read(n)`` returns up to n bytes."""
    header = _read_exact(read, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(read, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


def _read_exact(read, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return _HEADER.pack(len(body)) + body


class _Isolates:
    """The isolates of the functions this process serves, by function id."""

    def __init__(self) -> None:
        self._contexts: dict[str, tuple] = {}

    def drop(self, ids) -> None:
        for fid in ids:
            entry = self._contexts.pop(fid, None)
            if entry is not None:
                entry[0].close()

    def call(self, request: dict) -> dict:
        from py_mini_racer import JSOOMException, JSPromise, JSTimeoutException

        fid, timeout = request["id"], float(request["timeout"])
        started = time.monotonic()
        entry = self._contexts.get(fid)
        if entry is None:
            setup = request.get("setup")
            if setup is None:
                return {"error": "setup", "message": "Error: the function is not set up"}
            try:
                entry = self._contexts[fid] = self._make(setup, timeout)
            except Exception as error:  # noqa: BLE001 - the user's code does not compile
                return {"error": "setup", "message": str(error)}
        ctx, run = entry
        try:
            result = run(request["batch"], timeout_sec=timeout)
            if isinstance(result, JSPromise):
                result = result.get(timeout=max(timeout - (time.monotonic() - started), 0.001))
        except JSTimeoutException:
            self.drop([fid])  # its heap may be unusable; the next call makes a new one
            return {"error": "timeout"}
        except JSOOMException:
            self.drop([fid])
            return {"error": "oom"}
        except Exception as error:  # noqa: BLE001 - the UDF's own error, as BigQuery shows it
            if ctx.was_hard_memory_limit_reached():
                self.drop([fid])
                return {"error": "oom"}
            return {"error": "js", "message": str(error)}
        if not isinstance(result, str):
            return {"error": "result"}
        return {"result": result}

    @staticmethod
    def _make(setup: dict, timeout: float) -> tuple:
        from py_mini_racer import MiniRacer

        ctx = MiniRacer()
        try:
            ctx.set_hard_memory_limit(int(setup["memory"]))
            ctx.eval(WRAPPER)
            ctx.eval("__bq_setup")(json.dumps(setup["names"]), setup["code"],
                                   json.dumps(setup["types"]), json.dumps(setup["ret"]),
                                   timeout_sec=timeout)  # fmt: skip
            return ctx, ctx.eval("__bq_run")
        except BaseException:
            ctx.close()
            raise


def _watch_parent(parent: int) -> None:
    """End this process when the emulator is gone (stdin's end is seen only between calls)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def main() -> None:
    library, parent = sys.argv[1], int(sys.argv[2])
    if os.getppid() != parent:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the emulator's to handle
    # mini-racer reports V8 callbacks landing after an isolate closed (a timed-out call's) as
    # "Exception ignored"; they are expected here and would only fill the emulator's log
    sys.unraisablehook = lambda unraisable: None
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    sys.path.insert(0, library)
    # answers go to a private copy of stdout; anything V8 or a library prints goes to stderr
    out = os.dup(1)
    os.dup2(2, 1)
    isolates = _Isolates()
    read = sys.stdin.buffer.raw.read
    while (request := read_frame(read)) is not None:
        isolates.drop(request.get("drop", ()))
        answer = isolates.call(request) if request.get("op") == "call" else {}
        data = frame(answer)
        while data:
            data = data[os.write(out, data):]


if __name__ == "__main__":
    main()
