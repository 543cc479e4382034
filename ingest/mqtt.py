"""``python -m ingest.mqtt``: the MQTT -> Pub/Sub bridge for devices.

    python -m ingest.mqtt --broker mqtt://127.0.0.1:1883 --topic-filter 'devices/+/events' \\
        --pubsub-topic projects/P/topics/events

Subscribes with QoS 1 on a persistent session (``clean_session=False``) using paho-mqtt's
manual acknowledgements: a message's PUBACK goes to the broker only once Pub/Sub accepted it,
so a message the bridge dies holding is redelivered by the broker to the next bridge session.
The ``+`` level of the topic filter is the device id: it must equal the event's
``metadata.source`` (a device publishes only as itself) and is the ordering key with
``--ordering-key device``.

Invalid payloads are not dropped: they are published to ``--dead-letter-topic`` (by default
the same topic) with the attributes ``streambench-error-type`` / ``streambench-error-message``,
which the pipeline turns into a dead-letter row as they are (``failed_step = ingest``).
If Pub/Sub refuses or times out, the bridge publishes again with backoff and holds the PUBACK;
past ``--max-in-flight`` messages waiting for Pub/Sub it stops reading from the broker.
Reconnection to the broker uses paho's own backoff (1 s doubling to 30 s).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingest.metrics import Metrics
from ingest.publish import NoCredentials, Outgoing, Publisher
from pipeline import errors
from pipeline.messages import DeadLetter, Message, ParsedEvent
from pipeline.parse import parse_message
from pipeline.validate import validate_event

_LOG = logging.getLogger("ingest.mqtt")
TOPIC = re.compile(r"^projects/[^/\s]+/topics/[^/\s]+$")
RETRY_MIN, RETRY_MAX = 0.5, 30.0


class UsageError(Exception):
    pass


@dataclass(frozen=True)
class Verdict:
    """What to publish for one MQTT message, and whether it is a dead letter."""

    message: Outgoing
    error_type: str | None = None


def device_level(topic_filter: str) -> int:
    """Index of the single ``+`` level of the filter: where the device id is."""
    levels = topic_filter.split("/")
    plus = [i for i, level in enumerate(levels) if level == "+"]
    if len(plus) != 1 or "#" in levels[:-1] or any(
            ("+" in level or "#" in level) and level not in ("+", "#") for level in levels):
        raise UsageError(f"--topic-filter {topic_filter!r} needs exactly one '+' level (the "
                         "device id), e.g. devices/+/events")
    return plus[0]


def broker_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port or 1883
    except ValueError:
        port = None
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname or port is None:
        raise UsageError(f"--broker must look like mqtt://HOST:PORT, not {url!r}")
    return parts.hostname, port


def judge(payload: bytes, topic: str, device: str, ordering: bool) -> Verdict:
    """Validate with the pipeline's own functions; wrong-device events are dead letters too."""
    base = {"device_id": device, "mqtt_topic": topic[:1024], "ingest": "mqtt"}
    message = Message(payload)
    result = parse_message(message)
    if not isinstance(result, DeadLetter):
        result = validate_event(ParsedEvent(result.event, message))
    if not isinstance(result, DeadLetter) and result.event["metadata"]["source"] != device:
        result = DeadLetter(message, errors.SOURCE_NOT_OWNED,
                            f"$.metadata.source: {result.event['metadata']['source']!r} is not "
                            f"the device {device!r} that published it", errors.EDGE_STEP)
    if isinstance(result, DeadLetter):
        attributes = {**base, errors.EDGE_ERROR_TYPE: result.error_type,
                      errors.EDGE_ERROR_MESSAGE: result.error_message[:1000]}
        return Verdict(Outgoing(payload, attributes), result.error_type)
    attributes = {**base, "source": device, "content_type": "application/json",
                  "schema_version": str(result.event["metadata"]["version"])}
    return Verdict(Outgoing(payload, attributes, device if ordering else ""))


