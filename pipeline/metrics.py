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


def summary(result) -> dict:
    """This namespace's counters and distributions of a pipeline result, by name.

    Attempted values: the streaming DirectRunner keeps no committed ones (and under-reports user
    metrics, see harness/running.py); on Dataflow both agree.
    """
    out: dict = {}
    queried = result.metrics().query()
    for counter in queried["counters"]:
        if counter.key.metric.namespace == NAMESPACE:
            name = counter.key.metric.name
            out[name] = out.get(name, 0) + (counter.attempted or 0)
    for dist in queried["distributions"]:
        if dist.key.metric.namespace == NAMESPACE and dist.attempted is not None:
            d = dist.attempted
            out[dist.key.metric.name] = {"count": d.count, "min": d.min, "max": d.max, "mean": d.mean}
    return out
