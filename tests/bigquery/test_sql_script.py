"""The translator's side of scripts and routines, without a server: the procedural parser,
routine DDL, variables bound as parameters, UDF and table function expansion."""

from __future__ import annotations

import re

import pytest

from emulators.bigquery.sql import SqlError, translate
from emulators.bigquery.sql import routines as r
from emulators.bigquery.sql import script as s

INT64 = {"typeKind": "INT64"}


# ------------------------------------------------------------------ the procedural parser


def test_statements_keep_their_text_and_position():
    nodes = s.parse("DECLARE x INT64 DEFAULT 5;\n  SELECT x * 2;")
    assert [type(n) for n in nodes] == [s.Declare, s.Sql]
    declare, select = nodes
    assert declare.names == ["x"] and declare.type_text == "INT64"
    assert declare.default.text == "5" and (declare.default.line, declare.default.column) == (1, 25)
    assert (select.text, select.line, select.column) == ("SELECT x * 2", 2, 3)


def test_control_flow_nests():
    nodes = s.parse(
        "outer: LOOP WHILE x < 1 DO IF y THEN CONTINUE outer; ELSEIF z THEN SELECT 1; "
        "ELSE BREAK outer; END IF; END WHILE; END LOOP outer"
    )
    loop = nodes[0]
    assert isinstance(loop, s.Loop) and loop.label == "outer"
    inner = loop.body[0]
    assert isinstance(inner, s.While) and inner.condition.text == "x < 1"
    branch = inner.body[0]
    assert [c.text for c, _ in branch.branches] == ["y", "z"]
    assert isinstance(branch.branches[0][1][0], s.Continue)
    assert branch.otherwise[0].label == "outer"


def test_semicolons_inside_strings_comments_and_case_do_not_split():
    nodes = s.parse("SELECT 'a;b', r\"\"\"c;d\"\"\" -- e;f\n; SELECT CASE WHEN TRUE THEN 1 END")
    assert len(nodes) == 2
    assert nodes[0].text.startswith("SELECT 'a;b'")


def test_if_condition_may_hold_case_then():
    node = s.parse("IF CASE WHEN a THEN b END THEN SELECT 1; END IF")[0]
    assert node.branches[0][0].text == "CASE WHEN a THEN b END"


def test_procedure_bodies_are_one_statement():
    nodes = s.parse("CREATE PROCEDURE ds.p(x INT64) BEGIN SELECT x; SELECT 2; END; CALL ds.p(1)")
    assert isinstance(nodes[0], s.Sql) and nodes[0].text.endswith("SELECT 2; END")
    assert nodes[1].name == ["ds", "p"] and [a.text for a in nodes[1].args] == ["1"]


def test_execute_immediate_parts():
    node = s.parse("EXECUTE IMMEDIATE CONCAT('a', 'b') INTO x, y USING 1 AS a, f(2, 3)")[0]
    assert node.sql.text == "CONCAT('a', 'b')" and node.into == ["x", "y"]
    assert [(e.text, alias) for e, alias in node.using] == [("1", "a"), ("f(2, 3)", None)]


def test_set_forms():
    single, multiple, system = s.parse("SET x = 1; SET (a, b) = (1, 2); SET @@dataset_id = 'd'")
    assert single.names == ["x"] and not single.multiple
    assert multiple.names == ["a", "b"] and multiple.value.text == "(1, 2)"
    assert system.names == ["@@dataset_id"]


@pytest.mark.parametrize(
    "sql, message",
    [
        ("IF x THEN SELECT 1;", "Syntax error: Unexpected end of script at [1:20]"),
        ("END IF", "Syntax error: Unexpected keyword END at [1:1]"),
        ("BEGIN SELECT 1; END other", 'Syntax error: Unexpected identifier "other" at [1:21]'),
        ("a: BEGIN a: BEGIN END; END", "already used by an enclosing block or loop"),
        ("DECLARE;", 'Syntax error: Unexpected ";" at [1:8]'),
        ("LOOP SELECT 1; END WHILE", "Syntax error: Unexpected keyword WHILE"),
    ],
)
def test_syntax_errors(sql, message):
    with pytest.raises(SqlError) as error:
        s.parse(sql)
    assert message in error.value.message


def test_nesting_is_bounded():
    with pytest.raises(SqlError, match="nesting exceeds"):
        s.parse("BEGIN " * 60 + "END; " * 60)


