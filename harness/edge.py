"""The ingestion edge (`ingest/`) as processes, for the harness, tests and benchmarks.

Each function runs one ``python -m ingest...`` child (:class:`emulators.process.ServerProcess`,
output in ``<log_dir>/<name>.log``), waits for its ready line (``... listening on
<scheme>://HOST:PORT``) and returns it: ``.url``, ``.port``, ``.log_path``, ``.stop()`` (SIGTERM:
in-flight batches are flushed). Pub/Sub is whatever ``env`` says: pass ``PUBSUB_EMULATOR_HOST``
for an emulator.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from emulators.process import ServerProcess

READY = re.compile(r"listening on (https?|mqtt)://([\w.\-\[\]]+):(\d+)")


def start(name: str, module_args: list[str], log_dir: Path, env: dict | None = None,
          timeout: float = 60.0) -> ServerProcess:
    """Run ``python -m <module_args>`` detached and wait for its ready line."""
    server = ServerProcess([sys.executable, "-m", *module_args], ready=READY,
                           log_path=Path(log_dir) / f"{name}.log", env=env, detach=True,
                           name=name)
    return server.start(timeout)


def start_rest(topic: str, log_dir: Path, *, host: str = "127.0.0.1", port: int = 0,
               config: str | Path | None = None, allow_unauthenticated: bool = False,
               env: dict | None = None, name: str = "ingest-rest") -> ServerProcess:
    """``python -m ingest``: the REST edge publishing to ``topic``."""
    args = ["ingest", "--topic", topic, "--host", host, "--port", str(port)]
    if config is not None:
        args += ["--config", str(config)]
    if allow_unauthenticated:
        args.append("--allow-unauthenticated")
    return start(name, args, log_dir, env)


def start_broker(log_dir: Path, *, host: str = "127.0.0.1", port: int = 0,
                 name: str = "mqtt-broker") -> ServerProcess:
    """``python -m ingest.broker``: the local MQTT broker (``url`` is ``mqtt://HOST:PORT``)."""
    return start(name, ["ingest.broker", "--host", host, "--port", str(port)], log_dir)


def start_bridge(broker_url: str, pubsub_topic: str, log_dir: Path, *,
                 topic_filter: str = "devices/+/events", dead_letter_topic: str | None = None,
                 ordering_key: str = "none", client_id: str = "streambench-bridge",
                 env: dict | None = None, name: str = "mqtt-bridge") -> ServerProcess:
    """``python -m ingest.mqtt``; ready once subscribed (``url`` is its metrics endpoint)."""
    args = ["ingest.mqtt", "--broker", broker_url, "--topic-filter", topic_filter,
            "--pubsub-topic", pubsub_topic, "--ordering-key", ordering_key,
            "--client-id", client_id]
    if dead_letter_topic:
        args += ["--dead-letter-topic", dead_letter_topic]
    return start(name, args, log_dir, env)
