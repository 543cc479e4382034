"""Google's Pub/Sub emulator (the reference ours is checked against; never a product dependency).

Found once, here: ``PUBSUB_EMULATOR_JAR`` if set, else the newest
``cloud-pubsub-emulator-*-all.jar`` in a Google Cloud SDK (the Debian package
``google-cloud-cli-pubsub-emulator``, a ``gcloud components install pubsub-emulator``, or the
SDK that the ``gcloud`` on PATH belongs to). Tests, benches and the parity runner use it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from emulators.process import ServerProcess, free_port

JAR_ENV = "PUBSUB_EMULATOR_JAR"
_SDK_ROOTS = ("/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk", "~/google-cloud-sdk")
_READY = re.compile(r"Server started")


def _version(jar: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", jar.name))


def find_jar() -> Path | None:
    """The emulator's jar, or None where it is not installed."""
    if os.environ.get(JAR_ENV):
        jar = Path(os.environ[JAR_ENV]).expanduser()
        return jar if jar.is_file() else None
    roots = [Path(r).expanduser() for r in _SDK_ROOTS]
    gcloud = shutil.which("gcloud")
    if gcloud:
        roots.append(Path(gcloud).resolve().parent.parent)
    jars = [
        jar
        for root in roots
        for jar in root.glob("platform/pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar")
    ]
    return max(jars, key=_version) if jars else None


def available() -> bool:
    """Java and the jar are both here."""
    return shutil.which("java") is not None and find_jar() is not None


def start(host: str = "127.0.0.1", log_path: str | Path | None = None,
          timeout: float = 60.0) -> ServerProcess:
    """Start it on a free port and wait for "Server started"."""
    jar = find_jar()
    if jar is None or not shutil.which("java"):
        raise RuntimeError(f"Google's Pub/Sub emulator needs java and its jar (or {JAR_ENV})")
    port = free_port(host)
    server = ServerProcess(
        ["java", "-jar", str(jar), f"--host={host}", f"--port={port}"],
        ready=_READY,
        log_path=log_path,
        name="google-pubsub-emulator",
        address=f"{host}:{port}",
    )
    return server.start(timeout)
