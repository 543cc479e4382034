"""FARM_FINGERPRINT is FarmHash Fingerprint64: ours (written from the algorithm's description)
against the pyfarmhash bindings of Google's C++ code, on every input length path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.bigquery.sql.farmhash import fingerprint64
from emulators.bigquery.sql.udfs import farm_fingerprint

farmhash = pytest.importorskip("farmhash")  # pyfarmhash, a dev dependency


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_fingerprint64_matches_farmhash(data):
    assert fingerprint64(data) == farmhash.fingerprint64(data)


@pytest.mark.parametrize("length", [0, 1, 3, 4, 8, 16, 17, 32, 33, 64, 65, 128, 1000, 4096])
def test_every_length_branch(length):
    data = bytes((i * 31 + 7) % 256 for i in range(length))
    assert fingerprint64(data) == farmhash.fingerprint64(data)


def test_bigquery_documented_values():
    # FARM_FINGERPRINT(CONCAT(CAST(x AS STRING), y, CAST(z AS STRING))) in BigQuery's reference
    assert farm_fingerprint("1footrue") == -1541654101129638711
    assert farm_fingerprint("2applefalse") == 2794438866806483259
    assert farm_fingerprint("3true") == -4880158226897771312
