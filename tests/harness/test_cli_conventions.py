"""Issue 14, finding 7: what users of gcloud's emulators, goccy's bigquery-emulator and LocalStack
reach for: start/stop, --host-port, fixed ports, logs, env --unset, a status that lists
resources, --help with defaults, seed files; and the harness file found from the working
directory upward."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from harness import clients
from harness.endpoints import Endpoints
from tests.support.cli import ROOT, exports, harness, one_sentence

pytestmark = pytest.mark.integration

TEAM = """\
project = "team-project"
seed = ["seed/customers.yaml"]

[[topics]]
name = "orders"

[[subscriptions]]
name = "orders-pipeline"
topic = "orders"

[[datasets]]
name = "shop"

[[tables]]
dataset = "shop"
name = "orders"
schema = [{ name = "id", type = "INTEGER" }, { name = "item", type = "STRING" }]
"""

GOCCY_YAML = """\
projects:
  - id: team-project
    datasets:
      - id: shop
        tables:
          - id: customers
            columns:
              - {name: id, type: INTEGER, mode: REQUIRED}
              - {name: name, type: STRING}
              - name: address
                type: RECORD
                fields:
                  - {name: city, type: STRING}
            data:
              - {id: 1, name: Ada, address: {city: London}}
              - {id: 2, name: Grace}
"""


@pytest.fixture
def team(tmp_path):
    """A producer team's repository: its own harness.toml, seed files, and a sub-directory."""
    (tmp_path / "harness.toml").write_text(TEAM)
    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "customers.yaml").write_text(GOCCY_YAML)
    (tmp_path / "shop.orders.ndjson").write_text('{"id": 1, "item": "book"}\n{"id": 2}\n')
    (tmp_path / "src" / "deep").mkdir(parents=True)
    yield tmp_path
    harness("down", cwd=tmp_path)


