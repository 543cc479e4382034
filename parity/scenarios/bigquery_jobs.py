"""Jobs: get, list, cancel, a given job id, duplicates, getQueryResults paging, missing jobs."""

from parity.scenarios._bq import dataset

SERVICE = "bigquery"


def run(ctx):
    from google.cloud import bigquery

    bq = ctx.bigquery
    ds = dataset(ctx)
    job_id = ctx.name("job")
    sql = "SELECT x FROM UNNEST(GENERATE_ARRAY(1, 25)) AS x ORDER BY x"
    job = bq.query(sql, job_id=job_id, job_retry=None)
    job.result()
    view = lambda j: {"state": j.state, "type": j.job_type, "error": j.error_result}  # noqa: E731
    ctx.call("get the job by its id", bq.get_job, job_id, shape=view)
    ctx.call("listed", lambda: job_id in {j.job_id for j in bq.list_jobs(max_results=200)})
    ctx.call("cancel a finished job", bq.cancel_job, job_id, shape=view)
    ctx.call(
        "the same job id again",
        lambda: bq.query("SELECT 1", job_id=job_id, job_retry=None).result(),
    )
    pages = bq.get_job(job_id).result(page_size=10).pages
    ctx.call("result pages of 10", lambda: [len(list(p)) for p in pages])
    ctx.call("get a missing job", bq.get_job, ctx.name("nojob"))
    ctx.call("cancel a missing job", bq.cancel_job, ctx.name("nojob"))
    failed = bq.query(f"SELECT * FROM `{ds}.absent`", job_id=ctx.name("failing"), job_retry=None)
    try:
        failed.result()
    except Exception:
        pass
    ctx.call(
        "a failed job, fetched again",
        bq.get_job,
        failed.job_id,
        shape=lambda j: {"state": j.state, "reason": (j.error_result or {}).get("reason")},
    )
    dry = bigquery.QueryJobConfig(dry_run=True)
    ctx.call("dry run", lambda: bq.query(sql, job_config=dry).state)
