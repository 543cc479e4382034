"""Push subscriptions driven by the core, and publishing to topics with schemas."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.api_core import exceptions

pytestmark = pytest.mark.integration


class _Endpoint:
    """A local HTTP endpoint that fails the first ``failures`` pushes, then answers 204."""

    def __init__(self, failures: int = 0):
        self.failures = failures
        self.bodies: list[dict] = []
        self.statuses: list[int] = []
        self.got = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = 500 if endpoint.failures > 0 else 204
                endpoint.failures -= 1
                endpoint.bodies.append(body)
                endpoint.statuses.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if status == 204:
                    endpoint.got.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_push_delivers_envelope_and_retries(ours_target):
    endpoint = _Endpoint(failures=1)
    try:
        topic = ours_target.topic()
        dead = ours_target.topic()
        sub = ours_target.subscription(
            topic,
            push_config={"push_endpoint": endpoint.url},
            retry_policy={"minimum_backoff": {"nanos": 100_000_000}},
            dead_letter_policy={"dead_letter_topic": dead, "max_delivery_attempts": 5},
        )
        [msg_id] = ours_target.publish(topic, b"pushed", kind="push")
        assert endpoint.got.wait(20)
        assert endpoint.statuses == [500, 204]
        body = endpoint.bodies[-1]
        assert body["subscription"] == sub
        assert body["deliveryAttempt"] == 2
        message = body["message"]
        assert base64.b64decode(message["data"]) == b"pushed"
        assert message["attributes"] == {"kind": "push"}
        assert message["messageId"] == message["message_id"] == msg_id
        assert message["publishTime"]
    finally:
        endpoint.close()


def test_modify_push_config_switches_to_pull(ours_target):
    endpoint = _Endpoint(failures=10**6)  # never accepts
    try:
        topic = ours_target.topic()
        sub = ours_target.subscription(
            topic,
            push_config={"push_endpoint": endpoint.url},
            retry_policy={"minimum_backoff": {"nanos": 100_000_000}},
        )
        ours_target.publish(topic, b"x")
        deadline = time.monotonic() + 10
        while not endpoint.bodies and time.monotonic() < deadline:
            time.sleep(0.05)
        assert endpoint.bodies
        ours_target.subscriber.modify_push_config(subscription=sub, push_config={})
        [msg] = ours_target.pull(sub, timeout=15)
        assert msg.message.data == b"x"
    finally:
        endpoint.close()


AVRO = json.dumps(
    {"type": "record", "name": "Row", "fields": [{"name": "id", "type": "long"}]}
)


def test_publish_validated_against_topic_schema(ours_target):
    import grpc
    from google.pubsub_v1 import SchemaServiceClient
    from google.pubsub_v1.services.schema_service.transports import SchemaServiceGrpcTransport

    channel = grpc.insecure_channel(ours_target.host)
    schemas = SchemaServiceClient(transport=SchemaServiceGrpcTransport(channel=channel))
    schema_id = ours_target.name("schema")
    schema = schemas.create_schema(
        parent="projects/test-project",
        schema={"type_": "AVRO", "definition": AVRO},
        schema_id=schema_id,
    )
    with pytest.raises(exceptions.NotFound):
        ours_target.topic(
            schema_settings={"schema": "projects/test-project/schemas/nope", "encoding": "JSON"}
        )
    topic = ours_target.topic(schema_settings={"schema": schema.name, "encoding": "JSON"})
    sub = ours_target.subscription(topic)
    ours_target.publish(topic, b'{"id": 7}')
    with pytest.raises(exceptions.InvalidArgument):
        ours_target.publish(topic, b'{"id": "not a number"}')
    [msg] = ours_target.pull(sub)
    assert msg.message.data == b'{"id": 7}'
    assert msg.message.attributes["googclient_schemaencoding"] == "JSON"
    assert msg.message.attributes["googclient_schemaname"] == schema.name
    channel.close()
