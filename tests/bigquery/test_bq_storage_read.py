"""Storage Read API (gRPC BigQueryRead) through the real google-cloud-bigquery-storage client,
and google-cloud-bigquery / pandas-gbq reading through it."""

from __future__ import annotations

import datetime as dt
import decimal
import time

import pytest
from google.api_core import exceptions
from google.cloud import bigquery
from google.cloud.bigquery_storage_v1 import types

from emulators.bigquery.storage_api import clients

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc
ARROW, AVRO = types.DataFormat.ARROW, types.DataFormat.AVRO

SCHEMA = [
    bigquery.SchemaField("id", "INTEGER", mode="REQUIRED"),
    bigquery.SchemaField("name", "STRING"),
    bigquery.SchemaField("score", "FLOAT"),
    bigquery.SchemaField("ok", "BOOLEAN"),
    bigquery.SchemaField("raw", "BYTES"),
    bigquery.SchemaField("amount", "NUMERIC"),
    bigquery.SchemaField("big", "BIGNUMERIC"),
    bigquery.SchemaField("at", "TIMESTAMP"),
    bigquery.SchemaField("day", "DATE"),
    bigquery.SchemaField("clock", "TIME"),
    bigquery.SchemaField("local", "DATETIME"),
    bigquery.SchemaField("doc", "JSON"),
    bigquery.SchemaField("place", "GEOGRAPHY"),
    bigquery.SchemaField("tags", "STRING", mode="REPEATED"),
    bigquery.SchemaField(
        "info",
        "RECORD",
        fields=[
            bigquery.SchemaField("city", "STRING"),
            bigquery.SchemaField("zips", "INTEGER", mode="REPEATED"),
            bigquery.SchemaField("geo", "RECORD", fields=[bigquery.SchemaField("lat", "FLOAT")]),
        ],
    ),
]


def _row(i: int) -> dict:
    return {
        "id": i,
        "name": None if i % 7 == 0 else f"name-{i}",
        "score": i / 4,
        "ok": i % 2 == 0,
        "raw": "AAE=",
        "amount": f"{i}.125",
        "big": "12345678901234567890.123456789012345678",
        "at": f"2024-01-02T03:04:{i % 60:02d}.5Z",
        "day": "2024-02-29",
        "clock": "12:34:56.789",
        "local": "2024-01-02T03:04:05.000006",
        "doc": {"k": [1, 2], "i": i},
        "place": "POINT(1 2)",
        "tags": ["a", "b"] if i % 3 else [],
        "info": {"city": "Paris", "zips": [75001, i], "geo": {"lat": 48.8}} if i % 5 else None,
    }


@pytest.fixture
def typed_table(bq_client, bq_dataset):
    table = bq_client.create_table(
        bigquery.Table(f"{bq_client.project}.{bq_dataset}.typed", schema=SCHEMA)
    )
    assert bq_client.insert_rows_json(table, [_row(i) for i in range(300)]) == []
    return table


@pytest.fixture
def numbers(bq_client, bq_dataset):
    table = bq_client.create_table(
        bigquery.Table(
            f"{bq_client.project}.{bq_dataset}.numbers",
            schema=[
                bigquery.SchemaField("n", "INTEGER"),
                bigquery.SchemaField("label", "STRING"),
            ],
        )
    )
    rows = [{"n": i, "label": f"l{i % 10}"} for i in range(5000)]
    assert bq_client.insert_rows_json(table, rows) == []
    return table


@pytest.fixture
def spy(monkeypatch):
    """Counts read sessions the helper's Storage Read clients create (the real clients)."""
    calls: list[str] = []
    real = clients.read_client

    def counting(host=None):
        client = real(host)
        create = client.create_read_session

        def create_read_session(*args, **kwargs):
            session = create(*args, **kwargs)
            calls.append(session.table)
            return session

        client.create_read_session = create_read_session
        return client

    monkeypatch.setattr(clients, "read_client", counting)
    return calls


def _path(table) -> str:
    return f"projects/{table.project}/datasets/{table.dataset_id}/tables/{table.table_id}"


def _session(read_client, table, data_format=ARROW, max_streams=1, **options):
    """CreateReadSession of a table (or a table path) in the test project."""
    snapshot = options.pop("snapshot_time", None)
    requested = types.ReadSession(
        table=table if isinstance(table, str) else _path(table),
        data_format=data_format,
        read_options=types.ReadSession.TableReadOptions(**options),
    )
    if snapshot is not None:
        requested.table_modifiers = types.ReadSession.TableModifiers(snapshot_time=snapshot)
    return read_client.create_read_session(
        parent="projects/test-project", read_session=requested, max_stream_count=max_streams
    )


