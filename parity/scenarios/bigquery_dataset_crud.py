"""Datasets: create, duplicate, get, list, patch, delete (empty, non-empty), missing ones."""

SERVICE = "bigquery"


def run(ctx):
    from google.cloud import bigquery

    bq = ctx.bigquery
    ref = f"{ctx.project}.{ctx.name('ds')}"
    ds = bigquery.Dataset(ref)
    ds.description = "first"
    ds.labels = {"team": "a"}
    view = lambda d: {"dataset_id": d.dataset_id, "description": d.description, "labels": d.labels}  # noqa: E731
    ctx.call("create", bq.create_dataset, ds, shape=view)
    ctx.cleanup(lambda: bq.delete_dataset(ref, delete_contents=True, not_found_ok=True))
    ctx.call("create again", bq.create_dataset, bigquery.Dataset(ref))
    ctx.call(
        "create again, exists_ok",
        bq.create_dataset,
        bigquery.Dataset(ref),
        exists_ok=True,
        shape=view,
    )
    got = ctx.call("get", bq.get_dataset, ref, shape=view)
    ctx.call(
        "list (this run's)",
        lambda: sorted(
            d.dataset_id for d in bq.list_datasets(ctx.project) if ctx.token in d.dataset_id
        ),
    )
    if got is not None:
        got.description = "second"
        got.labels = {"team": "b"}
        ctx.call(
            "patch description and labels",
            bq.update_dataset,
            got,
            ["description", "labels"],
            shape=view,
        )
    ctx.call("get missing", bq.get_dataset, f"{ctx.project}.{ctx.name('missing')}")
    ctx.call("bad dataset id", bq.create_dataset, f"{ctx.project}.bad-id!")
    bq.create_table(bigquery.Table(f"{ref}.t", schema=[bigquery.SchemaField("x", "INT64")]))
    ctx.call("delete non-empty", bq.delete_dataset, ref)
    ctx.call("delete with contents", bq.delete_dataset, ref, delete_contents=True)
    ctx.call("delete again", bq.delete_dataset, ref)
    ctx.call("delete again, not_found_ok", bq.delete_dataset, ref, not_found_ok=True)
