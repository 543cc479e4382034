"""Start the ingestion edge as processes, for the harness, tests and benchmarks.

Each function runs one ``python -m ingest...`` child with its output in ``<log_dir>/<name>.log``
(a file, not a pipe, so the child can outlive the caller), waits for its ready line
(``... listening on <scheme>://HOST:PORT``) and returns a :class:`ServiceProcess`. Pub/Sub is
whatever ``env`` says: pass ``PUBSUB_EMULATOR_HOST`` for an emulator.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"listening on ((?:https?|mqtt)://[\w.\-\[\]]+:\d+)")


class LaunchError(RuntimeError):
    """A process did not come up; the message says why and ends with its log."""


@dataclass
class ServiceProcess:
    """One running process of the edge: its URL (the bridge's is its metrics endpoint)."""

    name: str
    process: subprocess.Popen
    url: str
    log_path: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful: in-flight batches are flushed), SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start(name: str, module_args: list[str], log_dir: Path, env: dict | None = None,
          timeout: float = 60.0) -> ServiceProcess:
    """Run ``python -m <module_args>`` and wait for its ready line."""
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        offset = log.tell()
        process = subprocess.Popen(
            [sys.executable, "-m", *module_args], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, **(env or {})}, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with open(log_path, "rb") as log:
            log.seek(offset)
            ready = READY.search(log.read().decode(errors="replace"))
        if ready:
            return ServiceProcess(name, process, ready.group(1), log_path)
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        process.wait()
    tail = log_path.read_text(errors="replace")[-2000:]
    raise LaunchError(f"{name} did not start; its log ({log_path}) ends:\n{tail}")


def start_rest(topic: str, log_dir: Path, *, host: str = "127.0.0.1", port: int = 0,
               config: str | Path | None = None, allow_unauthenticated: bool = False,
               env: dict | None = None, name: str = "ingest-rest") -> ServiceProcess:
    """``python -m ingest``: the REST edge publishing to ``topic``."""
    args = ["ingest", "--topic", topic, "--host", host, "--port", str(port)]
    if config is not None:
        args += ["--config", str(config)]
    if allow_unauthenticated:
        args.append("--allow-unauthenticated")
    return start(name, args, log_dir, env)


def start_broker(log_dir: Path, *, host: str = "127.0.0.1", port: int = 0,
                 name: str = "mqtt-broker") -> ServiceProcess:
    """``python -m ingest.broker``: the local MQTT broker (``url`` is ``mqtt://HOST:PORT``)."""
    return start(name, ["ingest.broker", "--host", host, "--port", str(port)], log_dir)


def start_bridge(broker_url: str, pubsub_topic: str, log_dir: Path, *,
                 topic_filter: str = "devices/+/events", dead_letter_topic: str | None = None,
                 ordering_key: str = "none", client_id: str = "streambench-bridge",
                 env: dict | None = None, name: str = "mqtt-bridge") -> ServiceProcess:
    """``python -m ingest.mqtt``; ready once subscribed (``url`` is its metrics endpoint)."""
    args = ["ingest.mqtt", "--broker", broker_url, "--topic-filter", topic_filter,
            "--pubsub-topic", pubsub_topic, "--ordering-key", ordering_key,
            "--client-id", client_id]
    if dead_letter_topic:
        args += ["--dead-letter-topic", dead_letter_topic]
    return start(name, args, log_dir, env)
