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
from dataclasses import dataclass, field
from pathlib import Path

from emulators.process import ServerProcess, StartError

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


#: Fixed default ports, as 8085/9050 are for the emulators: Cloud Run's $PORT default (which is
#: also ``python -m ingest``'s) and MQTT's IANA port.
DEFAULT_PORTS = {"rest": 8080, "mqtt": 1883}
#: Process names, in the order they start (``down`` stops them in reverse, before the emulators).
NAMES = {"rest": "ingest-rest", "broker": "mqtt-broker", "bridge": "mqtt-bridge"}


def check_rest_config(path: Path) -> None:
    """The edge's own config file, read as the edge will read it: a mistake is a
    :class:`harness.config.ConfigError` before anything starts."""
    from harness.config import ConfigError
    from ingest.config import ConfigError as IngestConfigError
    from ingest.config import load

    try:
        load(path)
    except IngestConfigError as exc:
        raise ConfigError(f"the [ingest] config file: {exc}") from None


def missing_extra() -> str | None:
    """Why the ``ingest`` extra cannot run here (one sentence), or None."""
    import importlib.util

    for module in ("paho.mqtt", "amqtt", "prometheus_client", "jwt"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return (f"the ingestion edge needs the ingest extra ({module} is missing): "
                    "pip install 'streambench[ingest]'")
    return None


@dataclass
class Edge:
    """The REST edge and/or the MQTT broker + bridge of one harness file, on running emulators.

    ``ports``: ``{"rest"|"mqtt": (port, may_fall_back)}``; a taken port that may fall back
    becomes a free one, with a note in :attr:`notes` (as the emulators' defaults do).
    """

    log_dir: Path
    pubsub: str  # PUBSUB_EMULATOR_HOST for the children
    topic: str
    host: str = "127.0.0.1"
    ports: dict = field(default_factory=dict)
    rest_config: Path | None = None
    allow_unauthenticated: bool = False
    topic_filter: str = "devices/+/events"
    dead_letter_topic: str | None = None
    notes: list[str] = field(default_factory=list)
    processes: list[ServerProcess] = field(default_factory=list)
    urls: dict = field(default_factory=dict)  # "ingest", "mqtt", "bridge"

    def start(self, rest: bool, mqtt: bool) -> Edge:
        """Start what is asked; on any failure, stop what started and raise StackError."""
        from harness.endpoints import StackError

        env = {"PUBSUB_EMULATOR_HOST": self.pubsub}
        try:
            if rest:
                server = start_rest(self.topic, self.log_dir, host=self.host,
                                    port=self._port("rest", "the REST edge", "--rest-port"),
                                    config=self.rest_config,
                                    allow_unauthenticated=self.allow_unauthenticated, env=env,
                                    name=NAMES["rest"])
                self.processes.append(server)
                self.urls["ingest"] = server.url
            if mqtt:
                broker = start_broker(self.log_dir, host=self.host,
                                      port=self._port("mqtt", "the MQTT broker", "--mqtt-port"),
                                      name=NAMES["broker"])
                self.processes.append(broker)
                self.urls["mqtt"] = broker.url
                bridge = start_bridge(broker.url, self.topic, self.log_dir,
                                      topic_filter=self.topic_filter,
                                      dead_letter_topic=self.dead_letter_topic, env=env,
                                      name=NAMES["bridge"])
                self.processes.append(bridge)
                self.urls["bridge"] = bridge.url
        except StartError as exc:
            self.stop()
            last = [line for line in str(exc).splitlines() if line.strip()][-1].strip()
            raise StackError(f"the ingestion edge did not start ({last}); its logs are in "
                             f"{self.log_dir}") from None
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM each, newest first: the bridge and the REST edge flush to Pub/Sub."""
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def _port(self, kind: str, what: str, flag: str) -> int:
        from harness.endpoints import StackError
        from harness.stack import port_taken

        port, may_fall_back = self.ports.get(kind, (0, False))
        if port and port_taken(self.host, port):
            if not may_fall_back:
                raise StackError(f"port {port} on {self.host} is taken, so {what} cannot listen "
                                 f"there; pass {flag} with another port (0 for any free one)")
            self.notes.append(f"port {port} is taken, so {what} listens on a free port instead "
                              f"({flag} chooses one)")
            return 0
        return port
