"""Issue 14, finding 6: every mistake with the harness gets one sentence, exit code 2, and leaves
nothing running."""

import os
import socket
import stat
import time
from pathlib import Path

import pytest

from tests.support.cli import harness, one_sentence, processes_mentioning

pytestmark = pytest.mark.integration

GOOD = """\
project = "team-project"

[[topics]]
name = "orders"

[[subscriptions]]
name = "orders-pipeline"
topic = "orders"
ack_deadline_seconds = 30

[[datasets]]
name = "shop"

[[tables]]
dataset = "shop"
name = "orders"
schema = [{ name = "id", type = "INTEGER" }]

[[buckets]]
name = "{project}-uploads"
"""


def _project(tmp_path: Path, text: str = GOOD) -> Path:
    (tmp_path / "harness.toml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("topic = \"orders\"", "topik = \"orders\""),
         "harness.toml:8: unknown key 'topik' in [[subscriptions]] #1 (orders-pipeline); "
         "did you mean 'topic'?"),
        (("ack_deadline_seconds = 30", "ack_deadline_seconds = \"30\""),
         "harness.toml:9: 'ack_deadline_seconds' in [[subscriptions]] #1 (orders-pipeline) must "
         "be an integer"),
        (("ack_deadline_seconds = 30", "ack_deadline_seconds = 3"),
         "harness.toml:9: 'ack_deadline_seconds' in [[subscriptions]] #1 (orders-pipeline) must "
         "be between 10 and 600, not 3"),
        (("topic = \"orders\"", "topic = \"order\""),
         "harness.toml:8: 'topic' of [[subscriptions]] #1 (orders-pipeline) names topic 'order', "
         "which no [[topics]] entry defines"),
        (("dataset = \"shop\"", "dataset = \"shops\""),
         "harness.toml:15: 'dataset' of [[tables]] #1 (orders) names 'shops'"),
        (("name = \"orders\"\n\n[[sub", "name = \n\n[[sub"), "harness.toml:4: not valid TOML"),
        (("project = \"team-project\"", "project = \"Team Project\""),
         "harness.toml:1: project 'Team Project' is not a valid project id"),
        (("[[datasets]]", "[[dataset]]"), "harness.toml:11: unknown key 'dataset' at the top level"),
        (("name = \"{project}-uploads\"", "name = \"{project}_Uploads\""),
         "harness.toml:20: '{project}_Uploads' in [[buckets]] #1 ({project}_Uploads) is not a "
         "valid bucket name"),
        (("name = \"{project}-uploads\"", "name = \"{project}-uploads\"\nlocaton = \"EU\""),
         "harness.toml:21: unknown key 'locaton' in [[buckets]] #1 ({project}-uploads); did you "
         "mean 'location'?"),
    ],
)
def test_a_bad_harness_file_is_one_sentence_with_file_line_and_key(tmp_path, change, expected):
    old, new = change
    assert old in GOOD
    project = _project(tmp_path, GOOD.replace(old, new, 1))
    result = harness("up", cwd=project)
    assert result.returncode == 2
    line = one_sentence(result)
    assert f"{project}/{expected}" in line, line
    assert not (project / ".harness" / "state.json").exists()
    assert not (project / ".harness" / "logs").exists()  # nothing was started


