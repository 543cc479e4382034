"""bench/run_all.py and bench/pipeline_bench.py: the report pieces, without running a benchmark."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run_all():
    return load("run_all")


def test_the_markdown_a_benchmark_printed_is_kept_and_its_chatter_dropped(run_all):
    stdout = "starting ...\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n- peer x: skipped\nwritten to f\n"
    assert run_all.table_of(stdout) == "| a | b |\n| --- | --- |\n| 1 | 2 |\n\n- peer x: skipped"
    assert run_all.table_of("no table here\n") == ""


def test_readme_changes_only_between_the_markers(run_all, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- bench:start -->\nold\n<!-- bench:end -->\nafter\n")
    assert run_all.update_readme(readme, "| new |\n")
    assert readme.read_text() == "# x\n<!-- bench:start -->\n| new |\n<!-- bench:end -->\nafter\n"
    assert run_all.update_readme(readme, "| newer |\n")
    assert "| new |" not in readme.read_text() and "| newer |" in readme.read_text()


def test_a_readme_without_markers_is_left_alone(run_all, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n")
    assert not run_all.update_readme(readme, "| new |\n")
    assert readme.read_text() == "# x\n"


def test_the_drain_rate_ignores_start_up_and_tail():
    bench = load("pipeline_bench")
    # 5 s of start-up, then 100 rows/s, then a slow tail.
    series = [(0.0, 0), (5.0, 0)] + [(5.0 + t, 100 * t) for t in range(1, 11)] + [(30.0, 1010)]
    rate = bench._drain_rate(series, backlog=1010)
    assert rate["events_per_s"] == pytest.approx(100, rel=0.01)
    assert rate["first_row_after_s"] == 6.0
    assert rate["landed"] == 1010
