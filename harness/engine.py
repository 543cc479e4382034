"""Find a Docker engine and a compose command, or (where the machine allows it) install and start one.

The container backends only *find* an engine (:func:`find`); :func:`ensure` is for CI and
``nox -s containers``: when nothing answers and we are root with apt, it installs Debian's
``docker.io`` (and ``docker-compose``, Compose v1: Debian does not package the v2 plugin) and starts
``dockerd`` in the background. Either way it says which it did.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.endpoints import StackError

NO_DOCKER = (
    "This backend needs a running Docker engine and none answered ({why}); "
    "use the embedded backend (--backend embedded), which needs no Docker."
)
DOCKERD_LOG = Path("/var/log/streambench-dockerd.log")


@dataclass(frozen=True)
class Engine:
    """A Docker engine that answered, and how to run compose against it."""

    version: str  # the server's version, e.g. "20.10.24+dfsg1"
    compose: tuple[str, ...] | None  # ("docker", "compose") (v2) or ("docker-compose",) (v1)
    how: str = "found"  # found | started | installed and started

    def describe(self) -> str:
        compose = " ".join(self.compose) if self.compose else "no compose"
        return f"Docker engine {self.version} ({self.how}); compose: {compose}"


def _run(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def server_version() -> tuple[str | None, str]:
    """The engine's version, or None and why not."""
    if shutil.which("docker") is None:
        return None, "the docker command is not installed"
    try:
        probe = _run("docker", "version", "--format", "{{.Server.Version}}")
    except subprocess.TimeoutExpired:
        return None, "`docker version` did not answer in 30 s"
    if probe.returncode != 0 or not probe.stdout.strip():
        return None, "`docker info` failed: no engine at the Docker socket"
    return probe.stdout.strip(), ""


def compose_command() -> tuple[str, ...] | None:
    """``docker compose`` (the v2 plugin) where it works, else ``docker-compose`` (v1), else None."""
    if shutil.which("docker") and _run("docker", "compose", "version").returncode == 0:
        return ("docker", "compose")
    if shutil.which("docker-compose") and _run("docker-compose", "version").returncode == 0:
        return ("docker-compose",)
    return None


def find() -> Engine:
    """The engine that answers now, or ``StackError`` with one sentence saying why none does."""
    version, why = server_version()
    if version is None:
        raise StackError(NO_DOCKER.format(why=why))
    return Engine(version, compose_command())


def can_install() -> bool:
    """Root, with apt: this machine may install what is missing."""
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def apt_install(*packages: str) -> None:
    """``apt-get install -y`` (one ``apt-get update`` first); root only."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise StackError(f"`{' '.join(argv)}` failed: {done.stderr.strip()[-500:]}")


def _start_dockerd(timeout: float = 60) -> None:
    """``dockerd`` in the background (it outlives this process), then wait until it answers."""
    with open(DOCKERD_LOG, "ab") as log:
        subprocess.Popen(
            ["dockerd"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while server_version()[0] is None:
        if time.monotonic() > deadline:
            tail = DOCKERD_LOG.read_text(errors="replace")[-1500:]
            raise StackError(f"dockerd did not answer in {timeout:.0f}s; its log ends:\n{tail}")
        time.sleep(0.5)


def ensure() -> Engine:
    """The engine found, or one installed (``docker.io``, ``docker-compose``) and started here."""
    try:
        engine = find()
    except StackError:
        if not can_install():
            raise
        how = "started"
        if shutil.which("dockerd") is None:
            apt_install("docker.io")
            how = "installed and started"
        _start_dockerd()
        engine = find()
        engine = Engine(engine.version, engine.compose, how)
    if engine.compose is None and can_install():
        apt_install("docker-compose")
        engine = Engine(engine.version, compose_command(), engine.how)
    return engine
