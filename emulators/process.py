"""Start a server as a child process and wait for its ready line: the one place that does it.

Our emulators print ``<name> emulator listening on [http://]HOST:PORT`` once they accept
connections; :meth:`ServerProcess.emulator` starts one of them (``port=0``: a free port, read
back from that line). :class:`ServerProcess` itself starts any command whose readiness shows as a
line matching a pattern (Google's Pub/Sub emulator prints ``Server started``).

Output goes to a log file, never a pipe: an undrained pipe blocks a chatty server, and a file lets
a detached process (``python -m harness up``) outlive its parent.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"listening on (?:(https?)://)?([\w.\-\[\]:]+):(\d+)")
# The BigQuery emulator's second ready line, printed with the first: its Storage Read/Write API.
STORAGE_READY = re.compile(r"storage API \(gRPC\) listening on ([\w.\-\[\]:]+:\d+)")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for servers that cannot be given port 0)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class StartError(RuntimeError):
    """The server exited or printed no ready line in time; the message ends with its log."""


class ServerProcess:
    """One server running as a child process, its output in :attr:`log_path`."""

    def __init__(
        self,
        argv: list[str],
        ready: re.Pattern[str] = READY,
        log_path: str | Path | None = None,
        env: dict[str, str] | None = None,
        detach: bool = False,
        name: str | None = None,
        address: str | None = None,
        cwd: str | Path | None = None,
    ):
        """``address``: ``HOST:PORT`` of a server whose ready line does not say it; ``cwd``:
        where it runs (default: the project root)."""
        self.argv = list(argv)
        self.cwd = Path(cwd) if cwd else ROOT
        self._address = address
        self.ready = ready
        self.env = env
        self.detach = detach
        self.name = name or Path(argv[0]).name
        if log_path is None:
            fd, log_path = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")
            os.close(fd)
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None
        self.match: re.Match[str] | None = None

    @classmethod
    def emulator(
        cls,
        name: str,
        *args: str,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | Path | None = None,
        log_path: str | Path | None = None,
        env: dict[str, str] | None = None,
        detach: bool = False,
        timeout: float = 30.0,
        cwd: str | Path | None = None,
    ) -> ServerProcess:
        """``python -m emulators.<name> --host H --port P [--data-dir D] *args``, started."""
        argv = [sys.executable, "-m", f"emulators.{name}", "--host", host, "--port", str(port)]
        if data_dir is not None:
            argv += ["--data-dir", str(data_dir)]
        server = cls(
            argv + list(args), log_path=log_path, env=env, detach=detach, name=name, cwd=cwd
        )
        return server.start(timeout)

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start and block until the ready line (or :class:`StartError`)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        with open(self.log_path, "ab") as log:
            offset = log.tell()
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=env,
                start_new_session=self.detach,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                self.match = self.ready.search(log.read().decode(errors="replace"))
            if self.match:
                return self
            time.sleep(0.02)
        why = "exited" if self.process.poll() is not None else f"printed no ready line in {timeout:.0f}s"
        self.stop()
        raise StartError(f"{self.name} {why}; its log ({self.log_path}) ends:\n{self.log()[-2000:]}")

    # -- where it listens (from the ready line of an emulator) --

    @property
    def address(self) -> str:
        """``HOST:PORT``, as ``PUBSUB_EMULATOR_HOST`` wants it."""
        if self._address:
            return self._address
        return f"{self.match.group(2)}:{self.match.group(3)}" if self.match else ""

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2] or 0)

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, as ``BIGQUERY_EMULATOR_HOST`` wants it."""
        scheme = self.match.group(1) if self.match and self.match.groups() else None
        return f"{scheme or 'http'}://{self.address}"

    @property
    def storage_address(self) -> str:
        """``HOST:PORT`` of the BigQuery emulator's Storage Read/Write API (gRPC), from its
        second ready line (the last one in the log: a restarted process appends to it); empty
        for other servers."""
        found = STORAGE_READY.findall(self.log()) if self.match else []
        return found[-1] if found else ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything the server printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: no chance to flush (crash tests)."""
        if self.running():
            self.process.kill()
            self.process.wait(10)

    def restarted(self, timeout: float = 30.0) -> ServerProcess:
        """A new process with the same arguments (after :meth:`kill` or :meth:`stop`)."""
        self.stop()
        again = ServerProcess(
            self.argv, self.ready, self.log_path, self.env, self.detach, self.name, self._address,
            self.cwd,
        )
        return again.start(timeout)

    def __enter__(self) -> ServerProcess:
        return self if self.running() else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
