"""The emulator as a process: ready line, signals, persistence across kill -9, bad input."""

from __future__ import annotations

import json
import socket
import threading
import time

import grpc
import pytest
from google.api_core import exceptions

from tests.support.pubsub import Emulator, Target

pytestmark = pytest.mark.integration


def test_port_zero_and_clean_sigterm():
    emulator = Emulator().start()
    assert emulator.port > 0
    target = Target("ours", emulator.host)
    target.topic()
    assert emulator.stop() == 0


def test_sigint_exits_cleanly():
    emulator = Emulator().start()
    emulator.proc.send_signal(2)
    assert emulator.proc.wait(10) == 0
    emulator.stop()


def test_persistence_survives_kill_9(tmp_path):
    data = str(tmp_path / "data")
    emulator = Emulator("--data-dir", data).start()
    try:
        target = Target("ours", emulator.host)
        topic = target.topic()
        sub = target.subscription(topic, enable_message_ordering=True)
        other = target.subscription(topic)
        target.publisher.api.publish(
            topic=topic,
            messages=[
                {"data": f"m{i}".encode(), "attributes": {"i": str(i)}, "ordering_key": "k"}
                for i in range(5)
            ],
        )
        got = target.pull(sub, expect=5)
        acked = [m for m in got if m.message.data in (b"m0", b"m1")]
        target.subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in acked])
        snap = target.snapshot_path()
        target.subscriber.create_snapshot(name=snap, subscription=other)
        emulator.kill()  # SIGKILL: no chance to flush anything
    finally:
        emulator.stop()

    restarted = Emulator("--data-dir", data).start()
    try:
        target = Target("ours", restarted.host)
        assert target.publisher.get_topic(topic=topic).name == topic
        assert target.subscriber.get_subscription(subscription=sub).enable_message_ordering
        got = target.pull(sub, expect=3)
        assert [m.message.data for m in got] == [b"m2", b"m3", b"m4"]
        assert got[0].message.attributes["i"] == "2"
        assert got[0].message.ordering_key == "k"
        assert len(target.pull(other, expect=5)) == 5
        assert target.subscriber.get_snapshot(snapshot=snap).topic == topic
        ids = target.publish(topic, b"after restart")
        assert int(ids[0]) > 5  # ids keep growing, never reused
        target.subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in got])
    finally:
        assert restarted.stop() == 0

    again = Emulator("--data-dir", data).start()
    try:
        target = Target("ours", again.host)
        got = target.pull(sub, expect=1)
        assert [m.message.data for m in got] == [b"after restart"]
    finally:
        again.stop()


def test_deleted_resources_stay_deleted(tmp_path):
    emulator = Emulator("--data-dir", str(tmp_path / "data")).start()
    target = Target("ours", emulator.host)
    topic = target.topic()
    sub = target.subscription(topic)
    target.subscriber.delete_subscription(subscription=sub)
    target.publisher.delete_topic(topic=topic)
    restarted = emulator.killed_and_restarted()
    try:
        target = Target("ours", restarted.host)
        with pytest.raises(exceptions.NotFound):
            target.publisher.get_topic(topic=topic)
        with pytest.raises(exceptions.NotFound):
            target.subscriber.get_subscription(subscription=sub)
    finally:
        restarted.stop()


def test_malformed_input_keeps_serving(ours_target):
    channel = grpc.insecure_channel(ours_target.host)
    publish = channel.unary_unary(
        "/google.pubsub.v1.Publisher/Publish",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.RpcError) as err:
        publish(b"\xff\xff\xff\xff garbage", timeout=5)
    assert err.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
    unknown = channel.unary_unary(
        "/google.pubsub.v1.Publisher/NoSuchMethod",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.RpcError) as err:
        unknown(b"", timeout=5)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    channel.close()
    # raw junk on the socket, then a normal call still works
    host, port = ours_target.host.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\x00" * 100)
        sock.settimeout(2)
        try:
            sock.recv(100)
        except OSError:
            pass
    topic = ours_target.topic()
    assert ours_target.publish(topic, b"still alive")


