"""Publish events and watch them land: shared by the demo, the pytest plugin and load tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime


def publish(publisher, topic: str, payloads: Iterable[bytes], **attributes: str) -> list[str]:
    """Publish with the client's batching; return the message ids in order (raises on failure)."""
    futures = [publisher.publish(topic, payload, **attributes) for payload in payloads]
    return [future.result(timeout=60) for future in futures]


def query_rows(client, sql: str, **params) -> list[dict]:
    """Run ``sql`` with named scalar parameters and return plain dict rows."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(
        query_parameters=[scalar_parameter(name, value) for name, value in params.items()]
    )
    return [dict(row.items()) for row in client.query(sql, job_config=config).result()]


def scalar_parameter(name: str, value):
    """A named query parameter of the BigQuery type that fits ``value``."""
    from google.cloud import bigquery

    return bigquery.ScalarQueryParameter(name, _param_type(value), value)


def _param_type(value) -> str:
    if isinstance(value, datetime):
        return "TIMESTAMP"
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    return "STRING"


def count_rows(client, table: str) -> int:
    """Rows in ``project.dataset.table``."""
    return query_rows(client, f"SELECT COUNT(*) AS n FROM `{table}`")[0]["n"]


def wait_until(
    condition: Callable[[], object],
    timeout: float = 60.0,
    interval: float = 0.25,
    describe: Callable[[], str] | None = None,
):
    """Poll ``condition`` until it returns something truthy; ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f": {describe()}" if describe else ""
            raise TimeoutError(f"condition not met after {timeout:.0f}s{detail}")
        time.sleep(interval)


def wait_for_rows(
    client, table: str, count: int, timeout: float = 60.0, interval: float = 0.25
) -> int:
    """Wait until ``table`` holds at least ``count`` rows; return the count."""
    seen = {"n": 0}

    def enough():
        seen["n"] = count_rows(client, table)
        return seen["n"] >= count

    wait_until(
        enough, timeout, interval, describe=lambda: f"{table} has {seen['n']} of {count} rows"
    )
    return seen["n"]
