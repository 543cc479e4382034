"""Replay a subscription's messages the way Google documents it: snapshot (when asked), drain the
running pipeline, seek, relaunch, and say what it did.

    python -m pipeline.replay --subscription projects/P/subscriptions/S --time 2030-01-01T10:00:00Z \\
        --project P --region R --job_name events-pipeline -- <the pipeline's own arguments>
    python -m pipeline.replay --subscription projects/P/subscriptions/S --snapshot before-deploy \\
        --create-snapshot ...

Never seek under a running job: messages it holds would be acknowledged after the seek and lost
to it. So the pipeline is drained first (Dataflow's drain: it stops reading, finishes what it
read, acknowledges it), the subscription seeks (to a time: messages published since are
delivered again; to a snapshot: its messages are), and the pipeline is launched again with the
arguments after ``--``. Rows are written with insertId = event_id, so replayed events that
already have a row are not written twice (within BigQuery's de-duplication window); the report
says how many events were waiting after the seek and how many rows are new.

Against Dataflow the drain and relaunch use the Dataflow API (google-cloud-dataflow-client) and
``DataflowRunner``. A local pipeline on the DirectRunner has no drain API: the harness drains the
pipelines it runs (``harness/replay.py``, used by ``nox -s drill``); from this command, against
the emulators, give ``--pipeline-pid PID`` of a running ``python -m pipeline`` (it drains on
SIGTERM: the command sends it and waits for the process to end) or stop your local pipeline
first and pass ``--pipeline-stopped``. Either way the command seeks and then runs the pipeline
here, in the foreground, as ``python -m pipeline`` would.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Protocol


class RunnerControl(Protocol):
    """What the procedure needs of whatever runs the pipeline."""

    def drain(self) -> None: ...  # stop reading, finish and acknowledge what was read

    def relaunch(self) -> None: ...  # start the pipeline again on the same subscription


@dataclass
class ReplayReport:
    subscription: str
    seek_to: str  # "snapshot NAME" or "time RFC3339"
    snapshot_created: bool = False
    replayed: int | None = None  # messages waiting after the seek
    rows_before: int | None = None
    rows_after: int | None = None
    steps: list = field(default_factory=list)  # [(step, seconds)]

    @property
    def new_rows(self) -> int | None:
        if self.rows_before is None or self.rows_after is None:
            return None
        return self.rows_after - self.rows_before

    def text(self) -> str:
        lines = [f"replayed {self.subscription} from {self.seek_to}"]
        lines += [f"  {step}: {seconds:.1f}s" for step, seconds in self.steps]
        lines.append(f"  events replayed (waiting after the seek): "
                     f"{'unknown' if self.replayed is None else self.replayed}")
        if self.new_rows is not None:
            lines.append(f"  rows new: {self.new_rows} ({self.rows_before} -> {self.rows_after})"
                         "; the others were duplicates of rows already written")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {**asdict(self), "new_rows": self.new_rows}


def parse_time(text: str) -> datetime:
    """RFC 3339 with a zone (``Z`` or an offset), as the Pub/Sub API takes it."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--time {text!r} is not an RFC 3339 time such as "
                         "2030-01-01T10:00:00Z") from None
    if when.tzinfo is None:
        raise ValueError(f"--time {text!r} needs a zone (Z or +01:00).")
    return when


