"""BigQuery's ``StandardSqlDataType`` (the REST shape of a routine's argument and return types)
and its conversions: from type text, to type text, to the REST ``parameterType`` shape with
which values are bound, and from a result column's REST schema field."""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp
from sqlglot.errors import ParseError

from .errors import SqlError

_T = exp.DataType.Type
_KINDS = {
    _T.BIGINT: "INT64", _T.INT: "INT64", _T.SMALLINT: "INT64", _T.TINYINT: "INT64",
    _T.DOUBLE: "FLOAT64", _T.FLOAT: "FLOAT64", _T.BOOLEAN: "BOOL", _T.TEXT: "STRING",
    _T.VARCHAR: "STRING", _T.BINARY: "BYTES", _T.VARBINARY: "BYTES", _T.DECIMAL: "NUMERIC",
    _T.BIGDECIMAL: "BIGNUMERIC", _T.TIMESTAMPTZ: "TIMESTAMP", _T.TIMESTAMP: "DATETIME",
    _T.DATETIME: "DATETIME", _T.DATE: "DATE", _T.TIME: "TIME", _T.JSON: "JSON",
    _T.GEOGRAPHY: "GEOGRAPHY", _T.INTERVAL: "INTERVAL",
}  # fmt: skip
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
_LEGACY = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}
SCALAR_KINDS = frozenset(_KINDS.values())


def from_text(text: str) -> dict:
    """``INT64`` / ``ARRAY<STRUCT<a INT64>>`` / ... as a StandardSqlDataType."""
    try:
        node = exp.DataType.build(text.strip(), dialect="bigquery")
    except (ParseError, ValueError):
        raise SqlError(f"Syntax error: Unexpected type {text.strip()!r}") from None
    return from_node(node)


def from_node(node: exp.DataType) -> dict:
    if node.this == _T.ARRAY:
        inner = node.expressions[0] if node.expressions else None
        if not isinstance(inner, exp.DataType):
            raise SqlError("Syntax error: ARRAY needs an element type")
        if inner.this == _T.ARRAY:
            raise SqlError("Arrays of arrays are not supported")
        return {"typeKind": "ARRAY", "arrayElementType": from_node(inner)}
    if node.this == _T.STRUCT:
        fields = []
        for sub in node.expressions:
            if isinstance(sub, exp.ColumnDef) and isinstance(sub.args.get("kind"), exp.DataType):
                fields.append({"name": field_name(sub.name), "type": from_node(sub.args["kind"])})
            elif isinstance(sub, exp.DataType):
                fields.append({"type": from_node(sub)})
            else:
                raise SqlError(f"Unsupported construct: STRUCT field {sub.sql('bigquery')}")
        return {"typeKind": "STRUCT", "structType": {"fields": fields}}
    kind = _KINDS.get(node.this)
    if kind is None:
        raise SqlError(f"Unsupported construct: type {node.sql('bigquery')}")
    return {"typeKind": kind}


def check(sdt: Any, where: str = "type") -> dict:
    """A StandardSqlDataType from a request, checked (raises SqlError)."""
    if not isinstance(sdt, dict):
        raise SqlError(f"Invalid {where}: expected a StandardSqlDataType object")
    kind = str(sdt.get("typeKind") or "").upper()
    if kind == "ARRAY":
        return {"typeKind": "ARRAY", "arrayElementType": check(sdt.get("arrayElementType"), where)}
    if kind == "STRUCT":
        fields = (sdt.get("structType") or {}).get("fields") or []
        if not isinstance(fields, list):
            raise SqlError(f"Invalid {where}: structType.fields must be a list")
        checked = []
        for field in fields:
            if not isinstance(field, dict):
                raise SqlError(f"Invalid {where}: a struct field must be an object")
            entry = {"type": check(field.get("type"), where)}
            if field.get("name"):
                entry = {"name": field_name(field["name"]), **entry}
            checked.append(entry)
        return {"typeKind": "STRUCT", "structType": {"fields": checked}}
    if kind not in SCALAR_KINDS:
        raise SqlError(f"Invalid {where}: unknown typeKind {kind or '(none)'}")
    return {"typeKind": kind}


def field_name(name: Any) -> str:
    """A STRUCT field name as BigQuery allows it (letters, digits, underscores)."""
    if not isinstance(name, str) or not _FIELD_NAME.match(name):
        raise SqlError(f"Invalid field name {name!r}: names may contain letters, digits and "
                       "underscores and must start with a letter or an underscore")  # fmt: skip
    return name


def to_text(sdt: dict) -> str:
    kind = sdt["typeKind"]
    if kind == "ARRAY":
        return f"ARRAY<{to_text(sdt['arrayElementType'])}>"
    if kind == "STRUCT":
        fields = (sdt.get("structType") or {}).get("fields") or []
        inner = ", ".join(
            f"`{f['name']}` {to_text(f['type'])}" if f.get("name") else to_text(f["type"])
            for f in fields
        )
        return f"STRUCT<{inner}>"
    return kind


def to_node(sdt: dict) -> exp.DataType:
    """The sqlglot type node (BigQuery's reading) for a CAST the translator then renders."""
    return exp.DataType.build(to_text(sdt), dialect="bigquery")


def to_parameter_type(sdt: dict) -> dict:
    """The REST ``parameterType`` shape (what query parameters are bound with)."""
    kind = sdt["typeKind"]
    if kind == "ARRAY":
        return {"type": "ARRAY", "arrayType": to_parameter_type(sdt["arrayElementType"])}
    if kind == "STRUCT":
        fields = (sdt.get("structType") or {}).get("fields") or []
        return {"type": "STRUCT", "structTypes": [
            {"name": f.get("name") or f"_field_{i + 1}", "type": to_parameter_type(f["type"])}
            for i, f in enumerate(fields)
        ]}  # fmt: skip
    return {"type": kind}


def from_field(field: dict, element: bool = False) -> dict:
    """The type of a result column (a REST schema field: ``INTEGER``, ``RECORD``, REPEATED)."""
    if field.get("mode") == "REPEATED" and not element:
        return {"typeKind": "ARRAY", "arrayElementType": from_field(field, element=True)}
    kind = str(field.get("type") or "STRING").upper()
    kind = _LEGACY.get(kind, kind)
    if kind == "STRUCT":
        return {"typeKind": "STRUCT", "structType": {"fields": [
            {"name": f["name"], "type": from_field(f)} for f in field.get("fields") or []
        ]}}  # fmt: skip
    return {"typeKind": kind}


def same(a: dict | None, b: dict | None) -> bool:
    return a is not None and b is not None and to_text(a) == to_text(b)