def test_missing_config_and_bad_seed_files_say_so_before_anything_starts(tmp_path):
    result = harness("up", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert result.returncode == 2
    assert one_sentence(result) == f"error: {tmp_path / 'nope.toml'}: no such harness file"
    (tmp_path / "rows.yaml").write_text("projects: [\n")
    result = harness("up", "--seed", "rows.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "rows.yaml: not valid YAML" in one_sentence(result)
    (tmp_path / "rows.ndjson").write_text("{}\n")
    result = harness("up", "--seed", "rows.ndjson", cwd=tmp_path)
    assert "must be named DATASET.TABLE.ndjson" in one_sentence(result)
    assert not (tmp_path / ".harness" / "logs").exists()


def test_a_failure_after_the_start_leaves_nothing_running(tmp_path):
    """A seed row BigQuery rejects fails `up` after both emulators started: they are stopped,
    no state is left, and the next `up` starts cleanly."""
    project = _project(tmp_path)
    (project / "shop.orders.ndjson").write_text('{"id": "not a number"}\n')
    data_dir = tmp_path / "data"
    result = harness("up", "--seed", "shop.orders.ndjson", "--data-dir", str(data_dir),
                     cwd=project)
    assert result.returncode == 2, result.stderr
    line = one_sentence(result)
    assert "shop.orders.ndjson: row 1 for team-project.shop.orders was rejected" in line
    assert (project / ".harness" / "logs" / "pubsub.log").exists()  # it had started
    deadline = time.monotonic() + 10
    while processes_mentioning(str(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(str(data_dir)) == []
    assert not (project / ".harness" / "state.json").exists()
    again = harness("up", cwd=project)
    try:
        assert again.returncode == 0, again.stderr
    finally:
        harness("down", cwd=project)


def test_a_taken_port_that_was_asked_for_is_one_sentence(tmp_path):
    data_dir = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = harness("up", "--pubsub-port", str(port), state_dir=tmp_path / "s")
        assert result.returncode == 2
        assert one_sentence(result) == (
            f"error: port {port} on 127.0.0.1 is taken, so the pubsub emulator cannot listen "
            "there; pass --pubsub-port with another port (0 for any free one)"
        )
        # From the harness file: the BigQuery emulator starts first, and is stopped again.
        project = _project(tmp_path, GOOD + f"\n[emulators]\npubsub_port = {port}\n")
        result = harness("up", "--data-dir", str(data_dir), cwd=project,
                         env={"STREAMBENCH_PUBSUB_PORT": ""})
        assert result.returncode == 2
        assert f"port {port} on 127.0.0.1 is taken, so the pubsub emulator" in \
            one_sentence(result)
    assert (project / ".harness" / "logs" / "bigquery.log").exists()
    assert processes_mentioning(str(data_dir)) == []
    assert not (project / ".harness" / "state.json").exists()


def test_a_default_port_that_is_taken_falls_back_to_a_free_one_with_a_note(tmp_path):
    from harness.stack import Stack

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with Stack(pubsub_port=port, free_port_fallback=("pubsub",)) as stack:
            assert not stack.endpoints.pubsub.endswith(f":{port}")
            assert stack.notes == [
                f"port {port} is taken, so the pubsub emulator listens on a free port instead "
                "(--pubsub-port chooses one)"
            ]


def test_a_state_dir_that_does_not_exist_is_made(tmp_path):
    state_dir = tmp_path / "does" / "not" / "exist"
    up = harness("up", "--no-provision", state_dir=state_dir)
    try:
        assert up.returncode == 0, up.stderr
        assert (state_dir / "state.json").exists()
    finally:
        assert harness("down", state_dir=state_dir).returncode == 0
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        result = harness("up", state_dir=locked / "state")
        assert result.returncode == 2
        assert f"--state-dir {locked / 'state'} cannot be created" in one_sentence(result)
    finally:
        locked.chmod(stat.S_IRWXU)


def _fake_docker(tmp_path: Path) -> dict:
    """A `docker` whose engine answers but which has no compose plugin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = info ]; then echo "Server Version: 27.0"; exit 0; fi\n'
        'if [ "$1" = compose ]; then echo "docker: \'compose\' is not a docker command." >&2; '
        "exit 1; fi\nexit 1\n"
    )
    docker.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_docker_without_the_compose_plugin_is_one_sentence(tmp_path):
    result = harness("up", "--backend", "docker", state_dir=tmp_path, env=_fake_docker(tmp_path))
    assert result.returncode == 2
    line = one_sentence(result)
    assert "`docker compose ...` failed with exit code 1: is the Docker Compose plugin installed" \
        in line
    assert not (tmp_path / "state.json").exists()


def test_testcontainers_without_the_extra_is_one_sentence(tmp_path):
    hide = tmp_path / "hide" / "testcontainers"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'testcontainers.core'\", "
        "name='testcontainers.core')\n"
    )
    env = _fake_docker(tmp_path)
    env["PYTHONPATH"] = f"{hide.parent}{os.pathsep}{Path(__file__).resolve().parents[2]}"
    result = harness("up", "--backend", "testcontainers", state_dir=tmp_path / "s", env=env)
    assert result.returncode == 2
    assert one_sentence(result) == (
        "error: the testcontainers backend needs the testcontainers package: "
        "pip install 'streambench[containers]' (or use --backend embedded)"
    )


def test_down_with_nothing_up_says_so_and_succeeds(tmp_path):
    for command in ("down", "stop"):
        result = harness(command, state_dir=tmp_path)
        assert result.returncode == 0
        assert result.stderr == f"nothing to stop: no stack is up (no {tmp_path}/state.json)\n"
