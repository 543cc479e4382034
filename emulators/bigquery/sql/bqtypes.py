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
    if not any(isinstance(node, tuple(NEEDS_TYPES)) for node in tree.walk()):
        return
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify_columns import qualify_columns
    from sqlglot.schema import MappingSchema

    copy = tree.copy()
    pairs = list(zip(tree.walk(), copy.walk(), strict=False))
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
        schema = MappingSchema(mapping, dialect="bigquery") if mapping else None
        if schema is not None:
            try:
                qualify_columns(copy, schema, expand_alias_refs=False, expand_stars=False,
                                allow_partial_qualification=True, dialect="bigquery")  # fmt: skip
            except Exception:  # noqa: BLE001 - unresolvable names: annotate what is known
                pass
        annotate_types(copy, schema=schema, dialect="bigquery")
    except Exception:  # noqa: BLE001 - types are a refinement; without them rewrites fall back
        return
    for original, typed in pairs:
        kind = typed.type if isinstance(typed, exp.Expr) else None
        if kind is not None and kind.this not in (_T.UNKNOWN, _T.NULL):
            original.meta[KEY] = kind


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
