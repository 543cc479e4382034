"""DML shapes: BigQuery's optional keywords and forms rewritten to what DuckDB accepts."""

from __future__ import annotations

from sqlglot import exp

from .errors import SqlError, unsupported


def dml_target(tree: exp.Expr) -> exp.Expr:
    """The table an INSERT/UPDATE/DELETE/MERGE writes to."""
    if isinstance(tree, exp.Delete) and not tree.this:
        tables = tree.args.get("tables") or []
        return tables[0] if tables else tree
    target = tree.this
    return target.this if isinstance(target, exp.Schema) else target


def normalize_dml(tree: exp.Expr) -> None:
    """BigQuery's optional keywords -> the forms DuckDB needs; enforce mandatory WHERE."""
    if isinstance(tree, exp.Delete):
        if not tree.this and tree.args.get("tables"):
            tree.set("this", tree.args["tables"][0])
            tree.set("tables", None)
        if not tree.args.get("where"):
            raise SqlError("DELETE must have a WHERE clause")
    if isinstance(tree, exp.Update) and not tree.args.get("where"):
        raise SqlError("UPDATE must have a WHERE clause")
    if isinstance(tree, exp.Update):
        _unqualify_set_targets(tree.expressions)
    if isinstance(tree, exp.Merge):
        whens = tree.args.get("whens")
        for when in whens.expressions if whens else []:
            action = when.args.get("then")
            if isinstance(action, exp.Update):
                _unqualify_set_targets(action.expressions)
            elif isinstance(action, exp.Insert):
                _normalize_merge_insert(action)


def _normalize_merge_insert(action: exp.Insert) -> None:
    target = action.this
    if isinstance(target, exp.Var) and target.name.upper() == "ROW":
        action.set("this", exp.Star())  # INSERT ROW -> DuckDB's INSERT *
        return
    # INSERT VALUES (...) without a column list parses as a tuple holding a VALUES() call
    values = target.expressions[0] if isinstance(target, exp.Tuple) else None
    if (
        isinstance(values, exp.Anonymous)
        and values.name.upper() == "VALUES"
        and len(target.expressions) == 1
    ):
        action.set("this", None)
        action.set("expression", exp.Tuple(expressions=list(values.expressions)))


def _unqualify_set_targets(assignments: list[exp.Expr]) -> None:
    # BigQuery accepts SET T.col = ...; DuckDB wants the bare column name.
    for assignment in assignments:
        column = assignment.this if isinstance(assignment, exp.EQ) else None
        if isinstance(column, exp.Column) and column.table:
            assignment.set("this", exp.column(column.name, quoted=column.this.quoted))
        value = assignment.expression if isinstance(assignment, exp.EQ) else None
        if isinstance(value, exp.Column) and not value.table and not value.this.quoted:
            if value.name.upper() == "DEFAULT":  # SET col = DEFAULT, not a column "DEFAULT"
                assignment.set("expression", exp.var("DEFAULT"))


def truncate_as_delete(tree: exp.TruncateTable) -> exp.Delete:
    """TRUNCATE TABLE t -> DELETE FROM t WHERE TRUE (so the core reports deleted rows)."""
    tables = tree.expressions
    if len(tables) != 1:
        raise unsupported("TRUNCATE of several tables")
    return exp.Delete(this=tables[0], where=exp.Where(this=exp.true()))
