"""Prometheus metrics shared by the REST service and the MQTT bridge (prometheus_client).

Each service owns a registry of its own (not the library's global one), so several services in
one process (tests, benchmarks) do not mix their counts.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The counters, gauges and histograms of one ingestion service."""

    def __init__(self, service: str):
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"registry": self.registry}
        self.requests = Counter(
            "ingest_requests", "HTTP requests or MQTT messages received, by outcome code.",
            ["service", "code"], **labels)
        self.events = Counter(
            "ingest_events", "Events by outcome (accepted, duplicate, rejected, unavailable) "
            "and reason.", ["service", "outcome", "reason"], **labels)
        self.publish_latency = Histogram(
            "ingest_publish_latency_seconds", "From handing a batch of events to the Pub/Sub "
            "client until Pub/Sub accepted them.", ["service"], buckets=_LATENCY_BUCKETS, **labels)
        self.in_flight = Gauge(
            "ingest_in_flight_events", "Events handed to Pub/Sub and not yet accepted.",
            ["service"], **labels)
        self.throttled = Counter(
            "ingest_throttled", "Requests refused by a rate limit (429) or the in-flight budget "
            "(503), by reason.", ["service", "reason"], **labels)
        self.service = service

    def request(self, code: int | str) -> None:
        self.requests.labels(self.service, str(code)).inc()

    def event(self, outcome: str, reason: str = "", n: int = 1) -> None:
        if n:
            self.events.labels(self.service, outcome, reason).inc(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
