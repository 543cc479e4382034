"""``python -m ingest --topic projects/P/topics/T [--host --port --config FILE]``: the REST
ingestion service. ``python -m ingest keygen``: a new API key and the hash to put in the config.

Exit code 2, with one sentence, on a usage or configuration mistake (including starting with
no credentials configured and without ``--allow-unauthenticated``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys

TOPIC = re.compile(r"^projects/[^/\s]+/topics/[^/\s]+$")


class UsageError(Exception):
    pass


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ingest",
        description="HTTP ingestion service: POST /v1/events -> Pub/Sub. "
                    "`python -m ingest keygen` makes an API key.")
    p.add_argument("--topic", default=os.environ.get("INGEST_TOPIC"),
                   help="projects/P/topics/T (or INGEST_TOPIC)")
    p.add_argument("--host", default=os.environ.get("INGEST_HOST", "127.0.0.1"),
                   help="address to bind (default 127.0.0.1; 0.0.0.0 in a container)")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")),
                   help="port (default $PORT or 8080; 0 picks a free one)")
    p.add_argument("--config", default=os.environ.get("INGEST_CONFIG"),
                   help="TOML file: sources, keys, limits (or INGEST_CONFIG)")
    p.add_argument("--allow-unauthenticated", action="store_true",
                   help="accept requests without credentials (local use only)")
    p.add_argument("--log-level", default="INFO")
    return p


def keygen() -> int:
    from ingest.auth import generate_key, hash_key

    key = generate_key()
    print(f"api key (give it to the producer):  {key}")
    print(f"hash (put it in api_key_hashes):    {hash_key(key)}")
    return 0


def run(argv: list[str]) -> int:
    from ingest import logs
    from ingest.config import Config, ConfigError, load

    args = parser().parse_args(argv)
    if not args.topic or not TOPIC.match(args.topic):
        raise UsageError("--topic must be a topic path, projects/PROJECT/topics/TOPIC")
    try:
        config = load(args.config) if args.config else Config()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if not config.has_auth and not args.allow_unauthenticated:
        raise UsageError("no credentials are configured: pass --config FILE with [[sources]] "
                         "(API keys or service accounts), or --allow-unauthenticated for local use")
    logs.configure(args.log_level.upper())
    from ingest.server import build_service, is_loopback, serve

    if args.allow_unauthenticated and not is_loopback(args.host):
        logging.getLogger("ingest").warning(
            "authentication is off and the service listens on %s", args.host)
    from ingest.publish import NoCredentials

    try:
        service = build_service(args.topic, config, args.allow_unauthenticated)
    except NoCredentials as exc:
        raise UsageError(str(exc)) from None

    def ready(port: int) -> None:
        print(f"ingest listening on http://{args.host}:{port}", flush=True)

    # uvicorn handles SIGTERM/SIGINT while it serves, then re-raises the signal under the
    # handlers it found: with these, a graceful stop exits 0 instead of dying by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        asyncio.run(serve(service, args.host, args.port, ready))
    except SystemExit as exc:  # uvicorn's way of saying it could not listen
        raise UsageError(f"cannot serve on {args.host}:{args.port} (uvicorn exited with "
                         f"{exc.code}; its log line above says why)") from None
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["keygen"]:
            return keygen()
        return run(argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
