"""Reference data files in the three accepted formats."""

import pytest

from pipeline.reference import keyed, parse_reference_file, read_reference_file


@pytest.mark.parametrize(
    "name, text",
    [
        ("ref.json", '[{"source": "web", "team": "growth"}]'),
        ("ref.ndjson", '{"source": "web", "team": "growth"}\n\n'),
        ("ref.csv", "source,team\nweb,growth\n"),
    ],
)
def test_formats(name, text):
    assert keyed(parse_reference_file(name, text)) == [("web", {"source": "web", "team": "growth"})]


def test_row_without_source_is_an_error():
    with pytest.raises(ValueError, match="source"):
        keyed([{"team": "x"}])


def test_reads_local_files(tmp_path):
    path = tmp_path / "ref.ndjson"
    path.write_text('{"source": "a"}\n{"source": "b"}\n')
    assert [k for k, _ in keyed(read_reference_file(str(path)))] == ["a", "b"]
