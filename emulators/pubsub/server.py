"""The emulator process: arguments, gRPC server, background ticker, signals."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import signal
import sys

TICK_S = 0.05
GARBAGE_S = 30.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.pubsub", description="Google Cloud Pub/Sub emulator (gRPC)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085, help="0 picks a free port")
    parser.add_argument("--data-dir", help="persist everything here (SQLite, WAL)")
    parser.add_argument(
        "--fsync",
        choices=("normal", "always"),
        default="normal",
        help="normal: survive a killed process; always: also an OS crash (slower)",
    )
    parser.add_argument("--faults", help="fault-injection file (JSON or .toml), re-read on change")
    parser.add_argument(
        "--log-level", default="WARNING", help="INFO logs every RPC (method, status, latency)"
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log lines as text or JSON"
    )
    return parser.parse_args(argv)


def _schema_registry():
    try:
        from emulators.pubsub.schemas import SchemaRegistry
    except ImportError:
        return None, None
    return SchemaRegistry, SchemaRegistry()


async def serve(args: argparse.Namespace) -> None:
    import grpc

    from emulators.pubsub import iam, publisher, subscriber, wire
    from emulators.pubsub.broker import Broker
    from emulators.pubsub.faults import Faults
    from emulators.pubsub.push_worker import PushWorkers
    from emulators.pubsub.store import NullStore, SqliteStore

    store = SqliteStore(args.data_dir, args.fsync) if args.data_dir else NullStore()
    registry_cls, registry = _schema_registry()
    state = store.load() if args.data_dir else None
    saved = (state or {}).get("resources", {}).get("schemas", {}).get("registry")
    if saved and registry_cls is not None:
        registry = registry_cls.from_dict(saved["registry"])
    _persist_schemas(registry, store)
    broker = Broker(store, registry)
    broker.encode = wire.encode_published
    faults = Faults(args.faults)
    broker.duplicate = faults.duplicate if faults.enabled else (lambda: False)
    if state:
        broker.restore(state, wire.decode_message)

    server = grpc.aio.server(
        options=[
            # no transport cap: oversize requests get INVALID_ARGUMENT from rpc.py, never
            # RESOURCE_EXHAUSTED (which clients retry forever)
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.so_reuseport", 0),
        ]
    )
    publisher.add_to_server(server, broker, faults)
    subscriber.add_to_server(server, broker, faults)
    iam.add_to_server(server, broker, faults)
    if registry is not None:
        from emulators.pubsub import schema_service

        schema_service.register_servicer(server, registry)
    try:
        port = server.add_insecure_port(f"{args.host}:{args.port}")
    except RuntimeError:
        port = 0
    if port == 0:
        print(f"pubsub emulator: cannot listen on {args.host}:{args.port}", file=sys.stderr)
        store.close()
        raise SystemExit(1)
    await server.start()
    # Millions of small long-lived objects (messages, leases) make the default cyclic GC
    # thresholds rescan the whole backlog over and over; the model creates no cycles on the
    # hot path, so collect far less often.
    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)

    pushers = PushWorkers()
    broker.on_subscription_change = pushers.on_change
    for sub in list(broker.subscriptions.values()):
        pushers.on_change(sub, sub.name)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"pubsub emulator listening on {args.host}:{port}", flush=True)

    ticker = loop.create_task(_tick(broker))
    await stop.wait()
    ticker.cancel()
    await server.stop(grace=0.5)
    await pushers.close()
    store.close()


SCHEMA_MUTATIONS = ("create", "commit", "rollback", "delete", "delete_revision")


def _persist_schemas(registry, store) -> None:
    """Save the schema registry after every change, before the RPC answers."""
    if registry is None or not store.durable:
        return

    def save() -> None:
        store.put("schemas", "registry", {"registry": registry.to_dict()})

    for name in SCHEMA_MUTATIONS:
        method = getattr(registry, name, None)
        if method is None:
            continue

        @functools.wraps(method)
        def saving(*args, _method=method, **kwargs):
            result = _method(*args, **kwargs)
            save()
            return result

        setattr(registry, name, saving)


async def _tick(broker) -> None:
    """Lease expiry, retry backoff, snapshot expiry; now and then, stored-message GC."""
    log = logging.getLogger("emulators.pubsub")
    garbage_every = int(GARBAGE_S / TICK_S)
    n = 0
    while True:
        await asyncio.sleep(TICK_S)
        try:
            broker.tick()
            n += 1
            if n % garbage_every == 0:
                broker.collect_garbage()
        except Exception:  # the ticker must survive anything one subscription does
            log.exception("tick failed")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from pipeline import logs

    logs.configure(args.log_level, json_lines=args.log_format == "json")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0
