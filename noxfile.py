"""Every workflow of the project is a nox session: `nox -l` lists them."""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))
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
