"""BigQuery subscriptions: ``bigquery_config`` exports written into the BigQuery emulator.

The emulator is found from ``--bigquery-endpoint`` or ``BIGQUERY_EMULATOR_HOST`` and written
through google-cloud-bigquery's ``insertAll`` (anonymous credentials, no insert ids: like the
Storage Write API's default stream the service uses, nothing is de-duplicated), rows that fail
reported one by one (``skipInvalidRows``). What goes into a row, per the service's
documentation:

- neither ``use_topic_schema`` nor ``use_table_schema``: the message data in the column
  ``data`` (BYTES: the bytes; STRING: UTF-8 text; JSON: JSON text, which must parse);
- ``use_table_schema``: the data is a JSON object whose fields are the row's columns;
- ``use_topic_schema``: the data decoded with the topic's Avro or protobuf schema (the
  revision and encoding named by the message's ``googclient_schema*`` attributes); without a
  schema on the topic it falls back to ``data``;
- ``write_metadata``: ``subscription_name``, ``message_id``, ``publish_time`` and
  ``attributes`` (a JSON object of the attributes, plus ``ordering_key`` when set);
- ``drop_unknown_fields``: fields without a column are dropped (``ignoreUnknownValues``)
  instead of failing the row.

Compatibility is checked at create/update and before writing: the table must exist (else
NOT_FOUND), have the columns a row needs with compatible types, and no REQUIRED column nothing
writes (else SCHEMA_MISMATCH).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import json
import os
import re
import time
import uuid
from typing import Any

from emulators.pubsub.clock import rfc3339_ns
from emulators.pubsub.errors import ApiError, invalid
from emulators.pubsub.exports import ACTIVE, Batch, SinkUnavailable

TABLE = re.compile(r"([A-Za-z0-9\-_.:]+?)[.:]([A-Za-z0-9_]+)\.([^.\s]+)")
DATA_TYPES = ("BYTES", "STRING", "JSON")
METADATA = {
    "subscription_name": ("STRING",),
    "message_id": ("STRING",),
    "publish_time": ("TIMESTAMP",),
    "attributes": ("STRING", "JSON"),
}
ALIASES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}
# a topic schema's field type -> the BigQuery column types it may be written to
NUMBERS = ("INTEGER", "FLOAT", "NUMERIC", "BIGNUMERIC")
AVRO_TO_BIGQUERY = {
    "string": ("STRING", "JSON", "TIMESTAMP", "DATETIME", "DATE", "TIME", "NUMERIC",
               "BIGNUMERIC", "GEOGRAPHY"),
    "int": (*NUMBERS, "DATE", "TIME", "TIMESTAMP", "DATETIME"),
    "long": (*NUMBERS, "DATE", "TIME", "TIMESTAMP", "DATETIME"),
    "float": NUMBERS,
    "double": NUMBERS,
    "boolean": ("BOOLEAN",),
    "bytes": ("BYTES", "NUMERIC", "BIGNUMERIC"),
    "fixed": ("BYTES", "NUMERIC", "BIGNUMERIC"),
    "enum": ("STRING", "INTEGER"),
    "record": ("RECORD",),
    "map": ("RECORD", "JSON"),
}
TABLE_CACHE_S = 1.0


class RowError(ValueError):
    """A message that cannot become a row; the text goes to the dead-letter attribute."""


def _type(column: dict[str, Any]) -> str:
    kind = str(column.get("type", "")).upper()
    return ALIASES.get(kind, kind)


def parse_table(table: str) -> tuple[str, str, str]:
    """``project.dataset.table`` (or the older ``project:dataset.table``)."""
    m = TABLE.fullmatch(table or "")
    if not m:
        raise invalid(
            f"Invalid BigQuery table name: {table!r}. It must be of the form "
            "{projectId}.{datasetId}.{tableId}."
        )
    return m.group(1), m.group(2), m.group(3)


def check_config(config: dict[str, Any]) -> tuple[str, str, str]:
    """What the service refuses whatever the table: a bad name, both schema options."""
    if config.get("use_topic_schema") and config.get("use_table_schema"):
        raise invalid("use_topic_schema and use_table_schema cannot both be set.")
    return parse_table(config.get("table", ""))


def _schema_field_allows(kind: Any, column: dict[str, Any]) -> bool:
    """Whether a topic schema field (Avro type, or protobuf FieldDescriptor) fits a column."""
    mode = column.get("mode") or "NULLABLE"
    column_type = _type(column)
    if hasattr(kind, "cpp_type"):  # protobuf
        repeated = kind.label == kind.LABEL_REPEATED
        if repeated != (mode == "REPEATED") and not kind.message_type:
            return False
        names = {1: "double", 2: "float", 3: "long", 4: "long", 5: "int", 6: "long", 7: "int",
                 8: "boolean", 9: "string", 10: "record", 11: "record", 12: "bytes", 13: "int",
                 14: "enum", 15: "int", 16: "long", 17: "int", 18: "long"}
        kind = names.get(kind.type, "string")
    elif isinstance(kind, dict):
        if kind.get("type") == "array":
            return mode == "REPEATED" and _schema_field_allows(kind.get("items"),
                                                               {**column, "mode": "NULLABLE"})
        kind = kind.get("type")
    elif isinstance(kind, list):  # a union of several types: only JSON or STRING can hold it
        return column_type in ("JSON", "STRING")
    return column_type in AVRO_TO_BIGQUERY.get(str(kind), (column_type,))


def incompatibilities(
    columns: list[dict[str, Any]], config: dict[str, Any], topic_fields: dict[str, Any] | None
) -> list[str]:
    """Why rows of this subscription cannot go into a table with ``columns`` (empty: they can)."""
    cols = {c["name"]: c for c in columns}
    problems: list[str] = []

    def need(name: str, types: tuple[str, ...], why: str) -> None:
        column = cols.get(name)
        if column is None:
            problems.append(f"the table has no column {name} ({' or '.join(types)}) for {why}")
        elif _type(column) not in types:
            problems.append(f"column {name} is {column['type']}, {why} needs {' or '.join(types)}")

    if config.get("use_table_schema"):
        written = set(cols)
    elif config.get("use_topic_schema") and topic_fields:
        written = set(topic_fields)
        for name, kind in topic_fields.items():
            column = cols.get(name)
            if column is None:
                if not config.get("drop_unknown_fields"):
                    problems.append(f"field {name} of the topic schema has no column in the table")
            elif not _schema_field_allows(kind, column):
                problems.append(f"field {name} of the topic schema does not fit column {name} "
                                f"({column['type']} {column.get('mode') or 'NULLABLE'})")
    else:
        written = {"data"}
        need("data", DATA_TYPES, "the message data")
    if config.get("write_metadata"):
        for name, types in METADATA.items():
            need(name, types, "write_metadata")
            written.add(name)
    for name, column in cols.items():
        if name not in written and column.get("mode") == "REQUIRED":
            problems.append(f"column {name} is REQUIRED but no message field is written to it")
    return problems


def jsonable(value: Any) -> Any:
    """Decoded schema values as insertAll JSON: bytes base64, times ISO 8601, decimals text."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    return value


