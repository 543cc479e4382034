"""Load jobs: NDJSON and CSV uploads, write dispositions, bad records, load_table_from_json."""

import io

from parity.scenarios._bq import dataset, rows

SERVICE = "bigquery"


def _job(job):
    job.result()
    return {"state": job.state, "output_rows": job.output_rows}


def run(ctx):
    from google.cloud import bigquery
    from google.cloud.bigquery import SchemaField as F

    bq = ctx.bigquery
    ref = f"{dataset(ctx)}.{ctx.name('t')}"
    schema = [F("id", "INT64", mode="REQUIRED"), F("s", "STRING")]
    bq.create_table(bigquery.Table(ref, schema=schema))
    nd = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON")
    body = b'{"id": 1, "s": "a"}\n{"id": 2, "s": "b"}\n'
    ctx.call(
        "ndjson append", lambda: _job(bq.load_table_from_file(io.BytesIO(body), ref, job_config=nd))
    )
    csv = bigquery.LoadJobConfig(
        source_format="CSV", skip_leading_rows=1, write_disposition="WRITE_TRUNCATE"
    )
    ctx.call(
        "csv truncate",
        lambda: _job(
            bq.load_table_from_file(io.BytesIO(b"id,s\n3,c\n4,d\n5,e\n"), ref, job_config=csv)
        ),
    )
    ctx.call("rows after truncate", lambda: rows(bq.list_rows(ref), order_by="id"))
    empty = bigquery.LoadJobConfig(
        source_format="NEWLINE_DELIMITED_JSON", write_disposition="WRITE_EMPTY"
    )
    ctx.call(
        "write_empty on a table with rows",
        lambda: _job(bq.load_table_from_file(io.BytesIO(body), ref, job_config=empty)),
    )
    ctx.call(
        "bad record",
        lambda: _job(bq.load_table_from_file(io.BytesIO(b'{"id": "x"}\n'), ref, job_config=nd)),
    )
    lenient = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON", max_bad_records=1)
    ctx.call(
        "bad record within max_bad_records",
        lambda: _job(
            bq.load_table_from_file(
                io.BytesIO(b'{"id": "x"}\n{"id": 6}\n'), ref, job_config=lenient
            )
        ),
    )
    ctx.call(
        "load_table_from_json", lambda: _job(bq.load_table_from_json([{"id": 7, "s": "g"}], ref))
    )
    auto = f"{ref}_auto"
    detect = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON", autodetect=True)
    ctx.call(
        "autodetect into a new table",
        lambda: _job(
            bq.load_table_from_file(io.BytesIO(b'{"a": 1, "b": "x"}\n'), auto, job_config=detect)
        ),
    )
    ctx.call("rows", lambda: rows(bq.list_rows(ref), order_by="id"))
