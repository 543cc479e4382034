"""Array rewrites: aggregates with LIMIT, 0-based subscripts, UNNEST of structs and WITH OFFSET."""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from .errors import unsupported
from .nodes import cast, fn


def _array_agg(node: exp.ArrayAgg) -> exp.Expr:
    limit = node.this
    if not isinstance(limit, exp.Limit) or isinstance(node.parent, exp.IgnoreNulls):
        return node
    # DuckDB has no LIMIT inside aggregates: aggregate everything, then slice.
    node.set("this", limit.this)
    return fn("list_slice", node, exp.Literal.number(1), limit.expression)


def _ignore_nulls(node: exp.IgnoreNulls) -> exp.Expr:
    inner = node.this
    if isinstance(inner, exp.ArrayAgg) and isinstance(inner.this, exp.Limit):
        limit = inner.this
        inner.set("this", limit.this)
        return fn("list_slice", node, exp.Literal.number(1), limit.expression)
    return node


def _group_concat(node: exp.GroupConcat) -> exp.Expr:
    limit = node.this
    if not isinstance(limit, exp.Limit):
        return node
    sep = node.args.get("separator") or exp.Literal.string(",")
    agg = exp.ArrayAgg(this=limit.this)
    sliced = fn("list_slice", agg, exp.Literal.number(1), limit.expression)
    return fn("array_to_string", sliced, sep)


def _bracket(node: exp.Bracket) -> exp.Expr:
    """arr[OFFSET(i)] / [ORDINAL(i)] / [SAFE_...] / arr[i] with BigQuery's semantics.

    sqlglot shifts only literal indexes to DuckDB's 1-based lists (``arr[OFFSET(i)]`` would
    become ``arr[i]``), and DuckDB returns NULL out of range and counts negative indexes from
    the end, where BigQuery raises (or returns NULL for SAFE_)."""
    if node.args.get("json_access") or len(node.expressions) != 1:
        return node
    index = node.expressions[0]
    if isinstance(index, exp.Literal) and index.is_string:
        return node  # JSON / map key access
    base = node.args.get("offset") or 0
    if isinstance(index, exp.Literal) and index.is_int:
        position: exp.Expr = exp.Literal.number(int(index.this) + 1 - base)
    elif base == 1:
        position = index
    else:
        position = exp.Paren(this=exp.Add(this=index, expression=exp.Literal.number(1)))
    array = node.this
    access = exp.Bracket(this=array.copy(), expressions=[position.copy()], offset=1)
    if isinstance(position, exp.Literal) and int(position.this) >= 1 and node.args.get("safe"):
        return access
    in_range = exp.Between(
        this=position.copy(), low=exp.Literal.number(1), high=fn("len", array.copy())
    )
    if node.args.get("safe"):
        return exp.case().when(in_range, access)
    message = exp.DPipe(
        this=exp.DPipe(
            this=exp.Literal.string("Array index "),
            expression=cast(index.copy(), "VARCHAR"),
        ),
        expression=exp.Literal.string(" is out of bounds"),
    )
    is_null = exp.Or(
        this=exp.Is(this=array.copy(), expression=exp.Null()),
        expression=exp.Is(this=position.copy(), expression=exp.Null()),
    )
    return exp.case().when(is_null, exp.Null()).when(in_range, access).else_(fn("error", message))


# --- UNNEST ... WITH OFFSET ----------------------------------------------------------------


def rewrite_unnest_offsets(tree: exp.Expr) -> exp.Expr:
    """UNNEST(a) AS x WITH OFFSET AS o -> lateral subquery with a 0-based ``o``.

    DuckDB only has 1-based WITH ORDINALITY, so the ordinality column is shifted.
    """
    counter = 0
    for unnest in list(tree.find_all(exp.Unnest)):
        offset = unnest.args.get("offset")
        if not offset or not isinstance(unnest.parent, (exp.From, exp.Join)):
            continue
        counter += 1
        alias = unnest.args.get("alias")
        columns = alias.columns if alias else []
        if not columns and unnest.args.get("explode_array"):
            raise unsupported("UNNEST of a STRUCT array WITH OFFSET without an alias")
        value_name = columns[0].name if columns else "_value"
        offset_name = offset.name if isinstance(offset, exp.Expr) else "offset"
        inner_alias = f"_u{counter}"
        inner = exp.Unnest(
            expressions=[e.copy() for e in unnest.expressions],
            alias=exp.TableAlias(
                this=exp.to_identifier(inner_alias),
                columns=[exp.to_identifier(value_name, quoted=True)],
            ),
            offset=exp.to_identifier(offset_name, quoted=True),
        )
        select = exp.select(
            exp.alias_(exp.column(value_name, inner_alias, quoted=True), value_name, quoted=True),
            exp.alias_(
                exp.Sub(
                    this=exp.column(offset_name, inner_alias, quoted=True),
                    expression=exp.Literal.number(1),
                ),
                offset_name,
                quoted=True,
            ),
        ).from_(inner)
        unnest.replace(select.subquery(f"_unnest{counter}"))
    return tree


