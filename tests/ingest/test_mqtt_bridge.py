"""The MQTT broker and bridge as processes: devices -> broker -> bridge -> Pub/Sub emulator."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests
from ingest_support import drain, event, pull

from harness.edge import start_bridge, start_broker
from pipeline import errors

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def mqtt_client(client_id: str, port: int, clean: bool = True, on_message=None):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean)
    client.username_pw_set(client_id)
    if on_message is not None:
        client.manual_ack_set(True)
        client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish(device, topic: str, payloads: list[bytes]) -> None:
    """QoS 1; returns once the broker sent a PUBACK for every message."""
    infos = [device.publish(topic, payload, qos=1) for payload in payloads]
    for info in infos:
        info.wait_for_publish(10)
        assert info.is_published()


@pytest.fixture
def broker(tmp_path):
    process = start_broker(tmp_path)
    yield process
    process.stop()


def test_broker_keeps_an_unacknowledged_message_for_the_resumed_session(broker):
    """amqtt alone forgets a QoS 1 message after 5 s without PUBACK and queues nothing for a
    disconnected session; ours resends it (DUP) when the session comes back."""
    received = []
    subscribed = threading.Event()

    def on_message(_client, _userdata, msg):
        received.append((msg.payload, msg.dup))

    holder = mqtt_client("holder", broker.port, clean=False, on_message=on_message)
    holder.on_subscribe = lambda *_: subscribed.set()
    holder.subscribe("devices/+/events", qos=1)
    assert subscribed.wait(10)
    device = mqtt_client("dev-1", broker.port)
    publish(device, "devices/dev-1/events", [b"first"])
    while not received:
        time.sleep(0.05)
    time.sleep(6)  # past amqtt's own 5 s PUBACK deadline, never acknowledged
    holder.loop_stop()
    holder.socket().close()  # the connection dies without a DISCONNECT
    time.sleep(1.5)
    publish(device, "devices/dev-1/events", [b"while-away"])
    received.clear()
    resumed = mqtt_client("holder", broker.port, clean=False,
                          on_message=lambda c, u, m: (received.append((m.payload, m.dup)),
                                                      c.ack(m.mid, m.qos)))
    deadline = time.monotonic() + 15
    while len(received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(received) == [(b"first", True), (b"while-away", False)]
    resumed.loop_stop()
    device.loop_stop()


def test_bridge_publishes_valid_events_and_dead_letters_the_rest(
        broker, tmp_path, pubsub_host, topic, pubsub_clients):
    bridge = start_bridge(broker.url, topic[0], tmp_path, ordering_key="device",
                          env={"PUBSUB_EMULATOR_HOST": pubsub_host})
    try:
        devices = {name: mqtt_client(name, broker.port) for name in ("dev-1", "dev-2")}
        publish(devices["dev-1"], "devices/dev-1/events",
                [json.dumps(event(f"d1-{i}", source="dev-1")).encode() for i in range(3)])
        publish(devices["dev-2"], "devices/dev-2/events", [
            json.dumps(event("d2-0", source="dev-2")).encode(),
            b"{not json",
            json.dumps(event("d2-spoof", source="dev-1")).encode(),  # dev-2 posing as dev-1
        ])
        messages = pull(pubsub_clients[1], topic[1], 6)
        messages += drain(pubsub_clients[1], topic[1])
        valid = {json.loads(m.data)["event_id"]: m for m in messages
                 if errors.EDGE_ERROR_TYPE not in m.attributes}
        assert sorted(valid) == ["d1-0", "d1-1", "d1-2", "d2-0"]
        assert valid["d1-0"].ordering_key == "dev-1"
        assert dict(valid["d2-0"].attributes) == {
            "source": "dev-2", "device_id": "dev-2", "mqtt_topic": "devices/dev-2/events",
            "ingest": "mqtt", "content_type": "application/json", "schema_version": "1.0"}
        dead = {m.attributes[errors.EDGE_ERROR_TYPE]: m for m in messages
                if errors.EDGE_ERROR_TYPE in m.attributes}
        assert set(dead) == {errors.MALFORMED_JSON, errors.SOURCE_NOT_OWNED}
        assert dead[errors.MALFORMED_JSON].data == b"{not json"
        assert "dev-2" in dead[errors.SOURCE_NOT_OWNED].attributes[errors.EDGE_ERROR_MESSAGE]
        metrics = requests.get(f"{bridge.url}/metrics", timeout=5).text
        assert 'ingest_events_total{outcome="accepted",reason="",service="mqtt"} 4.0' in metrics
        assert ('ingest_events_total{outcome="rejected",reason="source_not_owned",service="mqtt"}'
                ' 1.0') in metrics
        for device in devices.values():
            device.loop_stop()
    finally:
        assert bridge.stop() == 0


def test_a_bridge_that_dies_before_pubsub_accepted_loses_nothing(
        broker, tmp_path, pubsub_host, topic, pubsub_clients):
    """The PUBACK is held until Pub/Sub accepts: a bridge killed while Pub/Sub is unreachable
    leaves the messages with the broker, and the next bridge session publishes them."""
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{placeholder.getsockname()[1]}"
    stuck = start_bridge(broker.url, topic[0], tmp_path, client_id="bridge-a",
                         env={"PUBSUB_EMULATOR_HOST": dead}, name="stuck")
    device = mqtt_client("dev-9", broker.port)
    publish(device, "devices/dev-9/events",
            [json.dumps(event(f"k-{i}", source="dev-9")).encode() for i in range(5)])
    counted = 'ingest_requests_total{code="message",service="mqtt"} 5.0'
    deadline = time.monotonic() + 15
    while counted not in requests.get(f"{stuck.url}/metrics", timeout=5).text:
        assert time.monotonic() < deadline, "the bridge never received the messages"
        time.sleep(0.1)
    stuck.process.kill()  # SIGKILL: no chance to flush or acknowledge
    stuck.process.wait()
    healthy = start_bridge(broker.url, topic[0], tmp_path, client_id="bridge-a",
                           env={"PUBSUB_EMULATOR_HOST": pubsub_host}, name="healthy")
    try:
        got = pull(pubsub_clients[1], topic[1], 5, timeout=30)
        assert sorted(json.loads(m.data)["event_id"] for m in got) == [f"k-{i}" for i in range(5)]
    finally:
        healthy.stop()
        device.loop_stop()


def test_mqtt_load_generator_reports_pubacks(broker, tmp_path):
    import subprocess
    import sys

    report = tmp_path / "mqtt.json"
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.mqtt_load", "--broker", broker.url, "--devices", "5",
         "--rate", "100", "--duration", "1", "--json", str(report)],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    assert result["sent"] == result["acked"] == 100 and result["unacked"] == 0
    assert result["puback_p99_ms"] > 0
    refused = subprocess.run([sys.executable, "-m", "loadtest.mqtt_load", "--broker", "http://x"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr.startswith("error: ")
