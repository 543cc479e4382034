"""The pipeline's Beam metrics, in one namespace so a run can print them together."""

from apache_beam.metrics import Metrics

NAMESPACE = "events"

messages_read = Metrics.counter(NAMESPACE, "messages_read")
parsed = Metrics.counter(NAMESPACE, "parsed")
valid = Metrics.counter(NAMESPACE, "valid")
enriched = Metrics.counter(NAMESPACE, "enriched")
unknown_reference = Metrics.counter(NAMESPACE, "unknown_reference")
written = Metrics.counter(NAMESPACE, "rows_sent_to_bigquery")
dead_lettered = Metrics.counter(NAMESPACE, "dead_lettered")
end_to_end_lag_ms = Metrics.distribution(NAMESPACE, "end_to_end_lag_ms")


def invalid(reason: str):
    """Counter of messages dead-lettered for ``reason`` (an ``pipeline.errors`` constant)."""
    return Metrics.counter(NAMESPACE, f"invalid_{reason}")
