"""Point-in-time recovery statements and copies, on top of the history in ``timetravel.py``:

* ``CREATE SNAPSHOT TABLE [IF NOT EXISTS] s CLONE t [FOR SYSTEM_TIME AS OF ts] [OPTIONS(...)]``:
  a read-only table (type ``SNAPSHOT``, ``snapshotDefinition``) of ``t`` now or at ``ts``;
  ``OPTIONS(expiration_timestamp=..., description=..., friendly_name=..., labels=...)``.
* ``CREATE [OR REPLACE] TABLE [IF NOT EXISTS] c CLONE t_or_snapshot [FOR SYSTEM_TIME AS OF ts]``:
  a writable table (``cloneDefinition``); cloning a snapshot restores it.
* ``DROP SNAPSHOT TABLE [IF EXISTS] s``.
* Copy jobs: ``operationType`` COPY (default), SNAPSHOT, CLONE or RESTORE, and source tables with
  a snapshot decorator, ``tableId@<millis since the epoch>`` or ``tableId@-<millis ago>``, which
  also reads a table deleted within the window (``bq cp d.t@1700000000000 d.t_restored``).

sqlglot does not parse these statements (it falls back to an opaque command), so they are split
here with its tokenizer: the table names go through the same name rules as everywhere, and the
``AS OF`` expression and option values are evaluated by the query engine, i.e. translated like
any query text (``QueryEngine.timestamp_ms``). BigQuery's snapshots and clones share storage
with their base; here they are copies (same results, more disk).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone
from typing import Any

from .errors import Duplicate, Invalid, InvalidQuery, NotFound

MAYBE = re.compile(r"^\s*(CREATE|DROP)\b[^;]*?\b(CLONE|SNAPSHOT)\b", re.IGNORECASE | re.DOTALL)
_DECORATOR = re.compile(r"^(.+)@(-?\d+)$")


@dataclasses.dataclass
class CloneStatement:
    kind: str  # CREATE_SNAPSHOT_TABLE | CREATE_TABLE_CLONE | DROP_SNAPSHOT_TABLE
    target: tuple
    source: tuple | None = None
    as_of: str | None = None  # BigQuery SQL text of the timestamp expression
    options: dict = dataclasses.field(default_factory=dict)
    or_replace: bool = False
    if_not_exists: bool = False
    if_exists: bool = False


def _words(tokens: list, i: int, *words: str) -> bool:
    return all(i + k < len(tokens) and tokens[i + k].text.upper() == w
               for k, w in enumerate(words))  # fmt: skip


def _table(sql: str, tokens: list, i: int, stop: set[str], default_project: str,
           default_dataset: str | None) -> tuple[tuple, int]:
    """A table name starting at token ``i`` (up to a word of ``stop``) -> (ids, next index)."""
    from sqlglot import exp

    j = i
    while j < len(tokens) and tokens[j].text.upper() not in stop:
        j += 1
    if j == i:
        raise InvalidQuery("Syntax error: expected a table name")
    text = sql[tokens[i].start: tokens[j - 1].end + 1]
    try:
        node = exp.to_table(text, dialect="bigquery")
    except Exception:  # noqa: BLE001 - sqlglot raises several kinds
        raise InvalidQuery(f"Syntax error: invalid table name {text}") from None
    parts = [p.name for p in node.parts]
    if len(parts) == 1 and "." in parts[0]:
        parts = parts[0].split(".")
    if len(parts) == 3:
        return (parts[0], parts[1], parts[2]), j
    if len(parts) == 2:
        return (default_project, parts[0], parts[1]), j
    if len(parts) == 1 and default_dataset:
        return (default_project, default_dataset, parts[0]), j
    raise InvalidQuery(f'Table "{text}" must be qualified with a dataset (e.g. dataset.table).')


def parse(sql: str, default_project: str, default_dataset: str | None) -> CloneStatement | None:
    """The statement, or None when ``sql`` is not one of these."""
    from sqlglot.dialects.bigquery import BigQuery

    try:
        tokens = BigQuery().tokenize(sql)
    except Exception:  # noqa: BLE001 - not ours to report: the translator will
        return None
    if tokens and tokens[-1].text == ";":
        tokens = tokens[:-1]
    i = 0
    if _words(tokens, 0, "DROP", "SNAPSHOT", "TABLE"):
        i = 3
        if_exists = _words(tokens, i, "IF", "EXISTS")
        i += 2 if if_exists else 0
        target, i = _table(sql, tokens, i, set(), default_project, default_dataset)
        return CloneStatement("DROP_SNAPSHOT_TABLE", target, if_exists=if_exists)
    if not _words(tokens, 0, "CREATE"):
        return None
    i = 1
    or_replace = _words(tokens, i, "OR", "REPLACE")
    i += 2 if or_replace else 0
    snapshot = _words(tokens, i, "SNAPSHOT")
    i += 1 if snapshot else 0
    if not _words(tokens, i, "TABLE"):
        return None
    i += 1
    if_not_exists = _words(tokens, i, "IF", "NOT", "EXISTS")
    i += 3 if if_not_exists else 0
    target, i = _table(sql, tokens, i, {"CLONE", "(", "AS", "OPTIONS", "PARTITION", "CLUSTER"},
                       default_project, default_dataset)  # fmt: skip
    if not _words(tokens, i, "CLONE"):
        if snapshot:
            raise InvalidQuery("Syntax error: CREATE SNAPSHOT TABLE needs CLONE source_table")
        return None
    source, i = _table(sql, tokens, i + 1, {"FOR", "OPTIONS"}, default_project, default_dataset)
    as_of = None
    if _words(tokens, i, "FOR", "SYSTEM_TIME", "AS", "OF"):
        start = i + 4
        end = start
        while end < len(tokens) and not (tokens[end].text.upper() == "OPTIONS"
                                         and end + 1 < len(tokens) and tokens[end + 1].text == "("):
            end += 1
        if end == start:
            raise InvalidQuery("Syntax error: expected a timestamp after FOR SYSTEM_TIME AS OF")
        as_of = sql[tokens[start].start: tokens[end - 1].end + 1]
        i = end
    options: dict = {}
    if _words(tokens, i, "OPTIONS"):
        options = _options(sql[tokens[i].start:])
    elif i < len(tokens):
        raise InvalidQuery(f"Syntax error: Unexpected \"{tokens[i].text}\"")
    if snapshot and or_replace:
        raise InvalidQuery("CREATE OR REPLACE is not supported for table snapshots")
    if or_replace and if_not_exists:
        raise InvalidQuery("CREATE OR REPLACE and IF NOT EXISTS cannot both be present")
    kind = "CREATE_SNAPSHOT_TABLE" if snapshot else "CREATE_TABLE_CLONE"
    return CloneStatement(kind, target, source, as_of, options, or_replace, if_not_exists)


def _options(text: str) -> dict:
    import sqlglot
    from sqlglot import exp

    from .sql.statements import options_dict

    try:
        tree = sqlglot.parse_one(f"CREATE TABLE _emulator_options (x INT64) {text}",
                                 read="bigquery")
    except sqlglot.errors.ParseError as exc:
        raise InvalidQuery(f"Syntax error: {str(exc).splitlines()[0]}") from None
    props = tree.args.get("properties")
    found = options_dict([p for p in (props.expressions if props else [])
                          if type(p) is exp.Property])  # fmt: skip
    unknown = set(found) - {"expiration_timestamp", "description", "friendly_name", "labels"}
    if unknown:
        raise InvalidQuery(f"Unsupported table option: {sorted(unknown)[0]}")
    return found


def split_decorator(table_id: str) -> tuple[str, int | None]:
    """``events@1700000000000`` -> ("events", 1700000000000); ``@-3600000``: an hour ago."""
    match = _DECORATOR.match(table_id)
    if not match:
        return table_id, None
    millis = int(match.group(2))
    if millis == 0:
        raise Invalid(f"Invalid snapshot decorator in {table_id}: use @<millis since the epoch> "
                      "or @-<millis ago>.")
    if millis < 0:
        from .timetravel import now_ms

        millis = now_ms() + millis
    return match.group(1), millis


def rfc3339(ms: int) -> str:
    at = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def source_rows(catalog: Any, ref: tuple, at_ms: int | None, *, current_only: bool,
                kinds: tuple = ("TABLE", "SNAPSHOT")) -> tuple[list, str]:
    """(schema, SELECT) of a table now (``at_ms`` None) or at ``at_ms`` from its history."""
    from .identifiers import columns as column_list
    from .identifiers import ident

    table = catalog.find_table(*ref)
    if at_ms is None or (table is not None and table.type == "SNAPSHOT"):
        if table is None:
            catalog.get_dataset(ref[0], ref[1])
            raise NotFound(f"Not found: Table {ref[0]}:{ref[1]}.{ref[2]}")
        if table.type not in kinds:
            raise Invalid(f"{ref[0]}:{ref[1]}.{ref[2]} is a {table.type}; it cannot be copied, "
                          "cloned or snapshotted.")
        cols = column_list(f["name"] for f in table.schema)
        return list(table.schema), f"SELECT {cols} FROM {ident(table.storage_name)}"
    if table is not None and table.type not in kinds:
        raise Invalid(f"{ref[0]}:{ref[1]}.{ref[2]} is a {table.type}; it has no history.")
    schema, select, _ = catalog.history.read_at(ref, at_ms, current_only=current_only)
    return schema, select


def mark(catalog: Any, table: Any, kind: str, base: tuple, at_ms: int,
         expiration_ms: int | None = None) -> Any:
    """Make a just-written table a snapshot (read-only) or a clone of ``base`` at ``at_ms``."""
    definition = {"baseTableReference": {"projectId": base[0], "datasetId": base[1],
                                         "tableId": base[2]}}  # fmt: skip
    with catalog.storage.lock:
        current = catalog.find_table(*table.ref)
        if kind == "SNAPSHOT":
            current.type = "SNAPSHOT"
            current.properties["snapshotDefinition"] = {**definition,
                                                        "snapshotTime": rfc3339(at_ms)}
        else:
            current.properties["cloneDefinition"] = {**definition, "cloneTime": rfc3339(at_ms)}
        if expiration_ms is not None:
            current.properties["expirationTime"] = str(expiration_ms)
        catalog.save_table(current)
    return current


def run(engine: Any, ctx: Any, st: CloneStatement) -> tuple[str, dict]:
    """Run a parsed statement; returns (ddlOperationPerformed, ddlTargetTable)."""
    from .timetravel import now_ms

    catalog = engine.catalog
    project, dataset_id, table_id = st.target
    ref = {"projectId": project, "datasetId": dataset_id, "tableId": table_id}
    existing = catalog.find_table(*st.target)
    if st.kind == "DROP_SNAPSHOT_TABLE":
        if existing is None:
            if st.if_exists:
                return "SKIP", ref
            catalog.get_dataset(project, dataset_id)
            raise NotFound(f"Not found: Table {project}:{dataset_id}.{table_id}")
        if existing.type != "SNAPSHOT":
            raise InvalidQuery(f"{table_id} is not a table snapshot; use DROP TABLE")
        catalog.delete_table(project, dataset_id, table_id)
        return "DROP", ref
    if existing is not None and not st.or_replace:
        if st.if_not_exists:
            return "SKIP", ref
        raise Duplicate(f"Already Exists: Table {project}:{dataset_id}.{table_id}")
    at_ms = engine.timestamp_ms(ctx, st.as_of) if st.as_of else None
    expiration = st.options.get("expiration_timestamp")
    expiration_ms = engine.timestamp_ms(ctx, str(expiration)) if expiration is not None else None
    snapshot = st.kind == "CREATE_SNAPSHOT_TABLE"
    kinds = ("TABLE",) if snapshot else ("TABLE", "SNAPSHOT")
    schema, select = source_rows(catalog, st.source, at_ms, current_only=True, kinds=kinds)
    base = catalog.find_table(*st.source)
    resource: dict = {"tableReference": ref, "schema": {"fields": schema}}
    for key in ("timePartitioning", "clustering", "rangePartitioning"):
        if base is not None and key in base.properties:
            resource[key] = base.properties[key]
    if st.options.get("description"):
        resource["description"] = st.options["description"]
    if st.options.get("friendly_name"):
        resource["friendlyName"] = st.options["friendly_name"]
    if isinstance(st.options.get("labels"), list):
        resource["labels"] = {k: v for k, v in st.options["labels"] if isinstance(k, str)}
    table = catalog.create_table(project, dataset_id, resource, replace=existing is not None)
    engine.fill(ctx, table, select)
    mark(catalog, table, "SNAPSHOT" if snapshot else "CLONE", st.source,
         at_ms if at_ms is not None else now_ms(), expiration_ms)
    return ("REPLACE" if existing is not None else "CREATE"), ref


def copy_operation(config: dict) -> str:
    operation = config.get("operationType") or "COPY"
    if operation not in ("COPY", "SNAPSHOT", "RESTORE", "CLONE"):
        raise Invalid(f"Invalid value for operationType: {operation}")
    return operation
