"""Issue 14, finding 1: a producer team that installs the built wheel (not an editable checkout)
gets a working pytest plugin, CLI and harness file, with its own harness.toml found from the
working directory.

The wheel is built from the project's files and installed into a fresh virtual environment.
Its dependencies come from this environment's site-packages (linked, minus this project's own
packages and its editable-install hook), so nothing is downloaded and the test stays quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.support.cli import FREE_PORTS, exports, fresh_copy

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

OWN = {"pipeline", "emulators", "harness", "loadtest", "contract_tests", "parity"}

TEAM_HARNESS = """\
project = "checkout-team"

[[topics]]
name = "orders"

[[subscriptions]]
name = "orders-to-bq"
topic = "orders"

[[datasets]]
name = "sales"

[[tables]]
dataset = "sales"
name = "orders"
schema = "events"

[[tables]]
dataset = "sales"
name = "orders_dlq"
schema = "dead_letter"

[pipeline]
input_subscription = "orders-to-bq"
output_table = "sales.orders"
dead_letter_table = "sales.orders_dlq"
"""

PRODUCER_TEST = '''\
import harness


def test_installed_not_editable():
    assert "site-packages" in harness.__file__, harness.__file__


def test_my_events_land(provisioned_stack, run_pipeline, publish_events, wait_for_rows):
    assert provisioned_stack.config.path.name == "harness.toml"
    assert str(provisioned_stack.config.path.parent) == {team!r}
    assert provisioned_stack.events_table.endswith(".sales.orders")
    run_pipeline()
    publish_events([{{"event_id": "order-1", "timestamp": "2024-01-01T00:00:00Z",
                     "data": {{"total": 12.5}},
                     "metadata": {{"source": "checkout", "version": "1.0"}}}}])
    assert wait_for_rows(1) == 1
'''


def _dependencies(dest: Path) -> Path:
    """This environment's site-packages without this project: a directory of links."""
    site = Path(sysconfig.get_paths()["purelib"])
    dest.mkdir()
    for entry in site.iterdir():
        name = entry.name
        if name in OWN or name.startswith(("streambench", "__editable__")) or \
                "__editable__" in name:
            continue
        (dest / name).symlink_to(entry)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the built wheel installed, and its python."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    fresh_copy(source)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(work / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((work / "dist").glob("streambench-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    deps = _dependencies(work / "deps")
    # `import site` lines in a .pth run at start-up: the linked directory's own .pth files
    # (namespace packages, setuptools) are processed as in a real site-packages.
    (site / "_deps.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
         str(site), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return python


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (
        "PYTHONPATH", "PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "VIRTUAL_ENV")}
    return {**env, **FREE_PORTS}


def test_a_producer_team_runs_its_tests_with_the_installed_plugin(installed, tmp_path):
    team = tmp_path / "checkout-service"
    (team / "tests").mkdir(parents=True)
    (team / "harness.toml").write_text(TEAM_HARNESS)
    (team / "tests" / "test_orders.py").write_text(PRODUCER_TEST.format(team=str(team)))
    result = subprocess.run(
        [installed, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=team, capture_output=True, text=True, timeout=400, env=_env(),
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "2 passed" in result.stdout


def test_the_installed_cli_keeps_its_state_in_the_project(installed, tmp_path):
    team = tmp_path / "checkout-service"
    (team / "src").mkdir(parents=True)
    (team / "harness.toml").write_text(TEAM_HARNESS)

    def harness(*args):
        return subprocess.run([installed, "-m", "harness", *args], cwd=team / "src",
                              capture_output=True, text=True, timeout=120, env=_env())

    up = harness("up")
    try:
        assert up.returncode == 0, up.stderr
        assert f"provisioned project checkout-team from {team / 'harness.toml'}" in up.stderr
        assert set(exports(up.stdout)) == {"PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST",
                                          "STORAGE_EMULATOR_HOST",
                                          "BIGQUERY_STORAGE_EMULATOR_HOST"}
        assert (team / ".harness" / "state.json").exists()
        status = harness("status")
        assert status.returncode == 0, status.stderr
        assert "sales.orders: 0 rows" in status.stdout
    finally:
        assert harness("down").returncode == 0
    site = subprocess.run([installed, "-c", "import harness, pathlib; "
                           "print(pathlib.Path(harness.__file__).parent.parent)"],
                          capture_output=True, text=True, env=_env(), cwd=tmp_path).stdout.strip()
    assert "site-packages" in site
    assert not (Path(site) / ".harness").exists()
