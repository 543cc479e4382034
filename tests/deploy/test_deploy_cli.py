"""CLI mistakes: one sentence on stderr, exit code 2, never a traceback; Google Cloud is never
reached without the project said again and the flag."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST",
                         "STORAGE_EMULATOR_HOST")}
    return subprocess.run([sys.executable, "-m", "deploy", *args], capture_output=True,
                          text=True, timeout=120, env={**base, **(env or {})})


@pytest.mark.parametrize("args, message", [
    (("plan", "--env", "staging"),
     "error: environment staging is on Google Cloud: pass --project streambench-staging "
     "--i-know-this-costs-money to touch it"),
    (("apply", "--env", "prod", "--project", "someone-else", "--i-know-this-costs-money"),
     "error: --project someone-else is not the spec's project streambench-prod "
     "(environments/prod.toml)"),
    (("destroy", "--env", "prod", "--project", "streambench-prod"),
     "error: destroy on Google Cloud needs --i-know-this-costs-money"),
    (("destroy", "--env", "prod", "--project", "streambench-prod", "--i-know-this-costs-money"),
     "error: environment prod is protected: destroy needs --i-know"),
    (("plan", "--env", "local"),
     "error: PUBSUB_EMULATOR_HOST and BIGQUERY_EMULATOR_HOST not set: start the stack and "
     "export its endpoints (python -m harness up && eval \"$(python -m harness env)\")"),
    (("iam", "--env", "../etc/passwd"), None),
])
def test_mistakes_are_one_sentence_and_exit_2(args, message):
    done = run(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    if message:
        assert lines == [message]
    else:
        assert lines[0].startswith("error: ") and "no such environment" in lines[0]


def test_gcp_clients_are_refused_while_an_emulator_variable_is_set():
    done = run("plan", "--env", "staging", "--project", "streambench-staging",
               "--i-know-this-costs-money", env={"PUBSUB_EMULATOR_HOST": "127.0.0.1:1"})
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: PUBSUB_EMULATOR_HOST is set, so the clients would talk to an emulator, not "
        "Google Cloud: unset it for a gcp environment")


def test_validate_and_terraform(tmp_path):
    assert run("validate", "--env", "prod").returncode == 0
    done = run("terraform", "--env", "staging", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        line.rsplit("/", 1)[1] for line in done.stdout.splitlines())
