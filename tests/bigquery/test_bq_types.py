"""Unit tests of the BigQuery <-> DuckDB type mapping and value encoding (no server)."""

from __future__ import annotations

import datetime as dt
import decimal

import duckdb
import pytest

from emulators.bigquery.types import (
    TS_FLOAT,
    TS_INT64,
    ConversionError,
    bq_to_duckdb_type,
    duckdb_to_bq_field,
    normalize_schema,
    parse_timestamp,
    row_encoder,
    scalar_parser,
)


def test_bq_to_duckdb_type_nested():
    field = {
        "name": "r",
        "type": "STRUCT",
        "mode": "REPEATED",
        "fields": [
            {"name": "a", "type": "INT64"},
            {"name": "b", "type": "NUMERIC", "mode": "REPEATED"},
            {"name": "c", "type": "TIMESTAMP"},
        ],
    }
    assert bq_to_duckdb_type(field) == 'STRUCT("a" BIGINT, "b" DECIMAL(38,9)[], "c" TIMESTAMPTZ)[]'
    assert bq_to_duckdb_type({"name": "g", "type": "GEOGRAPHY"}) == "VARCHAR"
    assert bq_to_duckdb_type({"name": "d", "type": "DATETIME"}) == "TIMESTAMP"
    assert bq_to_duckdb_type({"name": "j", "type": "JSON"}) == "JSON"


@pytest.mark.parametrize(
    ("duck", "bq"),
    [
        ("BIGINT", "INTEGER"),
        ("HUGEINT", "INTEGER"),
        ("INTEGER", "INTEGER"),
        ("DOUBLE", "FLOAT"),
        ("DECIMAL(38,9)", "NUMERIC"),
        ("DECIMAL(38,18)", "BIGNUMERIC"),
        ("VARCHAR", "STRING"),
        ("BLOB", "BYTES"),
        ("BOOLEAN", "BOOLEAN"),
        ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP"),
        ("TIMESTAMP", "DATETIME"),
        ("DATE", "DATE"),
        ("TIME", "TIME"),
        ("JSON", "JSON"),
    ],
)
def test_duckdb_to_bq_scalars(duck, bq):
    assert duckdb_to_bq_field("x", duck) == {"name": "x", "type": bq, "mode": "NULLABLE"}


def test_duckdb_to_bq_nested():
    field = duckdb_to_bq_field("s", "STRUCT(a INTEGER, b VARCHAR[])[]")
    assert field == {
        "name": "s",
        "type": "RECORD",
        "mode": "REPEATED",
        "fields": [
            {"name": "a", "type": "INTEGER", "mode": "NULLABLE"},
            {"name": "b", "type": "STRING", "mode": "REPEATED"},
        ],
    }


def test_schema_normalization_and_errors():
    schema = normalize_schema([{"name": "a", "type": "int64"}, {"name": "b", "type": "BOOL"}])
    assert [(f["type"], f["mode"]) for f in schema] == [
        ("INTEGER", "NULLABLE"),
        ("BOOLEAN", "NULLABLE"),
    ]
    with pytest.raises(ValueError):
        normalize_schema([{"name": "a b", "type": "STRING"}])
    with pytest.raises(ValueError):
        normalize_schema([{"name": "r", "type": "RECORD"}])


def test_timestamp_inputs():
    utc = dt.timezone.utc
    expected = dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=utc)
    for text in (
        "2024-01-02T03:04:05.123456Z",
        "2024-01-02 03:04:05.123456 UTC",
        "2024-01-02 03:04:05.123456789+00:00",
        "2024/01/02 03:04:05.123456",
        "2024-01-02T05:04:05.123456+02:00",
    ):
        assert parse_timestamp(text) == expected, text
    assert parse_timestamp(0) == dt.datetime(1970, 1, 1, tzinfo=utc)
    with pytest.raises(ConversionError):
        parse_timestamp("tomorrow")


def test_scalar_parsers_reject_bad_values():
    with pytest.raises(ConversionError):
        scalar_parser("INTEGER")(2**63)
    with pytest.raises(ConversionError):
        scalar_parser("INTEGER")("1.5")
    assert scalar_parser("INTEGER")("12") == 12
    assert scalar_parser("NUMERIC")("1.0000000005") == decimal.Decimal("1.000000001")
    with pytest.raises(ConversionError):
        scalar_parser("NUMERIC")("1e40")
    assert scalar_parser("BOOLEAN")("TRUE") is True
    with pytest.raises(ConversionError):
        scalar_parser("BYTES")("***")
    with pytest.raises(ConversionError):
        scalar_parser("JSON")("{oops")


