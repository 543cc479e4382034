"""The ``docker`` and ``testcontainers`` backends for real, on a Docker engine: the pipeline end
to end, SIGKILL of each emulator container with its data on a volume, loopback-only ports, and
the service names other containers reach the emulators by."""

from __future__ import annotations

import json
import subprocess

import pytest

from harness import containers, traffic
from pipeline import samples
from tests.support import crash

pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]


def _container_ids(stack) -> list[str]:
    backend = stack.container_backend
    label = (f"com.docker.compose.project={backend.project}"
             if isinstance(backend, containers.Compose) else f"{containers.LABEL}={backend.id}")
    return subprocess.run(["docker", "ps", "-q", "--filter", f"label={label}"],
                          capture_output=True, text=True, check=True).stdout.split()


def _inspect(ids: list[str]) -> list[dict]:
    out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_pipeline_end_to_end_nothing_lost(container_stack, provisioned_stack, run_pipeline,
                                          publish_events, report):
    stack = provisioned_stack
    batch = samples.mixed_batch(300, bad_ratio=0.15, seed=13)
    valid = [payload for payload, error in batch if error is None]
    bad = [payload for payload, error in batch if error]
    run_pipeline()
    ids = publish_events([payload for payload, _ in batch])
    traffic.wait_until(lambda: sum(stack.landed()) >= len(ids), timeout=240,
                       describe=lambda: f"{sum(stack.landed())} of {len(ids)} landed")
    rows, dead = stack.landed()
    assert len(ids) == rows + dead  # published == rows + dead letters
    landed = traffic.query_rows(stack.bigquery, f"SELECT event_id FROM `{stack.events_table}`")
    assert sorted(r["event_id"] for r in landed) == sorted(json.loads(p)["event_id"] for p in valid)
    dead_payloads = traffic.query_rows(
        stack.bigquery, f"SELECT raw_payload FROM `{stack.dead_letter_table}`")
    assert sorted(d["raw_payload"] for d in dead_payloads) == sorted(bad)
    report(f"{container_stack.backend}: e2e published {len(ids)} == {rows} rows + {dead} dead "
           f"letters ({len(valid)} valid and {len(bad)} bad sent; nothing lost, nothing doubled)")


@pytest.mark.parametrize("name", ["pubsub", "bigquery"])
def test_sigkill_and_restart_on_the_volume_loses_nothing(container_stack, name, report):
    scenario = {"pubsub": crash.pubsub_survives_sigkill,
                "bigquery": crash.bigquery_survives_sigkill}[name]
    outcome = scenario(
        container_stack.endpoints,
        kill=lambda: container_stack.kill(name),
        restart=lambda: container_stack.restart(name),
        project=f"crash-{name}",
    )
    assert outcome.lost == 0
    report(f"{container_stack.backend}: {name} container SIGKILLed and restarted: {outcome}")


def test_ports_are_published_on_loopback_only(container_stack):
    bindings = [
        binding
        for info in _inspect(_container_ids(container_stack))
        for port_bindings in info["NetworkSettings"]["Ports"].values()
        for binding in port_bindings or []
    ]
    # Pub/Sub, BigQuery and its Storage Read/Write API (gRPC), Cloud Storage
    assert len(bindings) == 4, bindings
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}


@pytest.mark.parametrize(("client", "url"), [
    ("pubsub", "http://bigquery:9050/bigquery/v2/projects"),  # BigQuery subscriptions
    ("bigquery", "http://storage:9023/storage/v1/b?project=p"),  # gs:// loads and extracts
])
def test_other_containers_reach_the_emulators_by_service_name(container_stack, client, url):
    """From inside one emulator's container, another answers by its service name (the name on
    the stack's network and its --allow-host)."""
    inside = next(info["Id"] for info in _inspect(_container_ids(container_stack))
                  if info["Config"]["Image"] == f"streambench-{client}:local")
    probe = f"import urllib.request; print(urllib.request.urlopen({url!r}).status)"
    out = subprocess.run(["docker", "exec", inside, "python", "-c", probe],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "200", out.stderr
