"""gcs.parse_uri, the one gate every gs:// URI from a client goes through: hostile input is
refused with BigQuery's `invalid` error or comes out as exactly the URI it was."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulators.bigquery.errors import Invalid
from emulators.bigquery.gcs import GcsUri, parse_uri, parse_uris, valid_bucket_name

BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9._-]{1,70}[a-z0-9]", fullmatch=True)


def _refused_or_round_trips(text: str) -> None:
    try:
        uri = parse_uri(text)
    except Invalid as exc:
        assert exc.reason == "invalid"
        return
    assert str(uri) == text and valid_bucket_name(uri.bucket)
    assert not any(ord(c) < 32 or ord(c) == 127 for c in uri.name)
    assert ".." not in uri.name.split("/") and uri.name.count("*") <= 1


@given(st.text(max_size=300))
def test_any_text_is_refused_or_round_trips(text):
    _refused_or_round_trips(text)


@given(BUCKETS, st.text(min_size=1, max_size=100))
def test_gs_prefixed_text_is_refused_or_round_trips(bucket, name):
    _refused_or_round_trips(f"gs://{bucket}/{name}")


@pytest.mark.parametrize(("bucket", "ok"), [
    ("abc", True), ("a-b_c.d", True), ("ab", False), ("Abc", False), ("-abc", False),
    ("abc-", False), ("a" * 63, True), ("a" * 64, False), (("a" * 63 + ".") * 3 + "a", True),
    ("goog-x", False), ("my-google-bucket", False), ("10.0.0.1", False), ("a..b", False),
])
def test_bucket_rules(bucket, ok):
    assert valid_bucket_name(bucket) is ok


def test_wildcards_match_any_characters_including_slashes():
    uri = parse_uri("gs://bkt/in/*.json")
    assert uri.prefix == "in/" and uri.matches("in/a/b.json") and not uri.matches("in/a.csv")
    assert uri.shard(7) == GcsUri("bkt", "in/000000000007.json")
    with pytest.raises(Invalid, match="no '\\*' wildcard"):
        parse_uri("gs://bkt/a*b", wildcard=False)
    with pytest.raises(Invalid, match="At least one"):
        parse_uris([])
    with pytest.raises(Invalid, match="Too many"):
        parse_uris(["gs://bkt/x"] * 10_001)
