"""A Pub/Sub server that keeps nothing: the ceiling of the publish benchmark.

    python bench/null_pubsub.py --port N

Answers just what the publish round of bench/pubsub_bench.py calls (ListTopics, CreateTopic,
CreateSubscription, Publish), storing nothing and checking nothing. Whatever rate the Python
client reaches against it is the most any emulator could show through that client on this
machine, so the benchmark can tell the client's limit from a server's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

import grpc
from google.pubsub_v1.types import PublishRequest, PublishResponse

SERVICE = "google.pubsub.v1"
_request = PublishRequest.pb()
_response = PublishResponse.pb()


async def _echo(request: bytes, context) -> bytes:
    # CreateTopic and CreateSubscription take the resource and answer with it
    return request


async def _empty(request: bytes, context) -> bytes:
    return b""


def _publisher(ids: itertools.count):
    async def publish(request: bytes, context) -> bytes:
        count = len(_request.FromString(request).messages)
        return _response(message_ids=[str(next(ids)) for _ in range(count)]).SerializeToString()

    return publish


async def serve(host: str, port: int) -> None:
    raw = {"request_deserializer": None, "response_serializer": None}
    handlers = {
        ("Publisher", "ListTopics"): _empty,
        ("Publisher", "CreateTopic"): _echo,
        ("Subscriber", "CreateSubscription"): _echo,
        ("Publisher", "Publish"): _publisher(itertools.count(1)),
    }
    services: dict[str, dict] = {}
    for (service, method), handler in handlers.items():
        services.setdefault(service, {})[method] = grpc.unary_unary_rpc_method_handler(
            handler, **raw
        )
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(f"{SERVICE}.{name}", methods)
            for name, methods in services.items()
        ]
    )
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print(f"null Pub/Sub server on {host}:{port}", flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
