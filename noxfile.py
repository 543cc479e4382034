"""Every workflow of the project is a nox session: `nox -l` lists them."""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session, *extras: str) -> None:
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole default suite: unit, property, integration and end-to-end tests."""
    _install(session, "dev", "load")
    # pytest exits 5 when no test ran; nox treats any non-zero exit as a failure.
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Static checks with ruff."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: the real pipeline end to end on the local emulators, with a summary."""
    _install(session)
    session.run("python", "-m", "emulators.demo", *session.posargs)


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
    _install(session, "load")
    session.run("python", "-m", "loadtest", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark against its rival: bench/results/latest.{json,md} and the README table."""
    _install(session)
    session.run("python", "bench/run_all.py", *session.posargs)


GOOGLE_PUBSUB_EMULATOR = Path(
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/lib/cloud-pubsub-emulator-0.8.20-all.jar"
)


@nox.session
def parity(session: nox.Session) -> None:
    """Our emulators vs Google's Pub/Sub emulator (live with java, else the committed snapshots).

    `nox -s parity -- --a TARGET --b TARGET` for any other pair (see parity/README.md).
    """
    _install(session)
    if session.posargs:
        session.run("python", "-m", "parity", *session.posargs)
    elif shutil.which("java") and GOOGLE_PUBSUB_EMULATOR.exists():
        session.run("python", "-m", "parity", "--a", "embedded", "--b", "google-emulator")
    else:
        session.run(
            "python", "-m", "parity", "--a", "embedded",
            "--replay", "parity/snapshots/google-emulator",
        )
