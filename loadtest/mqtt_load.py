"""``python -m loadtest.mqtt_load``: simulated devices publishing events over MQTT (QoS 1).

    python -m loadtest.mqtt_load --broker mqtt://127.0.0.1:1883 --devices 50 --rate 500 \\
        --duration 30 [--invalid-ratio 0.05] [--json report.json]

Each device is a paho-mqtt client of its own (client id and username = device id) publishing
to ``devices/<id>/events`` events whose ``metadata.source`` is its id, the shape the bridge
(``python -m ingest.mqtt``) expects; about ``--invalid-ratio`` of them are invalid (the bridge
dead-letters those). The devices share ``--rate`` messages/s, paced on a fixed schedule.
Reported: messages sent and PUBACKed, PUBACKs per second, PUBACK latency percentiles (the
broker's acknowledgement: with the bridge, Pub/Sub's acceptance comes after).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from urllib.parse import urlsplit

from pipeline import samples


class Fleet:
    """``devices`` MQTT clients and the PUBACK times of what they published."""

    def __init__(self, host: str, port: int, devices: int, prefix: str = "dev"):
        import paho.mqtt.client as mqtt

        self.names = [f"{prefix}-{n:03d}" for n in range(devices)]
        self.clients = {}
        self.sent: dict[tuple[str, int], float] = {}
        self.latencies: list[float] = []
        self._early: dict[tuple[str, int], float] = {}  # PUBACK times that beat publish()
        self._lock = threading.Lock()
        for name in self.names:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
            client.username_pw_set(name)
            client.on_publish = self._acked(name)
            client.connect(host, port)
            client.loop_start()
            self.clients[name] = client

    def _acked(self, name: str):
        def on_publish(_client, _userdata, mid, _reason_code, _properties):
            now = time.perf_counter()
            with self._lock:
                sent = self.sent.pop((name, mid), None)
                if sent is None:  # acknowledged before publish() returned its mid
                    self._early[(name, mid)] = now
                else:
                    self.latencies.append(now - sent)
        return on_publish

    def publish(self, name: str, payload: bytes) -> None:
        # Our lock is never held while calling into paho: its network thread holds paho's
        # locks when it calls on_publish, which takes ours (the other order would deadlock).
        sent = time.perf_counter()
        info = self.clients[name].publish(f"devices/{name}/events", payload, qos=1)
        with self._lock:
            acked = self._early.pop((name, info.mid), None)
            if acked is None:
                self.sent[(name, info.mid)] = sent
            else:
                self.latencies.append(acked - sent)

    def close(self, wait: float = 30.0) -> int:
        """Wait for outstanding PUBACKs (up to ``wait`` s), disconnect; -> still unacked."""
        deadline = time.monotonic() + wait
        while self.sent and time.monotonic() < deadline:
            time.sleep(0.05)
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()
        return len(self.sent)


def payload_for(device: str, rng: random.Random, invalid_ratio: float) -> bytes:
    if rng.random() < invalid_ratio:
        return samples.bad_payload(rng.choice(sorted(samples.BAD_KINDS)), rng)[0]
    event = samples.valid_event(rng)
    event["metadata"]["source"] = device
    return samples.encode(event)


def run(broker: str, devices: int, rate: float, duration: float, invalid_ratio: float = 0.05,
        seed: int | None = None) -> dict:
    url = urlsplit(broker)
    fleet = Fleet(url.hostname or "127.0.0.1", url.port or 1883, devices)
    rng = random.Random(seed)
    total = int(rate * duration)
    started = time.perf_counter()
    for n in range(total):
        due = started + n / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        name = fleet.names[n % devices]
        fleet.publish(name, payload_for(name, rng, invalid_ratio))
    unacked = fleet.close()
    seconds = time.perf_counter() - started
    lat = sorted(fleet.latencies)

    def pct(q: int) -> float:
        return statistics.quantiles(lat, n=100, method="inclusive")[q - 1] * 1000 if len(
            lat) > 1 else float("nan")

    return {"devices": devices, "sent": total, "acked": len(lat), "unacked": unacked,
            "seconds": round(seconds, 2), "acked_per_s": round(len(lat) / seconds, 1),
            "puback_p50_ms": round(pct(50), 2), "puback_p95_ms": round(pct(95), 2),
            "puback_p99_ms": round(pct(99), 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.mqtt_load",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--broker", required=True, help="mqtt://HOST:PORT")
    p.add_argument("--devices", type=int, default=50)
    p.add_argument("--rate", type=float, default=200, help="messages/s over all devices")
    p.add_argument("--duration", type=float, default=30, help="seconds")
    p.add_argument("--invalid-ratio", type=float, default=0.05)
    p.add_argument("--seed", type=int)
    p.add_argument("--json", help="also write the report to this file")
    args = p.parse_args(argv)
    if not urlsplit(args.broker).scheme == "mqtt" or args.devices < 1 or args.rate <= 0:
        print("error: --broker must be mqtt://HOST:PORT, with --devices >= 1 and --rate > 0",
              file=sys.stderr)
        return 2
    try:
        report = run(args.broker, args.devices, args.rate, args.duration, args.invalid_ratio,
                     args.seed)
    except OSError as exc:
        print(f"error: cannot reach the broker at {args.broker}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return 0 if report["unacked"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
