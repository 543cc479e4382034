"""Set operations matched by column name: ``[INNER | {FULL | LEFT} [OUTER]] {UNION | INTERSECT |
EXCEPT} {ALL | DISTINCT} BY NAME [ON (cols)]`` and ``[STRICT] CORRESPONDING``.

DuckDB has only ``UNION [ALL] BY NAME``, so each side becomes a SELECT of the result's columns
in the result's order (NULL where a side lacks one, for the OUTER modes) and the operation runs
by position. The columns are those BigQuery documents: the left side's for the default (strict)
mode and LEFT OUTER, the common ones for INNER and CORRESPONDING, the left's then the right's
others for FULL OUTER, the ON list when there is one. Column names compare case-insensitively.
"""

from __future__ import annotations

from sqlglot import exp

from .errors import SqlError, unsupported

_SIDE = "__bq_side"


def output_names(query: exp.Expr) -> list[str] | None:
    """The result column names of a query expression, or None when they are not known here
    (a ``*`` over something other than a WITH entry)."""
    if isinstance(query, exp.Subquery):
        return output_names(query.this)
    if isinstance(query, exp.SetOperation):
        return output_names(query.this)
    if not isinstance(query, exp.Select):
        return None
    names: list[str] = []
    for projection in query.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            expanded = _star_names(query)
            if expanded is None:
                return None
            names += expanded
        else:
            names.append(projection.alias_or_name)
    return names


def _star_names(query: exp.Select) -> list[str] | None:
    source = query.args.get("from_") or query.args.get("from")
    if source is None or query.args.get("joins"):
        return None
    table = source.this
    if isinstance(table, exp.Subquery):
        return output_names(table.this)
    if not isinstance(table, exp.Table) or table.args.get("db"):
        return None
    scope: exp.Expr | None = query
    while scope is not None:  # the WITH entry the name refers to, innermost first
        with_ = scope.args.get("with_") or scope.args.get("with")
        for cte in with_.expressions if with_ else []:
            if cte.alias_or_name.lower() == table.name.lower():
                return output_names(cte.this)
        scope = scope.parent
    return None


def _project(side: exp.Expr, available: list[str], columns: list[str]) -> exp.Expr:
    lookup = {name.lower(): name for name in available}
    projections = []
    for column in columns:
        found = lookup.get(column.lower())
        value = exp.column(found, _SIDE, quoted=True) if found else exp.null()
        projections.append(exp.alias_(value, column, quoted=True))
    inner = side.this if isinstance(side, exp.Subquery) else side
    return exp.select(*projections).from_(exp.Subquery(this=inner, alias=exp.TableAlias(
        this=exp.to_identifier(_SIDE))))  # fmt: skip


def by_name(node: exp.SetOperation) -> exp.Expr:
    """The positional form of a BY NAME / CORRESPONDING set operation."""
    if not node.args.get("by_name"):
        return node
    left, right = output_names(node.this), output_names(node.expression)
    if left is None or right is None:
        raise unsupported("set operation BY NAME over SELECT * of a table")
    lower_left, lower_right = [n.lower() for n in left], [n.lower() for n in right]
    on = [c.name for c in node.args.get("on") or []]
    side, kind = (node.args.get("side") or "").upper(), (node.args.get("kind") or "").upper()
    if on:
        columns = on
        for column in on:
            missing = column.lower() not in lower_left or column.lower() not in lower_right
            if missing and side != "FULL" and not (side == "LEFT" and column.lower() in lower_left):
                raise SqlError(f"Column {column} in the ON list of a set operation BY NAME is "
                               "missing from an input")  # fmt: skip
    elif side == "FULL":
        columns = left + [n for n in right if n.lower() not in lower_left]
    elif side == "LEFT":
        columns = left
    elif kind == "INNER":
        columns = [n for n in left if n.lower() in lower_right]
    else:
        if sorted(lower_left) != sorted(lower_right):
            raise SqlError("Queries in a set operation BY NAME must have the same column names; "
                           "use INNER, LEFT or FULL [OUTER] BY NAME otherwise")  # fmt: skip
        columns = left
    if not columns:
        raise SqlError("A set operation BY NAME has no column in common")
    node.set("this", _project(node.this, left, columns))
    node.set("expression", _project(node.expression, right, columns))
    for key in ("by_name", "side", "kind", "on"):
        node.set(key, None)
    return node


REWRITES = {exp.Union: by_name, exp.Intersect: by_name, exp.Except: by_name}