def rewrite_unnest_structs(tree: exp.Expr) -> exp.Expr:
    """FROM UNNEST(a) [AS x] -> FROM (SELECT UNNEST(a, max_depth => 2) AS x) AS x.

    BigQuery exposes the fields of an array of STRUCTs as columns (``SELECT k FROM
    UNNEST(structs)``, ``SELECT *`` gives the fields) and still lets ``x`` name the element.
    DuckDB's table UNNEST gives one STRUCT column, and the element type is not known here.
    ``max_depth => 2`` in a select list expands a STRUCT into its fields (it ignores the
    alias then) and leaves a scalar as one column named by the alias; the subquery, named
    like the alias, makes ``x.k`` a field and ``x`` the whole row. BigQuery has no arrays of
    arrays, so depth 2 never unnests an element that is itself an array.
    """
    counter = 0
    for unnest in list(tree.find_all(exp.Unnest)):
        if unnest.args.get("offset") or not isinstance(unnest.parent, (exp.From, exp.Join)):
            continue  # WITH OFFSET has its own rewrite; `x IN UNNEST(...)` is not a table
        if len(unnest.expressions) != 1:
            continue
        counter += 1
        alias = unnest.args.get("alias")
        columns = alias.columns if alias else []
        if columns:
            name = columns[0].name
        elif alias is not None and alias.name:
            name = alias.name
        else:
            name = ""
        element = exp.Unnest(
            expressions=[
                unnest.expressions[0].copy(),
                exp.Kwarg(this=exp.var("max_depth"), expression=exp.Literal.number(2)),
            ]
        )
        select = exp.select(exp.alias_(element, name or "unnest", quoted=True))
        unnest.replace(
            select.subquery(exp.to_identifier(name or f"_unnest_s{counter}", quoted=True))
        )
    return tree


def using_columns_first(tree: exp.Expr) -> exp.Expr:
    """``SELECT *`` over ``JOIN ... USING (k)`` lists k first in BigQuery; DuckDB keeps it where
    the left input has it. Spell the star out as ``k, * EXCLUDE (k)``."""
    for select in list(tree.find_all(exp.Select)):
        using: list[str] = []
        for join in select.args.get("joins") or []:
            for column in join.args.get("using") or []:
                if column.name.lower() not in {u.lower() for u in using}:
                    using.append(column.name)
        if not using:
            continue
        for star in [e for e in select.expressions if isinstance(e, exp.Star)]:
            excluded = [c.copy() for c in star.args.get("except_") or []]
            gone = {c.name.lower() for c in excluded}
            front = [exp.column(n, quoted=True) for n in using if n.lower() not in gone]
            star.set("except_", excluded + [c.copy() for c in front])
            index = select.expressions.index(star)
            select.set("expressions", select.expressions[:index] + front
                       + select.expressions[index:])  # fmt: skip
    return tree


def reorder_unpivots(tree: exp.Expr) -> exp.Expr:
    """UNPIVOT's value columns come before its name column in BigQuery; DuckDB puts the name
    column first. The unpivoted source becomes a derived table that selects them in order."""
    counter = 0
    for pivot in list(tree.find_all(exp.Pivot)):
        source = pivot.parent
        if not pivot.args.get("unpivot") or not isinstance(source, (exp.Table, exp.Subquery)):
            continue
        if not isinstance(source.parent, (exp.From, exp.Join)):
            continue
        values = []
        for value in pivot.expressions:
            value = value.unnest() if isinstance(value, exp.Paren) else value
            items = value.expressions if isinstance(value, exp.Tuple) else [value]
            values += [item.name for item in items]
        names = [field.this.name for field in pivot.args.get("fields") or []
                 if isinstance(field, exp.In)]  # fmt: skip
        if not values or not names:
            continue
        counter += 1
        alias = pivot.args.get("alias") or source.args.get("alias")
        outer_name = alias.name if alias is not None and alias.name else f"_unpivot{counter}"
        pivot.set("alias", None)
        moved = [exp.column(n, quoted=True) for n in values + names]
        star = exp.Star(except_=[c.copy() for c in moved])
        inner = source.copy()
        select = exp.select(star, *moved).from_(inner)
        source.replace(select.subquery(exp.to_identifier(outer_name, quoted=True)))
    return tree


REWRITES: dict[type, Callable[[exp.Expr], exp.Expr]] = {
    exp.ArrayAgg: _array_agg,
    exp.IgnoreNulls: _ignore_nulls,
    exp.GroupConcat: _group_concat,
    exp.Bracket: _bracket,
}
