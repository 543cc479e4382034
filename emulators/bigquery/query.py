"""Query execution: SQL translation hook, table resolution, SELECT/DML/DDL on DuckDB."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from .catalog import Table
from .destinations import existing_destination, new_destination
from .errors import BigQueryError, Duplicate, Invalid, InvalidQuery, NotFound, expect_dict
from .information_schema import information_schema
from .params import parameter_types, query_parameters
from .storage import SCRATCH
from .types import duckdb_to_bq_field, quote_ident

if TYPE_CHECKING:
    from .service import BigQueryService

_local = threading.local()


@dataclasses.dataclass
class QueryOutcome:
    """What a query job produced, for job statistics and result reads."""

    statement_type: str
    schema: list[dict] = dataclasses.field(default_factory=list)
    arrow: Any = None  # anonymous results, held in memory as a pyarrow Table
    result_database: str = ""
    result_name: str | None = None
    total_rows: int = 0
    total_bytes: int = 0
    dml_affected: int | None = None
    dml_stats: dict | None = None
    ddl_operation: str | None = None
    ddl_target: dict | None = None
    destination: dict | None = None


# ------------------------------------------------------------------ translation


def _translator():
    from .sql import SqlError, translate  # imported on first query (sqlglot is slow to load)

    return translate, SqlError


def translate_sql(
    service: BigQueryService,
    sql: str,
    default_project: str,
    default_dataset: str | None,
    params: list | dict | None = None,
    param_types: list | dict | None = None,
) -> Any:
    translate, sql_error = _translator()
    try:
        return translate(
            sql,
            default_project=default_project,
            default_dataset=default_dataset,
            resolve_table=service.resolve_table,
            params=params,
            param_types=param_types,
        )
    except sql_error as exc:
        location = getattr(exc, "location", None)
        message = exc.message if hasattr(exc, "message") else str(exc)
        if isinstance(location, tuple) and not message.rstrip().endswith("]"):
            message = f"{message} at [{location[0]}:{location[1]}]"
        raise InvalidQuery(message, location="query") from None


# ------------------------------------------------------------------ table resolution


def resolve_table(service: BigQueryService, project: str, dataset_id: str, table_id: str) -> str:
    """DuckDB identifier of a BigQuery table, view or INFORMATION_SCHEMA view."""
    if table_id.upper().startswith("INFORMATION_SCHEMA."):
        return information_schema(service, project, dataset_id, table_id.split(".", 1)[1])
    if dataset_id.upper() == "INFORMATION_SCHEMA":
        return information_schema(service, project, None, table_id)
    table = service.catalog.find_table(project, dataset_id, table_id)
    if table is None:
        service.catalog.get_dataset(project, dataset_id)
        raise NotFound(
            f"Not found: Table {project}:{dataset_id}.{table_id} was not found in location US"
        )
    referenced = getattr(_local, "referenced", None)
    if referenced is not None:
        referenced.append(table)
    if table.type == "VIEW":
        _materialize_view(service, table)
    elif table.type == "EXTERNAL":  # its objects are read now, so no translation is reused
        mark_uncacheable()
        # Set by __main__ (external.py): an attribute, not an import, keeps the core acyclic.
        refresh = getattr(service, "refresh_external", None)
        if refresh is None:
            raise Invalid(f"External table {table.table_id} needs Cloud Storage "
                          "(--storage-endpoint).")  # fmt: skip
        refresh(table)
    return quote_ident(table.storage_name)


def mark_uncacheable() -> None:
    """The statement being translated must not be reused (it depends on a snapshot)."""
    _local.uncacheable = True


def _materialize_view(service: BigQueryService, table: Table) -> None:
    depth = getattr(_local, "view_depth", 0)
    if depth > 16:
        raise InvalidQuery(f"View {table.table_id} references itself")
    _local.view_depth = depth + 1
    try:
        # The BigQuery text is translated anew each time, so the view follows tables that were
        # dropped and re-created (new storage names); a DDL view falls back to its translation.
        sql, params = table.view_duckdb_sql, []
        try:
            statement = translate_sql(
                service, table.view_query or "", table.project, table.dataset_id
            )
        except BigQueryError:
            if sql is None:
                raise
        else:
            if statement.kind != "SELECT":
                raise InvalidQuery("A view query must be a SELECT statement")
            sql, params = statement.duckdb_sql, list(statement.duckdb_params or [])
            if table.view_columns:  # the DDL view's column list renames the query's columns
                names = ", ".join(quote_ident(c) for c in table.view_columns)
                sql = f"SELECT * FROM ({sql}) AS _view({names})"
        if params:
            raise InvalidQuery("Query parameters cannot be used in views")
        with service.storage.lock:
            service.storage.execute(
                f"CREATE OR REPLACE VIEW {quote_ident(table.storage_name)} AS {sql}"
            )
    finally:
        _local.view_depth = depth


def describe_view(service: BigQueryService, table: Table) -> list[dict]:
    """Schema of a view, from its translated query."""
    import duckdb

    with service.storage.lock:  # the cursor's description must be read before others run
        name = resolve_table(service, table.project, table.dataset_id, table.table_id)
        try:
            cursor = service.storage.execute(f"SELECT * FROM {name} LIMIT 0")
        except duckdb.Error as exc:
            raise InvalidQuery(_duckdb_message(exc)) from None
        return [duckdb_to_bq_field(col[0], col[1]) for col in cursor.description]


# ------------------------------------------------------------------ execution


_UNRECOGNIZED = re.compile(r'^Referenced column "([^"]+)" not found in FROM clause!')


def _duckdb_message(exc: Exception) -> str:
    """DuckDB's error text without its class prefix and source excerpt, in BigQuery's words
    where the meaning is the same."""
    text = str(exc)
    for prefix in ("Binder Error: ", "Parser Error: ", "Catalog Error: ", "Conversion Error: ",
                   "Invalid Input Error: ", "Constraint Error: ", "Out of Range Error: ",
                   "Not implemented Error: ", "Type Error: "):  # fmt: skip
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.split("\n\nLINE", 1)[0]
    unrecognized = _UNRECOGNIZED.match(text)
    if unrecognized:
        return f"Unrecognized name: {unrecognized.group(1)}"
    return text.split("\nCandidate bindings", 1)[0].strip()


def _run(service: BigQueryService, sql: str, params: list | None) -> Any:
    import duckdb

    try:
        return service.storage.execute(sql, params or None)
    except duckdb.Error as exc:
        raise InvalidQuery(_duckdb_message(exc)) from None


def result_schema(service: BigQueryService, sql: str, params: list | None) -> list[dict]:
    with service.storage.lock:
        cursor = _run(service, f"SELECT * FROM ({sql}) AS _emulator_q LIMIT 0", params)
        return [duckdb_to_bq_field(col[0], col[1]) for col in cursor.description]


def run_query(
    service: BigQueryService,
    project: str,
    config: dict,
    *,
    job_id: str,
    dry_run: bool = False,
) -> QueryOutcome:
    """Run one BigQuery statement from a query job configuration."""
    sql = config.get("query")
    if not isinstance(sql, str) or not sql.strip():
        raise Invalid("Query text is required.", reason="invalid")
    if config.get("useLegacySql") is True:
        raise InvalidQuery("Legacy SQL is not supported by this emulator; use standard SQL.")
    default = expect_dict(config.get("defaultDataset"), "defaultDataset")
    default_project = default.get("projectId") or project
    params = query_parameters(config.get("queryParameters"), config.get("parameterMode"))
    # Declared types keep NULL and JSON parameters typed (a bare NULL would be DuckDB's NULL).
    types = parameter_types(config.get("queryParameters"), config.get("parameterMode"))
    from .alter import ALTER_TABLE, run_alter

    if ALTER_TABLE.match(sql):  # the core runs ALTER TABLE itself, on the catalog
        if dry_run:
            return QueryOutcome("ALTER_TABLE")
        return run_alter(service, sql, default_project, default.get("datasetId"))
    _local.referenced = []
    _local.uncacheable = False
    try:
        # Translation (pure Python, can take a while) runs outside the database lock so
        # streaming inserts are not held up; resolve_table locks where it touches DuckDB.
        key = (sql, default_project, default.get("datasetId"), repr(params), repr(types))
        cached = _cached_statement(service, key)
        if cached is not None:
            statement, referenced = cached
        else:
            statement = translate_sql(
                service, sql, default_project, default.get("datasetId"), params, types
            )
            referenced = list(_local.referenced)
            if not _local.uncacheable:
                _remember_statement(service, key, statement, referenced)
        with service.storage.lock:
            for table in referenced:  # a table dropped or replaced meanwhile
                current = service.catalog.find_table(*table.ref)
                if current is None or current.storage_name != table.storage_name:
                    raise NotFound(
                        f"Not found: Table {table.project}:{table.dataset_id}.{table.table_id}"
                    )
            total_bytes = sum(
                service.storage.count_rows(t.storage_name) * max(len(t.schema), 1) * 8
                for t in referenced
                if t.type == "TABLE"
            )
            outcome = _execute(service, statement, sql, config, job_id, dry_run)
            outcome.total_bytes = total_bytes
            return outcome
    finally:
        _local.referenced = None


_CACHE_SIZE = 256
_cache_lock = threading.Lock()


def _cached_statement(service: BigQueryService, key: tuple) -> tuple | None:
    """A translation made before, if every table it resolved is still the same object (tables
    are replaced, never edited in place, when their schema or storage changes)."""
    cache = getattr(service, "_statement_cache", None)
    if cache is None:
        return None
    with _cache_lock:
        entry = cache.get(key)
        if entry is not None:
            cache.move_to_end(key)
    if entry is None:
        return None
    statement, referenced = entry
    if all(service.catalog.find_table(*t.ref) is t for t in referenced):
        return statement, referenced
    return None


def _remember_statement(
    service: BigQueryService, key: tuple, statement: Any, referenced: list
) -> None:
    with _cache_lock:
        cache = getattr(service, "_statement_cache", None)
        if cache is None:
            cache = service._statement_cache = OrderedDict()
        cache[key] = (statement, referenced)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)


def _execute(
    service: BigQueryService, st: Any, sql: str, config: dict, job_id: str, dry_run: bool
) -> QueryOutcome:
    kind = st.kind
    params = list(st.duckdb_params or [])
    if kind == "SELECT":
        if dry_run:
            return QueryOutcome("SELECT", schema=result_schema(service, st.duckdb_sql, params))
        return _select(service, st.duckdb_sql, params, config, job_id)
    if kind in ("INSERT", "UPDATE", "DELETE", "MERGE"):
        if dry_run:
            return QueryOutcome(kind)
        affected = _run(service, st.duckdb_sql, params).fetchone()
        count = int(affected[0]) if affected else 0
        if st.target:
            table = service.catalog.find_table(*st.target)
            if table is not None:
                service.catalog.save_table(table)
        stats_key = {
            "INSERT": "insertedRowCount",
            "UPDATE": "updatedRowCount",
            "DELETE": "deletedRowCount",
            "MERGE": "updatedRowCount",
        }[kind]
        return QueryOutcome(kind, dml_affected=count, dml_stats={stats_key: str(count)})
    if dry_run:
        return QueryOutcome(kind)
    return _ddl(service, st, sql, params)


def _materialize(service: BigQueryService, sql: str, params: list, job_id: str) -> tuple:
    """Run a SELECT once into a scratch table; returns (qualified name, name, schema, rows)."""
    name = f"anon_{re.sub(r'[^A-Za-z0-9_]', '_', job_id)}"
    target = f"{SCRATCH}.{quote_ident(name)}"
    _run(service, f"CREATE OR REPLACE TABLE {target} AS {sql}", params)
    described = service.storage.fetchall(f"DESCRIBE {target}")
    schema = [duckdb_to_bq_field(row[0], row[1]) for row in described]
    total = service.storage.fetchall(f"SELECT count(*) FROM {target}")[0][0]
    return target, name, schema, total


def _select(
    service: BigQueryService, sql: str, params: list, config: dict, job_id: str
) -> QueryOutcome:
    dest = expect_dict(config.get("destinationTable"), "destinationTable")
    if not dest:
        import duckdb

        try:
            with service.storage.lock:
                relation = service.storage.con.sql(sql, params=params or None)
                schema = [
                    duckdb_to_bq_field(n, t)
                    for n, t in zip(relation.columns, relation.types, strict=True)
                ]
                to_arrow = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
                arrow = to_arrow()
        except duckdb.Error as exc:
            raise InvalidQuery(_duckdb_message(exc)) from None
        return QueryOutcome("SELECT", schema=schema, arrow=arrow, total_rows=arrow.num_rows)
    target, name, schema, total = _materialize(service, sql, params, job_id)
    try:
        table = write_into_table(
            service,
            dest,
            schema,
            f"SELECT * FROM {target}",
            [],
            config.get("writeDisposition") or "WRITE_EMPTY",
            config.get("createDisposition") or "CREATE_IF_NEEDED",
        )
    finally:
        service.storage.execute(f"DROP TABLE IF EXISTS {target}")
    total = service.storage.count_rows(table.storage_name)
    return QueryOutcome(
        "SELECT",
        schema=table.schema,
        result_name=table.storage_name,
        total_rows=total,
        destination={
            "projectId": table.project,
            "datasetId": table.dataset_id,
            "tableId": table.table_id,
        },
    )


def write_into_table(
    service: BigQueryService,
    dest: dict,
    schema: list[dict],
    sql: str,
    params: list,
    write_disposition: str,
    create_disposition: str,
) -> Table:
    """Write a DuckDB query's rows into a BigQuery table with the job's dispositions."""
    project, dataset_id, table_id = (
        dest.get("projectId"),
        dest.get("datasetId"),
        dest.get("tableId"),
    )
    if not all(isinstance(p, str) and p for p in (project, dataset_id, table_id)):
        raise Invalid("destinationTable needs projectId, datasetId and tableId.")
    table = existing_destination(service, dest, create_disposition, write_disposition, "write to")
    table = new_destination(service, dest, table, schema, write_disposition) or table
    target_names = {f["name"].lower() for f in table.schema}
    extra = [f["name"] for f in schema if f["name"].lower() not in target_names]
    if extra:
        raise Invalid(f"Invalid schema update. Field {extra[0]} is not in the destination table.")
    cols = ", ".join(quote_ident(f["name"]) for f in schema)
    _run(
        service,
        f"INSERT INTO {quote_ident(table.storage_name)} ({cols}) "
        f"SELECT * FROM ({sql}) AS _emulator_q",
        params,
    )
    service.catalog.save_table(table)
    return table


_TOO_MANY_NAMES = re.compile(r"has (\d+) columns available but \d+ columns specified")
_VIEW_BODY = re.compile(r"\bAS\s*(\(?\s*(?:SELECT|WITH)\b.*)$", re.IGNORECASE | re.DOTALL)


def _ddl(service: BigQueryService, st: Any, sql: str, params: list) -> QueryOutcome:
    catalog = service.catalog
    kind = st.kind
    project, dataset_id, table_id = st.target
    ref = {"projectId": project, "datasetId": dataset_id, "tableId": table_id}
    existing = catalog.find_table(project, dataset_id, table_id)
    if kind in ("DROP_TABLE", "DROP_VIEW"):
        if existing is None:
            if st.if_exists:
                return QueryOutcome(kind, ddl_operation="SKIP", ddl_target=ref)
            catalog.get_dataset(project, dataset_id)
            noun = "Table" if kind == "DROP_TABLE" else "View"
            raise NotFound(f"Not found: {noun} {project}:{dataset_id}.{table_id}")
        service.delete_table(project, dataset_id, table_id)
        return QueryOutcome(kind, ddl_operation="DROP", ddl_target=ref)
    if existing is not None and not st.or_replace:
        if st.if_not_exists:
            return QueryOutcome(kind, ddl_operation="SKIP", ddl_target=ref)
        raise Duplicate(f"Already Exists: Table {project}:{dataset_id}.{table_id}")
    operation = "REPLACE" if existing is not None else "CREATE"
    resource: dict[str, Any] = {"tableReference": ref}
    if st.description:
        resource["description"] = st.description
    options = st.options or {}
    if isinstance(options.get("labels"), list):
        resource["labels"] = {k: v for k, v in options["labels"] if isinstance(k, str)}
    if options.get("friendly_name"):
        resource["friendlyName"] = options["friendly_name"]
    if st.time_partitioning:
        resource["timePartitioning"] = dict(st.time_partitioning)
    if st.cluster_by:
        resource["clustering"] = {"fields": list(st.cluster_by)}
    if kind == "CREATE_TABLE":
        resource["schema"] = {"fields": st.schema or []}
        catalog.create_table(project, dataset_id, resource, replace=existing is not None)
    elif kind == "CREATE_TABLE_AS_SELECT":
        target, _, schema, _ = _materialize(service, st.query_sql, params, "ctas")
        try:
            schema = st.schema or schema
            resource["schema"] = {"fields": schema}
            table = catalog.create_table(
                project, dataset_id, resource, replace=existing is not None
            )
            cols = ", ".join(quote_ident(f["name"]) for f in schema)
            _run(
                service,
                f"INSERT INTO {quote_ident(table.storage_name)} ({cols}) SELECT * FROM {target}",
                [],
            )
        finally:
            service.storage.execute(f"DROP TABLE IF EXISTS {target}")
    elif kind == "CREATE_VIEW":
        if params:
            raise InvalidQuery("Query parameters cannot be used in views")
        body = _VIEW_BODY.search(sql)
        resource["view"] = {"query": body.group(1).strip() if body else sql, "useLegacySql": False}
        columns = getattr(st, "view_columns", None)
        try:
            schema = result_schema(service, st.query_sql, [])
        except InvalidQuery as exc:  # DuckDB's words for a column list longer than the query
            more = _TOO_MANY_NAMES.search(exc.message) if columns else None
            if more is None:
                raise
            schema = [{}] * int(more.group(1))
        if columns and len(columns) != len(schema):
            raise InvalidQuery(
                f"The view column list has {len(columns)} names but the query returns "
                f"{len(schema)} columns"
            )
        resource["schema"] = {"fields": schema}
        catalog.create_table(
            project,
            dataset_id,
            resource,
            replace=existing is not None,
            view_duckdb_sql=st.query_sql,
            view_columns=columns,
        )
    else:
        raise InvalidQuery(f"Unsupported statement: {kind}")
    return QueryOutcome(kind, ddl_operation=operation, ddl_target=ref)


__all__ = ["BigQueryError", "QueryOutcome", "run_query", "resolve_table", "describe_view"]
