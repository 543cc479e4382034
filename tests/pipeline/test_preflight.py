"""Issue 14, finding 2: every start-up mistake of ``python -m pipeline`` (and of the harness's
``run_pipeline``) is one sentence naming the flag, the value and the fix, with exit code 2."""

from __future__ import annotations

import os
import uuid

import pytest

from harness import clients
from pipeline import preflight
from tests.support.cli import one_sentence, run

pytestmark = pytest.mark.integration


def _pipeline(*args: str, env: dict | None = None, **kwargs):
    return run("pipeline", *args, env=env, **kwargs)


def _args(stack, subscription=None, output=None, dead=None, *extra):
    return [
        "--input_subscription", subscription or stack.subscription,
        "--output_table", output or stack.events_table,
        "--dead_letter_table", dead or stack.dead_letter_table, *extra,
    ]


def test_a_missing_subscription_is_one_sentence_naming_the_ones_there(provisioned_stack):
    stack = provisioned_stack
    wrong = f"projects/{stack.project}/subscriptions/events-sub"
    result = _pipeline(*_args(stack, subscription=wrong), env=stack.endpoints.env())
    assert result.returncode == 2
    assert one_sentence(result) == (
        f"error: --input_subscription {wrong}: no such subscription (project {stack.project} has "
        "events-pipeline) — pass an existing one, or create it (python -m harness up provisions "
        "the harness file's)"
    )


def test_emulator_variables_pointing_at_nothing_are_said_at_once(provisioned_stack, tmp_path):
    stack = provisioned_stack
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        nothing = f"127.0.0.1:{s.getsockname()[1]}"
    result = _pipeline(*_args(stack), env={**stack.endpoints.env(), "PUBSUB_EMULATOR_HOST": nothing},
                       timeout=60)
    assert result.returncode == 2
    assert one_sentence(result) == (
        f"error: PUBSUB_EMULATOR_HOST={nothing}: nothing answers there (connection refused); "
        "start the emulators (python -m harness up, then eval \"$(python -m harness env)\") or "
        "unset PUBSUB_EMULATOR_HOST to use Google Cloud"
    )
    result = _pipeline(*_args(stack), timeout=60, env={
        **stack.endpoints.env(), "BIGQUERY_EMULATOR_HOST": f"http://{nothing}"})
    assert result.returncode == 2
    assert one_sentence(result).startswith(
        f"error: BIGQUERY_EMULATOR_HOST=http://{nothing}: nothing answers there (connection "
        "refused)")


def test_no_emulator_variables_and_no_credentials(tmp_path):
    no_adc = {"HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
              "GOOGLE_APPLICATION_CREDENTIALS": "", "GCE_METADATA_HOST": "127.0.0.1:9",
              "GCE_METADATA_IP": "127.0.0.1:9", "NO_GCE_CHECK": "True"}
    result = _pipeline("--input_subscription", "projects/p/subscriptions/s", "--output_table",
                       "p:d.t", "--dead_letter_table", "p:d.u", env=no_adc, timeout=60)
    assert result.returncode == 2
    assert one_sentence(result) == (
        "error: neither PUBSUB_EMULATOR_HOST nor BIGQUERY_EMULATOR_HOST is set and there are no "
        "Google credentials: for the local emulators run python -m harness up, then eval "
        "\"$(python -m harness env)\"; for Google Cloud run gcloud auth application-default login"
    )


def test_misspelt_and_unknown_flags_are_errors(provisioned_stack):
    stack = provisioned_stack
    env = stack.endpoints.env()
    result = _pipeline(*_args(stack), "--refrence_table", "analytics.sources", env=env)
    assert result.returncode == 2
    assert one_sentence(result) == (
        "error: unknown option --refrence_table; did you mean --reference_table? (python -m "
        "pipeline --help lists the pipeline's options)"
    )
    # Beam's flags are known too: a near miss of one of them is found once Beam is loaded.
    result = _pipeline(*_args(stack), "--temp_locaton=/tmp/x", env=env)
    assert result.returncode == 2
    assert one_sentence(result).startswith(
        "error: unknown option --temp_locaton; did you mean --temp_location?")
    result = _pipeline(*_args(stack), "--frobnicate", env=env)
    assert result.returncode == 2
    assert one_sentence(result).startswith("error: unknown option --frobnicate (python -m")
    result = _pipeline("--output_table", stack.events_table, env=env)
    assert result.returncode == 2
    assert one_sentence(result) == (
        "error: the following options are required: --input_subscription, --dead_letter_table "
        "(python -m pipeline --help)"
    )


