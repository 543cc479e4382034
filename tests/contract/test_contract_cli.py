"""``python -m contract_tests verify`` as producers run it: a real subprocess, real exit codes."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from contract_tests.__main__ import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "contract_tests" / "examples"
GOOD = EXAMPLES / "good"
BAD = EXAMPLES / "bad"

EVENT = {
    "event_id": "e-1",
    "timestamp": "2024-05-06T07:08:09Z",
    "data": {"n": 1},
    "metadata": {"source": "cli-test", "version": "1.0"},
}


def run(*args, stdin: bytes | None = None):
    return subprocess.run(
        [sys.executable, "-m", "contract_tests", *map(str, args)],
        input=stdin, capture_output=True, cwd=ROOT, timeout=120,
    )


def verify_json(*args, stdin=None):
    proc = run("verify", "--format", "json", *args, stdin=stdin)
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture
def cli(capsys):
    """The same CLI in this process, for option details (one Beam import for all of them)."""

    def call(*args):
        code = main(["verify", *map(str, args)])
        return code, capsys.readouterr().out

    return call


def test_good_directory_passes_with_rows():
    code, body = verify_json(GOOD)
    assert code == 0, body
    assert body["summary"]["samples"] == len(list(GOOD.glob("*.json")))
    for item in body["results"]:
        assert item["status"] == "accepted" and item["passed"]
        assert item["row"]["event_id"] == item["event_id"]
        assert item["row"]["reference_found"] is False


def test_text_report_of_a_good_file(cli):
    code, text = cli(GOOD / "iot-sensor-reading.json")
    assert code == 0, text
    assert "PASS" in text and "sensor-th-0042:1714979289" in text
    assert '"event_timestamp": "2024-05-06T07:08:09.123456Z"' in text  # nanoseconds truncated
    assert "1 sample(s): 1 accepted, 0 rejected, 0 failed - OK" in text


def test_bad_samples_fail_without_expect_reject():
    code, body = verify_json(BAD / "extra-field.json")
    assert code == 1
    (item,) = body["results"]
    assert item["status"] == "rejected" and not item["passed"]
    assert item["error"]["error_type"] == "schema_violation"
    assert item["error"]["path"] == "$"
    assert "'user_id' was unexpected" in item["error"]["reason"]


def test_bad_directory_passes_with_expect_reject():
    code, body = verify_json("--expect-reject", BAD)
    assert code == 0, [r for r in body["results"] if not r["passed"]]
    assert body["summary"]["rejected"] == body["summary"]["samples"] >= 17


def test_expect_reject_fails_when_a_sample_is_accepted(tmp_path, cli):
    (tmp_path / "wrongly-bad.json").write_text(json.dumps(EVENT))
    code, out = cli("--format", "json", "--expect-reject", tmp_path)
    body = json.loads(out)
    assert code == 1
    assert "accepted" in body["results"][0]["problem"]


def test_expect_reject_fails_for_the_wrong_reason(tmp_path, cli):
    wrapper = {"_expect": {"error_type": "invalid_timestamp", "path": "$.timestamp"},
               "message": {**EVENT, "event_id": ""}}
    (tmp_path / "wrong-reason.json").write_text(json.dumps(wrapper))
    code, out = cli("--format", "json", "--expect-reject", tmp_path / "wrong-reason.json")
    body = json.loads(out)
    assert code == 1
    problem = body["results"][0]["problem"]
    assert "'schema_violation' (expected 'invalid_timestamp')" in problem
    assert "'$.event_id' (expected '$.timestamp')" in problem


def test_mixed_ndjson_reports_each_line(tmp_path):
    lines = [json.dumps(EVENT), "not json", json.dumps({**EVENT, "timestamp": "yesterday"})]
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(lines) + "\n\n")
    code, body = verify_json(path)
    assert code == 1
    assert [r["sample"] for r in body["results"]] == [f"{path}:1", f"{path}:2", f"{path}:3"]
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "rejected"]
    assert body["results"][1]["error"]["error_type"] == "malformed_json"
    assert body["results"][2]["error"]["error_type"] == "invalid_timestamp"
    assert body["results"][2]["error"]["path"] == "$.timestamp"


def test_stdin_ndjson_with_attributes():
    payload = (json.dumps(EVENT) + "\n" + json.dumps({**EVENT, "event_id": "e-2"}) + "\n").encode()
    code, body = verify_json("--attributes", "team=growth,env=ci", "--attributes", "x=1", "-",
                             stdin=payload)
    assert code == 0
    assert [r["sample"] for r in body["results"]] == ["<stdin>:1", "<stdin>:2"]
    attributes = json.loads(body["results"][0]["row"]["attributes"])
    assert attributes == {"team": "growth", "env": "ci", "x": "1"}


def test_reference_file_enriches_rows_like_production(tmp_path, cli):
    reference = tmp_path / "sources.csv"
    reference.write_text("source,team\ncli-test,growth\n")
    (tmp_path / "event.json").write_text(json.dumps(EVENT))
    code, out = cli("--format", "json", "--reference-file", reference, tmp_path / "event.json")
    body = json.loads(out)
    assert code == 0
    row = body["results"][0]["row"]
    assert row["reference_found"] is True
    assert json.loads(row["reference"]) == {"source": "cli-test", "team": "growth"}


def test_unusable_reference_file_is_a_usage_error(tmp_path, capsys):
    reference = tmp_path / "sources.csv"
    reference.write_text("team\ngrowth\n")  # no source column
    assert main(["verify", "--reference-file", str(reference), str(GOOD)]) == 2
    assert "not a usable reference file" in capsys.readouterr().err


def test_quiet_text_shows_only_failures(tmp_path, cli):
    path = tmp_path / "two.ndjson"
    path.write_text(json.dumps(EVENT) + "\n{\n")
    code, out = cli("--quiet", path)
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith(f"FAIL  {path}:2: rejected: malformed_json at $")
    assert lines[-1] == "2 sample(s): 1 accepted, 1 rejected, 1 failed - FAILED"
    assert not any(line.startswith("PASS") for line in lines)


def test_oversize_payload_is_rejected(tmp_path, cli):
    big = {**EVENT, "data": {"blob": "x" * 2000}}
    (tmp_path / "big.json").write_text(json.dumps(big))
    code, out = cli("--format", "json", "--max-event-bytes", "1000", tmp_path / "big.json")
    body = json.loads(out)
    assert code == 1
    error = body["results"][0]["error"]
    assert (error["error_type"], error["path"]) == ("oversize_payload", "$")


def test_junit_output_file(tmp_path):
    out = tmp_path / "contract.xml"
    proc = run("verify", "--format", "junit", "--output", out, GOOD, BAD / "not-json.json")
    assert proc.returncode == 1
    assert b"1 failed - FAILED" in proc.stdout  # a short summary still goes to the log
    suite = ET.parse(out).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == len(list(GOOD.glob("*.json"))) + 1
    assert suite.get("failures") == "1"
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == [str(BAD / "not-json.json")]
    assert failed[0].find("failure").get("type") == "malformed_json"


def test_junit_to_stdout_for_expected_rejections():
    proc = run("verify", "--format", "junit", "--expect-reject", BAD / "batch.ndjson")
    assert proc.returncode == 0
    root = ET.fromstring(proc.stdout)
    cases = root.iter("testcase")
    assert [(c.get("line"), c.find("failure")) for c in cases] == [("1", None), ("2", None)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["verify", "does/not/exist.json"], b"no such file"),
        (["verify", "--attributes", "novalue", str(GOOD)], b"key=value"),
        (["verify", "--e2e", str(GOOD)], b"--e2e needs --project"),
        (["verify", str(ROOT / "pyproject.toml")], b"not a sample file"),
        (["verify"], b"usage"),
        (["compat", "9.9"], b"neither a file nor a published version"),
    ],
)
def test_usage_errors_exit_2(args, message):
    proc = run(*args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_bad_expect_wrapper_is_a_usage_error(tmp_path):
    (tmp_path / "w.json").write_text(json.dumps({"_expect": {"error_type": "nope"}, "raw": "x"}))
    proc = run("verify", tmp_path / "w.json")
    assert proc.returncode == 2
    assert b"unknown error_type 'nope'" in proc.stderr


def test_every_violation_of_a_message_is_listed(tmp_path):
    """Issue 14, finding 5: not only the first."""
    bad = {"event_id": "", "timestamp": "2024-05-06T07:08:09Z", "data": {"n": [1]},
           "metadata": {"version": "1.0"}, "extra": 1}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    code, body = verify_json("--engine", "functions", path)
    assert code == 1
    violations = body["results"][0]["error"]["violations"]
    assert violations[0] == {"path": "$",
                             "reason": "Additional properties are not allowed ('extra' was "
                                       "unexpected)"}
    paths = [v["path"] for v in violations]
    assert {"$.data.n", "$.event_id", "$.metadata"} <= set(paths)
    text = run("verify", "--engine", "functions", path).stdout.decode()
    assert f"and {len(violations) - 1} more violations" in text
    assert "      also: $.metadata: 'source' is a required property" in text


def test_files_skipped_in_a_directory_are_named(tmp_path):
    (tmp_path / "order.json").write_text(json.dumps(EVENT))
    (tmp_path / "notes.txt").write_text("not a sample")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "events.csv").write_text("a,b\n")
    proc = run("verify", "--engine", "functions", tmp_path)
    assert proc.returncode == 0
    assert proc.stderr.decode().splitlines() == [
        f"note: skipped {tmp_path / 'notes.txt'} (not .json, .ndjson, .jsonl)",
        f"note: skipped {tmp_path / 'sub' / 'events.csv'} (not .json, .ndjson, .jsonl)",
    ]