class BigQuerySink:
    """Writes BigQuery subscriptions' batches with insertAll (see the module docstring)."""

    field = "bigquery_config"
    max_messages = 1000
    max_bytes = 8 << 20

    def __init__(self, endpoint: str | None = None, schemas: Any = None):
        self._endpoint = endpoint
        self.schemas = schemas
        self._clients: dict[tuple[str, str], Any] = {}
        self._tables: dict[str, tuple[float, str, str, list[dict]]] = {}

    def endpoint(self) -> str:
        url = self._endpoint or os.environ.get("BIGQUERY_EMULATOR_HOST", "")
        if not url:
            raise ApiError(
                "FAILED_PRECONDITION",
                "BigQuery subscriptions need a BigQuery emulator: start this emulator with "
                "--bigquery-endpoint URL or set BIGQUERY_EMULATOR_HOST.",
            )
        return url if "://" in url else f"http://{url}"

    def _client(self, project: str) -> Any:
        key = (self.endpoint(), project)
        if key not in self._clients:
            from google.api_core.client_options import ClientOptions
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import bigquery

            self._clients[key] = bigquery.Client(
                project=project,
                credentials=AnonymousCredentials(),
                client_options=ClientOptions(api_endpoint=key[0]),
            )
        return self._clients[key]

    # ---- the table ------------------------------------------------------------------------
    def _fetch(self, table: str) -> tuple[str, str, list[dict]]:
        """(state, detail, columns) of a table, read in a worker thread."""
        from google.api_core import exceptions

        project, dataset, name = parse_table(table)
        try:
            found = self._client(project).get_table(f"{project}.{dataset}.{name}", timeout=30)
        except exceptions.NotFound:
            return "NOT_FOUND", f"Table {project}.{dataset}.{name} does not exist.", []
        except exceptions.Forbidden as exc:
            return "PERMISSION_DENIED", f"Cannot read table {table}: {exc.message}", []
        except (exceptions.GoogleAPIError, OSError) as exc:
            raise ApiError("UNAVAILABLE", f"The BigQuery emulator did not answer: {exc}") \
                from None
        return ACTIVE, "", [f.to_api_repr() for f in found.schema]

    async def _table(self, table: str, fresh: bool = False) -> tuple[str, str, list[dict]]:
        cached = self._tables.get(table)
        now = time.monotonic()
        if cached is not None and not fresh and now - cached[0] < TABLE_CACHE_S:
            return cached[1:]
        state, detail, columns = await asyncio.to_thread(self._fetch, table)
        self._tables[table] = (now, state, detail, columns)
        return state, detail, columns

    def _topic_fields(self, config: dict[str, Any], topic: dict[str, Any]) -> dict | None:
        settings = topic.get("schema_settings") or {}
        if not config.get("use_topic_schema") or not settings.get("schema") or not self.schemas:
            return None
        return self.schemas.validator(settings["schema"]).fields

    async def check(self, name: str, config: dict[str, Any], topic: dict[str, Any]):
        """(state, why): ACTIVE, NOT_FOUND, PERMISSION_DENIED or SCHEMA_MISMATCH."""
        check_config(config)
        self.endpoint()
        state, detail, columns = await self._table(config["table"], fresh=True)
        if state != ACTIVE:
            return state, detail
        problems = incompatibilities(columns, config, self._topic_fields(config, topic))
        if problems:
            return "SCHEMA_MISMATCH", f"Incompatible table {config['table']}: " + "; ".join(
                problems) + "."
        return ACTIVE, ""

    # ---- rows -----------------------------------------------------------------------------
    def row(self, batch: Batch, entry: Any, columns: dict[str, dict]) -> dict[str, Any]:
        config = batch.subscription.config["bigquery_config"]
        msg = entry.msg
        row: dict[str, Any]
        settings = batch.topic_config.get("schema_settings") or {}
        if config.get("use_table_schema"):
            try:
                row = json.loads(msg.data)
            except (ValueError, RecursionError) as exc:
                raise RowError(f"The message data is not valid JSON: {exc}") from None
            if not isinstance(row, dict):
                raise RowError("The message data is not a JSON object.")
        elif config.get("use_topic_schema") and settings.get("schema") and self.schemas:
            row = jsonable(self._decode(msg))
        else:
            row = {"data": self._data(msg.data, _type(columns.get("data", {})))}
        for name, value in list(row.items()):
            column = columns.get(name)
            if column is not None and _type(column) == "JSON" and not isinstance(value, str):
                row[name] = json.dumps(value)
        if config.get("write_metadata"):
            attributes = dict(msg.attributes)
            if msg.ordering_key:
                attributes["ordering_key"] = msg.ordering_key
            row.update(
                subscription_name=batch.subscription.name,
                message_id=str(msg.seq),
                publish_time=rfc3339_ns(msg.publish_time_ns),
                attributes=json.dumps(attributes),
            )
        return row

    def _decode(self, msg: Any) -> dict[str, Any]:
        attrs = msg.attributes
        name = attrs.get("googclient_schemaname", "")
        try:
            value = self.schemas.decode_message(
                name, attrs.get("googclient_schemarevisionid") or None,
                attrs.get("googclient_schemaencoding", "JSON"), msg.data,
            )
        except (KeyError, ValueError) as exc:
            raise RowError(f"The message cannot be decoded with the topic schema: {exc}") from None
        if not isinstance(value, dict):
            raise RowError("The topic schema does not decode the message to a record.")
        return value

    @staticmethod
    def _data(data: bytes, column_type: str) -> str:
        if column_type == "BYTES":
            return base64.b64encode(data).decode()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RowError(f"The message data is not UTF-8 text for the {column_type} column "
                           "data.") from None
        if column_type == "JSON":
            try:
                json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise RowError(f"The message data is not valid JSON for the JSON column data: "
                               f"{exc}") from None
        return text

    # ---- writing --------------------------------------------------------------------------
    async def write(self, batch: Batch) -> list[str | None]:
        config = batch.subscription.config["bigquery_config"]
        table = config.get("table", "")
        try:
            state, detail, columns = await self._table(table)
        except ApiError as exc:
            raise SinkUnavailable(ACTIVE, exc.message) from None
        if state != ACTIVE:
            raise SinkUnavailable(state, detail)
        by_name = {c["name"]: c for c in columns}
        results: list[str | None] = [None] * len(batch.entries)
        rows, where = [], []
        for i, entry in enumerate(batch.entries):
            try:
                rows.append(self.row(batch, entry, by_name))
                where.append(i)
            except RowError as exc:
                results[i] = str(exc)
        if rows:
            errors = await asyncio.to_thread(
                self._insert, table, rows, bool(config.get("drop_unknown_fields"))
            )
            for error in errors:
                texts = [e.get("message", "") for e in error.get("errors", [])
                         if e.get("reason") != "stopped"]
                results[where[error["index"]]] = "; ".join(texts) or "The row was not written."
        return results

    def _insert(self, table: str, rows: list[dict], drop_unknown: bool) -> list[dict]:
        from google.api_core import exceptions
        from google.cloud.bigquery import AutoRowIDs

        project, dataset, name = parse_table(table)
        try:
            return self._client(project).insert_rows_json(
                f"{project}.{dataset}.{name}", rows, row_ids=AutoRowIDs.DISABLED,
                skip_invalid_rows=True, ignore_unknown_values=drop_unknown, timeout=60,
            )
        except exceptions.NotFound as exc:
            self._tables.pop(table, None)
            raise SinkUnavailable("NOT_FOUND", exc.message) from None
        except exceptions.Forbidden as exc:
            raise SinkUnavailable("PERMISSION_DENIED", exc.message) from None
        except (exceptions.GoogleAPIError, OSError) as exc:
            raise SinkUnavailable(ACTIVE, f"insertAll failed: {exc}") from None