@pytest.mark.parametrize(
    "sql, expected",
    [("SELECT 1", False), ("SELECT 1;", False), ("SELECT 'a;b'", True), ("DECLARE x INT64", True),
     ("-- c\nSET x = 1", True), ("lbl: LOOP END LOOP", True), ("CALL ds.p()", True),
     ("CREATE PROCEDURE ds.p() BEGIN END", True), ("WITH a AS (SELECT 1) SELECT * FROM a", False)],
)  # fmt: skip
def test_cheap_script_test(sql, expected):
    assert s.maybe_script(sql) is expected


# ------------------------------------------------------------------ routine DDL


def test_function_ddl_becomes_a_rest_resource():
    ddl = r.parse_ddl(
        "CREATE OR REPLACE FUNCTION `my-proj.ds.f`(x INT64, y ANY TYPE) RETURNS FLOAT64 "
        "AS ((x + 4) / y) OPTIONS (description = 'd')", "p", None)  # fmt: skip
    assert ddl.kind == "CREATE_FUNCTION" and ddl.target == ("my-proj", "ds", "f")
    assert ddl.or_replace and not ddl.temporary
    assert ddl.resource == {
        "routineType": "SCALAR_FUNCTION", "language": "SQL", "definitionBody": "(x + 4) / y",
        "arguments": [{"name": "x", "dataType": INT64},
                      {"name": "y", "argumentKind": "ANY_TYPE"}],
        "returnType": {"typeKind": "FLOAT64"}, "description": "d",
    }  # fmt: skip


def test_javascript_and_table_function_ddl():
    js = r.parse_ddl('CREATE TEMP FUNCTION f(s STRING) RETURNS STRING LANGUAGE js AS r"""\n'
                     '  return s;\n"""', "p", "d")  # fmt: skip
    assert js.target == (None, None, "f") and js.resource["language"] == "JAVASCRIPT"
    assert js.resource["definitionBody"] == "\n  return s;\n"
    tvf = r.parse_ddl("CREATE TABLE FUNCTION t(n INT64) RETURNS TABLE<x INT64> AS "
                      "(SELECT n AS x)", "p", "d")  # fmt: skip
    assert tvf.target == ("p", "d", "t") and tvf.resource["definitionBody"] == "SELECT n AS x"
    assert tvf.resource["returnTableType"] == {"columns": [{"name": "x", "type": INT64}]}


@pytest.mark.parametrize(
    "sql, message",
    [
        ("CREATE TEMP FUNCTION ds.f() AS (1)", "cannot have a project or dataset"),
        ("CREATE FUNCTION f() AS (1)", "must be qualified with a dataset"),
        ("CREATE FUNCTION ds.f(x INT64) AS x", 'Expected "(" after AS'),
        ("CREATE FUNCTION ds.f() RETURNS INT64 LANGUAGE js AS (1)", "string literal"),
        ("CREATE FUNCTION ds.f() LANGUAGE js AS 'return 1'", "needs a return type"),
        ("CREATE FUNCTION ds.f() RETURNS INT64 LANGUAGE js OPTIONS (library = ['gs://a']) "
         "AS 'return 1'", "Cloud Storage"),
        ("CREATE FUNCTION ds.`f g`() AS (1)", "Invalid routine name"),
        ("CREATE FUNCTION ds.f(x STRUCT<`a b` INT64>) AS (1)", "Invalid field name"),
        ("CREATE OR REPLACE FUNCTION IF NOT EXISTS ds.f() AS (1)", "cannot both be present"),
    ],
)  # fmt: skip
def test_routine_ddl_errors(sql, message):
    with pytest.raises(SqlError, match=re.escape(message)):
        r.parse_ddl(sql, "p", None)


# ------------------------------------------------------------------ translation with a scope


class Scope:
    """A script's names, as the core's Session gives them."""

    def __init__(self, variables=None, routines=(), temp_tables=()):
        self.variables = {k.lower(): v for k, v in (variables or {}).items()}
        self.routines = {}
        for ddl in routines:
            parsed = r.parse_ddl(ddl, "p", "d")
            name = parsed.target[2] if parsed.temporary else f"{parsed.target[1]}.{parsed.target[2]}"
            self.routines[name.lower()] = r.from_resource(parsed.resource, name)
        self.temp_tables = {t.lower() for t in temp_tables}
        self.handles = []

    def variable(self, name):
        return self.variables.get(name.lower())

    def system_variable(self, name):
        return {"project_id": ("p", {"typeKind": "STRING"})}.get(name)

    def routine(self, parts, table):
        return self.routines.get(".".join(parts).lower())

    def js_handle(self, routine):
        self.handles.append(routine.name)
        return f"js{len(self.handles)}"

    def is_temp_table(self, name):
        return name.lower() in self.temp_tables


