"""Google's own google-cloud-pubsub tests (``tests/system.py``) as the yardstick.

    python -m parity.google_suite [--version 2.44.0] [--targets ours,google] [--out FILE]

Downloads, at run time, the sdist of the google-cloud-pubsub version installed (``pip download
--no-binary :all: --no-deps``; cached in ``.conformance/``, which git ignores: Google's code is
never committed), and runs its ``tests/system.py`` with our ``conftest.py`` against our emulator
and, where java and the jar exist, Google's emulator, both at once. The suite parametrises its
clients over the ``grpc`` and ``rest`` transports. Writes a Markdown table of every test per
target (``emulators/pubsub/CONFORMANCE.md`` by default) and exits 1 when a test that does not
need real Google Cloud fails on ours.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = ROOT / ".conformance"
DEFAULT_OUT = ROOT / "emulators" / "pubsub" / "CONFORMANCE.md"
PACKAGE = "google-cloud-pubsub"
SUITE_TIMEOUT_S = 1500
# pytest options of the run: our conftest and ini only (not this repository's), no plugins
# of ours, no cache, and no reruns by flaky (the suite retries its timing-sensitive tests up to
# five times, a minute each: a test failing for good would cost twenty minutes).
PYTEST_INI = (
    "[pytest]\n"
    "addopts = -p no:cacheprovider -p no:flaky -p no:streambench -p no:streambench-contract\n"
)


def sdist_suite(version: str) -> Path:
    """``tests/system.py`` of the sdist of ``version``, downloaded once into the cache."""
    target = CACHE / f"{PACKAGE}-{version}"
    system = target / "tests" / "system.py"
    if system.exists():
        return system
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
             "--no-deps", "--dest", download, f"{PACKAGE}=={version}"],
            check=True,
        )
        [archive] = list(Path(download).glob("*.tar.gz"))
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if re.search(r"/(tests|samples)/", m.name)]
            tar.extractall(download, members=members, filter="data")
        [root] = [p for p in Path(download).iterdir() if p.is_dir()]
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(root), target)
    return system


def has_samples(system: Path) -> bool:
    return (system.parents[1] / "samples").exists()


def start(kind: str):
    from parity.targets import Embedded, GoogleEmulator

    target = Embedded() if kind == "ours" else GoogleEmulator()
    target.start({"pubsub"})
    return target


def run_suite(kind: str, system: Path, work: Path, workers: int) -> dict:
    """Run the suite against one emulator; per test id (outcome, first line of the reason).

    With ``workers`` > 1 the tests run in that many processes (pytest-xdist): most of the
    suite's time is spent waiting (a minute for an ack deadline that must not pass, fifteen
    seconds for a slow callback), and its tests use names of their own."""
    target = start(kind)
    run_dir = work / kind
    run_dir.mkdir(parents=True)
    shutil.copy(system, run_dir / "system.py")
    shutil.copy(HERE / "conftest.py", run_dir / "conftest.py")
    (run_dir / "pytest.ini").write_text(PYTEST_INI)
    report = run_dir / "junit.xml"
    env = {**os.environ, "PUBSUB_EMULATOR_HOST": target.pubsub_host,
           "CONFORMANCE_PROJECT": f"conformance-{kind}"}
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    started = time.monotonic()
    try:
        with open(run_dir / "pytest.log", "w") as log:
            subprocess.run(
                [sys.executable, "-m", "pytest", "system.py", "-c", "pytest.ini", "-q",
                 f"--junitxml={report}", "-o", "junit_family=xunit1",
                 *(["-n", str(workers)] if workers > 1 else [])],
                cwd=run_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                timeout=SUITE_TIMEOUT_S,
            )
    finally:
        target.stop()
    return {"seconds": time.monotonic() - started, "tests": parse_junit(report),
            "log": run_dir / "pytest.log"}


def parse_junit(path: Path) -> dict[str, tuple[str, str]]:
    results: dict[str, tuple[str, str]] = {}
    if not path.exists():
        return results
    for case in ET.parse(path).getroot().iter("testcase"):
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        name = case.get("name", "")
        test_id = f"{cls}::{name}" if cls and cls != "system" else name
        outcome, reason = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                reason = (node.get("message") or node.text or "").strip().splitlines()
                reason = reason[0][:160] if reason else ""
                break
        results[test_id] = (outcome, reason)
    return results


def transport(test_id: str) -> str:
    """"rest" when any client fixture of the test is parametrised to REST, else "grpc"."""
    params = re.search(r"\[(.*)\]$", test_id)
    return "rest" if params and "rest" in params.group(1).split("-") else "grpc"


def needs_gcp(reason: str) -> bool:
    return "KOKORO" in reason or "service account" in reason


def summary_rows(results: dict) -> list[str]:
    rows = []
    for kind, run in results.items():
        for wire, label in (("grpc", "gRPC only"), ("rest", "a REST client among them")):
            outcomes = [o for t, (o, _) in run["tests"].items() if transport(t) == wire]
            rows.append(
                f"| {kind} | {label} | {len(outcomes)} | {outcomes.count('passed')} | "
                f"{outcomes.count('failed') + outcomes.count('error')} | "
                f"{outcomes.count('skipped')} |"
            )
    return rows


def write_report(
    results: dict, version: str, samples: bool, out: Path, wall_s: float, workers: int
) -> None:
    kinds = list(results)
    timing = ", ".join(f"{k} {results[k]['seconds']:.0f} s" for k in kinds)
    ids = sorted({t for run in results.values() for t in run["tests"]})
    gcp_only = sorted(
        t for t in ids
        if any(needs_gcp(run["tests"].get(t, ("", ""))[1]) for run in results.values())
    )
    lines = [
        "# Google's client tests against the Pub/Sub emulators",
        "",
        f"`nox -s conformance-pubsub` ran `tests/system.py` of google-cloud-pubsub {version} (from "
        "its sdist, downloaded at run time, not committed) with our `parity/google_suite/conftest.py` "
        f"on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; wall time {wall_s:.0f} s "
        f"({timing}, run side by side, {workers} test processes each). "
        "The suite parametrises its publisher/subscriber fixtures over gRPC and REST (clients a "
        "test builds itself are gRPC); a test counts as REST when any of its fixtures is. "
        "flaky's reruns are off, so each test ran once.",
        "",
        "| emulator | clients | tests | passed | failed | skipped |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *summary_rows(results),
        "",
    ]
    if not samples:
        lines += [
            f"`samples/snippets` are not in the {version} sdist (only `tests/` is), and the "
            "project fetches nothing but packages, so the samples are not run here.",
            "",
        ]
    if "google" not in results:
        lines += ["Google's emulator was not part of this run (`--targets`, or no java/jar).", ""]
    lines += [
        "Tests that need real Google Cloud (service-account key files from Google's CI, "
        "`KOKORO_GFILE_DIR`), skipped by the suite itself on every emulator:",
        "",
        *[f"- `{t}`" for t in gcp_only],
        "",
        "| test | " + " | ".join(kinds) + " |",
        "| --- | " + " | ".join("---" for _ in kinds) + " |",
    ]
    for t in ids:
        if t in gcp_only:
            continue
        cells = []
        for kind in kinds:
            outcome, reason = results[kind]["tests"].get(t, ("not run", ""))
            cells.append(outcome if outcome == "passed" or not reason
                         else f"{outcome}: {reason.replace('|', '/')}")
        lines.append(f"| `{t}` | " + " | ".join(cells) + " |")
    out.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity.google_suite",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=importlib.metadata.version(PACKAGE),
                        help="google-cloud-pubsub version whose suite to run (default: installed)")
    parser.add_argument("--targets", default="ours,google",
                        help="comma-separated: ours, google (skipped without java or the jar)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--workers", type=int, default=4,
                        help="test processes per emulator (pytest-xdist; 1 runs them in order)")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.targets.split(",") if k.strip()]
    if not kinds or set(kinds) - {"ours", "google"}:
        parser.error("--targets takes ours and/or google")
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    if args.workers > 1 and importlib.util.find_spec("xdist") is None:
        parser.error("--workers needs pytest-xdist installed (or pass --workers 1)")
    installed = importlib.metadata.version(PACKAGE)
    if installed != args.version:
        print(f"the suite of {args.version} needs google-cloud-pubsub=={args.version} installed "
              f"(found {installed}).", file=sys.stderr)
        return 2
    from parity.targets import GOOGLE_JAR

    if "google" in kinds and (shutil.which("java") is None or not GOOGLE_JAR.exists()):
        print("Google's emulator skipped: no java or no jar.", file=sys.stderr)
        kinds.remove("google")
    system = sdist_suite(args.version)
    results: dict = {}
    errors: list[BaseException] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="conformance-") as work:

        def run(kind: str) -> None:
            try:
                results[kind] = run_suite(kind, system, Path(work), args.workers)
            except BaseException as exc:  # reported below, after the other target finishes
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(kind,)) for kind in kinds]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        for kind in kinds:
            if not results[kind]["tests"]:
                print(results[kind]["log"].read_text()[-3000:], file=sys.stderr)
        wall = time.monotonic() - started
        ordered = {k: results[k] for k in kinds}
        write_report(ordered, args.version, has_samples(system), args.out, wall, args.workers)
    print(args.out.read_text())
    ours = results.get("ours", {"tests": {}})["tests"]
    failed = [t for t, (o, r) in ours.items() if o in ("failed", "error") and not needs_gcp(r)]
    if "ours" in results and not ours:
        print("the suite did not run on ours (see the log above)", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