def replay(
    subscriber,
    subscription: str,
    control: RunnerControl,
    *,
    snapshot: str | None = None,
    time_: datetime | None = None,
    create_snapshot: bool = False,
    backlog: Callable[[], int | None] = lambda: None,
    rows: Callable[[], int | None] = lambda: None,
    caught_up: Callable[[], bool] | None = None,
    wait: float = 0.0,
) -> ReplayReport:
    """Google's replay procedure. ``snapshot`` (a full name ``projects/P/snapshots/N``) or
    ``time_``; ``backlog()``: messages waiting in the subscription (None if unknown);
    ``rows()``: rows in the pipeline's tables; ``caught_up()``: true once the relaunched
    pipeline has worked off the replay (waited for at most ``wait`` seconds)."""
    if (snapshot is None) == (time_ is None):
        raise ValueError("give a snapshot or a time to seek to, not both")
    if create_snapshot and snapshot is None:
        raise ValueError("--create-snapshot needs --snapshot NAME")
    target = f"snapshot {snapshot}" if snapshot else f"time {time_.isoformat()}"
    report = ReplayReport(subscription, target)

    def step(name: str, action: Callable[[], object]):
        started = time.monotonic()
        result = action()
        report.steps.append((name, round(time.monotonic() - started, 3)))
        return result

    if create_snapshot:
        step("snapshot", lambda: subscriber.create_snapshot(
            request={"name": snapshot, "subscription": subscription}))
        report.snapshot_created = True
    step("drain", control.drain)
    request = {"subscription": subscription}
    if snapshot:
        request["snapshot"] = snapshot
    else:
        request["time"] = time_
    step("seek", lambda: subscriber.seek(request=request))
    report.replayed = backlog()
    report.rows_before = rows()
    step("relaunch", control.relaunch)
    if caught_up is not None and wait > 0:
        def settle() -> None:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and not caught_up():
                time.sleep(0.5)

        step("catch up", settle)
        report.rows_after = rows()
    return report


class DataflowControl:
    """Drain a Dataflow job through the Dataflow API, relaunch the pipeline on Dataflow."""

    TERMINAL = ("JOB_STATE_DRAINED", "JOB_STATE_DONE", "JOB_STATE_CANCELLED",
                "JOB_STATE_FAILED", "JOB_STATE_UPDATED")  # fmt: skip

    def __init__(self, project: str, region: str, *, job_id: str | None = None,
                 job_name: str | None = None, pipeline_args: list[str] | None = None,
                 client=None, launcher: Callable[[list[str]], object] | None = None,
                 timeout: float = 1800.0, poll: float = 10.0):
        if not (job_id or job_name):
            raise ValueError("give --job_id or --job_name of the running Dataflow job")
        self.project, self.region = project, region
        self.job_id, self.job_name = job_id, job_name
        self.pipeline_args = list(pipeline_args or [])
        self.timeout, self.poll = timeout, poll
        self._client = client
        self.launcher = launcher or self._launch
        self.final_state: str | None = None

    @property
    def client(self):
        if self._client is None:
            from google.cloud import dataflow_v1beta3

            self._client = dataflow_v1beta3.JobsV1Beta3Client()
        return self._client

    def _find(self) -> str:
        from google.cloud import dataflow_v1beta3

        if self.job_id:
            return self.job_id
        request = dataflow_v1beta3.ListJobsRequest(
            project_id=self.project, location=self.region,
            filter=dataflow_v1beta3.ListJobsRequest.Filter.ACTIVE)  # fmt: skip
        for job in self.client.list_jobs(request=request):
            if job.name == self.job_name:
                return job.id
        raise RuntimeError(f"no active Dataflow job named {self.job_name!r} in "
                           f"{self.project}/{self.region}")

    def drain(self) -> None:
        from google.cloud import dataflow_v1beta3

        job_id = self._find()
        self.client.update_job(request=dataflow_v1beta3.UpdateJobRequest(
            project_id=self.project, location=self.region, job_id=job_id,
            job=dataflow_v1beta3.Job(requested_state=dataflow_v1beta3.JobState.JOB_STATE_DRAINED),
        ))  # fmt: skip
        deadline = time.monotonic() + self.timeout
        while True:
            job = self.client.get_job(request=dataflow_v1beta3.GetJobRequest(
                project_id=self.project, location=self.region, job_id=job_id))  # fmt: skip
            state = dataflow_v1beta3.JobState(job.current_state).name
            if state in self.TERMINAL:
                self.final_state = state
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {state} after {self.timeout:.0f}s")
            time.sleep(self.poll)

    def _launch(self, args: list[str]) -> object:
        from pipeline.run import run

        return run(args, wait=False)  # DataflowRunner submits the job and returns

    def relaunch(self) -> None:
        if not self.pipeline_args:
            raise ValueError("give the pipeline's arguments after -- to relaunch it")
        self.launcher(self.pipeline_args)