class Bridge:
    """One persistent MQTT session feeding Pub/Sub. Owns the paho client and its state."""

    def __init__(self, broker_url: str, topic_filter: str, publisher: Publisher,
                 dead_letters: Publisher, metrics: Metrics, ordering: bool = False,
                 client_id: str = "streambench-bridge", username: str | None = None,
                 password: str | None = None, keepalive: int = 60):
        import paho.mqtt.client as mqtt

        self.host, self.port = broker_address(broker_url)
        self.topic_filter = topic_filter
        self.level = device_level(topic_filter)
        self.publisher, self.dead_letters = publisher, dead_letters
        self.metrics = metrics
        self.ordering = ordering
        self.keepalive = keepalive
        self.subscribed = threading.Event()
        self.stopping = threading.Event()
        self._generation = 0  # bumped on every (re)connection: acks of an older one are stale
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=False, protocol=mqtt.MQTTv311)
        client.manual_ack_set(True)
        client.username_pw_set(username or client_id, password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    # -- paho callbacks (its network thread) --------------------------------------------------

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            _LOG.warning("the broker refused the connection: %s", reason_code)
            return
        self._generation += 1
        _LOG.info("connected to mqtt://%s:%s", self.host, self.port)
        client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _properties):
        if any(rc.is_failure for rc in reason_codes):
            _LOG.error("the broker refused the subscription to %s", self.topic_filter)
            return
        self.subscribed.set()

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties):
        self.subscribed.clear()
        if not self.stopping.is_set():
            _LOG.warning("lost the broker (%s); reconnecting with backoff", reason_code)

    def _on_message(self, _client, _userdata, msg):
        self.metrics.request("message")
        device = msg.topic.split("/")[self.level] if msg.topic.count("/") >= self.level else ""
        verdict = judge(msg.payload, msg.topic, device, self.ordering)
        if verdict.error_type:
            self.metrics.event("rejected", verdict.error_type)
        self._send(msg, verdict, self._generation, RETRY_MIN)

    # -- publishing ---------------------------------------------------------------------------

    def _send(self, msg, verdict: Verdict, generation: int, backoff: float) -> None:
        target = self.dead_letters if verdict.error_type else self.publisher
        # Blocks the network thread when the budget is spent: the broker then holds the rest.
        if not target.wait_for_room(1, len(verdict.message.data), self.stopping):
            return

        def done(future):
            if future.exception() is None:
                if not verdict.error_type:
                    self.metrics.event("accepted")
                if generation == self._generation:
                    self.client.ack(msg.mid, msg.qos)
                # else: that connection is gone; the broker sends the message again (DUP)
                return
            _LOG.warning("Pub/Sub did not accept a message from %s (%s); again in %.1fs",
                         msg.topic, future.exception(), backoff)
            self.metrics.event("unavailable")
            if not self.stopping.is_set():
                timer = threading.Timer(backoff, self._send, (
                    msg, verdict, generation, min(RETRY_MAX, backoff * 2)))
                timer.daemon = True
                timer.start()

        try:
            target.publish(verdict.message, done)
        except Exception as exc:  # noqa: BLE001 - the client is closing: the broker resends
            _LOG.warning("not published (%s); the broker will send it again", exc)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Bridge:
        self.client.connect_async(self.host, self.port, self.keepalive)
        self.client.loop_start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Let Pub/Sub answer what is in flight (so those PUBACKs go out), then disconnect."""
        for publisher in {id(p): p for p in (self.publisher, self.dead_letters)}.values():
            publisher.close(timeout)
        self.stopping.set()
        self.client.disconnect()
        self.client.loop_stop()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ingest.mqtt",
                                description="MQTT (QoS 1) -> Pub/Sub bridge for devices.")
    p.add_argument("--broker", required=True, help="mqtt://HOST:PORT")
    p.add_argument("--topic-filter", default="devices/+/events",
                   help="MQTT filter with one '+' level, the device id (default: %(default)s)")
    p.add_argument("--pubsub-topic", required=True, help="projects/P/topics/T")
    p.add_argument("--dead-letter-topic", help="where invalid payloads go (default: the same "
                   "topic; the pipeline dead-letters them)")
    p.add_argument("--ordering-key", choices=("none", "device"), default="none")
    p.add_argument("--client-id", default="streambench-bridge",
                   help="the MQTT session to resume (one per bridge)")
    p.add_argument("--username", help="MQTT username (default: the client id)")
    p.add_argument("--password-env", default="MQTT_PASSWORD",
                   help="environment variable holding the MQTT password (default: %(default)s)")
    p.add_argument("--max-in-flight", type=int, default=10_000,
                   help="messages waiting for Pub/Sub before the bridge stops reading")
    p.add_argument("--batch-max-messages", type=int, default=500)
    p.add_argument("--batch-max-latency", type=float, default=0.01, help="seconds")
    p.add_argument("--metrics-host", default="127.0.0.1")
    p.add_argument("--metrics-port", type=int, default=0, help="Prometheus /metrics (0: free)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from prometheus_client import start_http_server

    from ingest import logs
    from ingest.config import Batching

    for name in ("pubsub_topic", "dead_letter_topic"):
        value = getattr(args, name)
        if value is not None and not TOPIC.match(value):
            raise UsageError(f"--{name.replace('_', '-')} must be projects/PROJECT/topics/TOPIC")
    device_level(args.topic_filter)
    broker_address(args.broker)
    logs.configure(args.log_level.upper())
    metrics = Metrics("mqtt")
    batching = Batching(args.batch_max_messages, 1_000_000, args.batch_max_latency)
    ordering = args.ordering_key == "device"
    budget = (args.max_in_flight, 256 * 1024 * 1024)
    try:
        publisher = Publisher.create(args.pubsub_topic, batching, ordering, metrics, *budget)
        dead_letters = publisher
        if args.dead_letter_topic and args.dead_letter_topic != args.pubsub_topic:
            dead_letters = Publisher.create(args.dead_letter_topic, batching, False, metrics,
                                            *budget)
    except NoCredentials as exc:
        raise UsageError(str(exc)) from None
    bridge = Bridge(args.broker, args.topic_filter, publisher, dead_letters, metrics, ordering,
                    args.client_id, args.username, os.environ.get(args.password_env))
    server, _thread = start_http_server(args.metrics_port, args.metrics_host, metrics.registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    bridge.start()
    while not stop.is_set() and not bridge.subscribed.wait(0.1):
        pass
    if bridge.subscribed.is_set():
        print(f"mqtt bridge listening on http://{args.metrics_host}:{server.server_port} "
              f"(metrics), subscribed to {args.topic_filter} on {args.broker}", flush=True)
    stop.wait()
    bridge.stop()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
