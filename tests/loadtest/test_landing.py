"""Issue 14, finding 4: end-to-end latency measured per event, with an honest window, against the
real BigQuery emulator (not a poll interval)."""

import time
from datetime import UTC, datetime

import pytest
from google.cloud import bigquery

from loadtest.landing import Landed, VisibilityWatch, describe, summarise

pytestmark = pytest.mark.integration


@pytest.fixture
def table(bq_client, bq_dataset):
    ref = f"{bq_client.project}.{bq_dataset}.events"
    bq_client.create_table(bigquery.Table(ref, schema=[
        bigquery.SchemaField("event_id", "STRING"),
        bigquery.SchemaField("processing_time", "TIMESTAMP"),
    ]))
    return ref


def _row(event_id: str, at: float) -> dict:
    return {"event_id": event_id,
            "processing_time": datetime.fromtimestamp(at, UTC).isoformat()}


@pytest.mark.parametrize("feed", [True, False])
def test_the_window_holds_the_moment_the_row_became_visible(bq_client, table, feed):
    watch = VisibilityWatch(bq_client, table, feed=feed)
    watch.expect("probe-1", time.time())
    for _ in range(3):
        assert watch.check() == []
    bq_client.insert_rows_json(table, [_row(f"unrelated-{i}", time.time()) for i in range(3)])
    assert watch.check() == []  # rows were added, the probe is not among them
    stamped = time.time()  # the pipeline stamps processing_time before it inserts
    bq_client.insert_rows_json(table, [_row("probe-1", stamped)])
    inserted = time.time()
    landed = []
    while not landed:
        landed = watch.check()
    (probe,) = landed
    assert probe.event_id == "probe-1" and watch.outstanding == {}
    assert probe.processing == pytest.approx(stamped, abs=1e-5)
    # Visible somewhere between the stamp and the insert's return: the window holds that span.
    assert stamped - 1e-5 <= probe.lower <= inserted < probe.upper
    assert probe.latency_s == pytest.approx((probe.lower + probe.upper) / 2 - probe.published)
    assert probe.resolution_s == pytest.approx((probe.upper - probe.lower) / 2)
    if feed:  # the change feed read each row once: the 3 unrelated rows and the probe
        assert watch._seen == 4


def test_summary_reports_the_resolution_next_to_the_figures():
    landed = [Landed(f"p{i}", 100.0, None, 100.0 + i / 100, 100.0 + i / 100 + 0.004)
              for i in range(1, 101)]
    figures = summarise(landed)
    assert figures["probes"] == 100
    assert figures["p50_ms"] == pytest.approx(507.0, abs=0.6)
    assert figures["resolution_median_ms"] == pytest.approx(2.0)
    assert describe(figures).endswith("(100 probes; each measured within ±2.0 ms, worst ±2.0 ms)")
    assert describe(summarise([])) == "no probe landed"
