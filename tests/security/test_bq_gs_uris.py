"""Hostile ``gs://`` URIs and hostile files: loads, extracts and external tables read and write
only through the Cloud Storage JSON API, after one validating gate (``gcs.parse_uri``).

Both emulators run as processes, each with a --data-dir, from empty working directories under
one root: a URI that reached a path would leave a file somewhere under that root (or read a
host file into a table). Every refusal is BigQuery's ``invalid`` error, and both servers keep
serving."""

from __future__ import annotations

import io
import os
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from emulators.bigquery import gcs
from emulators.bigquery.errors import Invalid
from emulators.process import ServerProcess
from tests.support.security import (
    PROJECT,
    assert_error,
    assert_no_stray_files,
    assert_serves,
    query,
    start,
)

pytestmark = pytest.mark.integration
BUCKET = "sec-bucket"

HOSTILE_URIS = [
    # not Cloud Storage at all
    "file:///etc/passwd", "/etc/passwd", "../../etc/passwd", "etc/passwd", "~/.ssh/id_rsa",
    "http://127.0.0.1:1/x", "https://storage.googleapis.com/b/o", "s3://sec-bucket/x",
    "GS://sec-bucket/x", "gs:/sec-bucket/x", "gs:sec-bucket/x", "gs:\\\\sec-bucket\\x",
    " gs://sec-bucket/x", "",
    # path traversal in the object name ('/' or '\\', which the local store also splits on)
    "gs://sec-bucket/../../etc/passwd", "gs://sec-bucket/a/../../../pwned", "gs://sec-bucket/..",
    "gs://sec-bucket/./x", "gs://sec-bucket/..\\..\\pwned", "gs://sec-bucket/a\\..\\..\\pwned",
    # odd bucket names
    "gs://../x", "gs://./x", "gs://.hidden/x", "gs://-bucket/x", "gs://bucket-/x",
    "gs://Sec-Bucket/x", "gs://ab/x", "gs://" + "a" * 64 + "/x", "gs://127.0.0.1/x",
    "gs://localhost:9023/x", "gs://user@sec-bucket/x", "gs://sec-bucket?alt=media/x",
    "gs://sec-bucket#/x", "gs://sec*/x", "gs://sec-bucket\n/x", "gs://bück/x", "gs://goog-x/x",
    "gs://my-google-b/x", "gs://a..b/x", "gs://%2e%2e/x",
    # odd object names
    "gs://sec-bucket/", "gs://sec-bucket", "gs://", "gs://sec-bucket/a\x00b",
    "gs://sec-bucket/a\rb", "gs://sec-bucket/a\nb", "gs://sec-bucket/a\x7fb",
    "gs://sec-bucket/.well-known/acme-challenge/x", "gs://sec-bucket/" + "x" * 1025,
    "gs://sec-bucket/" + "é" * 513,
    # wildcards: at most one, anywhere in the object name only
    "gs://sec-bucket/a*b*c", "gs://sec-bucket/**", "gs://sec-bucket/" + "*" * 100_000,
    "gs://sec-bucket/" + "x" * 5_000_000 + "*",
]
NOT_STRINGS = [123, None, True, {"uri": "gs://sec-bucket/x"}, ["gs://sec-bucket/x"]]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("gs")


