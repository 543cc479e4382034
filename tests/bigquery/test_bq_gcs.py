"""BigQuery emulator <-> Cloud Storage emulator: loads from gs://, extracts to gs://, external
tables, and BigQuery's errors - with the real google-cloud-bigquery and google-cloud-storage
clients against both emulators as processes."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import gzip
import io
import json
import re
import uuid

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.api_core.exceptions import BadRequest, NotFound
from google.cloud import bigquery

from emulators.process import ServerProcess
from tests.support.bigquery import make_client

pytestmark = pytest.mark.integration
PROJECT = "gcs-project"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    storage = ServerProcess.emulator("storage", log_path=logs / "storage.log")
    bq = ServerProcess.emulator(
        "bigquery", "--project", PROJECT, "--storage-endpoint", storage.url,
        log_path=logs / "bigquery.log",
    )
    yield storage, bq
    bq.stop()
    storage.stop()


@pytest.fixture(scope="module")
def gcs(servers):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": servers[0].url})


@pytest.fixture(scope="module")
def bq(servers):
    return make_client(servers[1].url, PROJECT)


@pytest.fixture
def bucket(gcs):
    return gcs.create_bucket(f"b-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def dataset(bq):
    name = f"ds_{uuid.uuid4().hex[:10]}"
    bq.create_dataset(name)
    return name


SCHEMA = [
    bigquery.SchemaField("id", "INTEGER", mode="REQUIRED"),
    bigquery.SchemaField("name", "STRING"),
    bigquery.SchemaField("ts", "TIMESTAMP"),
    bigquery.SchemaField("day", "DATE"),
    bigquery.SchemaField("price", "NUMERIC"),
    bigquery.SchemaField("ok", "BOOLEAN"),
    bigquery.SchemaField("payload", "JSON"),
    bigquery.SchemaField("raw", "BYTES"),
]
ROWS = [
    {"id": 1, "name": "a", "ts": "2024-01-02T03:04:05.123456Z", "day": "2024-01-02",
     "price": "1.5", "ok": True, "payload": {"k": [1, 2]}, "raw": "AAE="},
    {"id": 2, "name": None, "ts": None, "day": None, "price": None, "ok": False,
     "payload": None, "raw": None},
]


def _rows(bq, table, order="id"):
    return [dict(r) for r in bq.query_and_wait(f"SELECT * FROM `{table}` ORDER BY {order}")]


def _ndjson(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _load(bq, uris, table, **config):
    job = bq.load_table_from_uri(uris, table, job_config=bigquery.LoadJobConfig(**config))
    return job.result()


# -- loads ------------------------------------------------------------------------------------


def test_load_ndjson_with_wildcard_from_several_objects(bq, bucket, dataset):
    bucket.blob("in/part-1.json").upload_from_string(_ndjson(ROWS[:1]))
    bucket.blob("in/sub/part-2.json").upload_from_string(gzip.compress(_ndjson(ROWS[1:])))
    bucket.blob("in/other.csv").upload_from_string(b"not,json\n")
    table = f"{PROJECT}.{dataset}.t"
    job = _load(bq, f"gs://{bucket.name}/in/*.json", table, schema=SCHEMA,
                source_format="NEWLINE_DELIMITED_JSON")
    assert job.input_files == 2 and job.output_rows == 2
    got = _rows(bq, table)
    assert got[0]["ts"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    assert got[0]["payload"] == {"k": [1, 2]} and got[0]["raw"] == b"\x00\x01"
    assert got[1]["name"] is None and got[1]["ok"] is False


def test_load_csv_autodetect_and_skip_leading_rows_per_file(bq, bucket, dataset):
    bucket.blob("c/1.csv").upload_from_string(b"id,name,score\n1,x,1.5\n2,y,2\n")
    bucket.blob("c/2.csv").upload_from_string(b"id,name,score\n3,z,4.25\n")
    table = f"{PROJECT}.{dataset}.auto"
    _load(bq, f"gs://{bucket.name}/c/*", table, source_format="CSV", autodetect=True)
    schema = {f.name: f.field_type for f in bq.get_table(table).schema}
    assert schema == {"id": "INTEGER", "name": "STRING", "score": "FLOAT"}
    assert [r["id"] for r in _rows(bq, table)] == [1, 2, 3]
    explicit = f"{PROJECT}.{dataset}.explicit"
    _load(bq, [f"gs://{bucket.name}/c/1.csv", f"gs://{bucket.name}/c/2.csv"], explicit,
          source_format="CSV", skip_leading_rows=1,
          schema=[bigquery.SchemaField("id", "INTEGER"), bigquery.SchemaField("name", "STRING"),
                  bigquery.SchemaField("score", "FLOAT")])
    assert [r["name"] for r in _rows(bq, explicit)] == ["x", "y", "z"]


def test_load_parquet_brings_its_schema(bq, bucket, dataset):
    table_data = pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "when": pa.array([dt.datetime(2024, 5, 1, tzinfo=dt.UTC), None],
                         pa.timestamp("us", tz="UTC")),
        "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
        "amount": pa.array([decimal.Decimal("1.25"), None], pa.decimal128(10, 2)),
        "inner": pa.array([{"x": 1}, {"x": 2}], pa.struct([("x", pa.int64())])),
    })
    out = io.BytesIO()
    pq.write_table(table_data, out)
    bucket.blob("p/data.parquet").upload_from_string(out.getvalue())
    table = f"{PROJECT}.{dataset}.pq"
    _load(bq, f"gs://{bucket.name}/p/data.parquet", table, source_format="PARQUET")
    fields = {f.name: (f.field_type, f.mode) for f in bq.get_table(table).schema}
    assert fields["when"] == ("TIMESTAMP", "NULLABLE") and fields["tags"] == ("STRING", "REPEATED")
    assert fields["amount"][0] == "NUMERIC" and fields["inner"][0] == "RECORD"
    rows = _rows(bq, table)
    assert rows[0]["tags"] == ["a", "b"] and rows[0]["amount"] == decimal.Decimal("1.25")
    assert rows[1]["inner"] == {"x": 2}


def test_load_avro_logical_types(bq, bucket, dataset):
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "id", "type": "long"},
        {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "doc", "type": {"type": "string", "sqlType": "JSON"}},
    ]}
    out = io.BytesIO()
    fastavro.writer(out, schema, [{"id": 7, "at": dt.datetime(2024, 2, 3, tzinfo=dt.UTC),
                                   "day": dt.date(2024, 2, 3), "doc": '{"a":1}'}])
    bucket.blob("a.avro").upload_from_string(out.getvalue())
    logical = f"{PROJECT}.{dataset}.avro_logical"
    _load(bq, f"gs://{bucket.name}/a.avro", logical, source_format="AVRO",
          use_avro_logical_types=True)
    fields = {f.name: f.field_type for f in bq.get_table(logical).schema}
    assert fields == {"id": "INTEGER", "at": "TIMESTAMP", "day": "DATE", "doc": "JSON"}
    assert _rows(bq, logical)[0]["day"] == dt.date(2024, 2, 3)
    raw = f"{PROJECT}.{dataset}.avro_raw"
    _load(bq, f"gs://{bucket.name}/a.avro", raw, source_format="AVRO")
    assert {f.name: f.field_type for f in bq.get_table(raw).schema}["day"] == "INTEGER"
    assert _rows(bq, raw)[0]["day"] == (dt.date(2024, 2, 3) - dt.date(1970, 1, 1)).days


def test_load_schema_update_options(bq, bucket, dataset):
    table = f"{PROJECT}.{dataset}.grow"
    bq.create_table(bigquery.Table(table, schema=[bigquery.SchemaField("id", "INTEGER",
                                                                       mode="REQUIRED")]))
    bucket.blob("g.json").upload_from_string(_ndjson([{"id": 1, "extra": "x"}]))
    wider = [bigquery.SchemaField("id", "INTEGER"), bigquery.SchemaField("extra", "STRING")]
    with pytest.raises(BadRequest, match="Cannot add fields"):
        _load(bq, f"gs://{bucket.name}/g.json", table, schema=wider,
              source_format="NEWLINE_DELIMITED_JSON")
    with pytest.raises(BadRequest, match="changed mode from REQUIRED to NULLABLE"):
        _load(bq, f"gs://{bucket.name}/g.json", table, schema=wider,
              source_format="NEWLINE_DELIMITED_JSON", schema_update_options=["ALLOW_FIELD_ADDITION"])
    _load(bq, f"gs://{bucket.name}/g.json", table, schema=wider,
          source_format="NEWLINE_DELIMITED_JSON",
          schema_update_options=["ALLOW_FIELD_ADDITION", "ALLOW_FIELD_RELAXATION"])
    fields = {f.name: f.mode for f in bq.get_table(table).schema}
    assert fields == {"id": "NULLABLE", "extra": "NULLABLE"}
    assert _rows(bq, table) == [{"id": 1, "extra": "x"}]
    bucket.blob("h.json").upload_from_string(_ndjson([{"id": 2, "more": True}]))
    _load(bq, f"gs://{bucket.name}/h.json", table, autodetect=True,
          source_format="NEWLINE_DELIMITED_JSON", schema_update_options=["ALLOW_FIELD_ADDITION"])
    assert [f.name for f in bq.get_table(table).schema] == ["id", "extra", "more"]


# -- errors -----------------------------------------------------------------------------------


def test_missing_object_is_not_found_naming_the_uri(bq, bucket, dataset):
    uri = f"gs://{bucket.name}/nothing/here.json"
    with pytest.raises(NotFound, match=f"Not found: URI {uri}"):
        _load(bq, uri, f"{PROJECT}.{dataset}.t", source_format="NEWLINE_DELIMITED_JSON",
              autodetect=True)
    wildcard = f"gs://{bucket.name}/nothing/*.json"
    with pytest.raises(NotFound, match=re.escape(f"Not found: URI {wildcard}")):
        _load(bq, wildcard, f"{PROJECT}.{dataset}.t", source_format="NEWLINE_DELIMITED_JSON",
              autodetect=True)
    with pytest.raises(NotFound, match="Not found: URI gs://no-such-bucket-"):
        _load(bq, f"gs://no-such-bucket-{uuid.uuid4().hex[:8]}/x.json",
              f"{PROJECT}.{dataset}.t", source_format="NEWLINE_DELIMITED_JSON", autodetect=True)


@pytest.mark.parametrize("uri", [
    "/etc/passwd", "file:///etc/passwd", "gs://", "gs://UPPER/x", "gs://ab/x", "gs://b..c/x",
    "gs://bucket-ok/", "gs://bucket-ok/a*b*c", "gs://bucket-ok/../../x/..", "gs://bucket-ok/.",
    "gs://bucket-ok/a\nb", "gs://goog-bucket/x", "gs://192.168.1.1/x", "gs://bucket-ok/" + "x" * 1025,
])
def test_invalid_source_uris_are_refused_before_any_use(bq, dataset, uri):
    with pytest.raises(BadRequest, match="Invalid source URI|Must be a valid Google Storage"):
        _load(bq, uri, f"{PROJECT}.{dataset}.t", source_format="CSV", autodetect=True)


def test_bad_rows_in_gcs_files_are_counted_like_uploads(bq, bucket, dataset):
    bucket.blob("bad.json").upload_from_string(b'{"id": 1}\n{not json\n{"id": "x"}\n\xff\xfe{}\n')
    table = f"{PROJECT}.{dataset}.bad"
    schema = [bigquery.SchemaField("id", "INTEGER")]
    with pytest.raises(BadRequest, match="too many errors"):
        _load(bq, f"gs://{bucket.name}/bad.json", table, schema=schema,
              source_format="NEWLINE_DELIMITED_JSON")
    job = _load(bq, f"gs://{bucket.name}/bad.json", table, schema=schema,
                source_format="NEWLINE_DELIMITED_JSON", max_bad_records=3)
    assert job.output_rows == 1  # a line that is not UTF-8 is one bad record, not a failed file


# -- extracts ---------------------------------------------------------------------------------


@pytest.fixture
def source_table(bq, dataset):
    table = f"{PROJECT}.{dataset}.src"
    bq.create_table(bigquery.Table(table, schema=SCHEMA))
    assert not bq.insert_rows_json(table, ROWS)
    return table


def _extract(bq, table, uris, **config):
    return bq.extract_table(table, uris, job_config=bigquery.ExtractJobConfig(**config)).result()


def test_extract_ndjson_then_load_it_back_identical(bq, gcs, bucket, source_table, dataset):
    job = _extract(bq, source_table, f"gs://{bucket.name}/out/rows-*.json",
                   destination_format="NEWLINE_DELIMITED_JSON")
    assert job.destination_uri_file_counts == [1]
    data = bucket.blob("out/rows-000000000000.json").download_as_bytes()
    first = json.loads(data.splitlines()[0])
    assert first["id"] == "1" and first["ts"] == "2024-01-02 03:04:05.123456 UTC"
    assert first["payload"] == {"k": [1, 2]}
    assert "name" not in json.loads(data.splitlines()[1])  # NULLs are left out
    copy = f"{PROJECT}.{dataset}.copy"
    _load(bq, f"gs://{bucket.name}/out/*", copy, schema=SCHEMA,
          source_format="NEWLINE_DELIMITED_JSON")
    assert _rows(bq, copy) == _rows(bq, source_table)


def test_extract_csv_gzip_header_and_nested_refused(bq, bucket, source_table, dataset):
    _extract(bq, source_table, f"gs://{bucket.name}/t.csv.gz", compression="GZIP",
             field_delimiter=";")
    text = gzip.decompress(bucket.blob("t.csv.gz").download_as_bytes()).decode()
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == [f.name for f in SCHEMA]
    assert rows[1][:4] == ["1", "a", "2024-01-02 03:04:05.123456 UTC", "2024-01-02"]
    assert rows[2][1] == ""
    nested = f"{PROJECT}.{dataset}.nested"
    bq.create_table(bigquery.Table(nested, schema=[bigquery.SchemaField("xs", "INTEGER",
                                                                        mode="REPEATED")]))
    with pytest.raises(BadRequest, match="nested schema. Field: xs"):
        _extract(bq, nested, f"gs://{bucket.name}/n.csv")


@pytest.mark.parametrize("compression", ["NONE", "DEFLATE"])
def test_extract_avro_round_trip(bq, bucket, source_table, dataset, compression):
    _extract(bq, source_table, f"gs://{bucket.name}/avro/part-*.avro", destination_format="AVRO",
             compression=compression, use_avro_logical_types=True)
    records = list(fastavro.reader(io.BytesIO(
        bucket.blob("avro/part-000000000000.avro").download_as_bytes())))
    assert records[0]["ts"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    assert records[0]["day"] == dt.date(2024, 1, 2) and records[0]["raw"] == b"\x00\x01"
    back = f"{PROJECT}.{dataset}.back_{compression.lower()}"
    bq.create_table(bigquery.Table(back, schema=SCHEMA))
    _load(bq, f"gs://{bucket.name}/avro/*", back, source_format="AVRO", use_avro_logical_types=True)
    assert _rows(bq, back) == _rows(bq, source_table)


def test_extract_parquet_and_shards_across_wildcard_uris(bq, bucket, source_table):
    job = _extract(bq, source_table,
                   [f"gs://{bucket.name}/pq/a-*.parquet", f"gs://{bucket.name}/pq/b-*.parquet"],
                   destination_format="PARQUET", compression="ZSTD")
    assert job.destination_uri_file_counts == [1, 1]
    tables = [pq.read_table(pa.BufferReader(bucket.blob(f"pq/{p}-000000000000.parquet")
                                            .download_as_bytes())) for p in "ab"]
    assert sorted(sum((t.column("id").to_pylist() for t in tables), [])) == [1, 2]


def test_extract_errors(bq, bucket, source_table, dataset):
    with pytest.raises(BadRequest, match="extract destination URI"):
        _extract(bq, source_table, "/tmp/out.csv")
    with pytest.raises(NotFound):
        _extract(bq, f"{PROJECT}.{dataset}.missing", f"gs://{bucket.name}/x.csv")
    with pytest.raises(NotFound, match="Not found: URI gs://no-bucket-"):
        _extract(bq, source_table, f"gs://no-bucket-{uuid.uuid4().hex[:8]}/x.csv",
                 destination_format="NEWLINE_DELIMITED_JSON")


# -- external tables --------------------------------------------------------------------------


def test_external_table_reads_the_bucket_at_query_time(bq, bucket, dataset):
    bucket.blob("ext/1.csv").upload_from_string(b"a,1\nb,2\n")
    table = bigquery.Table(f"{PROJECT}.{dataset}.ext",
                           schema=[bigquery.SchemaField("k", "STRING"),
                                   bigquery.SchemaField("v", "INTEGER")])
    config = bigquery.ExternalConfig("CSV")
    config.source_uris = [f"gs://{bucket.name}/ext/*.csv"]
    table.external_data_configuration = config
    bq.create_table(table)
    assert bq.get_table(table.reference).table_type == "EXTERNAL"
    query = f"SELECT SUM(v) AS s FROM `{PROJECT}.{dataset}.ext`"
    assert list(bq.query_and_wait(query))[0]["s"] == 3
    bucket.blob("ext/2.csv").upload_from_string(b"c,10\n")
    assert list(bq.query_and_wait(query))[0]["s"] == 13
    with pytest.raises(BadRequest, match="EXTERNAL"):
        bq.insert_rows_json(f"{PROJECT}.{dataset}.ext", [{"k": "x", "v": 1}])


def test_external_table_autodetects_ndjson(bq, bucket, dataset):
    bucket.blob("auto.json").upload_from_string(_ndjson([{"n": 1, "s": "x"}, {"n": 2}]))
    table = bigquery.Table(f"{PROJECT}.{dataset}.auto_ext")
    config = bigquery.ExternalConfig("NEWLINE_DELIMITED_JSON")
    config.source_uris = [f"gs://{bucket.name}/auto.json"]
    config.autodetect = True
    table.external_data_configuration = config
    bq.create_table(table)
    rows = list(bq.query_and_wait(f"SELECT n, s FROM `{PROJECT}.{dataset}.auto_ext` ORDER BY n"))
    assert [(r["n"], r["s"]) for r in rows] == [(1, "x"), (2, None)]


def test_without_cloud_storage_gs_uris_are_a_clear_error(tmp_path):
    server = ServerProcess.emulator("bigquery", "--project", PROJECT,
                                    env={"STORAGE_EMULATOR_HOST": ""},
                                    log_path=tmp_path / "bq.log")
    try:
        client = make_client(server.url, PROJECT)
        client.create_dataset("d")
        with pytest.raises(BadRequest, match="no Cloud Storage: start it with --storage-endpoint"):
            _load(client, "gs://bucket-ok/x.json", f"{PROJECT}.d.t", autodetect=True,
                  source_format="NEWLINE_DELIMITED_JSON")
    finally:
        server.stop()