def test_faults_inject_errors_and_can_be_turned_off(tmp_path):
    faults = tmp_path / "faults.json"
    faults.write_text(
        json.dumps({"seed": 1, "methods": {"GetTopic": {"error_rate": 1.0, "error_code": "UNAVAILABLE"}}})
    )
    emulator = Emulator("--faults", str(faults)).start()
    try:
        target = Target("ours", emulator.host)
        topic = target.topic()
        with pytest.raises((exceptions.ServiceUnavailable, exceptions.RetryError)):
            target.publisher.get_topic(request={"topic": topic}, retry=None, timeout=5)
        faults.write_text(
            json.dumps(
                {"methods": {"GetTopic": {"error_rate": 1.0, "error_code": "DEADLINE_EXCEEDED"}}}
            )
        )
        with pytest.raises(exceptions.DeadlineExceeded):
            target.publisher.get_topic(request={"topic": topic}, retry=None, timeout=5)
        faults.write_text("{}")
        assert target.publisher.get_topic(request={"topic": topic}, retry=None).name == topic
    finally:
        emulator.stop()


def test_faults_error_rate_is_seeded(tmp_path):
    def outcomes() -> list[bool]:
        faults = tmp_path / "f.json"
        faults.write_text(json.dumps({"seed": 42, "methods": {"*": {"error_rate": 0.5}}}))
        emulator = Emulator("--faults", str(faults)).start()
        try:
            channel = grpc.insecure_channel(emulator.host)
            get = channel.unary_unary(
                "/google.pubsub.v1.Publisher/GetTopic",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            result = []
            for _ in range(20):
                try:
                    get(b"", timeout=5)
                    result.append(True)
                except grpc.RpcError as err:
                    result.append(err.code() == grpc.StatusCode.UNAVAILABLE)
            channel.close()
            return result
        finally:
            emulator.stop()

    first = outcomes()
    assert first == outcomes()
    assert 0 < first.count(True) < 20


def test_faults_duplicates_and_broken_streams(tmp_path):
    faults = tmp_path / "faults.toml"
    faults.write_text("seed = 3\nduplicate_rate = 1.0\n")
    emulator = Emulator("--faults", str(faults)).start()
    try:
        target = Target("ours", emulator.host)
        topic = target.topic()
        sub = target.subscription(topic)
        target.publish(topic, b"dup")
        [first] = target.pull(sub)
        target.subscriber.acknowledge(subscription=sub, ack_ids=[first.ack_id])
        [second] = target.pull(sub)  # the ack was "lost"
        assert second.message.message_id == first.message.message_id
        faults.write_text("stream_break_after_messages = 2\n")
        time.sleep(0.05)
        target.subscriber.acknowledge(subscription=sub, ack_ids=[second.ack_id])
        from google.pubsub_v1.types import StreamingPullRequest

        target.publisher.api.publish(topic=topic, messages=[{"data": b"a"}, {"data": b"b"}])
        stream = target.subscriber.api.streaming_pull(
            requests=iter([StreamingPullRequest(subscription=sub, stream_ack_deadline_seconds=60)])
        )
        with pytest.raises(exceptions.ServiceUnavailable):
            for _ in stream:
                pass
    finally:
        emulator.stop()


def test_latency_fault(tmp_path):
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"methods": {"CreateTopic": {"latency_ms": 300}}}))
    emulator = Emulator("--faults", str(faults)).start()
    try:
        target = Target("ours", emulator.host)
        started = time.monotonic()
        target.topic()
        assert time.monotonic() - started >= 0.3
    finally:
        emulator.stop()


def test_port_in_use_exits_with_error(ours):
    emulator = Emulator(port=ours.port)
    with pytest.raises(RuntimeError):
        emulator.start(timeout=10)
    assert emulator.proc.wait(10) == 1


def test_stream_break_after_seconds(tmp_path):
    from google.pubsub_v1.types import StreamingPullRequest

    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"stream_break_after_seconds": 0.3}))
    emulator = Emulator("--faults", str(faults)).start()
    try:
        target = Target("ours", emulator.host)
        topic = target.topic()
        sub = target.subscription(topic)
        hold = threading.Event()

        def requests():
            yield StreamingPullRequest(subscription=sub, stream_ack_deadline_seconds=60)
            hold.wait(10)

        stream = target.subscriber.api.streaming_pull(requests=requests())
        with pytest.raises(exceptions.ServiceUnavailable):
            for _ in stream:
                pass
        hold.set()
    finally:
        emulator.stop()