def _read_all(read_client, session) -> list[dict]:
    """Every row of the session's streams, as Python values."""
    rows = []
    for stream in session.streams:
        rows.extend(_rows(read_client.read_rows(stream.name), session))
    return rows


def _rows(reader, session) -> list[dict]:
    if session.data_format == ARROW:
        return reader.to_arrow(session).to_pylist()
    return list(reader.rows(session))


# ------------------------------------------------------------------ google-cloud-bigquery


def test_to_dataframe_reads_through_the_storage_api_with_every_type(
    bq_storage_client, bq_client, typed_table, spy
):
    through_storage = bq_storage_client.list_rows(typed_table).to_dataframe()
    assert spy == [_path(typed_table)]
    through_rest = bq_client.list_rows(typed_table).to_dataframe(create_bqstorage_client=False)
    through_storage = through_storage.sort_values("id").reset_index(drop=True)
    assert list(through_storage.columns) == [f.name for f in SCHEMA]
    assert len(through_storage) == 300
    for column in through_storage.columns:
        assert through_storage[column].astype(str).tolist() == (
            through_rest[column].astype(str).tolist()
        ), column
    first = through_storage.iloc[1]
    assert first["big"] == decimal.Decimal("12345678901234567890.123456789012345678")
    assert first["at"] == dt.datetime(2024, 1, 2, 3, 4, 1, 500000, tzinfo=UTC)
    assert list(first["info"]["zips"]) == [75001, 1]


def test_to_arrow_has_bigquerys_arrow_types(bq_storage_client, typed_table, spy):
    import pyarrow as pa

    table = bq_storage_client.list_rows(typed_table).to_arrow()
    assert spy
    types_by_name = {f.name: f.type for f in table.schema}
    assert types_by_name["amount"] == pa.decimal128(38, 9)
    assert types_by_name["big"] == pa.decimal256(76, 38)
    assert types_by_name["at"] == pa.timestamp("us", tz="UTC")
    assert types_by_name["local"] == pa.timestamp("us")
    assert types_by_name["clock"] == pa.time64("us")
    assert types_by_name["day"] == pa.date32()
    assert not table.schema.field("id").nullable
    # NULL arrays read back as [], as BigQuery has no NULL arrays
    assert all(v is not None for v in table.column("tags").to_pylist())


def test_query_results_read_through_the_storage_api(bq_storage_client, numbers, spy):
    sql = f"SELECT n, label FROM `{numbers.dataset_id}.numbers` WHERE n >= 1000"
    job = bq_storage_client.query(sql)
    frame = job.to_dataframe()
    assert len(frame) == 4000 and sorted(frame["n"]) == list(range(1000, 5000))
    # the results live in an anonymous table, as in BigQuery
    destination = job.destination
    assert destination.dataset_id.startswith("_") and destination.table_id.startswith("anon")
    assert spy == [_path(destination)]
    arrow = bq_storage_client.query(sql + " ORDER BY n DESC").to_arrow()
    assert arrow.column("n").to_pylist() == list(range(4999, 999, -1))


def test_query_and_wait_and_list_rows(bq_storage_client, numbers, spy):
    rows = bq_storage_client.query_and_wait(
        f"SELECT label, COUNT(*) AS c FROM `{numbers.dataset_id}.numbers` GROUP BY label"
    )
    assert sorted((r["label"], r["c"]) for r in rows) == [(f"l{i}", 500) for i in range(10)]
    listed = bq_storage_client.list_rows(numbers, selected_fields=[numbers.schema[0]])
    frame = listed.to_dataframe()
    assert list(frame.columns) == ["n"] and len(frame) == 5000


def test_pandas_gbq_read_gbq(bq_storage_client, bq_emulator, spy, monkeypatch):
    import pandas_gbq

    # pandas-gbq looks the result table up with a client of its own, which finds the emulator
    # through the environment, as every google-cloud-bigquery client does
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bq_emulator.url)

    def read(sql: str):
        return pandas_gbq.read_gbq(
            sql,
            project_id=bq_storage_client.project,
            bigquery_client=bq_storage_client,
            use_bqstorage_api=True,
            progress_bar_type=None,
        )

    small = read("SELECT n FROM UNNEST(GENERATE_ARRAY(1, 2500)) AS n")
    assert sorted(small["n"]) == list(range(1, 2501))
    assert spy == []  # like BigQuery, a small result comes whole with the query response
    large = read("SELECT n, CAST(n AS STRING) AS s FROM UNNEST(GENERATE_ARRAY(1, 150000)) AS n")
    assert sorted(large["n"]) == list(range(1, 150001))
    assert large["s"].iloc[0] == str(large["n"].iloc[0])
    assert len(spy) == 1 and "/tables/anon" in spy[0]


