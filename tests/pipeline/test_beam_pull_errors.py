"""What Beam's DirectRunner does when the Pub/Sub emulator's Pull fails.

Its Pub/Sub read calls ``SubscriberClient.pull`` once per bundle, with google-api-core's default
retry for Pull: UNAVAILABLE, ABORTED, INTERNAL and UNKNOWN are retried with backoff for up to
60 s, so an outage shorter than that is invisible. Any other status (here DEADLINE_EXCEEDED), or
an outage past 60 s, fails the bundle; the DirectRunner tries a bundle 4 times, then the whole
pipeline stops. ``result.state`` still says RUNNING until ``wait_until_finish()`` is called,
which raises the Pub/Sub error and marks the result FAILED.
"""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions

from harness import clients, traffic
from harness.provision import HarnessConfig, provision
from harness.running import PipelineRun
from pipeline import samples
from tests.support.emulators import endpoints, unique, write_faults

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(150)]


@pytest.fixture
def faulty_stack(emulator, tmp_path):
    """(endpoints, fault file, config, publisher, bigquery client) with an empty fault file."""
    fault_file = tmp_path / "faults.json"
    write_faults(fault_file, {})
    ends = endpoints(
        emulator("pubsub", extra_args=("--faults", str(fault_file))), emulator("bigquery")
    )
    config = HarnessConfig.load(project=unique("pull-errors"))
    publisher = clients.publisher(ends)
    bq = clients.bigquery(ends, config.project)
    provision(config, publisher, clients.subscriber(ends), bq)
    return ends, fault_file, config, publisher, bq


def _publish(config, publisher, count: int, prefix: str) -> None:
    events = [samples.encode(samples.valid_event(event_id=f"{prefix}-{i}")) for i in range(count)]
    traffic.publish(publisher, config.topic_path("events"), events)


def test_a_short_unavailable_outage_is_retried_by_the_client(faulty_stack):
    ends, fault_file, config, publisher, bq = faulty_stack
    table = f"{config.project}.{config.pipeline['output_table']}"
    with PipelineRun(config.pipeline_args(), ends) as run:
        _publish(config, publisher, 10, "before")
        traffic.wait_for_rows(bq, table, 10)
        write_faults(fault_file, {"methods": {"Pull": {"error_rate": 1.0}}})  # UNAVAILABLE
        _publish(config, publisher, 10, "during")
        time.sleep(3)  # every pull fails for a while (well inside api-core's 60 s deadline)
        write_faults(fault_file, {})
        traffic.wait_for_rows(bq, table, 20)
        assert run.result.state == "RUNNING"
    assert traffic.count_rows(bq, table) == 20


def test_a_non_retried_pull_error_stops_the_pipeline(faulty_stack):
    ends, fault_file, config, publisher, bq = faulty_stack
    table = f"{config.project}.{config.pipeline['output_table']}"
    run = PipelineRun(config.pipeline_args(), ends).start()
    try:
        _publish(config, publisher, 5, "before")
        traffic.wait_for_rows(bq, table, 5)
        write_faults(
            fault_file,
            {"methods": {"Pull": {"error_rate": 1.0, "error_code": "DEADLINE_EXCEEDED"}}},
        )
        assert run.result.state == "RUNNING"
        with pytest.raises(exceptions.DeadlineExceeded, match="Injected fault"):
            run.result.wait_until_finish()  # returns only because the pipeline died
        assert run.result.state == "FAILED"
    finally:
        write_faults(fault_file, {})
        try:
            run.stop(quiet_seconds=0.5, timeout=10)
        except Exception:  # cancelling a failed DirectRunner result may raise; it is dead anyway
            pass
