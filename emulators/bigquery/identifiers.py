"""The one place where a name becomes SQL text.

Every identifier the core writes into DuckDB SQL (column names in DDL and INSERT lists, storage
and scratch table names) goes through ``ident``: it must be a BigQuery field name (letters,
digits, underscores, not starting with a digit, at most 300 characters) or one of the core's
generated names, which follow the same rule, and it is double-quoted. Nothing else from a
request reaches SQL text except through the translator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import Invalid

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}\Z")

FIELD_NAME_RULE = (
    "Fields must contain only letters, numbers, and underscores, start with a letter or "
    "underscore, and be at most 300 characters long."
)


def is_field_name(name: object) -> bool:
    return isinstance(name, str) and _NAME.match(name) is not None


def ident(name: str) -> str:
    """``name`` checked and double-quoted; Invalid (BigQuery's field-name error) otherwise."""
    if not is_field_name(name):
        raise Invalid(f'Invalid field name "{name}". {FIELD_NAME_RULE}')
    return f'"{name}"'


def columns(names: Iterable[str]) -> str:
    """A comma-separated list of quoted identifiers."""
    return ", ".join(ident(n) for n in names)