class StoppedLocalPipeline:
    """Against the emulators, from this command: the pipeline was stopped by its owner (there is
    no drain API for the DirectRunner); relaunch runs it here, in the foreground."""

    def __init__(self, pipeline_args: list[str]):
        self.pipeline_args = pipeline_args

    def drain(self) -> None:
        return None

    def relaunch(self) -> None:
        return None  # run after the report, in main(): it does not return until Ctrl-C


class LocalPipelineProcess(StoppedLocalPipeline):
    """Against the emulators: a ``python -m pipeline`` process of this machine, drained the way
    it drains itself on SIGTERM (stop pulling, write what was pulled, exit)."""

    def __init__(self, pid: int, pipeline_args: list[str], timeout: float = 120.0):
        super().__init__(pipeline_args)
        self.pid, self.timeout = pid, timeout
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().split(b"\0")
        except OSError:
            raise ValueError(f"--pipeline-pid {pid}: no such process") from None
        if b"pipeline" not in command:  # never signal a process that is not a pipeline
            raise ValueError(f"--pipeline-pid {pid} is not a `python -m pipeline` process")

    def drain(self) -> None:
        import os
        import signal

        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + self.timeout
        while os.path.exists(f"/proc/{self.pid}") and not _zombie(self.pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the pipeline (pid {self.pid}) did not drain in "
                                   f"{self.timeout:.0f}s; nothing was seeked")
            time.sleep(0.2)


