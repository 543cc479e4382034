"""CAST ... FORMAT's Python halves (format_udfs.py) on the examples of BigQuery's format elements
page: numbers to STRING (fixed width, as BigQuery prints them) and STRING to dates and times."""

from __future__ import annotations

import datetime as dt

import pytest

from emulators.bigquery.sql import translate
from emulators.bigquery.sql.errors import SqlError
from emulators.bigquery.sql.format_udfs import format_number, parse_with_format


@pytest.mark.parametrize(
    "number, fmt, text",
    [
        ("12", "000", " 012"),
        ("-12", "000.000", "-012.000"),
        ("12", "999", "  12"),
        ("43981", "XXXX", " ABCD"),
        ("43981", "0X0x", " ABcd"),
        ("43981", "0000000X", " 0000ABCD"),
        ("123.58", "999D999", " 123.580"),
        ("-12", "S9999", "  -12"),
        ("-12", "9999S", "  12-"),
        ("12", "9999MI", "  12 "),
        ("-12", "9999PR", "  <12>"),
        ("12", "9999PR", "   12 "),
        ("-12", "$999", " -$12"),
        ("-12", "C999", " -USD12"),
        ("-12", "c999", " -usd12"),
        ("12345", "999G999", "  12,345"),
        ("0.23", "B99.999S", "       "),
        ("1.23", "B99.999S", " 1.230+"),
        ("12.5", "999999.000FM", "12.5"),
        ("2021", "RN", "          MMXXI"),
        ("23.5", "S000V00", "+02350"),
        ("1234567.89", "$999,999.999", " $###,###.###"),
        ("-12345.678", "$999,999.999", " -$12,345.678"),
        ("2.5", "9", " 3"),  # half away from zero
    ],
)
def test_numbers_to_string(number, fmt, text):
    assert format_number(number, fmt) == text


@pytest.mark.parametrize(
    "text, fmt, target, value",
    [
        ("03:30 P.M.", "HH:MI A.M.", "TIME", dt.datetime(1970, 1, 1, 15, 30)),
        ("03:30 a.m.", "HH:MI P.M.", "TIME", dt.datetime(1970, 1, 1, 3, 30)),
        ("01:05:07.16", "HH24:MI:SS.FF1", "TIME", dt.datetime(1970, 1, 1, 1, 5, 7, 200000)),
        ("03723", "SSSSS", "TIME", dt.datetime(1970, 1, 1, 1, 2, 3)),
        ("2008-12-25 05:30:00-08", "YYYY-MM-DD HH24:MI:SSTZH", "TIMESTAMP",
         dt.datetime(2008, 12, 25, 13, 30)),
        ("2008-12-25 05:30:00+05:30", "YYYY-MM-DD HH24:MI:SSTZH:TZM", "TIMESTAMP",
         dt.datetime(2008, 12, 25, 0, 0)),
        ("DEC 03, 2018", "MON DD, YYYY", "DATE", dt.datetime(2018, 12, 3)),
        ("2018-032", "YYYY-DDD", "DATE", dt.datetime(2018, 2, 1)),
    ],
)  # fmt: skip
def test_string_to_dates_and_times(text, fmt, target, value):
    assert parse_with_format(text, fmt, target, "UTC") == value


def test_parse_in_a_time_zone_and_refusals():
    assert parse_with_format("2020-01-01 00:00", "YYYY-MM-DD HH24:MI", "TIMESTAMP",
                             "Asia/Kolkata") == dt.datetime(2019, 12, 31, 18, 30)  # fmt: skip
    with pytest.raises(ValueError, match="time zone"):
        parse_with_format("2020-01-01", "YYYY-MM-DD", "TIMESTAMP", "../../etc/passwd")
    with pytest.raises(ValueError, match="Mismatch"):
        parse_with_format("2020/01/01", "YYYY-MM-DD", "DATE", "UTC")
    with pytest.raises(ValueError, match="trailing"):
        parse_with_format("2020-01-01x", "YYYY-MM-DD", "DATE", "UTC")


@pytest.mark.parametrize(
    "sql, message",
    [
        ("SELECT CAST(12 AS STRING FORMAT '99a')", "Invalid format element 'a'"),
        ("SELECT CAST(12 AS STRING FORMAT 'X.X')", "'X'"),
        ("SELECT CAST('1' AS TIME FORMAT 'HH:MI')", "meridian"),
        ("SELECT CAST('1' AS DATE FORMAT 'HH24')", "DATE"),
        ("SELECT CAST('1' AS TIME FORMAT 'YYYY MM')", "TIME"),
    ],
)
def test_bad_format_models_are_query_errors(sql, message):
    with pytest.raises(SqlError) as info:
        translate(sql, default_project="p", default_dataset="d", resolve_table=lambda *a: None)
    assert message in info.value.message
