"""Statement kinds, the translated-statement record, and DDL metadata (schema, options)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from .errors import SqlError, unsupported

SELECT = "SELECT"
INSERT = "INSERT"
UPDATE = "UPDATE"
DELETE = "DELETE"
MERGE = "MERGE"
CREATE_TABLE = "CREATE_TABLE"
CREATE_TABLE_AS_SELECT = "CREATE_TABLE_AS_SELECT"
CREATE_VIEW = "CREATE_VIEW"
DROP_TABLE = "DROP_TABLE"
DROP_VIEW = "DROP_VIEW"

DML_KINDS = frozenset({INSERT, UPDATE, DELETE, MERGE})
DDL_KINDS = frozenset({CREATE_TABLE, CREATE_TABLE_AS_SELECT, CREATE_VIEW, DROP_TABLE, DROP_VIEW})


@dataclass
class Statement:
    """One translated BigQuery statement, ready for the core to execute.

    ``duckdb_sql``/``duckdb_params`` are set for SELECT and DML (``$n`` placeholders,
    ``duckdb_params[n-1]`` is the value). DDL carries ``target`` plus ``schema`` (CREATE TABLE
    column definitions as REST field dicts) or ``query_sql`` (CTAS / view body); the core builds
    the DuckDB DDL itself. ``query_sql`` uses the same ``duckdb_params``. ``view_columns`` is
    the column list of ``CREATE VIEW v (a, b) AS ...`` (already applied in ``query_sql``).
    """

    kind: str
    duckdb_sql: str | None = None
    duckdb_params: list[Any] = field(default_factory=list)
    target: tuple[str, str, str] | None = None
    or_replace: bool = False
    if_not_exists: bool = False
    if_exists: bool = False
    schema: list[dict[str, Any]] | None = None
    query_sql: str | None = None
    partition_by: str | None = None
    cluster_by: list[str] | None = None
    time_partitioning: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    view_columns: list[str] | None = None
    temporary: bool = False
    routine: dict[str, Any] | None = None


def is_temporary(tree: exp.Expr) -> bool:
    return isinstance(tree, exp.Create) and _has_property(tree, exp.TemporaryProperty)


def classify(tree: exp.Expr) -> str:
    """Map a parsed BigQuery statement to a Statement kind, or raise SqlError."""
    if isinstance(tree, (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)):
        return SELECT
    if isinstance(tree, exp.Insert):
        return INSERT
    if isinstance(tree, exp.Update):
        return UPDATE
    if isinstance(tree, (exp.Delete, exp.TruncateTable)):
        return DELETE
    if isinstance(tree, exp.Merge):
        return MERGE
    if isinstance(tree, exp.Create):
        kind = (tree.args.get("kind") or "").upper()
        if _has_property(tree, exp.TemporaryProperty) and kind != "TABLE":
            raise unsupported(f"CREATE TEMP {kind or 'statement'}")
        if _has_property(tree, exp.MaterializedProperty):
            raise unsupported("CREATE MATERIALIZED VIEW")
        if kind == "TABLE":
            if tree.args.get("clone") or _has_property(tree, exp.LikeProperty):
                raise unsupported("CREATE TABLE ... LIKE/COPY/CLONE")
            return CREATE_TABLE_AS_SELECT if tree.expression else CREATE_TABLE
        if kind == "VIEW":
            if not tree.expression:
                raise SqlError("Syntax error: Expected keyword AS in CREATE VIEW")
            return CREATE_VIEW
        raise unsupported(f"CREATE {kind or 'statement'}")
    if isinstance(tree, exp.Drop):
        kind = (tree.args.get("kind") or "").upper()
        if kind == "TABLE" and not tree.args.get("materialized"):
            return DROP_TABLE
        if kind == "VIEW" and not tree.args.get("materialized"):
            return DROP_VIEW
        raise unsupported(f"DROP {kind or 'statement'}")
    if isinstance(tree, exp.Command):
        # sqlglot's fallback for statements it cannot parse: name the statement's opening.
        rest = tree.expression
        rest_text = rest.name if isinstance(rest, exp.Expr) else str(rest or "")
        opening = " ".join(f"{tree.this} {rest_text}".split()[:2])[:40]
        raise unsupported(f"{opening} statement")
    if isinstance(tree, _OTHER_STATEMENTS):
        raise unsupported(f"{_statement_name(tree)} statement")
    raise SqlError("Syntax error: Expected a statement (SELECT, INSERT, CREATE, ...)", (1, 1))


_OTHER_STATEMENTS = tuple(
    getattr(exp, name)
    for name in (
        "Alter",
        "Transaction",
        "Commit",
        "Rollback",
        "Use",
        "Set",
        "Describe",
        "Copy",
        "Cache",
        "Uncache",
        "Pragma",
        "Declare",
        "Grant",
        "Revoke",
        "Analyze",
        "Show",
        "Execute",
        "TruncateTable",
        "Refresh",
        "Comment",
        "Kill",
        "LoadData",
        "Summarize",
        "Export",
        "IfBlock",
        "WhileBlock",
        "Return",
        "Block",
    )
    if hasattr(exp, name)
)


def _statement_name(tree: exp.Expr) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(tree).__name__)
    return words.upper()


def _has_property(create: exp.Create, kind: type) -> bool:
    props = create.args.get("properties")
    return bool(props and any(isinstance(p, kind) for p in props.expressions))


# --- CREATE TABLE column definitions -> BigQuery REST schema -------------------------------

_T = exp.DataType.Type
_SCALAR_NAMES = {
    _T.BIGINT: "INTEGER",
    _T.INT: "INTEGER",
    _T.SMALLINT: "INTEGER",
    _T.TINYINT: "INTEGER",
    _T.DOUBLE: "FLOAT",
    _T.FLOAT: "FLOAT",
    _T.BOOLEAN: "BOOLEAN",
    _T.TEXT: "STRING",
    _T.VARCHAR: "STRING",
    _T.BINARY: "BYTES",
    _T.VARBINARY: "BYTES",
    _T.DECIMAL: "NUMERIC",
    _T.BIGDECIMAL: "BIGNUMERIC",
    _T.TIMESTAMPTZ: "TIMESTAMP",
    _T.TIMESTAMP: "DATETIME",
    _T.DATETIME: "DATETIME",
    _T.DATE: "DATE",
    _T.TIME: "TIME",
    _T.JSON: "JSON",
    _T.GEOGRAPHY: "GEOGRAPHY",
    _T.INTERVAL: "INTERVAL",
}


def schema_from_columns(columns: list[exp.Expr]) -> list[dict[str, Any]]:
    """REST schema fields for the column definitions of a CREATE TABLE."""
    fields = []
    for col in columns:
        if isinstance(col, (exp.PrimaryKey, exp.ForeignKey)):
            continue  # BigQuery keys are NOT ENFORCED metadata; nothing to store
        if not isinstance(col, exp.ColumnDef):
            raise unsupported(f"table constraint {col.sql('bigquery')}")
        fields.append(_field(col))
    names = [f["name"].lower() for f in fields]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SqlError(f"Duplicate column names in CREATE TABLE: {', '.join(duplicates)}")
    return fields


def _field(col: exp.ColumnDef) -> dict[str, Any]:
    if col.args.get("kind") is None:
        raise SqlError(f"Syntax error: Column {col.name} needs a type")
    result = _type_field(col.name, col.args["kind"])
    for constraint in col.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null"):
            if result["mode"] == "REPEATED":
                raise SqlError("NOT NULL cannot be applied to ARRAY columns")
            result["mode"] = "REQUIRED"
        elif isinstance(kind, exp.Properties):
            options = options_dict(kind.expressions)
            if "description" in options:
                result["description"] = options["description"]
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
            continue
        elif isinstance(kind, exp.DefaultColumnConstraint):
            result["defaultValueExpression"] = kind.this.sql("bigquery")
        else:
            raise unsupported(f"column constraint {constraint.sql('bigquery')}")
    return result


def _type_field(name: str, dtype: exp.DataType) -> dict[str, Any]:
    if dtype.this == _T.ARRAY:
        inner = dtype.expressions[0] if dtype.expressions else None
        if not isinstance(inner, exp.DataType):
            raise SqlError(f"Syntax error: ARRAY column {name} needs an element type")
        if inner.this == _T.ARRAY:
            raise SqlError("Arrays of arrays are not supported")
        result = _type_field(name, inner)
        result["mode"] = "REPEATED"
        return result
    if dtype.this == _T.STRUCT:
        subfields = []
        for i, sub in enumerate(dtype.expressions):
            if isinstance(sub, exp.ColumnDef):
                subfields.append(_field(sub))
            elif isinstance(sub, exp.DataType):
                subfields.append(_type_field(f"_field_{i + 1}", sub))
            else:
                raise unsupported(f"STRUCT field {sub.sql('bigquery')}")
        return {"name": name, "type": "RECORD", "mode": "NULLABLE", "fields": subfields}
    if dtype.this == _T.RANGE:
        inner = dtype.expressions[0] if dtype.expressions else None
        element = _SCALAR_NAMES.get(inner.this) if isinstance(inner, exp.DataType) else None
        if element not in ("DATE", "DATETIME", "TIMESTAMP"):
            raise SqlError("RANGE<T> is only supported for T = DATE, DATETIME or TIMESTAMP")
        return {"name": name, "type": "RANGE", "mode": "NULLABLE",
                "rangeElementType": {"type": element}}  # fmt: skip
    type_name = _SCALAR_NAMES.get(dtype.this)
    if type_name is None:
        raise unsupported(f"column type {dtype.sql('bigquery')}")
    result: dict[str, Any] = {"name": name, "type": type_name, "mode": "NULLABLE"}
    params = [p.name for p in dtype.expressions if isinstance(p, exp.DataTypeParam)]
    if type_name in ("NUMERIC", "BIGNUMERIC") and params:
        result["precision"] = params[0]
        if len(params) > 1:
            result["scale"] = params[1]
    elif type_name in ("STRING", "BYTES") and params:
        result["maxLength"] = params[0]
    return result


# --- OPTIONS(...), PARTITION BY, CLUSTER BY -------------------------------------------------


def options_dict(props: list[exp.Expr]) -> dict[str, Any]:
    """OPTIONS(name=value, ...) as plain Python values (SQL text for non-literals)."""
    result: dict[str, Any] = {}
    for prop in props:
        if not isinstance(prop, exp.Property):
            continue
        result[prop.name.lower()] = literal_value(prop.args.get("value"))
    return result


def literal_value(node: exp.Expr | None) -> Any:
    """Python value of a literal / array-of-literals / tuple node; SQL text otherwise."""
    if node is None or isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, (exp.Array, exp.Tuple)):
        return [literal_value(e) for e in node.expressions]
    if isinstance(node, exp.Paren):
        return literal_value(node.this)
    return node.sql("bigquery")


def apply_create_properties(stmt: Statement, create: exp.Create) -> None:
    """Fill partition/cluster/options metadata from a CREATE statement's properties."""
    props = create.args.get("properties")
    for prop in props.expressions if props else []:
        if isinstance(prop, exp.PartitionedByProperty):
            stmt.partition_by = prop.this.sql("bigquery")
            stmt.time_partitioning = _time_partitioning(prop.this)
        elif isinstance(prop, (exp.ClusterProperty, exp.Cluster)):
            stmt.cluster_by = [e.sql("bigquery") for e in prop.expressions]
        elif type(prop) is exp.Property:
            stmt.options.update(options_dict([prop]))
        elif isinstance(prop, (exp.OnProperty, exp.SchemaCommentProperty, exp.TemporaryProperty)):
            continue
        else:
            raise unsupported(f"table property {prop.sql('bigquery')}")
    description = stmt.options.get("description")
    stmt.description = description if isinstance(description, str) else None


def _time_partitioning(expr: exp.Expr) -> dict[str, Any] | None:
    """The REST timePartitioning for common PARTITION BY forms (None for range/other)."""
    if isinstance(expr, exp.Identifier):
        expr = exp.column(expr.name)
    if isinstance(expr, exp.Column):
        if expr.name.upper() in ("_PARTITIONDATE", "_PARTITIONTIME"):
            return {"type": "DAY"}
        return {"type": "DAY", "field": expr.name}
    if isinstance(expr, (exp.Date, exp.TsOrDsToDate, exp.Cast)) and isinstance(
        expr.this, exp.Column
    ):
        return {"type": "DAY", "field": expr.this.name}
    trunc_types = (exp.DateTrunc, exp.TimestampTrunc, exp.DatetimeTrunc)
    if isinstance(expr, trunc_types) and isinstance(expr.this, exp.Column):
        unit = expr.args.get("unit")
        unit_name = unit.name.upper() if unit is not None else "DAY"
        return {"type": unit_name, "field": expr.this.name}
    return None