def _zombie(pid: int) -> bool:
    """An exited child its parent has not reaped yet (it has stopped reading all the same)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def emulator_backlog(host: str, subscription: str) -> int | None:
    """Messages waiting in ``subscription``, from the Pub/Sub emulator's metrics (its
    ``/_emulator/metrics``, Cloud Monitoring's ``num_undelivered_messages``)."""
    import re
    import urllib.request

    project, short = subscription.split("/")[1], subscription.rsplit("/", 1)[-1]
    try:
        with urllib.request.urlopen(f"http://{host}/_emulator/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    labels = f'project_id="{project}",subscription_id="{short}"'  # the order metrics.py writes
    pattern = re.compile(r"^pubsub_googleapis_com:subscription_num_undelivered_messages\{"
                         + re.escape(labels) + r"\} (\S+)$", re.M)
    match = pattern.search(text)
    return int(float(match.group(1))) if match else None


def monitoring_backlog(project: str, subscription: str) -> int | None:
    """``num_undelivered_messages`` from Cloud Monitoring (sampled every minute, so this is the
    backlog of up to a few minutes ago)."""
    from google.cloud import monitoring_v3

    client = monitoring_v3.MetricServiceClient()
    now = time.time()
    interval = monitoring_v3.TimeInterval(
        end_time={"seconds": int(now)}, start_time={"seconds": int(now - 600)})
    series = client.list_time_series(request={
        "name": f"projects/{project}",
        "filter": 'metric.type = "pubsub.googleapis.com/subscription/num_undelivered_messages" '
                  f'AND resource.labels.subscription_id = "{subscription.rsplit("/", 1)[-1]}"',
        "interval": interval,
        "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    })  # fmt: skip
    for one in series:
        if one.points:
            return int(one.points[0].value.int64_value)
    return None


def _table_count(client, table: str) -> int:
    table = table.replace(":", ".", 1)
    return list(client.query(f"SELECT COUNT(*) AS n FROM `{table}`").result())[0]["n"]


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.replay", description=__doc__.split("\n\n")[0],
        usage="%(prog)s --subscription S (--snapshot NAME | --time RFC3339) [options] "
              "-- PIPELINE_ARGS")  # fmt: skip
    parser.add_argument("--subscription", required=True,
                        help="projects/P/subscriptions/S the pipeline reads")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--snapshot", help="seek to this snapshot (name or projects/P/snapshots/N)")
    target.add_argument("--time", help="seek to this time (RFC 3339)")
    parser.add_argument("--create-snapshot", action="store_true",
                        help="create --snapshot from the subscription first")
    parser.add_argument("--project", help="GCP project of the Dataflow job")
    parser.add_argument("--region", help="region of the Dataflow job")
    parser.add_argument("--job_id", help="the running Dataflow job to drain")
    parser.add_argument("--job_name", help="...or its name (the active job of that name)")
    local = parser.add_mutually_exclusive_group()
    local.add_argument("--pipeline-pid", type=int, metavar="PID",
                       help="against the emulators: drain this running `python -m pipeline` "
                            "(SIGTERM) before seeking")
    local.add_argument("--pipeline-stopped", action="store_true",
                       help="against the emulators: the local pipeline is already stopped")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="seconds to wait for the relaunched pipeline to write the replay "
                             "before reporting rows (default: report at once)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    import os

    argv = sys.argv[1:] if argv is None else argv
    if "--" in argv:
        at = argv.index("--")
        own, pipeline_args = argv[:at], argv[at + 1:]
    else:
        own, pipeline_args = argv, []
    parser = _parser()
    args = parser.parse_args(own)
    local = bool(os.environ.get("PUBSUB_EMULATOR_HOST")) and not (args.job_id or args.job_name)
    try:
        when = parse_time(args.time) if args.time else None
        if not args.subscription.startswith("projects/"):
            raise ValueError("--subscription must be projects/PROJECT/subscriptions/NAME")
        project = args.subscription.split("/")[1]
        snapshot = args.snapshot
        if snapshot and not snapshot.startswith("projects/"):
            snapshot = f"projects/{project}/snapshots/{snapshot}"
        if local:
            if args.pipeline_pid is not None:
                control = LocalPipelineProcess(args.pipeline_pid, pipeline_args)
            elif args.pipeline_stopped:
                control = StoppedLocalPipeline(pipeline_args)
            else:
                raise ValueError("against the emulators there is no job to drain from here: give "
                                 "--pipeline-pid of the running `python -m pipeline`, or stop it "
                                 "and pass --pipeline-stopped")
        else:
            if not (args.project and args.region):
                raise ValueError("give --project and --region of the Dataflow job")
            control = DataflowControl(args.project, args.region, job_id=args.job_id,
                                      job_name=args.job_name, pipeline_args=pipeline_args)
        if not pipeline_args:
            raise ValueError("give the pipeline's arguments after -- to relaunch it")
    except ValueError as exc:
        parser.error(str(exc))
    from google.cloud import bigquery, pubsub_v1

    from pipeline.endpoints import use_emulators_from_env

    use_emulators_from_env()
    subscriber = pubsub_v1.SubscriberClient()
    tables = [t for t in (_option(pipeline_args, "output_table"),
                          _option(pipeline_args, "dead_letter_table")) if t]  # fmt: skip
    credentials = None
    if local:
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    bq = bigquery.Client(project=project, credentials=credentials) if tables else None

    def rows() -> int | None:
        return sum(_table_count(bq, t) for t in tables) if bq else None

    if local:
        host = os.environ["PUBSUB_EMULATOR_HOST"]

        def backlog() -> int | None:
            return emulator_backlog(host, args.subscription)
    else:
        def backlog() -> int | None:
            return monitoring_backlog(args.project, args.subscription)

    from google.api_core.exceptions import GoogleAPICallError

    try:
        report = replay(subscriber, args.subscription, control, snapshot=snapshot, time_=when,
                        create_snapshot=args.create_snapshot, rows=rows, backlog=backlog,
                        caught_up=(lambda: False) if args.wait else None, wait=args.wait)
    except (GoogleAPICallError, RuntimeError, TimeoutError, ValueError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        print(f"error: {message}", file=sys.stderr)  # a missing snapshot, job, subscription
        return 2
    print(json.dumps(report.to_dict(), default=str) if args.json else report.text(), flush=True)
    if local:
        from pipeline.run import run

        run(pipeline_args)  # the relaunch: in the foreground until Ctrl-C
    return 0


if __name__ == "__main__":
    sys.exit(main())