def test_tables_dataset_and_reference_table(provisioned_stack, monkeypatch):
    stack = provisioned_stack
    for name, value in stack.endpoints.env().items():
        monkeypatch.setenv(name, value)
    p = stack.project
    plan = preflight.check_args(_args(stack, output=f"{p}:analytics.evnets"))
    assert plan.notes == [
        f"--output_table {p}:analytics.evnets does not exist yet; it will be created "
        "(--create_tables if_needed); did you mean events?"
    ]
    assert plan.rows_at_start == {f"{p}:analytics.evnets": 0, f"{p}:analytics.events_dlq": 0}
    with pytest.raises(preflight.PreflightError) as never:
        preflight.check_args(_args(stack, output=f"{p}.analytics.evnets") +
                             ["--create_tables", "never"])
    assert str(never.value) == (
        f"--output_table {p}:analytics.evnets: no such table and --create_tables is never; did "
        "you mean events? (dataset analytics has events, events_dlq, sources)"
    )
    with pytest.raises(preflight.PreflightError) as dataset:
        preflight.check_args(_args(stack, dead=f"{p}:analytic.events_dlq"))
    assert str(dataset.value) == (
        f"--dead_letter_table {p}:analytic.events_dlq: dataset {p}:analytic does not exist (Beam "
        "creates tables, not datasets; did you mean analytics?): create it (python -m harness "
        "up provisions the harness file's) or fix the name"
    )
    with pytest.raises(preflight.PreflightError) as reference:
        preflight.check_args(_args(stack) + ["--reference_table", f"{p}:analytics.source"])
    assert str(reference.value).startswith(
        f"--reference_table {p}:analytics.source: no such table; did you mean sources?")
    with pytest.raises(preflight.PreflightError, match="--reference_file nope.csv: no such file"):
        preflight.check_args(_args(stack) + ["--reference_file", "nope.csv"])


def test_short_names_are_completed_when_the_project_is_unambiguous(provisioned_stack,
                                                                   monkeypatch):
    stack = provisioned_stack
    for name, value in stack.endpoints.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("CLOUDSDK_CORE_PROJECT", raising=False)
    short = ["--input_subscription", "events-pipeline", "--output_table", "analytics.events",
             "--dead_letter_table", "analytics.events_dlq"]
    plan = preflight.check_args([*short, "--project", stack.project])
    assert plan.args() == [
        f"--input_subscription=projects/{stack.project}/subscriptions/events-pipeline",
        f"--output_table={stack.project}:analytics.events",
        f"--dead_letter_table={stack.project}:analytics.events_dlq",
    ]
    assert plan.ready_line() == (
        f"ready: reading projects/{stack.project}/subscriptions/events-pipeline; writing "
        f"{stack.project}:analytics.events (dead letters {stack.project}:analytics.events_dlq)"
    )
    # Without --project: this session's emulator holds a project per test, all with the
    # dataset, so the name is ambiguous and the message says which projects there are.
    bq = clients.bigquery(stack.endpoints, f"other-{uuid.uuid4().hex[:8]}")
    bq.create_dataset(f"{bq.project}.analytics")
    with pytest.raises(preflight.PreflightError) as ambiguous:
        preflight.check_args(short)
    message = str(ambiguous.value)
    assert message.startswith("--input_subscription events-pipeline names no project and the "
                              "BigQuery emulator holds ")
    assert message.endswith(": pass --project, or the full name")


def test_the_harness_run_pipeline_checks_first(provisioned_stack):
    from harness.running import PipelineRun

    stack = provisioned_stack
    args = [a.replace("events-pipeline", "missing") for a in stack.config.pipeline_args()]
    with pytest.raises(preflight.PreflightError, match="no such subscription"):
        PipelineRun(args, stack.endpoints, stack.landed).start()


def test_a_run_puts_the_emulator_variables_back_as_it_found_them(provisioned_stack, monkeypatch):
    """A run sets the emulators' variables for its lazily made clients; once it is stopped or
    cancelled (or fails to start) they are what they were, so later code in the process, and
    processes it starts, are not pointed at emulators that are gone."""
    from harness.running import PipelineRun

    stack = provisioned_stack
    names = list(stack.endpoints.env())
    for name in names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")  # a user's own setting
    run = PipelineRun(stack.config.pipeline_args(), stack.endpoints, stack.landed).start()
    assert os.environ["PUBSUB_EMULATOR_HOST"] == stack.endpoints.pubsub
    run.cancel()
    assert os.environ["PUBSUB_EMULATOR_HOST"] == "127.0.0.1:1"
    assert [name for name in names if name in os.environ] == ["PUBSUB_EMULATOR_HOST"]

    args = [a.replace("events-pipeline", "missing") for a in stack.config.pipeline_args()]
    with pytest.raises(preflight.PreflightError):
        PipelineRun(args, stack.endpoints, stack.landed).start()
    assert [name for name in names if name in os.environ] == ["PUBSUB_EMULATOR_HOST"]


def test_help_is_short_and_the_pipelines_own_options_come_first():
    short = _pipeline("--help")
    assert short.returncode == 0
    lines = short.stdout.splitlines()
    assert len(lines) < 70
    first_flag = next(line.strip() for line in lines if line.strip().startswith("--"))
    assert first_flag.startswith("--help-beam")
    assert "--input_subscription" in short.stdout and "--runner" in short.stdout
    assert "--temp_location TEMP_LOCATION" not in short.stdout
    full = _pipeline("--help-beam")
    assert full.returncode == 0
    assert "--temp_location TEMP_LOCATION" in full.stdout
    assert full.stdout.index("--input_subscription") < full.stdout.index("--temp_location")
