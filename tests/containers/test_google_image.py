"""Compose's ``google`` profile: Google's Pub/Sub emulator in a container (its registry image, or
the one ``python -m harness images --google`` builds from the Debian package), through the real
client."""

from __future__ import annotations

import pytest

from harness import clients, images
from harness.containers import Compose
from harness.endpoints import Endpoints
from harness.stack import wait_healthy

pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]


def test_googles_pubsub_emulator_image_serves_the_real_client(report):
    compose = Compose(profile="google")
    try:
        ends = Endpoints(compose.up("google-pubsub").pubsub, "")
        wait_healthy(ends, timeout=120)  # a JVM: slower to start than ours
        publisher, subscriber = clients.publisher(ends), clients.subscriber(ends)
        topic, sub = "projects/google-image/topics/t-1", "projects/google-image/subscriptions/s-1"
        publisher.create_topic(name=topic)
        subscriber.create_subscription(name=sub, topic=topic)
        message_id = publisher.publish(topic, b"hello").result(timeout=30)
        pulled = subscriber.pull(subscription=sub, max_messages=1, timeout=30).received_messages
        assert [(m.message.message_id, m.message.data) for m in pulled] == [(message_id, b"hello")]
        subscriber.close()
    finally:
        compose.down()
    tag = compose.env.get("STREAMBENCH_GOOGLE_PUBSUB_IMAGE", images.GOOGLE_PUBSUB_REGISTRY)
    report(f"google profile: Google's Pub/Sub emulator ({tag}) published and delivered a message")
