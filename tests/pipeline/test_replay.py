"""Replay: Google's procedure (snapshot, drain, seek, relaunch) against the emulators with the real
pipeline, the Dataflow drain through the real google-cloud-dataflow-client against a local
JobsV1Beta3 server, and the command line's mistakes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures
from datetime import datetime, timezone

import grpc
import pytest
from google.cloud import bigquery, dataflow_v1beta3

from harness import traffic
from harness.replay import LocalControl, backlog, replay_local
from harness.running import PipelineRun
from pipeline import samples
from pipeline.replay import DataflowControl, main, replay


def _events(prefix: str, n: int) -> list[bytes]:
    return [samples.encode(samples.valid_event(event_id=f"{prefix}-{i}")) for i in range(n)]


def _distinct(stack) -> tuple[int, int]:
    row = traffic.query_rows(stack.bigquery, f"SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) "
                                             f"AS ids FROM `{stack.events_table}`")[0]
    return row["n"], row["ids"]


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_replay_to_a_time_and_to_a_snapshot_with_the_harness_drain(provisioned_stack):
    stack = provisioned_stack
    args = stack.config.pipeline_args()

    def start() -> PipelineRun:
        return PipelineRun(args, stack.endpoints, stack.landed).start()

    control = LocalControl(start(), start)
    try:
        traffic.publish(stack.publisher, stack.topic, _events("a", 60))
        traffic.wait_for_rows(stack.bigquery, stack.events_table, 60, timeout=120)
        time.sleep(0.2)
        middle = datetime.now(timezone.utc)
        time.sleep(0.2)
        traffic.publish(stack.publisher, stack.topic, _events("b", 40))
        traffic.wait_for_rows(stack.bigquery, stack.events_table, 100, timeout=120)

        # to a time: the 40 messages published since are delivered again, no row is new
        report = replay_local(stack.endpoints, stack.config, control, stack.bigquery,
                              stack.subscriber, time_=middle)
        assert [s for s, _ in report.steps] == ["drain", "seek", "relaunch", "catch up"]
        assert report.replayed == 40
        assert report.new_rows == 0
        assert _distinct(stack) == (100, 100)

        # to a snapshot, after the table lost what came later: the replay writes it again
        snapshot = f"projects/{stack.project}/snapshots/before-c"
        stack.subscriber.create_snapshot(request={"name": snapshot,
                                                  "subscription": stack.subscription})
        time.sleep(0.2)
        taken = datetime.now(timezone.utc)
        time.sleep(0.2)
        traffic.publish(stack.publisher, stack.topic, _events("c", 30))
        traffic.wait_for_rows(stack.bigquery, stack.events_table, 130, timeout=120)
        control.drain()  # nothing writes while the table is put back
        stack.bigquery.query(
            f"CREATE OR REPLACE TABLE `{stack.events_table}` CLONE `{stack.events_table}` "
            "FOR SYSTEM_TIME AS OF @t",
            job_config=bigquery.QueryJobConfig(query_parameters=[
                bigquery.ScalarQueryParameter("t", "TIMESTAMP", taken)]),
        ).result()
        assert _distinct(stack) == (100, 100)
        report = replay_local(stack.endpoints, stack.config, control, stack.bigquery,
                              stack.subscriber, snapshot="before-c")
        assert report.replayed == 30 and report.new_rows == 30
        assert _distinct(stack) == (130, 130)
        assert backlog(stack.endpoints, stack.subscription) == 0
    finally:
        control.drain()


class _FakeDataflow:
    """A local JobsV1Beta3 server (the real client's wire format, its own types): one running
    job, drained in two polls."""

    def __init__(self):
        self.updates = []
        self.polls = 0
        job = dataflow_v1beta3.Job(id="2030-01-01_job", name="events-pipeline",
                                   current_state=dataflow_v1beta3.JobState.JOB_STATE_RUNNING)
        self.job = job

    def handler(self):
        def list_jobs(request, context):
            return dataflow_v1beta3.ListJobsResponse(jobs=[self.job])

        def update_job(request, context):
            self.updates.append(request)
            self.job.current_state = dataflow_v1beta3.JobState.JOB_STATE_DRAINING
            return self.job

        def get_job(request, context):
            self.polls += 1
            if self.polls >= 2:
                self.job.current_state = dataflow_v1beta3.JobState.JOB_STATE_DRAINED
            return self.job

        def rpc(fn, request_type, response_type):
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=request_type.deserialize,
                response_serializer=response_type.serialize)

        return grpc.method_handlers_generic_handler("google.dataflow.v1beta3.JobsV1Beta3", {
            "ListJobs": rpc(list_jobs, dataflow_v1beta3.ListJobsRequest,
                            dataflow_v1beta3.ListJobsResponse),
            "UpdateJob": rpc(update_job, dataflow_v1beta3.UpdateJobRequest,
                             dataflow_v1beta3.Job),
            "GetJob": rpc(get_job, dataflow_v1beta3.GetJobRequest, dataflow_v1beta3.Job),
        })


def test_dataflow_control_drains_by_name_then_relaunches():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.dataflow_v1beta3.services.jobs_v1_beta3.transports import (
        JobsV1Beta3GrpcTransport,
    )

    fake = _FakeDataflow()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((fake.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        client = dataflow_v1beta3.JobsV1Beta3Client(
            transport=JobsV1Beta3GrpcTransport(channel=channel,
                                               credentials=AnonymousCredentials()))
        launched = []
        control = DataflowControl("prod", "europe-west1", job_name="events-pipeline",
                                  pipeline_args=["--runner=DataflowRunner"], client=client,
                                  launcher=launched.append, poll=0.01)

        class Subscriber:
            calls = []

            def create_snapshot(self, request):
                self.calls.append(("snapshot", request))

            def seek(self, request):
                self.calls.append(("seek", request))

        subscriber = Subscriber()
        report = replay(subscriber, "projects/prod/subscriptions/events-pipeline", control,
                        snapshot="projects/prod/snapshots/s1", create_snapshot=True)
    finally:
        server.stop(None)
    [update] = fake.updates
    assert update.job_id == "2030-01-01_job" and update.location == "europe-west1"
    assert update.job.requested_state == dataflow_v1beta3.JobState.JOB_STATE_DRAINED
    assert control.final_state == "JOB_STATE_DRAINED"
    assert launched == [["--runner=DataflowRunner"]]
    # the order Google documents: snapshot, drain, seek, relaunch
    assert [s for s, _ in report.steps] == ["snapshot", "drain", "seek", "relaunch"]
    assert [c[0] for c in subscriber.calls] == ["snapshot", "seek"]
    assert subscriber.calls[1][1] == {"subscription": "projects/prod/subscriptions/events-pipeline",
                                      "snapshot": "projects/prod/snapshots/s1"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--subscription", "projects/p/subscriptions/s"], "one of the arguments"),
        (["--subscription", "projects/p/subscriptions/s", "--time", "yesterday", "--", "x"],
         "is not an RFC 3339 time"),
        (["--subscription", "projects/p/subscriptions/s", "--time", "2030-01-01T00:00:00",
          "--", "x"], "needs a zone"),
        (["--subscription", "s", "--snapshot", "n", "--", "x"], "must be projects/"),
        (["--subscription", "projects/p/subscriptions/s", "--snapshot", "n", "--", "x"],
         "no job to drain from here"),
        (["--subscription", "projects/p/subscriptions/s", "--snapshot", "n",
          "--pipeline-stopped"], "arguments after --"),
        (["--subscription", "projects/p/subscriptions/s", "--snapshot", "n",
          "--pipeline-pid", str(os.getpid()), "--", "x"], "is not a `python -m pipeline`"),
        (["--subscription", "projects/p/subscriptions/s", "--snapshot", "n",
          "--pipeline-pid", "999999999", "--", "x"], "no such process"),
    ],
)
def test_command_line_mistakes_exit_2_with_one_sentence(argv, message, capsys, monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_command_line_needs_a_job_outside_the_emulators(capsys, monkeypatch):
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    with pytest.raises(SystemExit):
        main(["--subscription", "projects/p/subscriptions/s", "--time", "2030-01-01T00:00:00Z",
              "--project", "p", "--region", "r", "--", "x"])
    assert "--job_id or --job_name" in capsys.readouterr().err


@pytest.mark.integration
def test_a_missing_snapshot_is_one_sentence(provisioned_stack, capsys, monkeypatch):
    stack = provisioned_stack
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.endpoints.pubsub)
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", stack.endpoints.bigquery)
    code = main(["--subscription", stack.subscription, "--snapshot", "never-taken",
                 "--pipeline-stopped", "--", *stack.config.pipeline_args()])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "never-taken" in err and "Traceback" not in err


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_the_command_seeks_then_runs_the_pipeline_here(provisioned_stack):
    stack = provisioned_stack
    traffic.publish(stack.publisher, stack.topic, _events("cli", 5))
    env = {**os.environ, **stack.endpoints.env(), "GOOGLE_CLOUD_PROJECT": stack.project}
    command = [sys.executable, "-m", "pipeline.replay", "--subscription", stack.subscription,
               "--time", "2000-01-01T00:00:00Z", "--pipeline-stopped", "--json", "--",
               *stack.config.pipeline_args()]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        report = json.loads(process.stdout.readline())
        assert report["replayed"] == 5 and report["rows_before"] == 0
        assert [s[0] for s in report["steps"]] == ["drain", "seek", "relaunch"]
        traffic.wait_for_rows(stack.bigquery, stack.events_table, 5, timeout=180)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_the_command_drains_a_running_pipeline_by_pid(provisioned_stack):
    """``--pipeline-pid``: the running ``python -m pipeline`` drains on SIGTERM before the seek
    (it exits 143 having written what it read); the replay is deduplicated by insertId."""
    stack = provisioned_stack
    env = {**os.environ, **stack.endpoints.env(), "GOOGLE_CLOUD_PROJECT": stack.project}
    args = stack.config.pipeline_args()
    running = subprocess.Popen([sys.executable, "-m", "pipeline", *args], env=env,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    replaying = None
    try:
        for line in running.stderr:  # until it says it is ready
            if "ready: " in line:
                break
        # keep reading its log, so that a full pipe never blocks it
        threading.Thread(target=running.stderr.read, daemon=True).start()
        traffic.publish(stack.publisher, stack.topic, _events("pid", 4))
        traffic.wait_for_rows(stack.bigquery, stack.events_table, 4, timeout=120)
        replaying = subprocess.Popen(
            [sys.executable, "-m", "pipeline.replay", "--subscription", stack.subscription,
             "--time", "2000-01-01T00:00:00Z", "--pipeline-pid", str(running.pid), "--json",
             "--", *args], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
        report = json.loads(replaying.stdout.readline())
        assert running.wait(5) == 143  # drained by the replay, before its seek
        assert report["replayed"] == 4 and report["rows_before"] == 4
        assert [s[0] for s in report["steps"]] == ["drain", "seek", "relaunch"]
        deadline = time.monotonic() + 120
        while backlog(stack.endpoints, stack.subscription) and time.monotonic() < deadline:
            time.sleep(0.5)  # the relaunched pipeline reads the replay...
        time.sleep(3)
        assert _distinct(stack) == (4, 4)  # ...and writes no second copy
    finally:
        for process in (running, replaying):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                process.wait(30)
