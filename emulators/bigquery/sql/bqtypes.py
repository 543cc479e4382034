"""BigQuery types of the expressions in a query, for rewrites whose DuckDB form depends on them.

``5 / 2`` is FLOAT64 but ``NUMERIC '5' / 2`` stays NUMERIC; ``LEFT``, ``||``, ``&`` and friends
have BYTES overloads; ``j['a']`` is JSON subscripting only on JSON. sqlglot's type annotator
knows BigQuery's typing rules; it runs on a copy of the parsed tree whose tables are named by
their catalog ids (so the catalog's schemas apply), and the types are copied back onto the original nodes (``meta["bq_type"]``). Annotation runs only
for trees that hold a node some rewrite asks the type of (``NEEDS_TYPES``), so a plain
``INSERT ... VALUES`` pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

TableSchema = Callable[[str, str, str], "list[dict] | None"]

KEY = "bq_type"
_T = exp.DataType.Type

# Node classes whose rewrite looks at a type: annotation runs when one of them is present.
NEEDS_TYPES: set[type] = set()

_LEGACY = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


def field_type_sql(field: dict) -> str:
    """A REST schema field as a BigQuery type (``ARRAY<STRUCT<a INT64>>``)."""
    kind = str(field.get("type") or "STRING").upper()
    kind = _LEGACY.get(kind, kind)
    if kind == "STRUCT":
        inner = ", ".join(f"`{f['name']}` {field_type_sql(f)}" for f in field.get("fields") or [])
        kind = f"STRUCT<{inner}>"
    return f"ARRAY<{kind}>" if str(field.get("mode") or "").upper() == "REPEATED" else kind


def annotate(
    tree: exp.Expr,
    table_ids: Callable[[exp.Table], tuple[str, str, str] | None],
    table_schema: TableSchema | None,
) -> None:
    """Set ``meta["bq_type"]`` on the nodes of ``tree`` whose BigQuery type is known."""
    classes = tuple(NEEDS_TYPES)
    if not any(isinstance(node, classes) and _asks_types(node) for node in tree.walk()):
        return
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify_columns import qualify_columns
    from sqlglot.schema import MappingSchema

    copy = tree.copy()
    pairs = list(zip(tree.walk(), copy.walk(), strict=False))
    for index, (_, twin) in enumerate(pairs):
        if isinstance(twin, exp.Column) and isinstance(twin.this, exp.Identifier):
            twin.this.meta["_column"] = index  # qualification may swap the Column node
    mapping: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for table in list(copy.find_all(exp.Table)):
        ids = table_ids(table)
        if ids is None:
            continue
        schema = table_schema(*ids) if table_schema else None
        if not schema:
            continue
        columns = {f["name"]: field_type_sql(f) for f in schema if f.get("name")}
        mapping.setdefault(ids[0], {}).setdefault(ids[1], {})[ids[2]] = columns
        table.set("catalog", exp.to_identifier(ids[0], quoted=True))
        table.set("db", exp.to_identifier(ids[1], quoted=True))
        table.set("this", exp.to_identifier(ids[2], quoted=True))
    try:
        schema = MappingSchema(mapping, dialect="bigquery")
        try:
            qualify_columns(copy, schema, expand_alias_refs=False, expand_stars=False,
                            allow_partial_qualification=True, dialect="bigquery")  # fmt: skip
        except Exception:  # noqa: BLE001 - unresolvable names: annotate what is known
            pass
        annotate_types(copy, schema=schema, dialect="bigquery")
        if _type_unnest_columns(copy):  # then the expressions over them, once more
            annotate_types(copy, schema=schema, dialect="bigquery", overwrite_types=False)
    except Exception:  # noqa: BLE001 - types are a refinement; without them rewrites fall back
        return
    for table_column in copy.find_all(exp.TableColumn):  # an UNNEST alias used as a column
        index = table_column.this.meta.get("_column") if table_column.this else None
        if index is not None:
            pairs[index] = (pairs[index][0], table_column)
    for original, typed in pairs:
        kind = typed.type if isinstance(typed, exp.Expr) else None
        if kind is not None and kind.this not in (_T.UNKNOWN, _T.NULL):
            original.meta[KEY] = kind
    for net in tree.find_all(exp.NetFunc):  # sqlglot does not type NET.*
        inner = net.this
        name = (inner.name if isinstance(inner, exp.Anonymous) else type(inner).__name__).upper()
        kind = "BYTES" if name in _NET_BYTES else "INT64" if name == "IPV4_TO_INT64" else "STRING"
        net.meta.setdefault(KEY, exp.DataType.build(kind, dialect="bigquery"))


_NET_BYTES = {"IP_FROM_STRING", "SAFE_IP_FROM_STRING", "IP_NET_MASK", "IP_TRUNC",
              "IPV4_FROM_INT64"}  # fmt: skip


_TYPED_CASTS = {_T.TEXT, _T.VARCHAR, _T.BIGINT, _T.BOOLEAN, _T.TIME, _T.INTERVAL, _T.VARBINARY,
                _T.BINARY, _T.BLOB}  # fmt: skip


def _asks_types(node: exp.Expr) -> bool:
    if isinstance(node, (exp.Cast, exp.TryCast)):  # typed literals (TIMESTAMP '...') need none
        return node.to.this in _TYPED_CASTS and not isinstance(node.this, exp.Literal)
    return True


def _known(node: exp.Expr) -> bool:
    return node.type is not None and node.type.this not in (_T.UNKNOWN, _T.NULL)


def _type_unnest_columns(tree: exp.Expr) -> bool:
    """Type the columns an UNNEST brings (its alias, or the fields of a STRUCT element, and
    WITH OFFSET), which sqlglot leaves unknown; True when any was typed."""
    typed = False
    for unnest in tree.find_all(exp.Unnest):
        select = unnest.find_ancestor(exp.Select)
        array = unnest.expressions[0] if unnest.expressions else None
        if select is None or array is None or not _known(array) or array.type.this != _T.ARRAY:
            continue
        element = array.type.expressions[0] if array.type.expressions else None
        if element is None:
            continue
        alias = unnest.args.get("alias")
        name = ""
        if alias is not None:
            name = (alias.columns[0].name if alias.columns else alias.name).lower()
        fields = {}
        if element.this == _T.STRUCT:
            fields = {f.name.lower(): f.args.get("kind") for f in element.expressions
                      if isinstance(f, exp.ColumnDef)}  # fmt: skip
        offset = unnest.args.get("offset")
        offset_name = offset.name.lower() if isinstance(offset, exp.Expr) else ""
        for column in select.find_all(exp.Column, exp.TableColumn):
            if _known(column):
                continue
            table = column.table.lower() if isinstance(column, exp.Column) else ""
            column_name = column.name.lower()
            kind = None
            if not table and column_name == name:
                kind = element
            elif not table and column_name == offset_name:
                kind = exp.DataType.build("INT64", dialect="bigquery")
            elif column_name in fields and table in ("", name):
                kind = fields[column_name]
            if kind is not None:
                column.type = kind
                typed = True
    return typed


def type_of(node: exp.Expr | None) -> exp.DataType | None:
    """The BigQuery type annotated on ``node`` (or evident from the node itself)."""
    if node is None:
        return None
    kind = node.meta.get(KEY)
    if kind is not None:
        return kind
    if isinstance(node, exp.Literal):
        if node.is_string:
            return exp.DataType.build("STRING", dialect="bigquery")
        is_float = any(c in node.this for c in ".eE")
        return exp.DataType.build("FLOAT64" if is_float else "INT64", dialect="bigquery")
    if isinstance(node, exp.Paren):
        return type_of(node.this)
    if isinstance(node, exp.ParseJSON):
        return exp.DataType.build("JSON")
    return None


def is_type(node: exp.Expr | None, *names: str) -> bool:
    """Whether ``node``'s known BigQuery type is one of ``names`` (``BYTES``, ``ARRAY``...)."""
    kind = type_of(node)
    if kind is None:
        return False
    return type_name(kind) in names


def type_name(kind: exp.DataType) -> str:
    """``NUMERIC``, ``ARRAY``, ``STRUCT``, ``BYTES``... (without parameters)."""
    return kind.sql("bigquery").split("<")[0].split("(")[0].upper()


def inherit(old: exp.Expr, new: exp.Expr) -> None:
    """A rewritten node keeps the type of the node it replaces."""
    if new is not old and KEY in old.meta and KEY not in new.meta:
        new.meta[KEY] = old.meta[KEY]
