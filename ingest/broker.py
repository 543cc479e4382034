"""``python -m ingest.broker [--host 127.0.0.1] [--port 1883]``: a local MQTT broker (amqtt)
for the bench and the tests, with QoS 1 delivery made at-least-once.

amqtt 0.12 is a pure-Python, asyncio broker that needs nothing installed. Two of its defaults
do not fit a bridge that acknowledges only after Pub/Sub accepted a message:

* It waits 5 s for a subscriber's PUBACK, then forgets the message (Yakifo/amqtt#391, not
  configurable). MQTT 3.1.1 section 4.4 says an unacknowledged QoS 1 message must be kept and
  sent again, with DUP, when the session resumes. :func:`keep_unacknowledged_messages` makes
  the broker's outgoing QoS 1 flow wait for the PUBACK as long as the connection lives and keep
  the message in the session when it dies, so a resumed session gets it again.
* Its anonymous authentication marks every session anonymous, and anonymous sessions get no
  queued messages while disconnected. :class:`PersistentSessions` admits every client
  (a local broker) without that mark, so a bridge connecting with ``clean_session=False``
  receives what devices sent while it was reconnecting.

Messages live in the broker's memory: a broker restart loses what it had not delivered yet
(in production, a broker with persistence such as Mosquitto or a managed one).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from amqtt.plugins.base import BaseAuthPlugin

_LOG = logging.getLogger("ingest.broker")


class PersistentSessions(BaseAuthPlugin):
    """Admit every client as a named (not anonymous) session: local use only."""

    async def authenticate(self, *, session) -> bool:
        return True


def keep_unacknowledged_messages() -> None:
    """Patch amqtt's broker-side protocol handler: QoS 1 deliveries wait for their PUBACK
    without a deadline and stay in the session until it comes (idempotent)."""
    from amqtt.mqtt.constants import QOS_1
    from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
    from amqtt.session import OUTGOING

    if getattr(BrokerProtocolHandler, "_streambench_patched", False):
        return
    original_flow = BrokerProtocolHandler._handle_qos1_message_flow
    original_puback = BrokerProtocolHandler.handle_puback

    async def qos1_flow(self, app_message):
        if app_message.direction != OUTGOING or app_message.qos != QOS_1:
            return await original_flow(self, app_message)
        packet_id = app_message.packet_id
        self.session.inflight_out[packet_id] = app_message
        packet = app_message.build_publish_packet(dup=app_message.publish_packet is not None)
        waiter = asyncio.get_running_loop().create_future()
        self._puback_waiters[packet_id] = waiter
        try:
            await self._send_packet(packet)
            app_message.publish_packet = packet
            app_message.puback_packet = await waiter
        finally:
            if self._puback_waiters.get(packet_id) is waiter:
                del self._puback_waiters[packet_id]
        # Only an acknowledged message leaves the session; on a dead connection (the waiter
        # cancelled) it stays, and amqtt resends it when the session reconnects.
        self.session.inflight_out.pop(packet_id, None)

    async def handle_puback(self, puback):
        packet_id = puback.variable_header.packet_id if puback.variable_header else None
        if packet_id is not None and packet_id not in self._puback_waiters:
            # The PUBACK of a resent message whose resend gave up waiting (amqtt bounds that
            # wait to 10 s): it is delivered, so it leaves the session.
            self.session.inflight_out.pop(packet_id, None)
            return
        await original_puback(self, puback)

    BrokerProtocolHandler._handle_qos1_message_flow = qos1_flow
    BrokerProtocolHandler.handle_puback = handle_puback
    BrokerProtocolHandler._streambench_patched = True


def broker_config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {f"{__name__}.PersistentSessions": {}},
    }


async def run(host: str, port: int, on_ready=None) -> None:
    """Serve until SIGTERM/SIGINT."""
    from amqtt.broker import Broker

    keep_unacknowledged_messages()
    broker = Broker(broker_config(host, port))
    await broker.start()
    bound = broker._servers["default"].instance.sockets[0].getsockname()[1]
    if on_ready is not None:
        on_ready(bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ingest.broker", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883, help="0 picks a free port")
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    from ingest import logs

    logs.configure(args.log_level.upper())

    def ready(port: int) -> None:
        print(f"mqtt broker listening on mqtt://{args.host}:{port}", flush=True)

    from amqtt.errors import BrokerError

    try:
        asyncio.run(run(args.host, args.port, ready))
    except (OSError, BrokerError) as exc:
        cause = exc.__cause__ or exc
        print(f"error: cannot listen on {args.host}:{args.port}: "
              f"{getattr(cause, 'strerror', None) or cause}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
