"""`python -m emulators.bigquery`: serve the BigQuery REST v2 API on DuckDB."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys

from emulators import cli, http_guard


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.Parser(
        prog="python -m emulators.bigquery", description="BigQuery REST v2 emulator on DuckDB."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=cli.port, default=9050,
                        help="HTTP port; 0 picks a free one")
    parser.add_argument(
        "--grpc-port",
        type=cli.port,
        default=None,
        metavar="PORT",
        help="Storage Read/Write API (gRPC) port: default 9060, or a free port when --port is 0",
    )
    parser.add_argument(
        "--data-dir", default=None, metavar="DIR",
        help="persist data here (DuckDB file); in memory without it",
    )
    parser.add_argument("--project", default="local-project", help="project listed by default")
    parser.add_argument(
        "--insert-id-window",
        type=cli.seconds,
        default=600.0,
        metavar="SECONDS",
        help="insertAll de-duplication window per table (0 disables)",
    )
    parser.add_argument(
        "--max-query-seconds",
        type=cli.positive_seconds,
        default=600.0,
        metavar="SECONDS",
        help="a job still running after this is stopped",
    )
    parser.add_argument(
        "--js-udf-timeout-seconds",
        type=cli.positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="a JavaScript UDF call (one chunk of rows) running longer is stopped",
    )
    parser.add_argument(
        "--js-udf-memory-mb",
        type=cli.positive_int,
        default=256,
        metavar="MB",
        help="heap limit of each JavaScript UDF's V8 isolate",
    )
    http_guard.add_arguments(parser)
    parser.add_argument(
        "--storage-endpoint",
        type=cli.http_url,
        default=os.environ.get("STORAGE_EMULATOR_HOST") or None,  # set but empty: unset
        metavar="URL",
        help="Cloud Storage JSON API for gs:// loads, extracts and external tables "
        "(default: $STORAGE_EMULATOR_HOST; without it gs:// URIs are an error)",
    )
    cli.add_logging(parser, "WARNING", "INFO logs every request (method, status, latency)")
    args = parser.parse_args(argv)
    cli.check_data_dir(parser, args.data_dir)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from emulators import logs

    logs.configure(args.log_level, json_lines=args.log_format == "json")
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY: no Nagle/delayed-ACK stalls on keep-alive.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"bigquery emulator: cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    sock.listen(2048)  # connections queue from here on, before uvicorn starts accepting
    port = sock.getsockname()[1]
    url = f"http://{args.host}:{port}"

    import uvicorn

    from .server import build_app
    from .service import BigQueryService
    from .sql import jsudf

    jsudf.configure(args.js_udf_timeout_seconds, args.js_udf_memory_mb)
    try:
        service = BigQueryService(
            args.data_dir, args.project, args.insert_id_window, args.storage_endpoint or None
        )
    except Exception as exc:  # e.g. the data dir's DuckDB file is locked by another process
        print(f"bigquery emulator: cannot open storage: {exc}", file=sys.stderr)
        return 1
    service.base_url = url

    def ready() -> None:
        # One write, so a reader never sees the first line without the second; the first line
        # keeps its format (harnesses parse it).
        print(
            f"bigquery emulator listening on {url}\n"
            f"bigquery storage API (gRPC) listening on {grpc_host}:{grpc_port}",
            flush=True,
        )

    from .request_log import RequestLog

    policy = http_guard.HostPolicy(args.host, args.allow_host, args.allow_origin)
    app = RequestLog(build_app(service, policy=policy, max_query_seconds=args.max_query_seconds))
    # After the REST app: the Storage Read API reads query results kept by its job manager.
    from .storage_api.server import start as start_storage_api

    grpc_port = args.grpc_port if args.grpc_port is not None else (9060 if args.port else 0)
    try:
        grpc_server, grpc_port = start_storage_api(service, args.host, grpc_port)
    except OSError as exc:
        print(f"bigquery emulator: cannot bind {args.host}:{grpc_port}: {exc}", file=sys.stderr)
        service.close()
        return 1
    grpc_host = f"[{args.host}]" if ":" in args.host else args.host
    config = uvicorn.Config(
        app,
        log_level=args.log_level.lower(),
        log_config=None,  # uvicorn logs through the root handler, in the chosen format
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:  # the socket accepts connections now
                ready()

        @contextlib.contextmanager
        def capture_signals(self):
            # uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown; we exit 0 instead.
            with super().capture_signals():
                try:
                    yield
                finally:
                    self._captured_signals.clear()

    server = Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        grpc_server.stop(grace=1).wait()
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
