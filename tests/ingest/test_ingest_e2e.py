"""The issue's "done when", end to end: REST and MQTT traffic through the edge, Pub/Sub killed
for 10 s mid-run, the real pipeline writing to BigQuery.

10,000 events over REST (5 % invalid, 3 sources, one of them over its rate limit) and 5,000 over
MQTT from 50 devices (5 % invalid). Afterwards: every event that got a 2xx or a PUBACK is in the
events table exactly once, nothing else is; every invalid REST event was refused with a reason;
every invalid MQTT payload is in the dead-letter table; the outage produced 503s.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid

import pytest
import requests

from emulators.process import ServerProcess
from harness import clients, traffic
from harness.edge import start_bridge, start_broker, start_rest
from harness.provision import HarnessConfig, provision
from harness.running import PipelineRun
from harness.stack import Endpoints
from ingest.auth import hash_key
from pipeline import samples

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(420)]

REST_EVENTS, MQTT_EVENTS, DEVICES = 10_000, 5_000, 50
SOURCES = {"checkout": 0, "web": 0, "partner-feed": 50}  # events/s; 0: no limit
BATCH = 50
SEND_SECONDS = 12.0  # traffic is spread over this long, so the outage falls in the middle
OUTAGE_AT, OUTAGE_SECONDS = 5.0, 10.0


def _rest_config(path, keys: dict[str, str]) -> None:
    lines = ['[service]', 'publish_timeout_seconds = 3', 'retry_after_seconds = 1',
             'max_in_flight_events = 4000']
    for source, rate in SOURCES.items():
        lines += ['[[sources]]', f'name = "{source}"', f'api_key_hashes = ["{hash_key(keys[source])}"]',
                  f'rate = {rate}', f'burst = {rate * 2}']
    path.write_text("\n".join(lines) + "\n")


def _payloads(count: int, source: str, prefix: str, rng: random.Random):
    """``count`` payloads for ``source``: ``(bytes, event_id or None when invalid)``."""
    kinds = sorted(samples.BAD_KINDS)
    out = []
    for i in range(count):
        if rng.random() < 0.05:
            payload, _ = samples.bad_payload(kinds[i % len(kinds)], rng)
            out.append((payload, None))
        else:
            event = samples.valid_event(rng, event_id=f"{prefix}-{source}-{i}")
            event["metadata"]["source"] = source
            out.append((samples.encode(event), event["event_id"]))
    return out


class RestSender(threading.Thread):
    """One source posting NDJSON batches; 503s are sent again after Retry-After (the edge
    recognises what it already accepted), a 429 is a refusal (the source is over its limit)."""

    def __init__(self, url: str, key: str, payloads: list, pace: float):
        super().__init__(daemon=True)
        self.url, self.key, self.payloads, self.pace = url, key, payloads, pace
        self.accepted: set[str] = set()
        self.rejected: list[dict] = []
        self.refused: list[tuple[int, str, str]] = []  # (status, Retry-After, message)
        self.unavailable_answers = 0
        self.never_accepted: list[str] = []

    def run(self):
        session = requests.Session()
        headers = {"X-API-Key": self.key, "content-type": "application/x-ndjson"}
        for start in range(0, len(self.payloads), BATCH):
            batch = self.payloads[start:start + BATCH]
            body = b"\n".join(p for p, _ in batch)
            deadline = time.monotonic() + 120
            while True:
                response = session.post(f"{self.url}/v1/events", data=body, headers=headers,
                                        timeout=60)
                result = response.json()
                for entry in result.get("accepted", []):
                    self.accepted.add(entry["event_id"])
                if response.status_code == 503 and time.monotonic() < deadline:
                    self.unavailable_answers += 1
                    time.sleep(int(response.headers["Retry-After"]))
                    continue
                break
            if response.status_code == 429:
                self.refused.append((429, response.headers.get("Retry-After"),
                                     result["error"]["message"]))
            elif response.status_code in (200, 207, 422):
                self.rejected.extend(result["rejected"])
                self.never_accepted += [i for _, i in batch if i and i not in self.accepted]
            else:
                raise AssertionError(f"unexpected answer {response.status_code}: {result}")
            time.sleep(self.pace)


class Devices(threading.Thread):
    """Ten devices on MQTT (QoS 1), each publishing its share one message at a time."""

    def __init__(self, port: int, names: list[str], prefix: str, per_device: int, pace: float):
        import paho.mqtt.client as mqtt

        super().__init__(daemon=True)
        self.rng = random.Random(hash(names[0]))
        self.clients = {}
        for name in names:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
            client.username_pw_set(name)
            client.connect("127.0.0.1", port)
            client.loop_start()
            self.clients[name] = client
        self.work = {name: self._device_payloads(name, prefix, per_device) for name in names}
        self.pace = pace
        self.acked_valid: set[str] = set()
        self.acked_invalid: set[bytes] = set()
        self.unacked = 0

    def _device_payloads(self, device, prefix, count):
        out = []
        for payload, event_id in _payloads(count, device, prefix, self.rng):
            if event_id is not None and self.rng.random() < 0.01:  # posing as another device
                event = json.loads(payload)
                event["metadata"]["source"] = "someone-else"
                payload, event_id = samples.encode(event), None
            out.append((payload, event_id))
        return out

    def run(self):
        for round_ in range(len(next(iter(self.work.values())))):
            infos = []
            for name, client in self.clients.items():
                payload, event_id = self.work[name][round_]
                infos.append((client.publish(f"devices/{name}/events", payload, qos=1),
                              payload, event_id))
            for info, payload, event_id in infos:
                info.wait_for_publish(30)
                if not info.is_published():
                    self.unacked += 1
                elif event_id is None:
                    self.acked_invalid.add(payload)
                else:
                    self.acked_valid.add(event_id)
            time.sleep(self.pace)
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()


def test_rest_and_mqtt_through_an_outage_land_exactly_once(tmp_path):
    logs = tmp_path / "logs"
    data_dir = tmp_path / "pubsub-data"
    prefix = uuid.uuid4().hex[:6]
    pubsub = ServerProcess.emulator("pubsub", data_dir=data_dir, log_path=logs / "pubsub.log")
    bigquery = ServerProcess.emulator("bigquery", log_path=logs / "bigquery.log")
    processes = [bigquery]
    ends = Endpoints(pubsub.address, bigquery.url)
    config = HarnessConfig.load(project=f"edge-{prefix}")
    bq = clients.bigquery(ends, config.project)
    provision(config, clients.publisher(ends), clients.subscriber(ends), bq)
    topic = config.topic_path("events")
    events_table = f"{config.project}.{config.pipeline['output_table']}"
    dead_table = f"{config.project}.{config.pipeline['dead_letter_table']}"
    keys = {source: f"sbk_{source}_{uuid.uuid4().hex}" for source in SOURCES}
    _rest_config(tmp_path / "ingest.toml", keys)
    env = {"PUBSUB_EMULATOR_HOST": ends.pubsub}
    run = PipelineRun(config.pipeline_args(), ends,
                      lambda: (traffic.count_rows(bq, events_table),
                               traffic.count_rows(bq, dead_table))).start()
    try:
        rest = start_rest(topic, logs, config=tmp_path / "ingest.toml", env=env)
        broker = start_broker(logs)
        bridge = start_bridge(broker.url, topic, logs, ordering_key="device", env=env)
        processes += [rest, bridge, broker]

        rng = random.Random(18)
        per_source = REST_EVENTS // len(SOURCES) + 1
        senders = {
            source: RestSender(rest.url, keys[source],
                               _payloads(per_source, source, prefix, rng)[:REST_EVENTS],
                               SEND_SECONDS / (per_source / BATCH))
            for source in SOURCES
        }
        names = [f"dev-{prefix}-{n:02d}" for n in range(DEVICES)]
        per_device = MQTT_EVENTS // DEVICES
        fleets = [Devices(broker.port, names[i:i + 10], prefix, per_device,
                          SEND_SECONDS / per_device) for i in range(0, DEVICES, 10)]
        started = time.monotonic()
        for thread in [*senders.values(), *fleets]:
            thread.start()

        time.sleep(OUTAGE_AT)
        pubsub.process.kill()  # SIGKILL: acknowledged publishes are on disk (--data-dir)
        pubsub.process.wait()
        time.sleep(OUTAGE_SECONDS)
        pubsub = ServerProcess.emulator("pubsub", port=pubsub.port, data_dir=data_dir,
                                        log_path=logs / "pubsub.log")

        for thread in [*senders.values(), *fleets]:
            thread.join(300)
            assert not thread.is_alive()
        sending = time.monotonic() - started
        print(f"\nsending took {sending:.0f}s; rows so far {traffic.count_rows(bq, events_table)}")

        accepted = set().union(*(s.accepted for s in senders.values()))
        acked = set().union(*(f.acked_valid for f in fleets))
        expected = accepted | acked
        assert not any(f.unacked for f in fleets)
        assert sum(s.unavailable_answers for s in senders.values()) > 0, "no 503 in the outage"
        assert not [i for s in senders.values() for i in s.never_accepted]
        throttled = senders["partner-feed"].refused
        assert throttled and all(code == 429 and retry for code, retry, _ in throttled)
        assert not senders["checkout"].refused and not senders["web"].refused
        rejected = [r for s in senders.values() for r in s.rejected]
        assert rejected and all(r["error_type"] and r["reason"] for r in rejected)

        traffic.wait_for_rows(bq, events_table, len(expected), timeout=180)
        invalid_mqtt = set().union(*(f.acked_invalid for f in fleets))
        traffic.wait_until(
            lambda: traffic.count_rows(bq, dead_table) >= len(invalid_mqtt), timeout=60)
        time.sleep(2)  # anything extra (a duplicate) would show up now
        rows = traffic.query_rows(bq, f"SELECT event_id FROM `{events_table}`")
        landed = [r["event_id"] for r in rows]
        assert len(landed) == len(set(landed)), "an event landed twice"
        assert set(landed) == expected
        dead_payloads = {
            base64.b64decode(r["raw_payload"]) if isinstance(r["raw_payload"], str)
            else bytes(r["raw_payload"])
            for r in traffic.query_rows(bq, f"SELECT raw_payload FROM `{dead_table}`")}
        assert invalid_mqtt <= dead_payloads
        print(f"\nsent for {sending:.0f}s: {len(accepted)} REST events accepted, "
              f"{len(rejected)} rejected, {len(throttled)} requests throttled; {len(acked)} MQTT "
              f"events and {len(invalid_mqtt)} dead letters; rows {len(landed)}")
    finally:
        run.stop(timeout=30)
        for process in processes:
            process.stop()
        pubsub.stop()
