"""Generated hostile input: query texts assembled from attack fragments, bodies of any shape
and depth on every route, junk in every path segment. Each answer is a 2xx or a 4xx in
BigQuery's error shape, never a 500; no file appears outside --data-dir; the server serves."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.security import PROJECT, assert_no_stray_files, assert_serves, query

pytestmark = pytest.mark.integration

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_FRAGMENTS = [
    "SELECT 1", "SELECT *", "FROM", "ds.t", "`sec-project.ds.t`", "WHERE", "a = 'x'", ";",
    "COPY (SELECT 1) TO 'pwned.csv'", "read_csv('/etc/passwd')", "read_text('/etc/passwd')",
    "ATTACH 'pwned.duckdb' AS p", "INSTALL httpfs", "LOAD spatial", "--", "/*", "*/", "'", '"',
    "`", "\\", "\x00", "UNION ALL", "WITH x AS (SELECT 1)", "(", ")", "SET", "PRAGMA",
    "CALL", "EXPORT DATABASE 'dump'", "CREATE TABLE ds.u (a INT64)", "DROP TABLE ds.t",
    "sqlite_master", "duckdb_settings()", "current_setting('x')", "INSERT INTO ds.t VALUES (1)",
    "CAST(", "AS STRING)", "@p", "?", "$1", "\n", "GENERATE_ARRAY(1, 10)", "UNNEST(",
]  # fmt: skip


@pytest.fixture(scope="module")
def table(bq):
    requests.post(f"{bq.api}/datasets", json={"datasetReference": {"datasetId": "ds"}}, timeout=30)
    query(bq, "CREATE TABLE IF NOT EXISTS ds.t (a INT64)")
    return "ds.t"


def _assert_answer(response: requests.Response) -> None:
    assert response.status_code < 500, response.text[:1000]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] == response.status_code
        assert error["errors"][0]["reason"] and error["errors"][0]["domain"] == "global"


@SETTINGS
@given(parts=st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=10))
def test_query_texts(bq, table, parts):
    response = query(bq, " ".join(parts), timeoutMs=30_000)
    _assert_answer(response)
    if response.status_code == 200 and not response.json().get("jobComplete", True):
        job = response.json()["jobReference"]["jobId"]
        requests.post(f"{bq.api}/jobs/{job}/cancel", timeout=30)
    assert_no_stray_files(bq, bq.workdir / "pwned.csv", bq.workdir / "pwned.duckdb")


def _deep(depth: int, leaf) -> object:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"fields": value}
    return value


_bodies = st.one_of(
    st.builds(_deep, st.integers(0, 400), st.sampled_from([1, "x", None, {}, []])),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
        lambda c: st.one_of(
            st.lists(c, max_size=3), st.dictionaries(st.text(max_size=8), c, max_size=3)
        ),
        max_leaves=20,
    ),
)
_ROUTES = [
    ("POST", "/datasets"), ("POST", "/datasets/ds/tables"), ("POST", "/datasets/ds/tables/t/insertAll"),
    ("POST", "/jobs"), ("POST", "/queries"), ("PATCH", "/datasets/ds"), ("PUT", "/datasets/ds/tables/t"),
    ("POST", "/jobs/j/cancel"), ("GET", "/queries/j"),
]  # fmt: skip


@SETTINGS
@given(
    route=st.sampled_from(_ROUTES),
    body=_bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
)  # fmt: skip
def test_bodies_of_any_shape(bq, table, route, body, content_type):
    method, path = route
    response = requests.request(
        method, bq.api + path, data=json.dumps(body), timeout=30,
        headers={"Content-Type": content_type} if content_type else {},
    )  # fmt: skip
    _assert_answer(response)


@SETTINGS
@given(
    segment=st.text(min_size=1, max_size=30),
    template=st.sampled_from(["/datasets/{}", "/datasets/ds/tables/{}", "/jobs/{}",
                              "/queries/{}", "/datasets/{}/tables", "/datasets/ds/tables/{}/data"]),
)  # fmt: skip
def test_junk_in_path_segments(bq, table, segment, template):
    response = requests.get(bq.api + template.format(quote(segment, safe="")), timeout=30)
    _assert_answer(response)
    assert response.status_code != 200 or segment.isascii()


def test_still_serving_after_all_that(bq, table):
    assert_serves(bq)
    assert_no_stray_files(bq)
    assert requests.get(f"{bq.address}/bigquery/v2/projects", timeout=30).json()["projects"][0][
        "projectReference"
    ] == {"projectId": PROJECT}