@pytest.fixture(scope="module")
def gcs_server(root):
    server = ServerProcess.emulator("storage", data_dir=root / "storage" / "data",
                                    cwd=_empty(root / "storage" / "work"),
                                    log_path=root / "logs" / "storage.log")  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bq(root, gcs_server):
    server = start("emulators.bigquery", root / "bq", "--storage-endpoint", gcs_server.url)
    yield server
    try:
        assert_serves(server)
        assert_no_stray_files(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bucket(gcs_server):
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": gcs_server.url})  # fmt: skip
    bucket = client.create_bucket(BUCKET)
    bucket.blob("ok.json").upload_from_string(b'{"n": 1}\n')
    return bucket


@pytest.fixture(scope="module")
def dataset(bq, bucket):
    name = f"ds_{uuid.uuid4().hex[:10]}"
    response = requests.post(f"{bq.api}/datasets",
                             json={"datasetReference": {"datasetId": name}}, timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    table = {"tableReference": {"tableId": "src"},
             "schema": {"fields": [{"name": "n", "type": "INTEGER"}]}}  # fmt: skip
    assert requests.post(f"{bq.api}/datasets/{name}/tables", json=table, timeout=30).ok
    return name


def _empty(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def _files_under(root) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


# What may appear under the root while the servers run: their logs and their stores' own files.
_OWN_FILES = ("logs/", "bq/logs/", "bq/data/bigquery.duckdb", "storage/data/.cloudstorage/.meta")


def _new_files(root, before: set[str]) -> list[str]:
    return sorted(p for p in _files_under(root) - before if not p.startswith(_OWN_FILES))


def _run_job(bq, configuration: dict) -> dict:
    """Insert a job and wait until it is DONE (a request refused outright: its error)."""
    response = requests.post(f"{bq.api}/jobs", json={"configuration": configuration}, timeout=60)
    if response.status_code != 200:
        return {"status": {"state": "DONE", "errorResult": response.json()["error"]["errors"][0]}}
    job = response.json()
    until = time.monotonic() + 60
    while job["status"]["state"] != "DONE" and time.monotonic() < until:
        time.sleep(0.05)
        job_id = job["jobReference"]["jobId"]
        job = requests.get(f"{bq.api}/jobs/{job_id}", timeout=30).json()
    assert job["status"]["state"] == "DONE", job
    return job


def _job_error(bq, configuration: dict) -> dict:
    """The errorResult of a job that must fail."""
    return _run_job(bq, configuration)["status"]["errorResult"]


def _load(dataset: str, uris) -> dict:
    return {"load": {"sourceUris": uris, "sourceFormat": "NEWLINE_DELIMITED_JSON",
                     "autodetect": True,
                     "destinationTable": {"projectId": PROJECT, "datasetId": dataset,
                                          "tableId": "dest"}}}  # fmt: skip


def _extract(dataset: str, uris) -> dict:
    return {"extract": {"destinationUris": uris, "destinationFormat": "NEWLINE_DELIMITED_JSON",
                        "sourceTable": {"projectId": PROJECT, "datasetId": dataset,
                                        "tableId": "src"}}}  # fmt: skip


def _assert_refused(error: dict) -> None:
    assert error["reason"] == "invalid", error
    assert "URI" in error["message"] or "Google Storage path" in error["message"], error


@pytest.mark.parametrize("uri", HOSTILE_URIS + NOT_STRINGS, ids=lambda u: repr(u)[:40])
def test_hostile_uris_are_refused_by_loads_and_extracts(bq, root, dataset, uri):
    before = _files_under(root)
    _assert_refused(_job_error(bq, _load(dataset, [uri])))
    _assert_refused(_job_error(bq, _extract(dataset, [uri])))
    _assert_refused(_job_error(bq, _load(dataset, ["gs://sec-bucket/ok.json", uri])))
    assert _new_files(root, before) == []


@pytest.mark.parametrize("uri", [u for u in HOSTILE_URIS if len(u) < 10_000] + NOT_STRINGS,
                         ids=lambda u: repr(u)[:40])  # fmt: skip
def test_hostile_uris_of_external_tables_are_refused_when_queried(bq, dataset, uri):
    name = f"ext_{uuid.uuid4().hex[:8]}"
    table = {"tableReference": {"tableId": name},
             "schema": {"fields": [{"name": "n", "type": "INTEGER"}]},
             "externalDataConfiguration": {"sourceUris": [uri],
                                           "sourceFormat": "NEWLINE_DELIMITED_JSON"}}  # fmt: skip
    created = requests.post(f"{bq.api}/datasets/{dataset}/tables", json=table, timeout=30)
    assert created.status_code == 200, created.text
    error = assert_error(query(bq, f"SELECT n FROM `{dataset}.{name}`"), 400, "invalid")
    assert "URI" in error["message"] or "Google Storage path" in error["message"], error


def test_a_lone_surrogate_is_a_parse_error(bq, dataset):
    """JSON lets ``\\ud800`` stand alone; it is not text (nothing could encode it back)."""
    body = '{"configuration": {"load": {"sourceUris": ["gs://sec-bucket/\\ud800"]}}}'
    response = requests.post(f"{bq.api}/jobs", data=body, timeout=30,
                             headers={"Content-Type": "application/json"})  # fmt: skip
    assert_error(response, 400, "parseError")
    pair = '{"datasetReference": {"datasetId": "x"}, "description": "\\ud83d\\ude00"}'
    response = requests.post(f"{bq.api}/datasets", data=pair, timeout=30)
    assert response.status_code == 200 and response.json()["description"] == "\U0001f600"


def test_job_uri_lists_are_bounded(bq, dataset):
    many = ["gs://sec-bucket/ok.json"] * (gcs.MAX_URIS + 1)
    error = _job_error(bq, _load(dataset, many))
    assert error["reason"] == "invalid" and "Too many source URIs" in error["message"]
    for empty in ([], None, ""):
        assert _job_error(bq, _load(dataset, empty))["reason"] == "invalid"


def test_a_host_file_never_becomes_rows(bq, dataset, tmp_path):
    """A file that does exist on the host, named every way a client could, loads nothing."""
    secret = tmp_path / "secret.json"
    secret.write_text('{"n": 42}\n')
    for uri in (str(secret), f"file://{secret}", f"gs://sec-bucket/{secret}",
                f"gs://sec-bucket/../../../../..{secret}"):  # fmt: skip
        error = _job_error(bq, _load(dataset, [uri]))
        assert error["reason"] in ("invalid", "notFound"), error  # notFound: an object name
    listed = requests.get(f"{bq.api}/datasets/{dataset}/tables", timeout=30).json()
    assert "dest" not in [t["tableReference"]["tableId"] for t in listed.get("tables", [])]


def test_wildcards_are_bounded_in_objects_and_bytes(gcs_server, bucket, monkeypatch):
    """A wildcard over more objects (or bytes) than a job may read is refused before the job
    holds them (the limits shrunk here; the real ones are 100,000 objects and 1 GiB)."""
    for i in range(6):
        bucket.blob(f"many/{i}.json").upload_from_string(b'{"n": 1}\n' * 10)
    client = gcs.CloudStorage(gcs_server.url)
    assert len(list(gcs.read_sources(client, ["gs://sec-bucket/many/*"]))) == 6
    monkeypatch.setattr(gcs, "MAX_OBJECTS", 5)
    with pytest.raises(Invalid, match="matches more than 5 objects"):
        list(gcs.read_sources(client, ["gs://sec-bucket/many/*"]))
    with pytest.raises(Invalid, match="match 6 objects"):
        list(gcs.read_sources(client, [f"gs://sec-bucket/many/{i}.json" for i in range(6)]))
    monkeypatch.setattr(gcs, "MAX_OBJECTS", 100)
    monkeypatch.setattr(gcs, "MAX_READ_BYTES", 200)
    with pytest.raises(Invalid, match="more than 200 bytes"):
        list(gcs.read_sources(client, ["gs://sec-bucket/many/*"]))


def test_hostile_column_names_in_files_never_reach_sql(bq, bucket, dataset):
    """Avro and Parquet bring their own column names, NDJSON autodetect takes the keys: a name
    that is not a BigQuery field name is refused, as a load and as an external table."""
    out = io.BytesIO()
    pq.write_table(pa.table({'n" INTEGER); DROP TABLE x; --': [1]}), out)
    bucket.blob("evil.parquet").upload_from_string(out.getvalue())
    bucket.blob("evil.json").upload_from_string(b'{"a\\" INTEGER); --": 1}\n')
    for uri, fmt in (("gs://sec-bucket/evil.parquet", "PARQUET"),
                     ("gs://sec-bucket/evil.json", "NEWLINE_DELIMITED_JSON")):  # fmt: skip
        config = _load(dataset, [uri])
        config["load"]["sourceFormat"] = fmt
        error = _job_error(bq, config)
        assert error["reason"] == "invalid" and "Invalid field name" in error["message"], error
        name = f"ext_{uuid.uuid4().hex[:8]}"
        table = {"tableReference": {"tableId": name},
                 "externalDataConfiguration": {"sourceUris": [uri], "sourceFormat": fmt,
                                               "autodetect": True}}  # fmt: skip
        assert requests.post(f"{bq.api}/datasets/{dataset}/tables", json=table, timeout=30).ok
        error = assert_error(query(bq, f"SELECT * FROM `{dataset}.{name}`"), 400, "invalid")
        assert "Invalid field name" in error["message"], error
    assert_serves(bq)


def test_objects_the_extract_writes_stay_inside_the_store(bq, root, bucket, dataset):
    """Names that are odd but valid Cloud Storage names are objects in the store, not paths."""
    before = _files_under(root)
    names = ["%2e%2e/%2e%2e/pwned-*.json", "~/pwned.json", "C:/pwned.json", "sp ace/é/pwned.json",
             "$HOME/pwned.json", "`id`/pwned.json"]  # fmt: skip
    for name in names:
        job = _run_job(bq, _extract(dataset, [f"gs://sec-bucket/{name}"]))
        assert "errorResult" not in job["status"], job["status"]
    stored = {blob.name for blob in bucket.client.list_blobs(BUCKET)}
    written = [name.replace("*", "000000000000") for name in names]
    assert set(written) <= stored
    assert all(p.startswith("storage/data/.cloudstorage/sec-bucket/")
               for p in _new_files(root, before)), _new_files(root, before)  # fmt: skip


def test_lone_surrogates_in_files_are_bad_records(bq, bucket, dataset):
    """A JSON line whose string is a lone surrogate is a bad record (within maxBadRecords), not
    an emulator error; the rest of the file loads."""
    bucket.blob("surrogate.json").upload_from_string(b'{"n": 1, "s": "\\ud800"}\n{"n": 2}\n')
    config = _load(dataset, ["gs://sec-bucket/surrogate.json"])
    config["load"].update(autodetect=False, maxBadRecords=1, schema={"fields": [
        {"name": "n", "type": "INTEGER"}, {"name": "s", "type": "STRING"}]})
    config["load"]["destinationTable"]["tableId"] = "surrogates"
    job = _run_job(bq, config)
    assert "errorResult" not in job["status"], job["status"]
    assert job["statistics"]["load"]["outputRows"] == "1"
    assert job["statistics"]["load"]["badRecords"] == "1"
    config["load"]["maxBadRecords"] = 0
    assert _job_error(bq, config)["reason"] == "invalid"
