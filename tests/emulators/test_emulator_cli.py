"""The emulators' command lines: ``--help`` gives every option a description and its default;
a mistake in a flag is one sentence and exit code 2, before anything listens."""

import re

import pytest

from tests.support.cli import one_sentence, run

MODULES = ("emulators.pubsub", "emulators.bigquery")


@pytest.mark.parametrize("module", MODULES)
def test_help_describes_every_option_with_its_default(module):
    done = run(module, "--help", timeout=60)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    options = re.findall(r"^  (--[\w-]+)", text, re.M)
    assert {"--host", "--port", "--data-dir", "--log-level", "--log-format"} <= set(options)
    # Each option's help, joined over its wrapped lines, says what it does.
    blocks = re.split(r"\n  (?=-)", text.split("options:", 1)[1])
    for block in blocks[1:]:
        words = " ".join(block.split())
        assert len(words.split()) >= 4, f"no description: {block!r}"
    flat = " ".join(text.split())
    port = "8085" if module.endswith("pubsub") else "9050"
    for default in (f"(default: {port})", "(default: 127.0.0.1)", "(default: WARNING)",
                    "(default: text)"):
        assert default in flat, default


@pytest.mark.parametrize("module, args, says", [
    ("emulators.pubsub", ["--port", "99999"], "99999 is not a port"),
    ("emulators.pubsub", ["--port", "http"], "'http' is not a port number"),
    ("emulators.pubsub", ["--log-level", "LOUD"], "'LOUD' is not a log level"),
    ("emulators.pubsub", ["--bigquery-endpoint", "localhost"], "not an http:// or https:// URL"),
    ("emulators.pubsub", ["--fsync", "sometimes"], "invalid choice: 'sometimes'"),
    ("emulators.bigquery", ["--porr", "1"], "unrecognized arguments: --porr"),
    ("emulators.bigquery", ["--insert-id-window", "-1"], "must be zero or more seconds"),
    ("emulators.bigquery", ["--log-level", "verbose"], "'verbose' is not a log level"),
])
def test_flag_mistakes_are_one_sentence_with_exit_2(module, args, says):
    done = run(module, *args, timeout=60)
    assert done.returncode == 2, done.stderr
    line = one_sentence(done)
    assert says in line and line.endswith(f"(python -m {module} --help)"), line
    assert "usage:" not in done.stderr and "listening" not in done.stdout


@pytest.mark.parametrize("module", MODULES)
def test_a_data_dir_that_cannot_be_made_is_one_sentence(module, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = run(module, "--port", "0", "--data-dir", str(blocker / "data"), timeout=60)
    assert done.returncode == 2, done.stderr
    assert "argument --data-dir:" in one_sentence(done)
