"""Every workflow of the project is a nox session: `nox -l` lists them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from harness import google_emulator  # noqa: E402  (stdlib only: finds Google's emulator jar)

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session, *extras: str) -> None:
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole default suite: unit, property, integration and end-to-end tests."""
    _install(session, "dev", "load", "ingest", "deploy")
    # One pytest-xdist worker per core: the suite waits mostly on emulator processes and Beam
    # runs, and every fixture is safe across workers (free ports, a project per test). Arguments
    # replace the default: `nox -s tests -- tests/pubsub -x` runs in one process.
    # pytest exits 5 when no test ran; nox treats any non-zero exit as a failure.
    session.run("pytest", *(session.posargs or ["-n", "auto"]))


FAST = "not integration and not e2e and not slow and not reference"


@nox.session
def fast(session: nox.Session) -> None:
    """Unit and property tests only: no emulator processes, no Beam pipeline runs (< 60 s)."""
    _install(session, "dev", "deploy")
    session.run("pytest", "-n", "auto", "-m", FAST, *session.posargs)


# uv where it is installed (`pip install uv`): the venv of Beam and the Google clients installs in
# about a minute from cold caches instead of 4-9 with pip; pip otherwise. Not in .ci/run: from a
# clean machine this session takes 9-10 min, more than CI's budget leaves (README, "Containers").
@nox.session(venv_backend="uv|virtualenv")
def containers(session: nox.Session) -> None:
    """The docker and testcontainers backends for real, on a Docker engine.

    The engine found is used; where none answers and this is root with apt, Debian's docker.io
    (and docker-compose) is installed and dockerd started. Then the images (no registry needed:
    see harness/images.py) and the tests marked `containers`, the Flex Template launcher's
    included. Prints the engine, image sizes,
    build times and what the tests measured.
    """
    started = time.monotonic()
    # The engine and the base image need only the standard library: prepare them under nox's
    # own Python while the venv installs (on a clean machine both take minutes).
    prepare = subprocess.Popen([sys.executable, "-m", "harness.images"], cwd=ROOT)
    _install(session, "dev", "containers", "deploy")
    session.install("pip")  # the images' wheels are fetched with `pip download` (uv venvs lack pip)
    if prepare.wait() != 0:
        session.error("no Docker engine or no base image (the reason is above)")
    session.log(f"venv, engine and base image ready after {time.monotonic() - started:.0f} s")
    session.run("python", "-m", "harness", "images", "--google", "--python")
    session.run("pytest", "--run-containers", "-m", "containers", "tests/containers",
                "tests/deploy/test_deploy_template.py", *session.posargs)
    session.log(f"nox -s containers took {time.monotonic() - started:.0f} s")


@nox.session
def lint(session: nox.Session) -> None:
    """Static checks with ruff."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: the real pipeline end to end on the local emulators, with a summary."""
    _install(session)
    session.run("python", "-m", "harness.demo", *session.posargs)


@nox.session
def contract(session: nox.Session) -> None:
    """Producer contract kit: published schemas match pipeline/schema.py, examples behave."""
    _install(session, "dev")
    kit = ("python", "-m", "contract_tests")
    session.run(*kit, "export-schema", "--check")
    session.run(
        *kit, "verify", "--quiet", "contract_tests/examples/good",
        "contract_tests/examples/samples.ndjson",
    )
    session.run(*kit, "verify", "--quiet", "--expect-reject", "contract_tests/examples/bad")
    session.run("pytest", "tests/contract", *session.posargs)


@nox.session
def conformance(session: nox.Session) -> None:
    """The BigQuery conformance corpus through the real client; rewrites its pass table."""
    _install(session, "dev")
    session.run(
        "python",
        "tests/bigquery/conformance/runner.py",
        "--report",
        "emulators/bigquery/sql/CONFORMANCE.md",
        *session.posargs,
    )


@nox.session
def load(session: nox.Session) -> None:
    """Locust load test, headless, on the local emulators; `-- --target gcp --project P` for staging."""
    _install(session, "load", "ingest")
    session.run("python", "-m", "loadtest", *session.posargs)


@nox.session
def drill(session: nox.Session) -> None:
    """Disasters on purpose, pipeline running, traffic flowing (ops/RUNBOOK.md): the report goes to
    ops/results/drill.{md,json}; `-- --short` is the CI form (about 3 minutes on 2 cores), which CI
    runs inside `nox -s tests` (tests/ops/test_drill_short.py), saving this session's install."""
    _install(session)
    session.run("python", "-m", "harness.drill", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark against its rival: bench/results/latest.{json,md} and the README table."""
    _install(session, "ingest")
    session.run("python", "bench/run_all.py", *session.posargs)


# The google-cloud-pubsub release whose own tests (tests/system.py, from its sdist) are the
# yardstick of `nox -s conformance-pubsub`.
PUBSUB_CLIENT_SUITE = "2.44.0"


@nox.session(name="conformance-pubsub")
def conformance_pubsub(session: nox.Session) -> None:
    """Google's google-cloud-pubsub tests/system.py against our emulator and Google's (with java).

    Downloads the pinned client's sdist at run time (cached in .conformance/, never committed),
    writes emulators/pubsub/CONFORMANCE.md; `-- --targets ours` runs ours alone.
    """
    _install(session, "dev")
    # the suite's own test dependencies, and the client release it belongs to
    session.install(
        f"google-cloud-pubsub=={PUBSUB_CLIENT_SUITE}", "psutil", "flaky", "google-cloud-testutils",
        "pytest-xdist",
    )
    session.run("python", "-m", "parity.google_suite", "--version", PUBSUB_CLIENT_SUITE,
                *session.posargs)


@nox.session
def parity(session: nox.Session) -> None:
    """Our emulators vs Google's Pub/Sub emulator (live with java, else the committed snapshots).

    `nox -s parity -- --a TARGET --b TARGET` for any other pair (see parity/README.md).
    """
    _install(session)
    if session.posargs:
        session.run("python", "-m", "parity", *session.posargs)
    elif google_emulator.available():
        session.run("python", "-m", "parity", "--a", "embedded", "--b", "google-emulator")
    else:
        session.run(
            "python", "-m", "parity", "--a", "embedded",
            "--replay", "parity/snapshots/google-emulator",
        )