def test_row_encoding_round_trip_through_duckdb():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    row = con.execute(
        "SELECT TIMESTAMPTZ '2024-01-01 00:00:01.5+00' AS ts, 1.5::DOUBLE AS f, "
        "'a'::BLOB AS b, [1, 2] AS l, {'x': NULL, 'y': 'z'} AS s, NULL::BIGINT[] AS e, "
        "'NaN'::DOUBLE AS nan"
    ).fetchone()
    schema = [
        {"name": "ts", "type": "TIMESTAMP"},
        {"name": "f", "type": "FLOAT"},
        {"name": "b", "type": "BYTES"},
        {"name": "l", "type": "INTEGER", "mode": "REPEATED"},
        {
            "name": "s",
            "type": "RECORD",
            "fields": [{"name": "x", "type": "STRING"}, {"name": "y", "type": "STRING"}],
        },
        {"name": "e", "type": "INTEGER", "mode": "REPEATED"},
        {"name": "nan", "type": "FLOAT"},
    ]
    assert row_encoder(schema, TS_INT64)(row) == {
        "f": [
            {"v": "1704067201500000"},
            {"v": "1.5"},
            {"v": "YQ=="},
            {"v": [{"v": "1"}, {"v": "2"}]},
            {"v": {"f": [{"v": None}, {"v": "z"}]}},
            {"v": []},
            {"v": "NaN"},
        ]
    }
    assert row_encoder(schema[:1], TS_FLOAT)(row[:1]) == {"f": [{"v": "1704067201.500000"}]}


def test_duckdb_builtin_extensions_work_offline():
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": True}
    )
    assert con.execute("SELECT json('{}')").fetchone() == ("{}",)
    con.execute("SET TimeZone = 'UTC'")  # icu
    assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)


def test_insert_id_cache_window_and_bound():
    from emulators.bigquery.insert import InsertIdCache

    now = [1000.0]
    cache = InsertIdCache(60, clock=lambda: now[0], max_entries=3)
    assert cache.filter_new("t", ["a", "b", None, "a"]) == [0, 1, 2]
    cache.remember("t", ["a", "b"])
    assert cache.filter_new("t", ["a", "c"]) == [1]
    assert cache.filter_new("other", ["a"]) == [0]
    cache.remember("t", ["c", "d"])  # over the bound: "a" (oldest) is forgotten
    assert cache.filter_new("t", ["a", "b", "d"]) == [0]
    now[0] += 61
    assert cache.filter_new("t", ["b", "c", "d"]) == [0, 1, 2]
    cache.remember("t", ["x"])
    cache.forget_table("t")
    assert cache.filter_new("t", ["x"]) == [0]


def test_range_type_mapping_and_encoding():
    field = {"name": "p", "type": "RANGE", "rangeElementType": {"type": "DATE"}}
    duck = bq_to_duckdb_type(field)
    assert duck == 'STRUCT("$range_start" DATE, "$range_end" DATE)'
    assert duckdb_to_bq_field("p", duck) == {"name": "p", "type": "RANGE", "mode": "NULLABLE",
                                             "rangeElementType": {"type": "DATE"}}  # fmt: skip
    # a STRUCT a user can write (names without '$') stays a RECORD
    assert duckdb_to_bq_field("s", 'STRUCT("start" DATE, "end" DATE)')["type"] == "RECORD"
    encode = row_encoder([field, {**field, "name": "t", "rangeElementType": {"type": "TIMESTAMP"}}])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    row = ({"$range_start": dt.date(2024, 1, 1), "$range_end": None},
           {"$range_start": start, "$range_end": None})  # fmt: skip
    assert encode(row) == {"f": [{"v": "[2024-01-01, UNBOUNDED)"},
                                 {"v": "[1704067200000000, UNBOUNDED)"}]}  # fmt: skip
    with pytest.raises(ValueError, match="rangeElementType"):
        normalize_schema([{"name": "p", "type": "RANGE"}])
    with pytest.raises(ValueError, match="rangeElementType"):
        normalize_schema([{"name": "p", "type": "RANGE", "rangeElementType": {"type": "TIME"}}])
