"""Issue 18, item 3: the harness runs the ingestion edge. ``[ingest]`` in harness.toml (checked
like every section), ``up`` starting the REST edge and the MQTT broker + bridge after Pub/Sub,
``env``/``status``/``logs``/``down`` knowing them, and the demo sending through them."""

import json
import socket
import subprocess
import textwrap
import time
import uuid

import pytest

from harness.cli import _alive
from harness.config import ConfigError, HarnessConfig
from tests.support.cli import exports, harness, one_sentence, run

TEAM = """\
project = "team-project"

[[topics]]
name = "orders"

[[topics]]
name = "orders-dead"

[[subscriptions]]
name = "orders-pipeline"
topic = "orders"

[[subscriptions]]
name = "orders-dead-check"
topic = "orders-dead"

[[datasets]]
name = "shop"

[[tables]]
dataset = "shop"
name = "orders"
schema = [{ name = "id", type = "INTEGER" }]

[pipeline]
input_subscription = "orders-pipeline"
output_table = "shop.orders"
dead_letter_table = "shop.orders"
"""


def _load(tmp_path, ingest: str) -> HarnessConfig:
    path = tmp_path / "harness.toml"
    path.write_text(TEAM + "\n[ingest]\n" + textwrap.dedent(ingest))
    return HarnessConfig.load(path)


@pytest.mark.parametrize("ingest, says", [
    ("rest = true\n", ":31: [ingest] rest = true needs 'config'"),
    ("mqtt = true\nrest_prot = 1\n", ":32: unknown key 'rest_prot' in [ingest]; did you mean "
     "'rest_port'?"),
    ("mqtt = true\nmqtt_port = 70000\n", "'mqtt_port' in [ingest] must be between 0 and 65535"),
    ("mqtt = true\ntopic = \"nope\"\n", "'topic' of [ingest] names topic 'nope', which no "
     "[[topics]] entry defines"),
    ("rest = true\nconfig = \"missing.toml\"\n", "'config' of [ingest] names missing.toml, which "
     "is not a file"),
    ("mqtt = true\ntopic_filter = \"devices/#\"\n", "must have exactly one '+' level"),
    ("rest = \"yes\"\n", "'rest' in [ingest] must be true or false"),
])
def test_ingest_section_mistakes_are_one_sentence_with_the_line(tmp_path, ingest, says):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, ingest)
    assert says in str(error.value)
    assert "\n" not in str(error.value)


def test_ingest_topic_defaults_to_the_pipeline_input(tmp_path):
    config = _load(tmp_path, "mqtt = true\n")
    assert config.ingest_topic_path() == "projects/team-project/topics/orders"
    config = _load(tmp_path, "rest = true\nallow_unauthenticated = true\ntopic = \"orders-dead\"\n")
    assert config.ingest_topic_path() == "projects/team-project/topics/orders-dead"


def test_a_taken_default_port_falls_back_with_a_note_and_a_chosen_one_is_an_error(tmp_path):
    from harness.edge import Edge
    from harness.endpoints import StackError

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        edge = Edge(tmp_path, "127.0.0.1:1", "projects/p/topics/t",
                    ports={"rest": (taken, True), "mqtt": (taken, False)})
        assert edge._port("rest", "the REST edge", "--rest-port") == 0
        assert edge.notes == [f"port {taken} is taken, so the REST edge listens on a free port "
                              "instead (--rest-port chooses one)"]
        with pytest.raises(StackError, match=f"port {taken} on 127.0.0.1 is taken, so the MQTT "
                           "broker cannot listen there; pass --mqtt-port"):
            edge._port("mqtt", "the MQTT broker", "--mqtt-port")


def test_up_rest_without_credentials_is_refused_before_anything_starts(tmp_path):
    (tmp_path / "harness.toml").write_text(TEAM)
    done = harness("up", "--rest", cwd=tmp_path)
    assert done.returncode == 2
    assert "--rest needs [ingest] config" in one_sentence(done)
    assert not (tmp_path / ".harness" / "state.json").exists()


def test_up_with_a_bad_edge_config_file_is_refused_before_anything_starts(tmp_path):
    (tmp_path / "edge.toml").write_text("[[sources]]\nname = 'x'\napi_key_hashes = ['md5:1']\n")
    (tmp_path / "harness.toml").write_text(TEAM + "[ingest]\nrest = true\nconfig = 'edge.toml'\n")
    done = harness("up", cwd=tmp_path)
    assert done.returncode == 2
    assert "the [ingest] config file:" in one_sentence(done)
    assert not (tmp_path / ".harness" / "state.json").exists()


