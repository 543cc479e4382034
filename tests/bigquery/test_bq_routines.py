"""The routines REST resource and routines in SQL through the real google-cloud-bigquery client
(create_routine/get_routine/list_routines/update_routine/delete_routine), kept with
--data-dir; JavaScript UDFs with BigQuery's type mapping."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from google.api_core.exceptions import BadRequest, Conflict, NotFound, PreconditionFailed
from google.cloud import bigquery
from google.cloud.bigquery.routine import RoutineArgument
from google.cloud.bigquery.standard_sql import StandardSqlDataType, StandardSqlTypeNames

from tests.support.bigquery import make_client, start_emulator, stop_emulator

pytestmark = pytest.mark.integration

INT64 = StandardSqlDataType(type_kind=StandardSqlTypeNames.INT64)
STRING = StandardSqlDataType(type_kind=StandardSqlTypeNames.STRING)


def rows(client, sql, dataset=None):
    config = bigquery.QueryJobConfig()
    if dataset:
        config.default_dataset = f"{client.project}.{dataset}"
    return [tuple(r.values()) for r in client.query(sql, job_config=config).result()]


def sql_function(client, dataset, name="plus_n", body="x + n"):
    routine = bigquery.Routine(
        f"{client.project}.{dataset}.{name}",
        type_="SCALAR_FUNCTION",
        language="SQL",
        body=body,
        arguments=[RoutineArgument(name="x", data_type=INT64),
                   RoutineArgument(name="n", data_type=INT64)],
        return_type=INT64,
        description="adds",
    )  # fmt: skip
    return client.create_routine(routine)


def test_create_get_list_update_delete(bq_client, bq_dataset):
    created = sql_function(bq_client, bq_dataset)
    assert created.reference.routine_id == "plus_n"
    assert created.etag and created.created and created.modified
    got = bq_client.get_routine(f"{bq_client.project}.{bq_dataset}.plus_n")
    assert got.type_ == "SCALAR_FUNCTION" and got.language == "SQL"
    assert got.body == "x + n" and got.description == "adds"
    assert [a.name for a in got.arguments] == ["x", "n"]
    assert got.arguments[0].data_type.type_kind == StandardSqlTypeNames.INT64
    assert got.return_type.type_kind == StandardSqlTypeNames.INT64
    assert rows(bq_client, f"SELECT {bq_dataset}.plus_n(40, 2)") == [(42,)]

    listed = list(bq_client.list_routines(bq_dataset))
    assert [r.reference.routine_id for r in listed] == ["plus_n"]
    assert listed[0].type_ == "SCALAR_FUNCTION" and listed[0].body is None  # list: a subset

    got.body = "x * n"
    got.description = "multiplies"
    updated = bq_client.update_routine(got, ["body", "description"])
    assert updated.body == "x * n" and updated.etag != got.etag
    assert rows(bq_client, f"SELECT {bq_dataset}.plus_n(21, 2)") == [(42,)]
    got.body = "0"
    with pytest.raises(PreconditionFailed):  # the etag read before the update is stale
        bq_client.update_routine(got, ["body"])

    bq_client.delete_routine(updated)
    with pytest.raises(NotFound):
        bq_client.get_routine(updated.reference)
    with pytest.raises(BadRequest, match="Function not found"):
        rows(bq_client, f"SELECT {bq_dataset}.plus_n(1, 2)")
    bq_client.delete_routine(updated.reference, not_found_ok=True)


def test_errors(bq_client, bq_dataset):
    sql_function(bq_client, bq_dataset)
    with pytest.raises(Conflict):
        sql_function(bq_client, bq_dataset)
    with pytest.raises(NotFound):
        bq_client.get_routine(f"{bq_client.project}.{bq_dataset}.nope")
    with pytest.raises(NotFound):
        list(bq_client.list_routines("no_such_dataset"))
    with pytest.raises(BadRequest, match="Syntax error"):
        sql_function(bq_client, bq_dataset, "broken", "x +")
    with pytest.raises(BadRequest, match="Invalid routine ID"):
        sql_function(bq_client, bq_dataset, "bad-name")


def test_a_dataset_with_routines_is_in_use(bq_client):
    bq_client.create_dataset("with_routines")
    sql_function(bq_client, "with_routines")
    with pytest.raises(BadRequest, match="still in use"):
        bq_client.delete_dataset("with_routines")
    bq_client.delete_dataset("with_routines", delete_contents=True)
    bq_client.create_dataset("with_routines")
    assert list(bq_client.list_routines("with_routines")) == []
    bq_client.delete_dataset("with_routines")


def test_ddl_makes_routines_the_api_reads(bq_client, bq_dataset):
    bq_client.query_and_wait(
        f"CREATE FUNCTION {bq_dataset}.greet(name STRING) RETURNS STRING "
        "OPTIONS (description = 'says hello') AS (CONCAT('hello ', name))"
    )
    bq_client.query_and_wait(
        f"CREATE TABLE FUNCTION {bq_dataset}.upto(n INT64) AS "
        "SELECT x FROM UNNEST(GENERATE_ARRAY(1, n)) AS x"
    )
    job = bq_client.query(
        f"CREATE PROCEDURE {bq_dataset}.bump(INOUT v INT64) BEGIN SET v = v + 1; END"
    )
    job.result()
    assert job.statement_type == "CREATE_PROCEDURE"
    assert job.ddl_operation_performed == "CREATE"
    assert job.ddl_target_routine.routine_id == "bump"
    by_id = {r.reference.routine_id: r for r in bq_client.list_routines(bq_dataset)}
    assert {k: r.type_ for k, r in by_id.items()} == {
        "bump": "PROCEDURE", "greet": "SCALAR_FUNCTION", "upto": "TABLE_VALUED_FUNCTION"}
    greet = bq_client.get_routine(by_id["greet"].reference)
    assert greet.body == "CONCAT('hello ', name)" and greet.description == "says hello"
    bump = bq_client.get_routine(by_id["bump"].reference)
    assert bump.arguments[0].mode == "INOUT"
    assert bump.body == "BEGIN SET v = v + 1; END"
    assert rows(bq_client, f"SELECT {bq_dataset}.greet(name) FROM {bq_dataset}.upto(1), "
                           "UNNEST(['you']) AS name") == [("hello you",)]  # fmt: skip
    assert rows(bq_client, f"DECLARE v INT64 DEFAULT 1; CALL {bq_dataset}.bump(v); SELECT v") == [
        (2,)]
    job = bq_client.query(f"DROP FUNCTION {bq_dataset}.greet")
    job.result()
    assert job.statement_type == "DROP_FUNCTION"
    with pytest.raises(NotFound):
        bq_client.get_routine(by_id["greet"].reference)


def test_routines_made_by_the_api_run_in_sql(bq_client, bq_dataset):
    js = bigquery.Routine(
        f"{bq_client.project}.{bq_dataset}.shout",
        type_="SCALAR_FUNCTION", language="JAVASCRIPT", body="return s.toUpperCase() + '!';",
        arguments=[RoutineArgument(name="s", data_type=STRING)], return_type=STRING,
    )  # fmt: skip
    bq_client.create_routine(js)
    tvf = bigquery.Routine(
        f"{bq_client.project}.{bq_dataset}.words",
        type_="TABLE_VALUED_FUNCTION", language="SQL",
        body="SELECT w FROM UNNEST(SPLIT(s, ' ')) AS w",
        arguments=[RoutineArgument(name="s", data_type=STRING)],
    )  # fmt: skip
    bq_client.create_routine(tvf)
    proc = bigquery.Routine(
        f"{bq_client.project}.{bq_dataset}.count_words",
        type_="PROCEDURE", language="SQL",
        body=f"BEGIN SET n = (SELECT COUNT(*) FROM {bq_dataset}.words(s)); END",
        arguments=[RoutineArgument(name="s", data_type=STRING),
                   RoutineArgument(name="n", data_type=INT64, mode="OUT")],
    )  # fmt: skip
    bq_client.create_routine(proc)
    assert rows(bq_client, f"SELECT {bq_dataset}.shout(w) FROM {bq_dataset}.words('a b') "
                           "ORDER BY 1") == [("A!",), ("B!",)]  # fmt: skip
    assert rows(bq_client, f"DECLARE n INT64; CALL {bq_dataset}.count_words('x y z', n); "
                           "SELECT n") == [(3,)]  # fmt: skip


def test_routines_survive_a_restart(tmp_path):
    data_dir = str(tmp_path / "bq")
    first = start_emulator("--data-dir", data_dir)
    try:
        client = make_client(first.url, first.project)
        client.create_dataset("kept")
        client.query_and_wait("CREATE FUNCTION kept.triple(x INT64) AS (x * 3)")
        sql_function(client, "kept")
        etag = client.get_routine(f"{first.project}.kept.triple").etag
    finally:
        first.server.process.kill()  # no clean shutdown: what was acknowledged must stay
        first.server.process.wait()
    second = start_emulator("--data-dir", data_dir)
    try:
        client = make_client(second.url, second.project)
        assert sorted(r.reference.routine_id for r in client.list_routines("kept")) == [
            "plus_n", "triple"]
        assert client.get_routine(f"{second.project}.kept.triple").etag == etag
        assert rows(client, "SELECT kept.triple(kept.plus_n(1, 1))") == [(6,)]
    finally:
        stop_emulator(second)


# ------------------------------------------------------------------ JavaScript type mapping


@pytest.mark.parametrize(
    "argument, value, body, returns, expected",
    [
        ("INT64", "9007199254740993", "return typeof x + ':' + x;", "STRING",
         "string:9007199254740993"),
        ("FLOAT64", "1.5", "return typeof x;", "STRING", "number"),
        ("NUMERIC", "NUMERIC '12'", "return typeof x;", "STRING", "number"),
        ("NUMERIC", "NUMERIC '12.25'", "return typeof x + ':' + x;", "STRING", "string:12.25"),
        ("BOOL", "TRUE", "return x === true;", "BOOL", True),
        ("BYTES", "b'\\x00\\xff'", "return x;", "STRING", "AP8="),
        ("DATE", "DATE '2024-02-29'", "return x instanceof Date && x.getUTCDate();", "INT64", 29),
        ("TIMESTAMP", "TIMESTAMP '2024-01-02 03:04:05.123456+00'",
         "return x.getUTCMilliseconds() + '/' + x.microsecond;", "STRING", "123/123456"),
        ("DATETIME", "DATETIME '2024-01-02 03:04:05'", "return x;", "STRING",
         "2024-01-02T03:04:05"),
        ("JSON", "JSON '{\"a\": [1, 2]}'", "return x.a.length;", "INT64", 2),
        ("ARRAY<STRUCT<k STRING, v FLOAT64>>", "[STRUCT('a' AS k, 1.5 AS v)]",
         "return x[0].k + x[0].v;", "STRING", "a1.5"),
        ("STRING", "'x'", "return null;", "STRING", None),
        ("FLOAT64", "1", "return 1 / 0;", "FLOAT64", float("inf")),
        ("FLOAT64", "1", "return 2.5;", "NUMERIC", Decimal("2.5")),
        ("FLOAT64", "1", "return new Date(Date.UTC(2024, 0, 2, 3, 4, 5));", "TIMESTAMP",
         dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)),
        ("FLOAT64", "1", "return 'AP8=';", "BYTES", b"\x00\xff"),
        ("ARRAY<BYTES>", "[b'\\x00a\\xff\\\\', b'hi']", "return x.join(',');", "STRING",
         "AGH/XA==,aGk="),  # nested BYTES are base64 too (a backslash byte included)
        ("STRUCT<b BYTES>", "STRUCT(b'\\xc3\\xa9' AS b)", "return {b: x.b, c: 'AAE='};",
         "STRUCT<b BYTES, c BYTES>", {"b": b"\xc3\xa9", "c": b"\x00\x01"}),
        ("FLOAT64", "1", "return {k: 'a', n: [1, 2]};", "STRUCT<k STRING, n ARRAY<INT64>>",
         {"k": "a", "n": [1, 2]}),
    ],
)  # fmt: skip
def test_javascript_type_mapping(bq_client, argument, value, body, returns, expected):
    sql = (f"CREATE TEMP FUNCTION f(x {argument}) RETURNS {returns} LANGUAGE js AS r'''{body}''';"
           f" SELECT f({value})")  # fmt: skip
    assert rows(bq_client, sql) == [(expected,)]


def test_javascript_udf_over_many_rows(bq_client):
    sql = ("CREATE TEMP FUNCTION sq(x FLOAT64) RETURNS FLOAT64 LANGUAGE js AS 'return x * x;';"
           " SELECT COUNT(*), SUM(sq(n)) FROM UNNEST(GENERATE_ARRAY(1, 5000)) AS n")  # fmt: skip
    assert rows(bq_client, sql) == [(5000, sum(float(n * n) for n in range(1, 5001)))]


def test_javascript_libraries_are_refused_clearly(bq_client):
    sql = ("CREATE TEMP FUNCTION f(x FLOAT64) RETURNS FLOAT64 LANGUAGE js "
           "OPTIONS (library = ['gs://bucket/lib.js']) AS 'return x;'; SELECT f(1)")  # fmt: skip
    with pytest.raises(BadRequest, match="Cloud Storage"):
        rows(bq_client, sql)


def test_information_schema_lists_routines_and_their_parameters(bq_client, bq_dataset):
    bq_client.query(f"""
        CREATE FUNCTION {bq_dataset}.add1(x INT64) RETURNS INT64 AS (x + 1);
        CREATE FUNCTION {bq_dataset}.echo(s STRING) RETURNS STRING LANGUAGE js AS "return s;";
        CREATE PROCEDURE {bq_dataset}.p(IN a INT64, OUT b STRING) BEGIN SET b = 'x'; END
    """).result()
    assert rows(bq_client, f"""
        SELECT routine_name, routine_type, data_type, routine_body, external_language
        FROM {bq_dataset}.INFORMATION_SCHEMA.ROUTINES ORDER BY routine_name""") == [
        ("add1", "FUNCTION", "INT64", "SQL", None),
        ("echo", "FUNCTION", "STRING", "EXTERNAL", "JAVASCRIPT"),
        ("p", "PROCEDURE", None, "SQL", None),
    ]
    (ddl,) = rows(bq_client, f"SELECT ddl FROM {bq_dataset}.INFORMATION_SCHEMA.ROUTINES "
                             "WHERE routine_name = 'add1'")[0]  # fmt: skip
    assert ddl.startswith(f"CREATE FUNCTION `{bq_client.project}.{bq_dataset}.add1`(x INT64)")
    assert rows(bq_client, f"""
        SELECT specific_name, ordinal_position, parameter_mode, is_result, parameter_name,
               data_type
        FROM {bq_dataset}.INFORMATION_SCHEMA.PARAMETERS
        WHERE specific_name IN ('add1', 'p') ORDER BY specific_name, ordinal_position""") == [
        ("add1", 0, None, "YES", None, "INT64"),
        ("add1", 1, "IN", "NO", "x", "INT64"),
        ("p", 1, "IN", "NO", "a", "INT64"),
        ("p", 2, "OUT", "NO", "b", "STRING"),
    ]
