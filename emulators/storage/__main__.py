"""``python -m emulators.storage``: a Cloud Storage emulator (JSON, XML, upload and batch APIs).

The server is gcp-storage-emulator from PyPI (chosen by measurement, see README.md); this
launcher only starts it the way every emulator of the stack starts: ``--host``/``--port`` (``0``
picks a free port), ``--data-dir`` for persistence (in memory without it), one ready line
``storage emulator listening on http://HOST:PORT``, a clean exit 0 on SIGTERM, and requests from
foreign browser origins or to unknown host names (DNS rebinding) refused (403) before they reach
the server, by the stack's shared rule (``emulators.http_guard.HostPolicy``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from functools import partial
from http import HTTPStatus
from http.server import HTTPServer

from emulators import http_guard


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.storage",
        description="Cloud Storage emulator (gcp-storage-emulator, started the stack's way).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9023, help="0 picks a free port")
    parser.add_argument(
        "--data-dir", default=None, help="persist buckets and objects here; in memory without it"
    )
    parser.add_argument(
        "--project-number", default="1234", help="projectNumber reported on buckets"
    )
    http_guard.add_arguments(parser)
    parser.add_argument(
        "--log-level", default="warning", help="info logs every request (method, path, status)"
    )
    return parser.parse_args(argv)


def _handler_class(policy: http_guard.HostPolicy):
    from gcp_storage_emulator.server import RequestHandler

    class Handler(RequestHandler):
        # Headers and body go out as separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add tens of milliseconds to every small response.
        disable_nagle_algorithm = True

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            reason = policy.check(self.headers.get("Host"), self.headers.get("Origin"))
            if reason is not None:  # Cloud Storage's JSON error shape
                body = json.dumps(
                    {"error": {"code": 403, "message": reason,
                               "errors": [{"reason": "forbidden", "domain": "global",
                                           "message": reason}]}}
                ).encode()
                self.send_response(HTTPStatus.FORBIDDEN)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return False
            return True

    return Handler


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from emulators import logs

    logs.configure(args.log_level, json_lines=False)
    from emulators.storage.store import DurableStorage

    data_dir = os.path.abspath(args.data_dir) if args.data_dir else os.getcwd()
    try:
        storage = DurableStorage(
            use_memory_fs=args.data_dir is None,
            data_dir=data_dir,
            project_number=args.project_number,
        )
    except (OSError, ValueError) as exc:  # unreadable data dir or metadata file
        print(f"storage emulator: cannot open storage in {data_dir}: {exc}", file=sys.stderr)
        return 1
    policy = http_guard.HostPolicy(args.host, args.allow_host, args.allow_origin)
    try:
        httpd = HTTPServer((args.host, args.port), partial(_handler_class(policy), storage))
    except OSError as exc:
        print(f"storage emulator: cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    host, port = httpd.server_address[:2]
    shown = f"[{host}]" if ":" in host else host

    def stop(*_) -> None:
        # shutdown() waits for serve_forever to return: it must not run on the serving thread.
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"storage emulator listening on http://{shown}:{port}", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
