"""The emulator process: arguments, gRPC and REST on one port, background ticker, signals."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import signal
import sys

from emulators import cli, http_guard

TICK_S = 0.05
GARBAGE_S = 30.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.Parser(
        prog="python -m emulators.pubsub",
        description="Google Cloud Pub/Sub emulator: gRPC and REST (HTTP/JSON) on one port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=cli.port, default=8085,
                        help="port for gRPC and REST; 0 picks a free one")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="persist everything here (SQLite, WAL); in memory without it")
    parser.add_argument(
        "--fsync",
        choices=("normal", "always"),
        default="normal",
        help="normal: survive a killed process; always: also an OS crash (slower)",
    )
    parser.add_argument("--faults", metavar="FILE",
                        help="fault-injection file (JSON or .toml), re-read on change")
    parser.add_argument(
        "--bigquery-endpoint",
        type=cli.http_url,
        metavar="URL",
        help="the BigQuery emulator BigQuery subscriptions write to "
        "(default: $BIGQUERY_EMULATOR_HOST)",
    )
    http_guard.add_arguments(parser)  # --allow-host / --allow-origin, for the REST surface
    cli.add_logging(parser, "WARNING", "INFO logs every RPC (method, status, latency)")
    args = parser.parse_args(argv)
    cli.check_data_dir(parser, args.data_dir)
    return args


def _schema_registry():
    try:
        from emulators.pubsub.schemas import SchemaRegistry
    except ImportError:
        return None, None
    return SchemaRegistry, SchemaRegistry()


async def serve(args: argparse.Namespace) -> None:
    import grpc

    from emulators.pubsub import iam, publisher, subscriber, wire
    from emulators.pubsub.admin import Admin
    from emulators.pubsub.bigquery_export import BigQuerySink
    from emulators.pubsub.broker import Broker
    from emulators.pubsub.exports import ExportWorkers
    from emulators.pubsub.faults import Faults
    from emulators.pubsub.frontdoor import Listener
    from emulators.pubsub.hooks import Hooks
    from emulators.pubsub.push_worker import PushWorkers
    from emulators.pubsub.rest import RestApi
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
    broker.duplicate = faults.duplicate
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
    publisher_servicer = publisher.add_to_server(server, broker, faults)
    subscriber_servicer = subscriber.add_to_server(server, broker, faults)
    iam_servicer = iam.add_to_server(server, broker, faults)
    methods = {
        **publisher.rest_methods(publisher_servicer),
        **subscriber.rest_methods(subscriber_servicer),
        **iam.rest_methods(iam_servicer),
    }
    if registry is not None:
        from emulators.pubsub import schema_service

        schema_servicer = schema_service.register_servicer(server, registry)
        methods.update(schema_service.rest_methods(schema_servicer))
    guard = http_guard.HostPolicy(args.host, args.allow_host, args.allow_origin)
    admin = Admin(Hooks(broker, faults))
    listener = Listener(_http_protocol(RestApi(methods, faults, guard, admin)))
    server.add_insecure_port(listener.private_grpc_address())
    await server.start()
    try:
        port = await listener.listen(args.host, args.port)
    except OSError as exc:
        reason = exc.strerror or exc
        print(f"pubsub emulator: cannot listen on {args.host}:{args.port}: {reason}",
              file=sys.stderr)
        listener.close()
        await server.stop(None)
        store.close()
        raise SystemExit(1) from None
    # Millions of small long-lived objects (messages, leases) make the default cyclic GC
    # thresholds rescan the whole backlog over and over; the model creates no cycles on the
    # hot path, so collect far less often.
    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)

    pushers = PushWorkers()
    exporters = ExportWorkers(
        {"bigquery_config": lambda: BigQuerySink(args.bigquery_endpoint, broker.schemas)},
        broker.topics.get,
    )
    subscriber_servicer.exports = exporters

    def on_subscription_change(sub, name: str) -> None:
        pushers.on_change(sub, name)
        exporters.on_change(sub, name)

    broker.on_subscription_change = on_subscription_change
    for sub in list(broker.subscriptions.values()):
        on_subscription_change(sub, sub.name)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"pubsub emulator listening on {args.host}:{port}", flush=True)

    ticker = loop.create_task(_tick(broker))
    await stop.wait()
    ticker.cancel()
    listener.close()
    await server.stop(grace=0.5)
    await pushers.close()
    await exporters.close()
    store.close()


def _http_protocol(app):
    """A factory of uvicorn's HTTP/1.1 protocol serving ``app``, for connections the front door
    hands over (built as uvicorn's own server builds it). uvicorn is imported on the first
    HTTP request, so a gRPC-only user never pays for it at start-up."""
    made: list = []

    def protocol():
        if not made:
            import uvicorn
            from uvicorn.server import ServerState

            config = uvicorn.Config(
                app,
                lifespan="off",
                ws="none",
                log_config=None,
                access_log=False,
                proxy_headers=False,
                server_header=False,
            )
            config.load()
            made.append(
                functools.partial(
                    config.http_protocol_class,
                    config=config,
                    server_state=ServerState(),
                    app_state={},
                )
            )
        return made[0]()

    return protocol


SCHEMA_MUTATIONS = ("create", "commit", "rollback", "delete", "delete_revision", "clear")


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
    from emulators import logs

    logs.configure(args.log_level, json_lines=args.log_format == "json")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0
