"""The container backends of the stack: docker compose and testcontainers.

Both run the images :mod:`harness.images` builds (built or brought up to date first), each
emulator with its data on a Docker volume (``--data-dir /data``), so a container killed with
SIGKILL and started again keeps everything it acknowledged. Ports are published on 127.0.0.1 only,
on free ports, so several stacks run side by side. Inside a container the servers bind 0.0.0.0
and are told (``--allow-host``) the names other clients reach them by.

``kill(name)`` and ``restart(name)`` crash and revive one emulator on the same volume and the same
host port, for durability tests.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import uuid
from pathlib import Path

from emulators.process import free_port
from harness import engine, images
from harness.endpoints import Endpoints, StackError

# The compose file ships inside the package (so a pip-installed project has it);
# the repository's top-level docker-compose.yml is a link to it.
COMPOSE_FILE = Path(__file__).with_name("docker-compose.yml")
# inside the containers; in start order: BigQuery loads from and extracts to Cloud Storage,
# Pub/Sub's BigQuery subscriptions write to BigQuery
PORTS = {"storage": 9023, "bigquery": 9050, "pubsub": 8085}
GRPC_PORT = 9060  # the BigQuery container's Storage Read/Write API (gRPC)
# each published port's variable in the compose file; "bigquery_storage" is GRPC_PORT's
PORT_VARIABLES = {name: f"STREAMBENCH_{name.upper()}_PORT" for name in [*PORTS, "bigquery_storage"]}
LABEL = "streambench.stack"
SERVICE_LABEL = "streambench.service"  # which emulator a testcontainers container runs


def _endpoints(host: str, ports: dict[str, int]) -> Endpoints:
    storage = f"http://{host}:{ports['storage']}" if "storage" in ports else ""
    grpc = f"{host}:{ports['bigquery_storage']}" if "bigquery_storage" in ports else ""
    return Endpoints(f"{host}:{ports['pubsub']}", f"http://{host}:{ports['bigquery']}", storage,
                     bigquery_storage=grpc)


def _tail(text: str, lines: int) -> str:
    return "".join(text.splitlines(keepends=True)[-lines:]) if lines else text


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Compose:
    """``docker compose`` (or Compose v1's ``docker-compose``) with one profile of the file:
    ``ours`` (our emulators) or ``google`` (Google's Pub/Sub emulator and goccy's BigQuery)."""

    def __init__(self, compose_file: Path = COMPOSE_FILE, project: str | None = None,
                 ports: dict[str, int] | None = None, profile: str = "ours"):
        self.compose_file = Path(compose_file)
        self.project = project or f"streambench-{uuid.uuid4().hex[:8]}"
        self.ports = dict(ports or {})
        self.profile = profile
        self.env: dict[str, str] = {}

    @staticmethod
    def command() -> tuple[str, ...]:
        """``docker compose`` or ``docker-compose``; ``StackError`` when neither runs."""
        compose = engine.find().compose
        if compose is None:
            raise StackError(
                "the docker backend needs Docker Compose: neither `docker compose` nor "
                "`docker-compose` is installed; use --backend testcontainers or embedded."
            )
        return compose

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        compose = self.command()
        env = {**os.environ, **self.env,
               **{PORT_VARIABLES[n]: str(p) for n, p in self.ports.items()}}
        argv = [*compose, "-f", str(self.compose_file), "-p", self.project,
                "--profile", self.profile]
        done = subprocess.run([*argv, *args], capture_output=True, text=True, env=env)
        if check and done.returncode != 0:
            raise StackError(f"`{' '.join(compose)} {args[0]}` failed: {done.stderr.strip()[-800:]}")
        return done

    def endpoints(self) -> Endpoints:
        return _endpoints("127.0.0.1", self.ports)

    def up(self, *services: str) -> Endpoints:
        """Start the profile's services (or only ``services``); the images are built first."""
        self.command()  # before minutes of building: is there a compose to run them?
        if self.profile == "ours":
            images.build_emulators()
        else:
            self.env.update(images.google_pubsub_compose_env(images.build_google_pubsub()))
        self.ports = {name: free_port() for name in PORT_VARIABLES}
        # no --wait: Compose v1 lacks it; the stack waits for every emulator to answer
        self._run("up", "-d", *services)
        return self.endpoints()

    def logs(self, name: str | None = None, tail: int = 20) -> str:
        """The containers' logs (one service's with ``name``), the last ``tail`` lines of each
        (0: all)."""
        return self._run("logs", "--no-color", f"--tail={tail or 'all'}", *filter(None, [name]),
                         check=False).stdout

    def kill(self, name: str) -> None:
        self._run("kill", "-s", "SIGKILL", name)

    def restart(self, name: str) -> Endpoints:
        self._run("start", name)
        return self.endpoints()

    def down(self) -> None:
        self._run("down", "--volumes", "--remove-orphans", check=False)

    def state(self) -> dict:
        return {"compose_file": str(self.compose_file), "project": self.project,
                "ports": self.ports, "profile": self.profile}


class Testcontainers:
    """The emulators started with testcontainers, each on a named volume of its own.

    Ryuk (testcontainers' reaper) is disabled where its image is not here and cannot be pulled,
    and when ``detach`` is set (``python -m harness up``: the containers outlive the command).
    """

    def __init__(self, detach: bool = False, stack_id: str | None = None):
        self.detach = detach
        self.id = stack_id or uuid.uuid4().hex[:8]
        self.containers: dict[str, object] = {}
        self.ports: dict[str, int] = {}
        self.host = "127.0.0.1"

    def _configure_ryuk(self) -> None:
        from testcontainers.core.config import testcontainers_config as config

        if self.detach or not (
            images.image_exists(config.ryuk_image) or images.try_pull(config.ryuk_image, 60)
        ):
            config.ryuk_disabled = True

    def _volume(self, name: str) -> str:
        return f"streambench-{self.id}-{name}"

    def _create_volume(self, name: str) -> None:
        """A named volume labelled with this stack (and testcontainers' session, for Ryuk)."""
        from testcontainers.core.labels import create_labels

        volume = self._volume(name)
        self.client.volumes.create(volume, labels=create_labels(volume, {LABEL: self.id}))

    def _start(self, name: str, host_port: int | None = None) -> None:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import LogMessageWaitStrategy

        port = PORTS[name]
        local = _is_loopback(self.host)
        # other containers on the stack's network reach it by its name; a remote engine
        # (DOCKER_HOST=tcp://docker:2375) is reached by the engine's name
        extra = ["--allow-host", name] + ([] if local else ["--allow-host", self.host])
        if name == "bigquery":  # gs:// loads, extracts and external tables
            extra += ["--storage-endpoint", f"http://storage:{PORTS['storage']}",
                      "--grpc-port", str(GRPC_PORT)]
        container = (
            DockerContainer(images.EMULATOR_IMAGES[name])
            .with_command(["python", "-m", f"emulators.{name}", "--host", "0.0.0.0",
                           "--port", str(port), "--data-dir", "/data", *extra])
            .with_volume_mapping(self._volume(name), "/data", "rw")
            .with_network(self.network)
            .with_network_aliases(name)
            .with_kwargs(labels={LABEL: self.id, SERVICE_LABEL: name})
            .waiting_for(LogMessageWaitStrategy("listening on"))
        )
        if name == "pubsub":  # BigQuery subscriptions write to the bigquery container
            container.with_env("BIGQUERY_EMULATOR_HOST", f"http://bigquery:{PORTS['bigquery']}")
        # with_bind_ports takes no address; docker-py's (address, port) form does: loopback only,
        # unless the engine is remote and its ports must be reachable from here
        address = "127.0.0.1" if local else "0.0.0.0"
        container.ports[f"{port}/tcp"] = (address, host_port)
        if name == "bigquery":
            container.ports[f"{GRPC_PORT}/tcp"] = (address, self.ports.get("bigquery_storage"))
        self.containers[name] = container
        try:
            container.start()
        except (RuntimeError, TimeoutError):  # exited, or no ready line in time
            raise StackError(
                f"the {name} container did not start; its log ends:\n{self.logs()}"
            ) from None
        self.ports[name] = int(container.get_exposed_port(port))
        if name == "bigquery":
            self.ports["bigquery_storage"] = int(container.get_exposed_port(GRPC_PORT))

    def endpoints(self) -> Endpoints:
        return _endpoints(self.host, self.ports)

    def up(self) -> Endpoints:
        from testcontainers.core.docker_client import DockerClient

        images.build_emulators()
        self._configure_ryuk()
        from testcontainers.core.network import Network

        docker = DockerClient()
        self.client, self.host = docker.client, docker.host()
        if self.host == "localhost":
            self.host = "127.0.0.1"  # the published address; "localhost" may resolve to ::1
        try:
            self.network = Network(docker_network_kw={"labels": {LABEL: self.id}}).create()
            for name in PORTS:
                self._create_volume(name)
                self._start(name)
        except Exception:
            self.down()
            raise
        return self.endpoints()

    def logs(self, name: str | None = None, tail: int = 20) -> str:
        """The containers' logs (one emulator's with ``name``), the last ``tail`` lines of each
        (0: all), found by label (so also for a stack read back from the CLI's state file)."""
        out = []
        for service in [name] if name else PORTS:
            ids = subprocess.run(
                ["docker", "ps", "-aq", "--filter", f"label={LABEL}={self.id}",
                 "--filter", f"label={SERVICE_LABEL}={service}"],
                capture_output=True, text=True).stdout.split()
            for found in ids:
                done = subprocess.run(["docker", "logs", found], capture_output=True, text=True)
                for line in _tail(done.stdout + done.stderr, tail).splitlines():
                    out.append(f"[{service}] {line}\n")
        return "".join(out)

    def kill(self, name: str) -> None:
        self.containers[name].get_wrapped_container().kill()  # SIGKILL

    def restart(self, name: str) -> Endpoints:
        """A new container on the same volume and host port (the killed one is removed)."""
        self.containers.pop(name).get_wrapped_container().remove(force=True)
        self._start(name, self.ports[name])
        return self.endpoints()

    def down(self) -> None:
        remove_labelled(self.id)

    def state(self) -> dict:
        return {"stack_id": self.id, "host": self.host, "ports": self.ports}


def remove_labelled(stack_id: str) -> None:
    """Remove the containers, network and volumes of one testcontainers stack."""
    label = f"label={LABEL}={stack_id}"
    for listing, remove in (
        (["ps", "-aq"], ["rm", "-f", "--volumes"]),
        (["network", "ls", "-q"], ["network", "rm"]),
        (["volume", "ls", "-q"], ["volume", "rm", "-f"]),
    ):
        found = subprocess.run(["docker", *listing, "--filter", label], capture_output=True,
                               text=True).stdout.split()
        if found:
            subprocess.run(["docker", *remove, *found], capture_output=True)


def from_state(backend: str, state: dict) -> Compose | Testcontainers:
    """The backend object a state file describes (for ``python -m harness down``)."""
    if backend == "docker":
        return Compose(Path(state["compose_file"]), state["project"], state["ports"],
                       state.get("profile", "ours"))
    stack = Testcontainers(detach=True, stack_id=state["stack_id"])
    stack.host, stack.ports = state["host"], state["ports"]
    return stack
