"""Arbitrary JSON bodies never crash the emulator: answers are 2xx or BigQuery-shaped 4xx."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8), st.sampled_from(["STRING", "RECORD", "REPEATED", "x", "", "INT64"]),
)  # fmt: skip
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(
                ["name", "type", "mode", "fields", "schema", "json", "rows", "tableReference",
                 "datasetReference", "tableId", "datasetId", "projectId", "query", "load",
                 "copy", "configuration", "destinationTable", "queryParameters", "insertId",
                 "sourceTable", "parameterType", "parameterValue", "value", "a"]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)  # fmt: skip

PATHS = [
    ("POST", "/datasets"),
    ("POST", "/datasets/{ds}/tables"),
    ("POST", "/datasets/{ds}/tables/t/insertAll"),
    ("POST", "/jobs"),
    ("POST", "/queries"),
    ("PATCH", "/datasets/{ds}"),
    ("PUT", "/datasets/{ds}"),
    ("PATCH", "/datasets/{ds}/tables/t"),
    ("PUT", "/datasets/{ds}/tables/t"),
]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(route=st.sampled_from(PATHS), body=_json)
def test_random_bodies_get_json_answers(bq_emulator, bq_client, bq_dataset, route, body):
    method, path = route
    bq_client.query_and_wait(f"CREATE TABLE IF NOT EXISTS `{bq_dataset}.t` (a STRING, n INT64)")
    url = f"{bq_emulator.url}/bigquery/v2/projects/{bq_emulator.project}" + path.format(
        ds=bq_dataset
    )
    response = requests.request(method, url, json=body, timeout=30)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] == response.status_code
        assert error["errors"][0]["reason"] and error["errors"][0]["domain"] == "global"
    elif path == "/jobs" and response.status_code == 200:
        status = response.json()["status"]
        assert status.get("errorResult", {}).get("reason") != "emulatorInternalError", status


_param_type = st.recursive(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["INT64", "STRING", "BOOL", "TIMESTAMP", "NUMERIC", "x", ""])}
    ),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"type": st.just("ARRAY"), "arrayType": inner}),
        st.fixed_dictionaries(
            {
                "type": st.just("STRUCT"),
                "structTypes": st.lists(
                    st.fixed_dictionaries({"name": st.sampled_from(["a", "b"]), "type": inner}),
                    max_size=2,
                ),
            }
        ),
    ),
    max_leaves=4,
)
_param_value = st.recursive(
    st.fixed_dictionaries({"value": _scalars}),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"arrayValues": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries(
            {"structValues": st.dictionaries(st.sampled_from(["a", "b"]), inner)}
        ),
        _json,
    ),
    max_leaves=6,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ptype=_param_type, pvalue=_param_value, named=st.booleans())
def test_random_query_parameters_get_json_answers(bq_emulator, ptype, pvalue, named):
    param = {"parameterType": ptype, "parameterValue": pvalue}
    if named:
        param["name"] = "p"
    body = {"query": "SELECT @p AS v" if named else "SELECT ? AS v", "queryParameters": [param]}
    url = f"{bq_emulator.url}/bigquery/v2/projects/{bq_emulator.project}/queries"
    response = requests.post(url, json=body, timeout=30)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["errors"][0]["reason"] in ("invalid", "invalidQuery")


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    load=st.fixed_dictionaries(
        {},
        optional={
            "sourceFormat": st.sampled_from(["CSV", "NEWLINE_DELIMITED_JSON", "AVRO", 3]),
            "autodetect": st.booleans(),
            "skipLeadingRows": st.one_of(st.integers(-2, 3), st.text(max_size=2)),
            "fieldDelimiter": st.sampled_from([",", ";;", "", "\\t", 5]),
            "encoding": st.sampled_from(["UTF-8", "ISO-8859-1", "nope"]),
            "maxBadRecords": st.one_of(st.integers(-1, 2), st.just("x")),
            "schema": _json,
            "writeDisposition": st.sampled_from(["WRITE_APPEND", "WRITE_TRUNCATE", "x"]),
        },
    ),
    data=st.binary(max_size=60),
)
def test_random_load_uploads_get_json_answers(bq_emulator, bq_dataset, load, data):
    load["destinationTable"] = {
        "projectId": bq_emulator.project,
        "datasetId": bq_dataset,
        "tableId": "loaded",
    }
    metadata = json.dumps({"configuration": {"load": load}}).encode()
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode()
        + metadata
        + f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    url = f"{bq_emulator.url}/upload/bigquery/v2/projects/{bq_emulator.project}/jobs"
    response = requests.post(
        url,
        params={"uploadType": "multipart"},
        data=body,
        headers={"content-type": f"multipart/related; boundary={boundary}"},
        timeout=30,
    )
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        status = response.json()["status"]
        assert status.get("errorResult", {}).get("reason") != "emulatorInternalError", status
