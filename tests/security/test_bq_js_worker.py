"""JavaScript UDFs run in a V8 worker process of their own: when V8 dies (a crash of
libmini_racer.so, the kernel's OOM killer) only the query using it fails, with BigQuery's error,
and the emulator keeps serving; the next JavaScript UDF gets a new worker.

The emulator here gives JavaScript calls 120 s, so a looping UDF is still running when the test
kills its worker."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.support.security import assert_error, assert_serves, client, query, start

pytestmark = pytest.mark.integration

LOOP = "CREATE TEMP FUNCTION f() RETURNS FLOAT64 LANGUAGE js AS r'''while (true) {}''';\nSELECT f()"
ONE = "CREATE TEMP FUNCTION f() RETURNS FLOAT64 LANGUAGE js AS r'''return 1;''';\nSELECT f()"


@pytest.fixture(scope="module")
def bq(tmp_path_factory):
    server = start("emulators.bigquery", tmp_path_factory.mktemp("bq_js_worker"),
                   "--js-udf-timeout-seconds", "120")  # fmt: skip
    yield server
    server.stop()


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), None once gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _children(pid: int) -> dict[int, list[str]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) and int(fields[1]) == pid:
            found[int(entry)] = fields
    return found


def _workers(pid: int) -> list[int]:
    """The emulator's V8 workers (its children running jsworker.py)."""
    found = []
    for child in _children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(b"jsworker.py") for arg in argv):
            found.append(child)
    return found


def _spinning_worker(pid: int) -> int:
    """The worker that runs the looping UDF: its CPU time is past what starting takes (V8 runs
    on a thread of its own, so the process's state is its waiting main thread's)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for worker in _workers(pid):
            fields = _stat(worker)
            if fields and int(fields[11]) > 50:  # utime, clock ticks (1/100 s)
                return worker
        time.sleep(0.05)
    raise AssertionError("no V8 worker process runs the UDF")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_a_dying_v8_worker_fails_only_its_query(bq, sig):
    answers = []
    spinning = threading.Thread(target=lambda: answers.append(query(bq, LOOP)))
    spinning.start()
    worker = _spinning_worker(bq.process.pid)
    os.kill(worker, sig)
    spinning.join(timeout=60)
    assert not spinning.is_alive()

    error = assert_error(answers[0], 400, "resourcesExceeded")
    assert "JavaScript UDF f()" in error["message"], error["message"]
    assert f"worker process ended unexpectedly (signal {int(sig)})" in error["message"]
    assert bq.process.poll() is None
    assert_serves(bq)
    # the next JavaScript UDF runs in a new worker, through the real client too
    assert query(bq, ONE).json()["rows"] == [{"f": [{"v": "1.0"}]}]
    rows = client(bq).query(ONE).result()
    assert [tuple(r.values()) for r in rows] == [(1.0,)]
    assert worker not in _workers(bq.process.pid)
    # the dead worker was reaped: no zombie child left behind
    assert [c for c, fields in _children(bq.process.pid).items() if fields[0] == "Z"] == []


def test_a_cancelled_query_stops_its_udf_at_once(bq):
    job = client(bq).query(LOOP)
    worker = _spinning_worker(bq.process.pid)
    job.cancel()
    with pytest.raises(Exception, match="cancelled"):
        job.result(timeout=60)
    deadline = time.monotonic() + 30
    while _stat(worker) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stat(worker) is None  # killed (and reaped), not left spinning for 120 s
    assert query(bq, ONE).json()["rows"] == [{"f": [{"v": "1.0"}]}]


def test_the_workers_end_with_the_emulator(tmp_path):
    server = start("emulators.bigquery", tmp_path, "--js-udf-timeout-seconds", "120")
    try:
        assert query(server, ONE).status_code == 200
        workers = _workers(server.process.pid)
        assert workers
    finally:
        server.stop()
    deadline = time.monotonic() + 30
    while any(_stat(w) is not None for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [w for w in workers if _stat(w) is not None] == []