def test_anonymous_result_tables_answer_tables_get_and_list(bq_client, numbers):
    job = bq_client.query(f"SELECT n FROM `{numbers.dataset_id}.numbers` WHERE n < 10")
    job.result()
    table = bq_client.get_table(job.destination)
    assert table.num_rows == 10 and [f.name for f in table.schema] == ["n"]
    rows = bq_client.list_rows(job.destination, max_results=4)
    assert sorted(r["n"] for r in rows) == [0, 1, 2, 3]


# ------------------------------------------------------------------ sessions and streams


def test_avro_rows_match_arrow_rows(read_client, typed_table):
    avro = _read_all(read_client, _session(read_client, typed_table, AVRO))
    arrow = _read_all(read_client, _session(read_client, typed_table, ARROW))
    assert len(avro) == len(arrow) == 300
    for a, b in zip(avro, arrow, strict=True):
        assert a["id"] == b["id"] and a["name"] == b["name"]
        assert a["at"] == b["at"] and a["day"] == b["day"] and a["clock"] == b["clock"]
        assert a["amount"] == b["amount"] and a["big"] == b["big"]
        assert a["local"] == b["local"].isoformat()
        assert a["tags"] == b["tags"]
        assert a["info"] == b["info"]


def test_selected_fields_and_nested_selection(read_client, typed_table):
    session = _session(read_client, typed_table, selected_fields=["info.geo", "ID", "name"])
    rows = _read_all(read_client, session)
    assert list(rows[1]) == ["id", "name", "info"]  # table order, not request order
    assert rows[1]["info"] == {"geo": {"lat": 48.8}}
    assert rows[0]["info"] is None
    with pytest.raises(exceptions.InvalidArgument, match="nope"):
        _session(read_client, typed_table, selected_fields=["nope"])


def test_row_restriction_is_googlesql(read_client, typed_table):
    session = _session(
        read_client,
        typed_table,
        selected_fields=["id"],
        row_restriction='id BETWEEN 10 AND 20 AND STARTS_WITH(name, "name-1") '
        "AND at >= TIMESTAMP '2024-01-02 03:04:00+00'",
    )
    # id 14 has a NULL name: STARTS_WITH(NULL, ...) is NULL, so the row is left out
    wanted = [i for i in range(10, 20) if i != 14]
    assert sorted(r["id"] for r in _read_all(read_client, session)) == wanted


@pytest.mark.parametrize(
    "restriction",
    [
        "id > (SELECT 1)",
        "id > 1; DROP TABLE typed",
        "1=1) UNION ALL SELECT * FROM (SELECT 1",
        "id IN (SELECT id FROM other.t)",
        "no_such_column = 1",
        "id = @p",
        "",
    ],
)
def test_bad_row_restrictions_are_invalid_argument(read_client, typed_table, restriction):
    if not restriction:  # empty means no restriction
        assert len(_read_all(read_client, _session(read_client, typed_table))) == 300
        return
    with pytest.raises(exceptions.InvalidArgument):
        _session(read_client, typed_table, row_restriction=restriction)


def test_several_streams_cover_the_rows_once(read_client, bq_client, bq_dataset):
    table = bq_client.create_table(
        bigquery.Table(
            f"{bq_client.project}.{bq_dataset}.many",
            schema=[bigquery.SchemaField("n", "INTEGER")],
        )
    )
    bq_client.query_and_wait(
        f"INSERT INTO `{bq_dataset}.many` (n) SELECT n FROM UNNEST(GENERATE_ARRAY(0, 249999)) AS n"
    )
    session = _session(read_client, table, max_streams=4)
    assert len(session.streams) == 3  # about 100,000 rows per stream, fewer than asked
    seen = [r["n"] for r in _read_all(read_client, session)]
    assert sorted(seen) == list(range(250000))
    # a preferred minimum gives more, smaller streams
    parent = f"projects/{table.project}"
    request = types.CreateReadSessionRequest(
        parent=parent,
        read_session=types.ReadSession(table=_path(table), data_format=ARROW),
        max_stream_count=10,
        preferred_min_stream_count=8,
    )
    assert len(read_client.create_read_session(request=request).streams) == 8


def test_read_rows_from_an_offset(read_client, numbers):
    session = _session(read_client, numbers)
    stream = session.streams[0].name
    rows = _rows(read_client.read_rows(stream, offset=4990), session)
    assert [r["n"] for r in rows] == list(range(4990, 5000))
    assert _rows(read_client.read_rows(stream, offset=5000), session) == []
    with pytest.raises(exceptions.OutOfRange):
        list(read_client.read_rows(stream, offset=5001))