def test_the_team_file_is_found_from_a_sub_directory_and_seeded(team):
    up = harness("start", "--seed", "../../shop.orders.ndjson", cwd=team / "src" / "deep")
    assert up.returncode == 0, up.stderr
    assert f"provisioned project team-project from {team / 'harness.toml'}" in up.stderr
    assert f"seeded team-project.shop.customers: 2 rows from {team / 'seed/customers.yaml'}" \
        in up.stderr
    assert "seeded team-project.shop.orders: 2 rows" in up.stderr
    assert (team / ".harness" / "state.json").exists()  # next to the harness file
    endpoints = Endpoints.from_env(exports(up.stdout))
    bq = clients.bigquery(endpoints, "team-project")
    rows = [dict(r.items()) for r in bq.query(
        "SELECT id, name, address.city AS city FROM shop.customers ORDER BY id").result()]
    assert rows == [{"id": 1, "name": "Ada", "city": "London"},
                    {"id": 2, "name": "Grace", "city": None}]
    # env, from anywhere below the project; and the line that undoes it.
    assert exports(harness("env", cwd=team / "src").stdout) == exports(up.stdout)
    unset = harness("env", "--unset", cwd=team)
    assert unset.stdout == ("unset PUBSUB_EMULATOR_HOST BIGQUERY_EMULATOR_HOST "
                            "BIGQUERY_STORAGE_EMULATOR_HOST STORAGE_EMULATOR_HOST INGEST_URL "
                            "MQTT_BROKER_URL\n")
    shell = subprocess.run(
        ["bash", "-c", f'eval "$({sys.executable} -m harness env)"; '
         f'eval "$({sys.executable} -m harness env --unset)"; '
         'echo "[${PUBSUB_EMULATOR_HOST-unset}] [${BIGQUERY_EMULATOR_HOST-unset}]"'],
        cwd=team, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert shell.stdout == "[unset] [unset]\n", shell.stderr
    stop = harness("stop", cwd=team)
    assert stop.returncode == 0 and stop.stderr == "emulators down\n"


def test_status_lists_resources_with_backlog_and_row_counts(team):
    up = harness("up", cwd=team)
    assert up.returncode == 0, up.stderr
    endpoints = Endpoints.from_env(exports(up.stdout))
    publisher = clients.publisher(endpoints)
    for i in range(3):
        publisher.publish("projects/team-project/topics/orders", f"order {i}".encode()).result()
    time.sleep(1.2)
    status = harness("status", cwd=team)
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert f"pubsub:   {endpoints.pubsub}  answering" in out
    assert f"bigquery: {endpoints.bigquery}  answering" in out
    assert "project team-project:\n  topics:        orders\n" in out
    backlog = next(line for line in out.splitlines() if "orders-pipeline" in line)
    assert backlog.startswith("    orders-pipeline (topic orders): backlog 3, oldest unacked ")
    assert float(backlog.rsplit(" ", 1)[-1].rstrip("s")) >= 1.0
    assert "  datasets:      shop\n" in out
    assert "    shop.customers: 2 rows\n    shop.orders: 0 rows\n" in out
    # Counting the backlog took nothing from the subscription, and left nothing behind.
    subscriber = clients.subscriber(endpoints)
    subs = [s.name for s in subscriber.list_subscriptions(project="projects/team-project")]
    assert subs == ["projects/team-project/subscriptions/orders-pipeline"]
    pulled = subscriber.pull(subscription=subs[0], max_messages=10, timeout=10)
    assert len(pulled.received_messages) == 3
    assert all(m.delivery_attempt in (0, 1) for m in pulled.received_messages)
    subscriber.close()


def test_status_names_the_emulator_that_does_not_answer(team):
    up = harness("up", "--no-provision", cwd=team)
    assert up.returncode == 0, up.stderr
    state = json.loads((team / ".harness" / "state.json").read_text())
    pid = dict(zip(state["names"], state["pids"], strict=True))["bigquery"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    status = harness("status", cwd=team)
    assert status.returncode == 1
    assert f"bigquery: {state['bigquery']}  NOT ANSWERING (connection refused)" in status.stdout
    assert f"pubsub:   {state['pubsub']}  answering" in status.stdout
    assert one_sentence(status) == (
        f"error: the bigquery emulator at {state['bigquery']} does not answer: connection "
        f"refused (its process {pid} is gone); see `python -m harness logs bigquery`, then "
        "`down` and `up`"
    )


def test_logs_print_and_follow(team):
    up = harness("up", "--no-provision", cwd=team)
    assert up.returncode == 0, up.stderr
    pubsub = exports(up.stdout)["PUBSUB_EMULATOR_HOST"]
    logs = harness("logs", "pubsub", cwd=team)
    assert logs.returncode == 0
    assert logs.stdout.splitlines() == [f"pubsub emulator listening on {pubsub}"]
    both = harness("logs", cwd=team).stdout
    assert f"[pubsub] pubsub emulator listening on {pubsub}" in both
    assert "[bigquery] bigquery emulator listening on http://" in both
    follow = subprocess.Popen(
        [sys.executable, "-m", "harness", "logs", "-f", "bigquery"], cwd=team,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        first = follow.stdout.readline()
        assert first.startswith("bigquery emulator listening on")
        second = follow.stdout.readline()  # the Storage Read/Write API's ready line
        assert second.startswith("bigquery storage API (gRPC) listening on")
        state = json.loads((team / ".harness" / "state.json").read_text())
        log = dict(zip(state["names"], state["logs"], strict=True))["bigquery"]
        with open(log, "a") as handle:
            handle.write("a line written later\n")
        assert follow.stdout.readline() == "a line written later\n"
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(10)
    assert follow.returncode == 0


def test_host_port_and_help_with_defaults(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    up = harness("up", "--no-provision", "--host-port", f"localhost:{port}", state_dir=tmp_path)
    try:
        assert up.returncode == 0, up.stderr
        assert exports(up.stdout)["PUBSUB_EMULATOR_HOST"] == f"localhost:{port}"
    finally:
        harness("down", state_dir=tmp_path)
    bad = harness("up", "--host-port", "8085", state_dir=tmp_path)
    assert bad.returncode == 2 and "expected HOST:PORT" in bad.stderr
    assert "Traceback" not in bad.stderr
    text = harness("up", "--help").stdout
    assert "(default: embedded)" in text
    assert "else 8085, or a free port with a note when that is taken" in " ".join(text.split())
    assert "(default:" in harness("--help").stdout