def test_client_retries_through_injected_unavailable(tmp_path):
    """With a third of Publish/Pull/Acknowledge calls failing, nothing published is lost."""
    faults = tmp_path / "faults.json"
    emulator = Emulator("--faults", str(faults)).start()
    try:
        target = Target("ours", emulator.host)
        topic = target.topic()
        sub = target.subscription(topic)
        faults.write_text(
            json.dumps(
                {
                    "seed": 5,
                    "methods": {
                        name: {"error_rate": 0.3, "error_code": "UNAVAILABLE"}
                        for name in ("Publish", "Pull", "Acknowledge")
                    },
                }
            )
        )
        futures = [target.publisher.publish(topic, f"m{i}".encode()) for i in range(100)]
        for future in futures:
            future.result(timeout=60)
        seen: set[bytes] = set()
        deadline = time.monotonic() + 60
        while len(seen) < 100 and time.monotonic() < deadline:
            try:
                resp = target.subscriber.pull(
                    request={"subscription": sub, "max_messages": 50}, retry=None, timeout=5
                )
            except exceptions.ServiceUnavailable:
                continue
            seen.update(m.message.data for m in resp.received_messages)
            if resp.received_messages:
                target.subscriber.acknowledge(
                    subscription=sub, ack_ids=[m.ack_id for m in resp.received_messages]
                )
        assert seen == {f"m{i}".encode() for i in range(100)}
    finally:
        emulator.stop()


def test_two_subscribers_share_a_subscription(ours_target):
    from google.cloud import pubsub_v1

    from tests.support.pubsub import clients

    topic = ours_target.topic()
    sub = ours_target.subscription(topic)
    total = 400
    lock = threading.Lock()
    seen: dict[str, list[bytes]] = {"a": [], "b": []}
    done = threading.Event()

    def callback_for(name):
        def callback(message):
            time.sleep(0.02)  # slow enough that one stream cannot drain it all alone
            message.ack()
            with lock:
                seen[name].append(message.data)
                if len(seen["a"]) + len(seen["b"]) >= total:
                    done.set()

        return callback

    subscribers = [clients(ours_target.host)[1] for _ in range(2)]
    futures = [
        s.subscribe(
            sub, callback_for(n), flow_control=pubsub_v1.types.FlowControl(max_messages=20)
        )
        for s, n in zip(subscribers, "ab", strict=True)
    ]
    try:
        ours_target.publisher.api.publish(
            topic=topic, messages=[{"data": str(i).encode()} for i in range(total)]
        )
        assert done.wait(30)
    finally:
        for future in futures:
            future.cancel()
        for s in subscribers:
            s.close()
    everything = seen["a"] + seen["b"]
    assert set(everything) == {str(i).encode() for i in range(total)}
    assert seen["a"] and seen["b"]  # both streams got work


def test_schemas_and_schema_topics_survive_kill_9(tmp_path):
    import grpc as grpc_mod
    from google.pubsub_v1 import SchemaServiceClient
    from google.pubsub_v1.services.schema_service.transports import SchemaServiceGrpcTransport

    definition = json.dumps(
        {"type": "record", "name": "Row", "fields": [{"name": "id", "type": "long"}]}
    )

    def schema_client(host):
        channel = grpc_mod.insecure_channel(host)
        return SchemaServiceClient(transport=SchemaServiceGrpcTransport(channel=channel))

    data = str(tmp_path / "data")
    emulator = Emulator("--data-dir", data).start()
    try:
        schema = schema_client(emulator.host).create_schema(
            parent="projects/test-project",
            schema={"type_": "AVRO", "definition": definition},
            schema_id="rows",
        )
        target = Target("ours", emulator.host)
        topic = target.topic(schema_settings={"schema": schema.name, "encoding": "JSON"})
        emulator.kill()
    finally:
        emulator.stop()
    restarted = Emulator("--data-dir", data).start()
    try:
        got = schema_client(restarted.host).get_schema(name=schema.name)
        assert json.loads(got.definition) == json.loads(definition)
        target = Target("ours", restarted.host)
        with pytest.raises(exceptions.InvalidArgument):
            target.publish(topic, b'{"id": "nope"}')
        assert target.publish(topic, b'{"id": 1}')
    finally:
        restarted.stop()


def test_sigterm_with_open_streams_exits_cleanly(tmp_path):
    from tests.support.pubsub import clients

    emulator = Emulator("--data-dir", str(tmp_path / "d")).start()
    target = Target("ours", emulator.host)
    topic = target.topic()
    sub = target.subscription(topic)
    _, subscriber = clients(emulator.host)
    received = threading.Event()
    future = subscriber.subscribe(sub, lambda m: received.set())  # never acks
    target.publish(topic, b"in flight")
    try:
        assert received.wait(20)
        assert emulator.stop() == 0
    finally:
        # (closing the client after its server is gone waits ~10 s for its threads; skip it)
        future.cancel()
        emulator.stop()
