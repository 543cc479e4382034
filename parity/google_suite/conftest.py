"""Our conftest for Google's ``tests/system.py`` of google-cloud-pubsub, run against an emulator.

Copied next to the downloaded ``system.py`` by ``parity.google_suite``; it is all that adapts
Google's suite to an emulator:

- credentials: ``google.auth.default()`` returns anonymous credentials and the project in
  ``CONFORMANCE_PROJECT`` (the suite's ``project`` fixture asks for it);
- endpoint: ``PUBSUB_EMULATOR_HOST`` (set by the runner) serves the gRPC clients as usual; a
  client built with ``transport="rest"`` gets a REST transport pointed at
  ``http://$PUBSUB_EMULATOR_HOST`` (the client library routes that variable to gRPC only).
"""

from __future__ import annotations

import os

import google.auth
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher.transports.rest import PublisherRestTransport
from google.pubsub_v1.services.subscriber.transports.rest import SubscriberRestTransport

PROJECT = os.environ.get("CONFORMANCE_PROJECT", "conformance-project")


def _default(*args, **kwargs):
    return AnonymousCredentials(), PROJECT


google.auth.default = _default


def _rest_over_emulator(client_class, transport_class) -> None:
    original = client_class.__init__

    def __init__(self, *args, **kwargs):
        if kwargs.get("transport") == "rest":
            kwargs["transport"] = transport_class(
                host=f"http://{os.environ['PUBSUB_EMULATOR_HOST']}",
                credentials=AnonymousCredentials(),
            )
        original(self, *args, **kwargs)

    client_class.__init__ = __init__


_rest_over_emulator(pubsub_v1.PublisherClient, PublisherRestTransport)
_rest_over_emulator(pubsub_v1.SubscriberClient, SubscriberRestTransport)