def test_split_read_stream(read_client, numbers):
    session = _session(read_client, numbers)
    original = session.streams[0].name
    split = read_client.split_read_stream(
        request=types.SplitReadStreamRequest(name=original, fraction=0.3)
    )
    primary = [r["n"] for r in _rows(read_client.read_rows(split.primary_stream.name), session)]
    rest = [r["n"] for r in _rows(read_client.read_rows(split.remainder_stream.name), session)]
    assert primary == list(range(1500)) and rest == list(range(1500, 5000))
    for fraction in (0.0, 1.0, 1.5):
        with pytest.raises(exceptions.InvalidArgument):
            read_client.split_read_stream(
                request=types.SplitReadStreamRequest(name=original, fraction=fraction)
            )


def test_a_one_row_stream_cannot_be_split(read_client, bq_client, bq_dataset):
    table = bq_client.create_table(
        bigquery.Table(
            f"{bq_client.project}.{bq_dataset}.one", schema=[bigquery.SchemaField("n", "INTEGER")]
        )
    )
    bq_client.insert_rows_json(table, [{"n": 1}])
    session = _session(read_client, table)
    split = read_client.split_read_stream(
        request=types.SplitReadStreamRequest(name=session.streams[0].name, fraction=0.5)
    )
    assert not split.primary_stream.name and not split.remainder_stream.name


def test_a_session_reads_the_table_as_it_was_when_created(read_client, bq_client, numbers):
    session = _session(read_client, numbers)
    bq_client.insert_rows_json(numbers, [{"n": -1}])
    assert len(_read_all(read_client, session)) == 5000
    assert len(_read_all(read_client, _session(read_client, numbers))) == 5001


def test_snapshot_time_reads_the_past(read_client, bq_client, bq_dataset):
    from google.protobuf import timestamp_pb2

    table = bq_client.create_table(
        bigquery.Table(
            f"{bq_client.project}.{bq_dataset}.past", schema=[bigquery.SchemaField("n", "INTEGER")]
        )
    )
    time.sleep(0.01)
    bq_client.insert_rows_json(table, [{"n": 1}, {"n": 2}])
    time.sleep(0.01)
    between = timestamp_pb2.Timestamp()
    between.GetCurrentTime()
    time.sleep(0.01)
    bq_client.insert_rows_json(table, [{"n": 3}])

    def read_at(stamp) -> list[int]:
        session = _session(read_client, table, snapshot_time=stamp)
        assert session.table_modifiers.snapshot_time.timestamp() == pytest.approx(
            stamp.seconds + stamp.nanos / 1e9, abs=1e-6
        )
        return sorted(r["n"] for r in _read_all(read_client, session))

    assert read_at(between) == [1, 2]
    future = timestamp_pb2.Timestamp(seconds=int(time.time()) + 3600)
    with pytest.raises(exceptions.InvalidArgument, match="future"):
        read_at(future)
    with pytest.raises(exceptions.InvalidArgument, match="did not exist"):
        read_at(timestamp_pb2.Timestamp(seconds=1_000_000_000))
    # after a DML change the emulator no longer knows the rows before it
    bq_client.query_and_wait(f"DELETE FROM `{bq_dataset}.past` WHERE n = 1")
    with pytest.raises(exceptions.FailedPrecondition, match="earliest readable time"):
        read_at(between)
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    assert read_at(now) == [2, 3]


def test_empty_table_has_no_streams(read_client, bq_storage_client, bq_dataset):
    table = bq_storage_client.create_table(
        bigquery.Table(
            f"{bq_storage_client.project}.{bq_dataset}.empty",
            schema=[bigquery.SchemaField("n", "INTEGER")],
        )
    )
    assert list(_session(read_client, table).streams) == []
    frame = bq_storage_client.list_rows(table).to_dataframe()
    assert list(frame.columns) == ["n"] and len(frame) == 0


def test_errors_have_the_services_codes(read_client, bq_client, bq_dataset, numbers):
    project = bq_client.project
    with pytest.raises(exceptions.NotFound):
        _session(read_client, f"projects/{project}/datasets/{bq_dataset}/tables/missing")
    with pytest.raises(exceptions.NotFound):
        _session(read_client, f"projects/{project}/datasets/missing/tables/t")
    with pytest.raises(exceptions.InvalidArgument):
        _session(read_client, "not/a/table")
    with pytest.raises(exceptions.InvalidArgument):
        _session(read_client, numbers, data_format=types.DataFormat.DATA_FORMAT_UNSPECIFIED)
    bq_client.query_and_wait(f"CREATE VIEW `{bq_dataset}.v` AS SELECT 1 AS x")
    with pytest.raises(exceptions.InvalidArgument, match="VIEW"):
        _session(read_client, f"projects/{project}/datasets/{bq_dataset}/tables/v")
    with pytest.raises(exceptions.NotFound):
        list(read_client.read_rows(f"projects/{project}/locations/us/sessions/x/streams/y"))
    # the server keeps serving
    assert len(_read_all(read_client, _session(read_client, numbers))) == 5000
