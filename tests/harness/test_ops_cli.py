"""``python -m harness metrics|alerts`` as a user runs them, against ``python -m harness up``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import clients, traffic
from harness.config import DEFAULT_CONFIG
from harness.observe import WebhookReceiver
from harness.stack import Endpoints
from pipeline import samples
from tests.support.cli import exports, harness, one_sentence

pytestmark = pytest.mark.integration


PROJECT = "ops-cli-test"  # not the harness file's: the commands take the one `up` provisioned


def _cli(*args, state_dir: Path, timeout: float = 120):
    # the state file (not variables another test left set), free ports
    return harness(*args, state_dir=state_dir, timeout=timeout)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    up = _cli("up", "--project", PROJECT, state_dir=state)
    assert up.returncode == 0, up.stderr
    found = exports(up.stdout)
    yield state, Endpoints(found["PUBSUB_EMULATOR_HOST"], found["BIGQUERY_EMULATOR_HOST"])
    _cli("down", state_dir=state)


def test_metrics_show_cloud_monitorings_names_and_rates(stack):
    state, endpoints = stack
    traffic.publish(clients.publisher(endpoints), f"projects/{PROJECT}/topics/events",
                    [samples.encode(samples.valid_event()) for _ in range(7)])
    once = _cli("metrics", "--grep", "num_undelivered", state_dir=state)
    assert once.returncode == 0, once.stderr
    assert ('pubsub_googleapis_com:subscription_num_undelivered_messages{project_id='
            f'"{PROJECT}",subscription_id="events-pipeline"}} 7') in once.stdout
    watched = _cli("metrics", "--watch", "--json", "--interval", "0.5", "--for", "1.2",
                   "--grep", "send_request_count", state_dir=state)
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    assert len(lines) >= 2
    assert lines[0]["samples"][0]["metric"] == "pubsub_googleapis_com:topic_send_request_count"


def test_alerts_fire_and_post_to_the_webhook(stack):
    state, endpoints = stack
    hook = WebhookReceiver()
    try:
        # messages wait and no pipeline reads them: pipeline-down after its local duration
        traffic.publish(clients.publisher(endpoints), f"projects/{PROJECT}/topics/events",
                        [samples.encode(samples.valid_event())])
        result = _cli("alerts", "--webhook", hook.url, "--for", "25", state_dir=state,
                      timeout=90)
    finally:
        hook.stop()
    assert result.returncode == 0, result.stderr
    assert "FIRING   [critical] pipeline-down" in result.stdout
    assert "pipeline-down" in result.stderr  # still open when it stopped
    rules = {r["incident"]["policy_user_labels"]["rule"] for r in hook.received}
    assert "pipeline-down" in rules


def test_snapshots_on_a_schedule(stack):
    state, endpoints = stack
    result = _cli("snapshots", "--every", "1m", "--keep", "1", "--for", "1", state_dir=state)
    assert result.returncode == 0, result.stderr
    taken = result.stdout.split()[-1]
    assert taken.startswith(f"projects/{PROJECT}/snapshots/events-pipeline-snap-")
    listed = [s.name for s in clients.subscriber(endpoints).list_snapshots(
        request={"project": f"projects/{PROJECT}"})]
    assert taken in listed
    bad = _cli("snapshots", "--every", "5s", state_dir=state)
    assert bad.returncode == 2 and "under a minute" in bad.stderr


def test_mistakes_are_one_sentence(tmp_path):
    result = _cli("metrics", state_dir=tmp_path)
    assert result.returncode == 2 and "no stack is up" in one_sentence(result)
    # the harness file's snapshot_every is checked with the rest of the file
    bad = tmp_path / "harness.toml"
    bad.write_text(Path(DEFAULT_CONFIG).read_text().replace('snapshot_every = "1h"',
                                                            'snapshot_every = "10s"'))
    result = _cli("up", "--config", str(bad), state_dir=tmp_path)
    assert result.returncode == 2
    sentence = one_sentence(result)
    assert "snapshot_every" in sentence and "under a minute" in sentence
