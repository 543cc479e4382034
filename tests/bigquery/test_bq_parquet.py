"""Parquet load jobs: google-cloud-bigquery's load_table_from_dataframe and pandas-gbq's to_gbq
(both upload Parquet), and raw Parquet files, through the real clients."""

from __future__ import annotations

import datetime as dt
import decimal
import io

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc


def _frame():
    import pandas as pd

    return pd.DataFrame(
        {
            "id": pd.array([1, 2, 3], dtype="Int64"),
            "name": ["a", None, "c"],
            "score": [0.5, 1.5, None],
            "ok": [True, False, True],
            "at": pd.to_datetime(["2024-01-01T00:00:00.000001Z"] * 3, utc=True),
            "local": pd.to_datetime(["2024-01-02 03:04:05"] * 3),
            "day": [dt.date(2024, 2, 29)] * 3,
            "amount": [decimal.Decimal("1.25"), decimal.Decimal("-3"), None],
            "raw": [b"\x00", b"", None],
            "tags": [["x", "y"], [], ["z"]],
        }
    )


def test_load_table_from_dataframe_creates_the_table(bq_storage_client, bq_dataset):
    table_id = f"{bq_storage_client.project}.{bq_dataset}.frame"
    job = bq_storage_client.load_table_from_dataframe(_frame(), table_id)
    job.result()
    assert job.output_rows == 3
    table = bq_storage_client.get_table(table_id)
    types = {f.name: (f.field_type, f.mode) for f in table.schema}
    assert types["id"] == ("INTEGER", "NULLABLE")
    assert types["at"][0] == "TIMESTAMP" and types["local"][0] == "DATETIME"
    assert types["day"][0] == "DATE" and types["amount"][0] == "NUMERIC"
    assert types["tags"] == ("STRING", "REPEATED")
    rows = sorted(bq_storage_client.list_rows(table_id), key=lambda r: r["id"])
    assert rows[0]["at"] == dt.datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert rows[0]["local"] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert rows[0]["amount"] == decimal.Decimal("1.25") and rows[2]["amount"] is None
    assert rows[0]["raw"] == b"\x00" and rows[1]["name"] is None
    assert [r["tags"] for r in rows] == [["x", "y"], [], ["z"]]
    # and back through the Storage Read API
    frame = bq_storage_client.list_rows(table_id).to_dataframe()
    assert sorted(frame["id"]) == [1, 2, 3]


def test_load_dataframe_dispositions(bq_client, bq_dataset):
    import pandas as pd

    table_id = f"{bq_client.project}.{bq_dataset}.disp"
    bq_client.create_table(
        bigquery.Table(
            table_id,
            schema=[
                bigquery.SchemaField("n", "INTEGER", mode="REQUIRED"),
                bigquery.SchemaField("s", "STRING"),
            ],
        )
    )
    frame = pd.DataFrame({"n": [1, 2], "s": ["a", "b"]})
    bq_client.load_table_from_dataframe(frame, table_id).result()
    bq_client.load_table_from_dataframe(frame, table_id).result()
    assert bq_client.get_table(table_id).num_rows == 4
    # the shared load path (fileformats.read_parquet, then the row validator) names the field
    with pytest.raises(exceptions.BadRequest, match="Missing required field: n"):
        bq_client.load_table_from_dataframe(
            pd.DataFrame({"n": pd.array([None], dtype="Int64"), "s": ["x"]}), table_id
        ).result()
    assert bq_client.get_table(table_id).num_rows == 4  # nothing of the failed job is kept
    truncate = bigquery.LoadJobConfig(write_disposition="WRITE_TRUNCATE")
    bq_client.load_table_from_dataframe(frame.head(1), table_id, job_config=truncate).result()
    assert [tuple(r.values()) for r in bq_client.list_rows(table_id)] == [(1, "a")]
    empty = bigquery.LoadJobConfig(write_disposition="WRITE_EMPTY")
    with pytest.raises(exceptions.Conflict):
        bq_client.load_table_from_dataframe(frame, table_id, job_config=empty).result()


def test_raw_parquet_file_with_its_own_schema(bq_client, bq_dataset):
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.table(
        {
            "i": pa.array([1, None], pa.int32()),
            "big": pa.array([decimal.Decimal("1.5"), None], pa.decimal256(40, 20)),
            "rec": pa.array([{"a": 1, "b": "x"}, None]),
            "when": pa.array([0, 1_000_000], pa.timestamp("us", tz="UTC")),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(arrow, buffer)
    table_id = f"{bq_client.project}.{bq_dataset}.raw"
    config = bigquery.LoadJobConfig(source_format="PARQUET")
    buffer.seek(0)
    bq_client.load_table_from_file(buffer, table_id, job_config=config).result()
    schema = {f.name: f.field_type for f in bq_client.get_table(table_id).schema}
    assert schema == {"i": "INTEGER", "big": "BIGNUMERIC", "rec": "RECORD", "when": "TIMESTAMP"}
    rows = sorted(bq_client.list_rows(table_id), key=lambda r: r["i"] is None)
    assert rows[0]["rec"] == {"a": 1, "b": "x"} and rows[0]["big"] == decimal.Decimal("1.5")
    # a column the table lacks needs ALLOW_FIELD_ADDITION
    wider = arrow.append_column("extra", pa.array(["p", "q"]))
    buffer = io.BytesIO()
    pq.write_table(wider, buffer)
    buffer.seek(0)
    with pytest.raises(exceptions.BadRequest, match="extra"):
        bq_client.load_table_from_file(buffer, table_id, job_config=config).result()
    buffer.seek(0)
    adding = bigquery.LoadJobConfig(
        source_format="PARQUET", schema_update_options=["ALLOW_FIELD_ADDITION"]
    )
    bq_client.load_table_from_file(buffer, table_id, job_config=adding).result()
    assert [f.name for f in bq_client.get_table(table_id).schema][-1] == "extra"
    assert bq_client.get_table(table_id).num_rows == 4


def test_corrupt_parquet_is_a_clear_job_error(bq_client, bq_dataset):
    config = bigquery.LoadJobConfig(source_format="PARQUET")
    job = bq_client.load_table_from_file(
        io.BytesIO(b"PAR1 not really"), f"{bq_client.project}.{bq_dataset}.bad", job_config=config
    )
    with pytest.raises(exceptions.BadRequest, match="Parquet"):
        job.result()


def test_pandas_gbq_to_gbq_and_read_gbq(bq_storage_client, bq_emulator, bq_dataset, monkeypatch):
    import pandas_gbq

    # pandas-gbq makes clients of its own for table lookups: they find the emulator through
    # the environment, as every google-cloud-bigquery client does
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bq_emulator.url)

    destination = f"{bq_dataset}.from_pandas"
    project = bq_storage_client.project
    common = {"project_id": project, "bigquery_client": bq_storage_client}
    frame = _frame().drop(columns=["tags"])
    pandas_gbq.to_gbq(frame, destination, **common)
    with pytest.raises(pandas_gbq.exceptions.TableCreationError):
        pandas_gbq.to_gbq(frame, destination, **common)
    pandas_gbq.to_gbq(frame, destination, if_exists="append", **common)
    back = pandas_gbq.read_gbq(
        f"SELECT * FROM `{destination}` ORDER BY id", progress_bar_type=None, **common
    )
    assert list(back["id"]) == [1, 1, 2, 2, 3, 3]
    assert back["at"].iloc[0] == frame["at"].iloc[0]
    pandas_gbq.to_gbq(frame.head(1), destination, if_exists="replace", **common)
    assert bq_storage_client.get_table(f"{project}.{destination}").num_rows == 1
