"""Nothing in a schema reaches SQL text: extra keys of a field are dropped, names are checked.

The original probe: a field carrying ``_sql_suffix`` was pasted into CREATE TABLE, and DuckDB
ran the stacked statements with external access on (a file written, /etc/passwd read)."""

from __future__ import annotations

import io
import json

import pytest
import requests
from google.api_core import exceptions
from google.cloud import bigquery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.security import PROJECT, assert_error, assert_no_stray_files, assert_serves

pytestmark = pytest.mark.integration

SUFFIX = (
    "); COPY (SELECT 1) TO 'pwned.csv'; "
    "CREATE TABLE _i AS SELECT * FROM read_csv('/etc/passwd'); CREATE TABLE _j (z INT"
)
DOCUMENTED = {
    "name", "type", "mode", "fields", "description", "policyTags", "maxLength", "precision",
    "scale", "defaultValueExpression", "collation", "roundingMode", "rangeElementType",
}  # fmt: skip


def _keys(fields: list[dict]) -> set[str]:
    keys: set[str] = set()
    for field in fields:
        keys |= set(field)
        keys |= _keys(field.get("fields", []))
    return keys


def _assert_clean(bq, bq_client, dataset: str, table_id: str) -> None:
    """The stored schema holds documented keys only; no statement of the suffix ran."""
    resource = requests.get(f"{bq.api}/datasets/{dataset}/tables/{table_id}", timeout=30).json()
    assert _keys(resource["schema"]["fields"]) <= DOCUMENTED, resource["schema"]
    tables = {t.table_id for t in bq_client.list_tables(dataset)}
    assert not tables & {"_i", "_j"}, tables
    assert_no_stray_files(bq, bq.workdir / "pwned.csv")
    assert_serves(bq)


def test_raw_text_plain_table_insert(bq, bq_client, dataset):
    """The exact probe of the issue: a CORS "simple request" (text/plain), no Origin."""
    body = {
        "tableReference": {"projectId": PROJECT, "datasetId": dataset, "tableId": "x"},
        "schema": {"fields": [{"name": "a", "type": "STRING", "_sql_suffix": SUFFIX}]},
    }
    response = requests.post(
        f"{bq.api}/datasets/{dataset}/tables",
        data=json.dumps(body),
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["schema"]["fields"] == [
        {"name": "a", "type": "STRING", "mode": "NULLABLE"}
    ]
    _assert_clean(bq, bq_client, dataset, "x")


def test_real_client_passes_the_key_through(bq, bq_client, dataset):
    field = bigquery.SchemaField.from_api_repr(
        {"name": "a", "type": "STRING", "_sql_suffix": SUFFIX}
    )
    assert "_sql_suffix" in field.to_api_repr()  # the client does send it
    table = bq_client.create_table(bigquery.Table(f"{PROJECT}.{dataset}.viaclient", [field]))
    assert [f.to_api_repr() for f in table.schema] == [
        {"name": "a", "type": "STRING", "mode": "NULLABLE"}
    ]
    assert not bq_client.insert_rows_json(table, [{"a": "still a table"}])
    _assert_clean(bq, bq_client, dataset, "viaclient")


def test_load_job_schema(bq, bq_client, dataset):
    field = bigquery.SchemaField.from_api_repr({"name": "a", "type": "STRING",
                                                "_sql_suffix": SUFFIX})  # fmt: skip
    config = bigquery.LoadJobConfig(
        schema=[field], source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON
    )
    job = bq_client.load_table_from_file(
        io.BytesIO(b'{"a": "x"}\n'), f"{PROJECT}.{dataset}.loaded", job_config=config
    )
    job.result()
    assert [r.a for r in bq_client.list_rows(f"{PROJECT}.{dataset}.loaded")] == ["x"]
    _assert_clean(bq, bq_client, dataset, "loaded")


def test_patch_of_a_schemaless_table(bq, bq_client, dataset):
    bq_client.create_table(f"{PROJECT}.{dataset}.bare")
    response = requests.patch(
        f"{bq.api}/datasets/{dataset}/tables/bare",
        json={"schema": {"fields": [{"name": "a", "type": "STRING", "_sql_suffix": SUFFIX}]}},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    _assert_clean(bq, bq_client, dataset, "bare")


@pytest.mark.parametrize(
    "name",
    ['a"; DROP TABLE x; --', "a b", "1a", "", "a" * 301, "ä", 'a")', "a\x00"],
)
def test_field_names_outside_the_rule_are_invalid(bq, dataset, name):
    body = {
        "tableReference": {"tableId": "named"},
        "schema": {"fields": [{"name": name, "type": "STRING"}]},
    }
    response = requests.post(f"{bq.api}/datasets/{dataset}/tables", json=body, timeout=30)
    message = (
        f'Invalid field name "{name}". Fields must contain only letters, numbers, and '
        "underscores, start with a letter or underscore, and be at most 300 characters long."
    )
    assert_error(response, 400, "invalid", message)


def test_alias_that_is_not_a_field_name_cannot_name_a_destination_column(bq, bq_client, dataset):
    """Result column names (any text, in backticks) reach DDL only as checked names."""
    job = bq_client.query(
        "SELECT 1 AS `x\"); COPY (SELECT 1) TO 'pwned.csv'; --`",
        job_config=bigquery.QueryJobConfig(destination=f"{PROJECT}.{dataset}.dest"),
    )
    with pytest.raises(exceptions.BadRequest) as error:
        job.result()
    assert "Invalid field name" in error.value.message
    assert_no_stray_files(bq, bq.workdir / "pwned.csv")


_text = st.text(max_size=12)
_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), _text, st.just(SUFFIX),
                    st.lists(_text, max_size=2), st.dictionaries(_text, _text, max_size=2))  # fmt: skip
_field = st.recursive(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["a", "b_1", "_c", "D"]),
         "type": st.sampled_from(["STRING", "INT64", "NUMERIC", "JSON", "x"])},
        optional={
            "mode": st.sampled_from(["NULLABLE", "REQUIRED", "REPEATED", "bad"]),
            "description": _values, "maxLength": _values, "precision": _values,
            "defaultValueExpression": _values, "policyTags": _values, "roundingMode": _values,
            "_sql_suffix": st.just(SUFFIX), "extra": _values, "kind": _values,
        },
    ),
    lambda inner: st.fixed_dictionaries(
        {"name": st.sampled_from(["r", "s"]), "type": st.just("RECORD"),
         "fields": st.lists(inner, min_size=1, max_size=3)},
        optional={"_sql_suffix": st.just(SUFFIX), "mode": st.just("REPEATED")},
    ),
    max_leaves=6,
)  # fmt: skip


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fields=st.lists(_field, max_size=4))
def test_random_schemas_keep_documented_keys_only(bq, bq_client, dataset, fields):
    body = {"tableReference": {"tableId": "random"}, "schema": {"fields": fields}}
    response = requests.post(f"{bq.api}/datasets/{dataset}/tables", json=body, timeout=30)
    if response.status_code == 200:
        assert _keys(response.json()["schema"]["fields"]) <= DOCUMENTED
        bq_client.delete_table(f"{PROJECT}.{dataset}.random")
    else:
        assert_error(response, 400, "invalid")
    assert_no_stray_files(bq, bq.workdir / "pwned.csv")
