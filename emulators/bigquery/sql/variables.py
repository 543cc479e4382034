"""Script variables and system variables in a statement: bound as query parameters.

A name that is a declared variable and not a column of anything the statement reads (as
BigQuery says: "if a variable and column share the same name, the column takes precedence")
is marked where it stands; ``@@name`` system variables likewise. After the statement's own
parameters are numbered, each mark becomes a further ``$n`` placeholder CAST to the variable's
type, and its value joins the parameter list. A variable's value never becomes SQL text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlglot import exp

from . import standard_types as types
from .errors import SqlError
from .params import _placeholder


class VariableScope(Protocol):
    def variable(self, name: str) -> tuple[Any, dict] | None:
        """(value, StandardSqlDataType) of a script variable, or None."""

    def system_variable(self, name: str) -> tuple[Any, dict] | None:
        """(value, StandardSqlDataType) of ``@@name`` (``error.message`` ...), or None."""


class Marked(exp.Expression):
    """A variable's value in the tree until it is bound (never rendered)."""

    arg_types = {"this": True}


ColumnNames = Callable[[exp.Expr], set[str]]


def mark(tree: exp.Expr, scope: VariableScope, column_names: ColumnNames) -> None:
    """Mark variable and system variable references in ``tree`` (in place)."""
    for node in list(tree.find_all(exp.Parameter)):
        if isinstance(node.this, exp.Parameter):
            _mark_system(node, scope)
    columns = [c for c in tree.find_all(exp.Column) if isinstance(c.this, exp.Identifier)]
    if not columns:
        return
    known: set[str] | None = None
    for column in columns:
        name = column.table or column.name
        found = scope.variable(name)
        if found is None:
            continue
        if known is None:
            known = {n.lower() for n in column_names(tree)}
        if name.lower() in known:
            continue  # a column (or table alias) of the statement: it takes precedence
        node = Marked(this=exp.Literal.string(name))
        node.meta["value"] = found
        if column.table:  # r.field of a STRUCT variable (a FOR loop's row)
            if column.args.get("db"):
                continue
            replacement: exp.Expr = exp.Dot(this=exp.Paren(this=node), expression=column.this)
            if isinstance(column.parent, exp.Select) and column.arg_key == "expressions":
                replacement = exp.alias_(replacement, column.name, quoted=True)
        elif isinstance(column.parent, exp.Select) and column.arg_key == "expressions":
            replacement = exp.alias_(node, column.name, quoted=True)  # keeps its name
        else:
            replacement = node
        column.replace(replacement)


def _mark_system(node: exp.Parameter, scope: VariableScope) -> None:
    name = node.this.name
    target: exp.Expr = node
    while isinstance(target.parent, exp.Dot) and target.parent.this is target:
        name += "." + target.parent.expression.name
        target = target.parent
    found = scope.system_variable(name.lower())
    if found is None:
        raise SqlError(f"Unrecognized system variable @@{name}")
    marked = Marked(this=exp.Literal.string("@@" + name))
    marked.meta["value"] = found
    target.replace(marked)  # an anonymous result column, like a query parameter


def bind(tree: exp.Expr, start: int) -> list[Any]:
    """Replace the marks by placeholders numbered from ``start + 1``; their values."""
    values: list[Any] = []
    numbers: dict[str, int] = {}
    for node in list(tree.find_all(Marked)):
        value, sdt = node.meta["value"]
        key = node.this.name.lower()
        if key not in numbers:
            values.append(value)
            numbers[key] = start + len(values)
        placeholder = _placeholder(numbers[key], value, types.to_parameter_type(sdt))
        if node is tree:
            return values
        node.replace(placeholder)
    return values
