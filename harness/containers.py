"""The container backends of the stack: docker compose and testcontainers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.endpoints import Endpoints, StackError

PUBSUB_PORT = 8085
BIGQUERY_PORT = 9050
BIGQUERY_STORAGE_PORT = 9060  # gRPC Storage Read/Write API (ours and goccy's)
NO_DOCKER = (
    "This backend needs a running Docker engine and none answered ({why}); "
    "use the embedded backend (--backend embedded), which needs no Docker."
)


def require_docker() -> None:
    """Raise ``StackError`` with one sentence when no Docker engine is reachable."""
    if shutil.which("docker") is None:
        raise StackError(NO_DOCKER.format(why="the docker command is not installed"))
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        raise StackError(NO_DOCKER.format(why="`docker info` failed"))


def compose_up(compose_file: Path, profile: str = "ours") -> tuple[Endpoints, callable]:
    """``docker compose --profile P up -d --wait``; returns endpoints and a stop function."""
    require_docker()
    base = ["docker", "compose", "-f", str(compose_file), "--profile", profile]
    subprocess.run([*base, "up", "-d", "--build", "--wait"], check=True)
    return Endpoints(
        f"127.0.0.1:{PUBSUB_PORT}",
        f"http://127.0.0.1:{BIGQUERY_PORT}",
        bigquery_storage=f"127.0.0.1:{BIGQUERY_STORAGE_PORT}",
    ), lambda: compose_down(compose_file, profile)


def compose_down(compose_file: Path, profile: str = "ours") -> None:
    base = ["docker", "compose", "-f", str(compose_file), "--profile", profile]
    subprocess.run([*base, "down", "-v"], check=False)


def testcontainers_up(root: Path | None = None) -> tuple[Endpoints, callable]:
    """Build our emulator images and start them with testcontainers."""
    require_docker()
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.image import DockerImage
    from testcontainers.core.waiting_utils import wait_for_logs

    root = root or Path(__file__).resolve().parent.parent
    started = []
    try:
        ports = {}
        for name, port in (("pubsub", PUBSUB_PORT), ("bigquery", BIGQUERY_PORT)):
            tag = f"streambench-{name}:local"
            DockerImage(
                path=str(root), tag=tag, dockerfile_path=f"emulators/{name}/Dockerfile",
                clean_up=False,
            ).build()
            extra = (BIGQUERY_STORAGE_PORT,) if name == "bigquery" else ()
            container = DockerContainer(tag).with_exposed_ports(port, *extra)
            container.start()
            started.append(container)
            wait_for_logs(container, "listening on", timeout=60)
            ports[name] = (container.get_container_host_ip(), container.get_exposed_port(port))
            if extra:
                ports["bigquery_storage"] = container.get_exposed_port(BIGQUERY_STORAGE_PORT)
    except Exception:
        for container in started:
            container.stop()
        raise

    def stop() -> None:
        for container in started:
            container.stop()

    (ps_host, ps_port), (bq_host, bq_port) = ports["pubsub"], ports["bigquery"]
    grpc = f"{bq_host}:{ports['bigquery_storage']}"
    return Endpoints(f"{ps_host}:{ps_port}", f"http://{bq_host}:{bq_port}",
                     bigquery_storage=grpc), stop
