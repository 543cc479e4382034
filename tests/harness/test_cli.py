"""``python -m harness up|env|status|down`` as a user runs it."""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness import clients
from harness.stack import Endpoints, Stack, StackError
from tests.support.cli import harness

pytestmark = pytest.mark.integration


def _cli(*args, state_dir: Path, check=True):
    result = harness(*args, state_dir=state_dir)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _exports(text: str) -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=(\S+)$", text, re.M))


def test_up_env_status_down(tmp_path):
    up = _cli("up", state_dir=tmp_path)
    exports = _exports(up.stdout)
    assert set(exports) == {
        "PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "STORAGE_EMULATOR_HOST",
        "BIGQUERY_STORAGE_EMULATOR_HOST",
    }
    try:
        assert _exports(_cli("env", state_dir=tmp_path).stdout) == exports
        status = _cli("status", state_dir=tmp_path)
        assert status.stdout.count("  answering  pid ") == 3
        assert f"storage:  {exports['STORAGE_EMULATOR_HOST']}  answering" in status.stdout
        endpoints = Endpoints.from_env(exports)
        # Provisioned from harness.toml, seen through the real clients.
        topics = [t.name for t in clients.publisher(endpoints).list_topics(project="projects/local-project")]
        assert "projects/local-project/topics/events" in topics
        bigquery = clients.bigquery(endpoints, "local-project")
        tables = [t.table_id for t in bigquery.list_tables("analytics")]
        assert {"events", "events_dlq", "sources"} <= set(tables)
        # the client reads through the emulator's Storage Read API (not googleapis.com)
        sources = bigquery.list_rows("local-project.analytics.sources").to_arrow()
        assert sources.num_rows == bigquery.get_table("local-project.analytics.sources").num_rows
        buckets = {b.name for b in clients.storage(endpoints, "local-project").list_buckets()}
        assert {"local-project-batch", "local-project-temp", "local-project-backups"} <= buckets
        assert _cli("up", state_dir=tmp_path, check=False).returncode == 2  # already up
    finally:
        _cli("down", state_dir=tmp_path)
    pids = [int(p) for p in re.findall(r"pid (\d+)", status.stdout)]
    assert len(pids) == 3
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    gone = _cli("status", state_dir=tmp_path, check=False)
    assert gone.returncode == 2 and "no stack is up" in gone.stderr


def test_down_signals_only_the_processes_up_started(tmp_path):
    """A pid in the state file that is now some other process (pids are reused) is left alone."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        state = {
            "backend": "embedded", "pubsub": "127.0.0.1:1", "bigquery": "http://127.0.0.1:2",
            "pids": [bystander.pid], "logs": [str(tmp_path / "pubsub.log")], "names": ["pubsub"],
            "identities": ["4242 python -m emulators.pubsub --host 127.0.0.1 --port 0"],
        }
        (tmp_path / "state.json").write_text(json.dumps(state))
        status = _cli("status", state_dir=tmp_path, check=False)
        assert f"pid {bystander.pid} gone" in status.stdout
        down = _cli("down", state_dir=tmp_path)
        assert f"pid {bystander.pid} is no longer the process" in down.stderr
        time.sleep(0.5)
        assert bystander.poll() is None  # not signalled
        assert not (tmp_path / "state.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def _docker_engine_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.skipif(_docker_engine_available(), reason="a Docker engine is running here")
@pytest.mark.parametrize("backend", ["docker", "testcontainers"])
def test_container_backends_without_docker_say_so_in_one_sentence(tmp_path, backend):
    result = _cli("up", "--backend", backend, state_dir=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    if backend == "testcontainers" and importlib.util.find_spec("testcontainers") is None:
        # nox -s tests installs no `containers` extra: that is the one sentence then
        assert "needs the testcontainers package" in result.stderr
    else:
        assert "Docker engine" in result.stderr
    assert "embedded" in result.stderr
    assert "Traceback" not in result.stderr


def test_external_backend_takes_the_variables_as_given(monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)  # other tests' runs export it
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", "127.0.0.1:2")
    monkeypatch.delenv("BIGQUERY_STORAGE_EMULATOR_HOST", raising=False)
    stack = Stack(backend="external")
    assert stack._start_external() == Endpoints("127.0.0.1:1", "http://127.0.0.1:2")
    monkeypatch.setenv("BIGQUERY_STORAGE_EMULATOR_HOST", "127.0.0.1:4")
    assert stack._start_external().bigquery_storage == "127.0.0.1:4"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:3")
    assert stack._start_external().storage == "http://127.0.0.1:3"
    assert stack._start_external().env()["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:3"
    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST")
    with pytest.raises(StackError, match="BIGQUERY_EMULATOR_HOST"):
        stack._start_external()


def test_provisioned_stack_has_a_project_of_its_own(provisioned_stack):
    stack = provisioned_stack
    assert stack.project.startswith("test-")
    topics = {t.name for t in stack.publisher.list_topics(project=f"projects/{stack.project}")}
    assert topics == {stack.config.topic_path(t["name"]) for t in stack.config.topics}
    subscription = stack.subscriber.get_subscription(subscription=stack.subscription)
    assert subscription.dead_letter_policy.max_delivery_attempts == 10
    tables = {t.table_id for t in stack.bigquery.list_tables(f"{stack.project}.analytics")}
    assert tables == {"events", "events_dlq", "sources"}
    buckets = {b.name for b in stack.storage.list_buckets()}
    assert {stack.bucket("{project}-batch"), stack.bucket("{project}-temp")} <= buckets
    temp = stack.storage.get_bucket(stack.bucket("{project}-temp"))
    assert temp.soft_delete_policy.retention_duration_seconds == 0


def test_harness_file_objects_are_uploaded_once(tmp_path, emulator_stack):
    from harness.provision import HarnessConfig, provision_buckets

    (tmp_path / "seed.ndjson").write_text('{"a": 1}\n')
    (tmp_path / "h.toml").write_text(
        'project = "seeded-objects"\n[[buckets]]\nname = "{project}-seeded"\n'
        'objects = [{ name = "in/seed.ndjson", file = "seed.ndjson" },'
        ' { name = "note.txt", content = "hi" }]\n'
    )
    config = HarnessConfig.load(tmp_path / "h.toml", project=f"p{uuid.uuid4().hex[:8]}")
    client = clients.storage(emulator_stack, config.project)
    provision_buckets(config, client)
    bucket = client.bucket(config.bucket_name("{project}-seeded"))
    bucket.blob("note.txt").upload_from_string("changed")
    provision_buckets(config, client)  # idempotent: what exists is left as it is
    assert bucket.blob("in/seed.ndjson").download_as_bytes() == b'{"a": 1}\n'
    assert bucket.blob("note.txt").download_as_bytes() == b"changed"


def test_the_old_emulators_command_still_works_and_says_it_moved(tmp_path):
    """``python -m emulators ...`` is a deprecated alias of ``python -m harness ...``."""
    result = subprocess.run(
        [sys.executable, "-m", "emulators", "--state-dir", str(tmp_path), "status"],
        capture_output=True, text=True, timeout=60,
    )
    assert "`python -m emulators` is now `python -m harness`" in result.stderr
    assert result.returncode == 2 and "no stack is up" in result.stderr
