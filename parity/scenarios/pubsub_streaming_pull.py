"""StreamingPull (the high-level subscriber): delivery, nack redelivery, ordering, errors."""

import threading

SERVICE = "pubsub"


def _stream(ctx, sub, expect, on_message, timeout=15.0):
    """Run ``subscriber.subscribe`` until ``expect`` callbacks ran; returns the stream's error."""
    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    def callback(message):
        on_message(message)
        with lock:
            count[0] += 1
            if count[0] >= expect:
                done.set()

    future = ctx.subscriber.subscribe(sub, callback)
    done.wait(timeout)
    future.cancel()
    try:
        future.result(timeout=10)
    except Exception as exc:  # cancelled streams may end with an error; a real one is recorded
        return exc
    return None


def run(ctx):
    topic = ctx.create_topic()
    sub = ctx.create_subscription(topic)
    ctx.publish(topic, *(f"m{i}".encode() for i in range(5)))
    seen, nacked = [], []

    def nack_m0_once(message):
        seen.append(message.data.decode())
        if message.data == b"m0" and not nacked:
            nacked.append(message.delivery_attempt)
            message.nack()
        else:
            message.ack()

    _stream(ctx, sub, 6, nack_m0_once)
    ctx.record("delivered over the stream (m0 twice)", sorted(seen))

    ordered = ctx.create_subscription(topic, enable_message_ordering=True)
    for i in range(6):
        ctx.publish(topic, {"data": f"k{i}".encode(), "ordering_key": "k"})
    order = []
    _stream(ctx, ordered, 6, lambda m: (order.append(m.data.decode()), m.ack()))
    ctx.record("ordered over the stream", order)

    missing = ctx.subscription_path("missing")
    error = _stream(ctx, missing, 1, lambda m: m.ack(), timeout=5)
    ctx.record("stream on a missing subscription", type(error).__name__ if error else None)
