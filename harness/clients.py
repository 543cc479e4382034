"""Real Google clients pointed at given emulator endpoints (no environment variables needed)."""

from __future__ import annotations

from harness.stack import Endpoints


def _channel(endpoints: Endpoints):
    import grpc

    return grpc.insecure_channel(
        endpoints.pubsub,
        options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
    )


def publisher(endpoints: Endpoints, **kwargs):
    """A ``pubsub_v1.PublisherClient`` talking plaintext gRPC to the emulator."""
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

    return pubsub_v1.PublisherClient(
        transport=PublisherGrpcTransport(channel=_channel(endpoints)), **kwargs
    )


def subscriber(endpoints: Endpoints):
    """A ``pubsub_v1.SubscriberClient`` talking plaintext gRPC to the emulator."""
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    return pubsub_v1.SubscriberClient(
        transport=SubscriberGrpcTransport(channel=_channel(endpoints))
    )


def bigquery(endpoints: Endpoints, project: str):
    """A ``bigquery.Client`` with anonymous credentials against the emulator; with a Storage
    API endpoint, its to_dataframe()/to_arrow() read through the emulator's Storage Read API."""
    if endpoints.bigquery_storage:
        from emulators.bigquery.storage_api.clients import bigquery_client

        return bigquery_client(project, endpoints.bigquery, endpoints.bigquery_storage)
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery as bq

    return bq.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoints.bigquery},
    )


def storage(endpoints: Endpoints, project: str):
    """A ``storage.Client`` with anonymous credentials against the Cloud Storage emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    return gcs.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoints.storage},
    )
