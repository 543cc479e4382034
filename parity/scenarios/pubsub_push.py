"""Push subscriptions: the JSON envelope, a non-2xx answer redelivers, modify_push_config to pull."""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = "pubsub"
LOCAL_ONLY = True  # the target must reach an HTTP server on this machine


class _Endpoint:
    """A local HTTP endpoint that records POSTed bodies and fails the first N of them."""

    def __init__(self, fail_first: int = 0):
        self.bodies: list[dict] = []
        self.fail_left = fail_first
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with endpoint.lock:
                    endpoint.bodies.append(json.loads(raw or b"{}"))
                    fail = endpoint.fail_left > 0
                    endpoint.fail_left -= 1 if fail else 0
                self.send_response(500 if fail else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/push"

    def wait(self, count: int, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.bodies) >= count:
                    return list(self.bodies)
            time.sleep(0.05)
        with self.lock:
            return list(self.bodies)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _view(body: dict) -> dict:
    message = dict(body.get("message", {}))
    if "data" in message:
        message["data"] = base64.b64decode(message["data"]).decode()
    return {
        "keys": sorted(body),
        "message_keys": sorted(message),
        "data": message.get("data"),
        "attributes": message.get("attributes"),
        "subscription": body.get("subscription"),
    }


def run(ctx):
    topic = ctx.create_topic()
    ok = _Endpoint()
    ctx.cleanup(ok.close)
    sub = ctx.create_subscription(
        topic, push_config={"push_endpoint": ok.url}, ack_deadline_seconds=10
    )
    ctx.publish(topic, {"data": b"hello", "attributes": {"k": "v"}})
    ctx.record("envelope", [_view(b) for b in ok.wait(1)])
    ctx.record("nothing left to pull", [r.message.data for r in ctx.pull_nothing(sub, 1.0)])

    flaky = _Endpoint(fail_first=1)
    ctx.cleanup(flaky.close)
    retried = ctx.create_subscription(topic, push_config={"push_endpoint": flaky.url})
    ctx.publish(topic, b"again")
    bodies = flaky.wait(2, timeout=30)
    ctx.record("after a 500, delivered again", [_view(b)["data"] for b in bodies[:2]])

    ctx.call(
        "switch to pull",
        ctx.subscriber.modify_push_config,
        request={"subscription": retried, "push_config": {}},
    )
    ctx.publish(topic, b"pulled")
    ctx.record(
        "pulled after the switch",
        sorted(r.message.data.decode() for r in ctx.pull(retried, expect=1)),
    )
    ctx.call(
        "bad endpoint",
        ctx.subscriber.create_subscription,
        request={
            "name": ctx.subscription_path(),
            "topic": topic,
            "push_config": {"push_endpoint": "not a url"},
        },
    )
