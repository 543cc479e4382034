"""Table references: BigQuery names -> (project, dataset, table) -> the core's DuckDB names."""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from .errors import SqlError, unsupported

ResolveTable = Callable[[str, str, str], str]


class ResolveFailure(Exception):
    """Carries the core's own error out of the translator untouched."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class TableResolver:
    """Resolves table references against a default project/dataset and the core's catalog."""

    def __init__(
        self,
        project: str,
        dataset: str | None,
        resolve: ResolveTable,
        is_temp_table: Callable[[str], bool] | None = None,
    ) -> None:
        self.project = project
        self.dataset = dataset
        self.resolve = resolve
        self.is_temp_table = is_temp_table  # a script's temporary tables hide unqualified names

    def resolve_all(self, tree: exp.Expr) -> None:
        """Replace every BigQuery table reference in ``tree`` by the core's DuckDB name."""
        for table in list(tree.find_all(exp.Table)):
            if not isinstance(table.this, exp.Identifier):
                raise unsupported(f"table function {table.this.sql('bigquery')}")
            if not table.args.get("db") and table.name.lower() in visible_ctes(table):
                continue
            if _is_correlated_array(table):
                _to_unnest(table)
                continue
            if table.args.get("version") is not None:
                raise unsupported("FOR SYSTEM_TIME AS OF")
            ids = self.ids(table)
            try:
                resolved = self.resolve(*ids)
            except Exception as error:
                raise ResolveFailure(error) from error
            new = exp.to_table(resolved, dialect="duckdb")
            alias = table.args.get("alias")
            if alias is not None and "." in alias.name:  # `ds.INFORMATION_SCHEMA.X` -> X
                alias = None
            if alias is None and not is_insert_target(table):
                implicit = ids[2].rsplit(".", 1)[-1]
                table.set("alias", exp.TableAlias(this=exp.to_identifier(implicit, quoted=True)))
            for part in ("catalog", "db", "this"):
                table.set(part, new.args.get(part))

    def catalog_ids(self, table: exp.Table) -> tuple[str, str, str] | None:
        """(project, dataset, table) of a reference to a catalog table, None for a WITH entry,
        a correlated array or anything that does not name a table."""
        if not isinstance(table.this, exp.Identifier):
            return None
        if not table.args.get("db") and table.name.lower() in visible_ctes(table):
            return None
        if _is_correlated_array(table):
            return None
        try:
            return self.ids(table)
        except SqlError:
            return None

    def ids(self, table: exp.Expr) -> tuple[str, str, str]:
        if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
            raise unsupported(f"table reference {table.sql('bigquery')}")
        names = [part.name for part in table.parts]
        if len(names) >= 2 and names[-2].upper() == "INFORMATION_SCHEMA":
            names = [*names[:-2], f"INFORMATION_SCHEMA.{names[-1].upper()}"]
        if names[-1].upper().startswith("INFORMATION_SCHEMA."):
            return self._information_schema_ids(names)
        if any(not n for n in names) or len(names) > 3:
            raise SqlError(f"Invalid table name: {table.sql('bigquery')}")
        if names[-1].endswith("*"):
            raise unsupported("wildcard table")
        if len(names) == 3:
            return names[0], names[1], names[2]
        if len(names) == 2:
            return self.project, names[0], names[1]
        if self.is_temp_table is not None and self.is_temp_table(names[0]):
            return self.project, "_SESSION", names[0]
        if self.dataset:
            return self.project, self.dataset, names[0]
        raise SqlError(f'Table "{names[0]}" must be qualified with a dataset (e.g. dataset.table).')

    def _information_schema_ids(self, names: list[str]) -> tuple[str, str, str]:
        """Dataset-level views -> (project, dataset, "INFORMATION_SCHEMA.X"); project-level ones
        (SCHEMATA, or region-qualified) -> (project, "INFORMATION_SCHEMA", "X")."""
        view = names[-1].upper()
        qualifiers = names[:-1]
        if len(qualifiers) > 2:
            raise SqlError(f"Invalid INFORMATION_SCHEMA reference: {'.'.join(names)}")
        if qualifiers and qualifiers[-1].lower().startswith("region-"):
            project = qualifiers[0] if len(qualifiers) == 2 else self.project
            return project, "INFORMATION_SCHEMA", view.split(".", 1)[1]
        if view.endswith(".SCHEMATA") or view.endswith(".SCHEMATA_OPTIONS"):
            if len(qualifiers) > 1:
                raise SqlError(f"Invalid INFORMATION_SCHEMA reference: {'.'.join(names)}")
            project = qualifiers[0] if qualifiers else self.project
            return project, "INFORMATION_SCHEMA", view.split(".", 1)[1]
        if len(qualifiers) == 2:
            return qualifiers[0], qualifiers[1], view
        if len(qualifiers) == 1:
            return self.project, qualifiers[0], view
        if self.dataset:
            return self.project, self.dataset, view
        return self.project, "INFORMATION_SCHEMA", view.split(".", 1)[1]


def visible_ctes(node: exp.Expr) -> set[str]:
    """Names of the WITH entries in scope at ``node``: every entry of a WITH on the way up,
    except that inside an entry's own body only the earlier entries are visible (all of them,
    itself included, under WITH RECURSIVE)."""
    names: set[str] = set()
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.With):
            for cte in parent.expressions:  # WITH RECURSIVE: every entry sees every entry
                if cte is child and not parent.args.get("recursive"):
                    break
                names.add(cte.alias_or_name.lower())
        elif isinstance(parent.args.get("with_"), exp.With) and child is not parent.args["with_"]:
            names.update(cte.alias_or_name.lower() for cte in parent.args["with_"].expressions)
        child, parent = parent, parent.parent
    return names


def _is_correlated_array(table: exp.Table) -> bool:
    """``JOIN e.arr AS x`` where ``e`` is an earlier FROM item of the same SELECT, or
    ``FROM e.arr`` in a subquery where ``e`` is a FROM item of an enclosing SELECT."""
    if table.args.get("catalog") or not table.args.get("db"):
        return False
    join = table.parent
    select = join.parent if isinstance(join, (exp.Join, exp.From)) else None
    if not isinstance(select, exp.Select):
        return False
    earlier = [select.args["from_"].this] if select.args.get("from_") else []
    for other in select.args.get("joins") or []:
        if other is join:
            break
        earlier.append(other.this)
    if join is select.args.get("from_"):
        earlier = []
    outer = select.parent
    while outer is not None:
        if isinstance(outer, exp.Select):
            items = [outer.args["from_"]] if outer.args.get("from_") else []
            items += outer.args.get("joins") or []
            # not the FROM item this query sits in: a derived table cannot see itself
            earlier += [i.this for i in items if table not in set(i.this.walk())]
        outer = outer.parent
    names = {item.alias_or_name.lower() for item in earlier if item.alias_or_name}
    for item in earlier:  # UNNEST(...) AS x names its value x
        alias = item.args.get("alias") if isinstance(item, exp.Unnest) else None
        names.update(c.name.lower() for c in (alias.columns if alias else []))
    return table.db.lower() in names


def _to_unnest(table: exp.Table) -> None:
    alias = table.alias or table.name
    unnest = exp.Unnest(
        expressions=[exp.column(table.name, table.db)],
        alias=exp.TableAlias(columns=[exp.to_identifier(alias)]),
    )
    table.replace(unnest)


def is_insert_target(table: exp.Table) -> bool:
    parent = table.parent
    if isinstance(parent, exp.Schema):
        parent = parent.parent
    return isinstance(parent, exp.Insert) and parent.this in (table, table.parent)
