"""A producer team's suite on the warm pipeline under ``pytest -n 2``, run as a team runs it (a
pytest subprocess in a directory of its own): one stack per worker, or one shared stack, and
no test sees another's rows."""

import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

SUITE = '''
import json, os, pathlib
import pytest
from pipeline import samples

RECORDS = pathlib.Path(os.environ["RECORDS"])


@pytest.mark.parametrize("n", range({count}))
def test_events_land(producer, warm_pipeline, n):
    ids = [producer.unique_id("{module}") for _ in range(n % 3 + 1)]
    bad, kind = samples.bad_payload("not_json")
    producer.publish([samples.valid_event(event_id=i) for i in ids] + [bad])
    arrived = producer.wait_for(events=ids, dead_letters=[kind])
    # Read again after both landed: exactly this test's rows, nothing from its neighbours.
    assert sorted(r["event_id"] for r in producer.rows()) == sorted(ids)
    assert [d["error_type"] for d in producer.dead_letters()] == [kind]
    record = {{
        "test": "{module}-%d" % n,
        "worker": os.environ.get("PYTEST_XDIST_WORKER"),
        "endpoints": [warm_pipeline.endpoints.pubsub, warm_pipeline.endpoints.bigquery],
        "project": warm_pipeline.project,
        "published": ids,
        "seen": arrived.event_ids,
    }}
    (RECORDS / ("{module}-%d.json" % n)).write_text(json.dumps(record))
'''


# A team's conftest.py gives the warm pipeline its own arguments.
CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def warm_pipeline_args():
    return ["--max_event_bytes=2000"]
"""

ARGS_TEST = """
from pipeline import errors, samples


def test_the_team_s_pipeline_arguments_apply(producer):
    event = samples.valid_event(event_id=producer.unique_id())
    event["data"] = {"blob": "x" * 3000}
    producer.publish([event])
    assert producer.wait_for(dead_letters=[errors.OVERSIZE_PAYLOAD]).events == []
"""


def _run_suite(tmp_path, *options):
    records = tmp_path / "records"
    records.mkdir()
    for module in ("alpha", "beta"):
        text = textwrap.dedent(SUITE).format(count=6, module=module)
        (tmp_path / f"test_{module}.py").write_text(text)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_args.py").write_text(ARGS_TEST)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", *options],
        cwd=tmp_path,
        env={**os.environ, "RECORDS": str(records)},
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "13 passed" in done.stdout
    found = [json.loads(p.read_text()) for p in sorted(records.iterdir())]
    assert len(found) == 12
    return found


def _by_worker(records, key):
    values = defaultdict(set)
    for record in records:
        values[record["worker"]].add(json.dumps(record[key]))
    return values


def _no_cross_talk(records):
    for record in records:
        assert record["seen"] == sorted(record["published"]), record


def test_one_stack_and_one_pipeline_per_worker(tmp_path):
    records = _run_suite(tmp_path)
    _no_cross_talk(records)
    endpoints = _by_worker(records, "endpoints")
    projects = _by_worker(records, "project")
    assert sorted(endpoints) == ["gw0", "gw1"]
    assert all(len(v) == 1 for v in endpoints.values())  # one stack per worker ...
    assert endpoints["gw0"] != endpoints["gw1"]  # ... of its own
    assert all(len(v) == 1 for v in projects.values())  # one pipeline per worker session
    assert projects["gw0"] != projects["gw1"]


def test_one_shared_stack_one_pipeline_per_worker_and_module(tmp_path):
    records = _run_suite(tmp_path, "--shared-stack", "--pipeline-scope=module")
    _no_cross_talk(records)
    endpoints = {json.dumps(r["endpoints"]) for r in records}
    assert len(endpoints) == 1  # every worker on the controller's stack
    pipelines = defaultdict(set)  # (worker, module) -> projects
    for record in records:
        pipelines[record["worker"], record["test"].split("-")[0]].add(record["project"])
    assert all(len(v) == 1 for v in pipelines.values())
    assert len(set().union(*pipelines.values())) == len(pipelines)  # one per worker and module