@pytest.fixture
def edge_stack(tmp_path):
    """``up`` with the REST edge (API keys) and the MQTT broker + bridge, all on free ports;
    -> (directory, exported variables, API key)."""
    from ingest.auth import generate_key, hash_key

    key = generate_key()
    (tmp_path / "edge.toml").write_text(
        f"[[sources]]\nname = \"checkout\"\napi_key_hashes = [\"{hash_key(key)}\"]\n")
    (tmp_path / "harness.toml").write_text(TEAM + textwrap.dedent("""
        [ingest]
        rest = true
        mqtt = true
        config = "edge.toml"
        dead_letter_topic = "orders-dead"
        """))
    up = harness("up", cwd=tmp_path, timeout=180)
    try:
        assert up.returncode == 0, up.stderr
        yield tmp_path, exports(up.stdout), key
    finally:
        harness("down", cwd=tmp_path)


@pytest.mark.integration
def test_up_runs_the_edge_and_events_reach_pubsub_through_it(edge_stack):
    import paho.mqtt.client as mqtt
    import requests

    from harness import clients
    from harness.endpoints import Endpoints
    from pipeline import samples

    directory, env, key = edge_stack
    assert env["INGEST_URL"].startswith("http://127.0.0.1:")
    assert env["MQTT_BROKER_URL"].startswith("mqtt://127.0.0.1:")
    assert exports(harness("env", cwd=directory).stdout) == env
    assert "INGEST_URL MQTT_BROKER_URL" in harness("env", "--unset", cwd=directory).stdout

    status = harness("status", cwd=directory)
    assert status.returncode == 0, status.stderr
    for line in (f"ingest:   {env['INGEST_URL']}  answering", f"mqtt:     "
                 f"{env['MQTT_BROKER_URL']}  answering", "bridge:   http://127.0.0.1:"):
        assert line in status.stdout

    # REST: the key of the edge's config file is honoured, a wrong one refused.
    event = samples.valid_event(event_id=f"rest-{uuid.uuid4()}")
    event["metadata"]["source"] = "checkout"  # the source the key belongs to
    posted = requests.post(f"{env['INGEST_URL']}/v1/events", json=event,
                           headers={"X-API-Key": key}, timeout=30)
    assert posted.status_code == 200, posted.text
    refused = requests.post(f"{env['INGEST_URL']}/v1/events", json=event,
                            headers={"X-API-Key": key + "x"}, timeout=30)
    assert refused.status_code == 401

    # MQTT: a device's event and an invalid payload (to the [ingest] dead_letter_topic).
    device = samples.valid_event(event_id=f"mqtt-{uuid.uuid4()}")
    device["metadata"]["source"] = "iot"  # the device id of its MQTT topic
    host, port = env["MQTT_BROKER_URL"].removeprefix("mqtt://").rsplit(":", 1)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-device")
    client.connect(host, int(port))
    client.loop_start()
    try:
        for payload in (json.dumps(device).encode(), b"not json"):
            info = client.publish("devices/iot/events", payload, qos=1)
            info.wait_for_publish(timeout=30)  # the PUBACK: Pub/Sub has it
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()

    ends = Endpoints(env["PUBSUB_EMULATOR_HOST"], env["BIGQUERY_EMULATOR_HOST"])
    subscriber = clients.subscriber(ends)
    try:
        got = _pull(subscriber, "projects/team-project/subscriptions/orders-pipeline", 2)
        assert {m.attributes["ingest"]: json.loads(m.data)["event_id"] for m in got} == \
            {"rest": event["event_id"], "mqtt": device["event_id"]}
        dead = _pull(subscriber, "projects/team-project/subscriptions/orders-dead-check", 1)
        assert dead[0].data == b"not json"
        assert dead[0].attributes["streambench-error-type"]
    finally:
        subscriber.close()

    state = json.loads((directory / ".harness" / "state.json").read_text())
    pids = dict(zip(state["names"], state["pids"], strict=True))
    assert {"ingest-rest", "mqtt-broker", "mqtt-bridge"} <= set(pids)
    assert "mqtt bridge listening" in harness("logs", "mqtt-bridge", cwd=directory).stdout
    down = harness("down", cwd=directory)
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [name for name, pid in pids.items() if _alive(pid)]


def _pull(subscriber, subscription: str, count: int, timeout: float = 30) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        answer = subscriber.pull(subscription=subscription, max_messages=10, timeout=5)
        got += [received.message for received in answer.received_messages]
        if answer.received_messages:
            subscriber.acknowledge(subscription=subscription,
                                   ack_ids=[r.ack_id for r in answer.received_messages])
    assert len(got) == count, got
    return got


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("how, line", [
    ("rest", "refused by the REST edge"),
    ("mqtt", "sent via mqtt"),
])
def test_the_demo_sends_through_the_edge(how, line):
    try:
        done = run("harness.demo", "--events", "60", "--rate", "0", "--via", how, "--timeout",
                   "120", timeout=280)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the demo did not finish: {exc.stdout!r} {exc.stderr!r}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert line in done.stdout
    assert "OK: published 60 == written" in done.stdout