def tr(sql, scope, schemas=None):
    return translate(
        sql, default_project="p", default_dataset="d", scope=scope,
        resolve_table=lambda p, d, t: f'"{d}.{t}"',
        table_schema=lambda p, d, t: (schemas or {}).get(t),
    )  # fmt: skip


def test_variables_become_typed_parameters_and_keep_their_names():
    stmt = tr("SELECT x * 2, x, @@project_id", Scope({"x": (5, INT64)}))
    assert stmt.duckdb_sql == ('SELECT CAST(($1) AS BIGINT) * CAST(2 AS BIGINT) AS "f0_", '
                               'CAST(($1) AS BIGINT) AS "x", CAST(($2) AS TEXT) AS "f1_"')
    assert stmt.duckdb_params == [5, "p"]


def test_a_column_takes_precedence_over_a_variable():
    scope = Scope({"x": (10, INT64), "y": (1, INT64)})
    stmt = tr("SELECT x, y FROM t", scope, {"t": [{"name": "x", "type": "INTEGER"}]})
    assert stmt.duckdb_sql == 'SELECT x, CAST(($1) AS BIGINT) AS "y" FROM "d.t" AS "t"'
    stmt = tr("WITH n AS (SELECT 50 AS x) SELECT x + x FROM n", scope)
    assert "$1" not in stmt.duckdb_sql


def test_insert_values_see_variables_not_the_target_columns():
    scope = Scope({"name": ("ann", {"typeKind": "STRING"})})
    stmt = tr("INSERT INTO t (name) VALUES (name)", scope, {"t": [{"name": "name"}]})
    assert stmt.duckdb_params == ["ann"]


def test_a_struct_variable_field():
    row = {"typeKind": "STRUCT", "structType": {"fields": [{"name": "n", "type": INT64}]}}
    stmt = tr("SELECT r.n + 1", Scope({"r": ({"n": 2}, row)}))
    assert stmt.duckdb_sql.startswith('SELECT (CAST(($1) AS STRUCT("n" BIGINT))).n')


def test_udf_calls_are_expanded():
    scope = Scope(routines=["CREATE TEMP FUNCTION add_one(x INT64) AS (x + 1)",
                            "CREATE FUNCTION ds.twice(x ANY TYPE) AS (x * 2)"])  # fmt: skip
    stmt = tr("SELECT ds.twice(add_one(1))", scope)
    assert "add_one" not in stmt.duckdb_sql and "twice" not in stmt.duckdb_sql
    with pytest.raises(SqlError, match="No matching signature for function add_one"):
        tr("SELECT add_one(1, 2)", scope)


def test_udf_bodies_pass_the_function_list():
    scope = Scope(routines=["CREATE TEMP FUNCTION f() AS (current_setting('threads'))"])
    with pytest.raises(SqlError, match="Function not found: current_setting"):
        tr("SELECT f()", scope)


def test_table_functions_become_subqueries():
    scope = Scope(routines=["CREATE TABLE FUNCTION ds.upto(n INT64) AS "
                            "SELECT x FROM UNNEST(GENERATE_ARRAY(1, n)) AS x"])  # fmt: skip
    stmt = tr("SELECT * FROM ds.upto(3) AS u", scope)
    assert "GENERATE_SERIES(1, (CAST(3 AS BIGINT)))" in stmt.duckdb_sql
    assert stmt.duckdb_sql.endswith(") AS u")


def test_javascript_calls_use_a_handle():
    scope = Scope(routines=["CREATE TEMP FUNCTION js(b BYTES) RETURNS BYTES LANGUAGE js "
                            "AS 'return b'"])  # fmt: skip
    stmt = tr("SELECT js(b'a')", scope)
    assert stmt.duckdb_sql == ('SELECT FROM_BASE64(BQ_JS_CALL(\'js1\', JSON_ARRAY(TO_BASE64('
                               '(CAST(\'a\' AS BLOB)))))) AS "f0_"')  # fmt: skip


def test_temporary_tables_hide_unqualified_names():
    stmt = tr("SELECT * FROM tmp", Scope(temp_tables=["tmp"]))
    assert stmt.duckdb_sql == 'SELECT * FROM "_SESSION.tmp" AS "tmp"'
    stmt = tr("CREATE TEMP TABLE t2 AS SELECT 1 AS a", Scope())
    assert stmt.temporary and stmt.target == ("p", "_SESSION", "t2")
    with pytest.raises(SqlError, match="_SESSION can only qualify temporary tables"):
        tr("CREATE TABLE _SESSION.t (a INT64)", Scope())
