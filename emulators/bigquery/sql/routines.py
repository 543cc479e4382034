"""Routines in the translator: CREATE/DROP FUNCTION, TABLE FUNCTION and PROCEDURE statements
read into REST ``Routine`` resources, and calls of functions expanded in the parsed tree.

A SQL UDF call is replaced by the function's body with its parameters replaced by the
(parenthesised, CAST to the declared type) arguments; a table function in FROM by its query
as a subquery. Both happen right after parsing, so the expanded text goes through every later
step of the translator like text the user wrote: BigQuery's function list, table resolution,
typing, rewrites. A JavaScript UDF call becomes a call of the ``bq_js_call`` Python function
(``jsudf.py``) with a per-query handle; its arguments are encoded as JSON. Procedures are run by
the core's script runner, not here.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Protocol

from sqlglot import exp
from sqlglot.tokens import TokenType

from . import standard_types as types
from .errors import SqlError, unsupported
from .script import tokenize
from .statements import literal_value
from .syntax import parse

SCALAR_FUNCTION = "SCALAR_FUNCTION"
TABLE_FUNCTION = "TABLE_VALUED_FUNCTION"
PROCEDURE = "PROCEDURE"
MAX_EXPANSION_DEPTH = 16  # functions calling functions (recursion is an error in BigQuery too)
_ROUTINE_ID = re.compile(r"^[A-Za-z0-9_]{1,256}$")
_DDL = re.compile(
    r"^\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(?:TABLE\s+|AGGREGATE\s+)?"
    r"(?:FUNCTION|PROCEDURE)|DROP\s+(?:TABLE\s+)?(?:FUNCTION|PROCEDURE))\b",
    re.IGNORECASE,
)


@dataclasses.dataclass
class Argument:
    name: str
    type: dict | None  # StandardSqlDataType; None for ANY TYPE
    mode: str = "IN"  # procedures: IN | OUT | INOUT


@dataclasses.dataclass
class Routine:
    """A function or procedure, as the translator and the script runner use it."""

    name: str  # as it is called (`ds.f`, `f`), for messages
    kind: str
    language: str  # SQL | JAVASCRIPT
    arguments: list[Argument]
    body: str
    return_type: dict | None = None
    return_table: list[tuple[str, dict]] | None = None
    project: str | None = None  # of a persistent routine: its table references' default
    dataset: str | None = None


class RoutineLookup(Protocol):
    def routine(self, parts: list[str], table: bool) -> Routine | None: ...

    def js_handle(self, routine: Routine) -> str: ...


def from_resource(resource: dict, name: str | None = None) -> Routine:
    """A Routine from a REST routine resource (already checked by ``check_resource``)."""
    ref = resource.get("routineReference") or {}
    arguments = [
        Argument(
            a.get("name") or f"arg{i}",
            None if a.get("argumentKind") == "ANY_TYPE" else a.get("dataType"),
            (a.get("mode") or "IN").upper(),
        )
        for i, a in enumerate(resource.get("arguments") or [])
    ]
    table = resource.get("returnTableType")
    return Routine(
        name=name or ref.get("routineId", "?"),
        kind=resource.get("routineType") or SCALAR_FUNCTION,
        language=(resource.get("language") or "SQL").upper(),
        arguments=arguments,
        body=resource.get("definitionBody") or "",
        return_type=resource.get("returnType"),
        return_table=[(c["name"], c["type"]) for c in (table or {}).get("columns") or []] or None,
        project=ref.get("projectId"),
        dataset=ref.get("datasetId"),
    )


def check_resource(resource: Any) -> dict:
    """The settable part of a REST routine resource, checked; raises SqlError."""
    if not isinstance(resource, dict):
        raise SqlError("Invalid routine resource: expected an object")
    kind = resource.get("routineType")
    if kind not in (SCALAR_FUNCTION, TABLE_FUNCTION, PROCEDURE):
        raise SqlError(f"Invalid value for routineType: {kind!r} (this emulator runs "
                       "SCALAR_FUNCTION, TABLE_VALUED_FUNCTION and PROCEDURE)")  # fmt: skip
    language = str(resource.get("language") or "SQL").upper()
    if language not in ("SQL", "JAVASCRIPT") or (language == "JAVASCRIPT" and kind != SCALAR_FUNCTION):
        raise SqlError(f"Unsupported routine language {language} for {kind}")
    body = resource.get("definitionBody")
    if not isinstance(body, str) or not body.strip():
        raise SqlError("The routine's definitionBody is required")
    out: dict[str, Any] = {"routineType": kind, "language": language, "definitionBody": body}
    arguments = resource.get("arguments") or []
    if not isinstance(arguments, list):
        raise SqlError("Invalid value for arguments: expected a list")
    checked = []
    for arg in arguments:
        if not isinstance(arg, dict) or not isinstance(arg.get("name"), str) or not arg["name"]:
            raise SqlError("Every routine argument needs a name")
        entry: dict[str, Any] = {"name": arg["name"]}
        if arg.get("argumentKind") == "ANY_TYPE":
            if language != "SQL" or kind == PROCEDURE:
                raise SqlError("ANY TYPE arguments are only allowed in SQL functions")
            entry["argumentKind"] = "ANY_TYPE"
        else:
            entry["dataType"] = types.check(arg.get("dataType"), f"type of argument {arg['name']}")
        if arg.get("mode"):
            mode = str(arg["mode"]).upper()
            if mode not in ("IN", "OUT", "INOUT") or (mode != "IN" and kind != PROCEDURE):
                raise SqlError(f"Invalid mode {mode} for argument {arg['name']}")
            entry["mode"] = mode
        checked.append(entry)
    out["arguments"] = checked
    if resource.get("returnType") is not None:
        out["returnType"] = types.check(resource["returnType"], "returnType")
    elif language == "JAVASCRIPT":
        raise SqlError("A JavaScript function needs a return type (RETURNS)")
    if resource.get("returnTableType") is not None:
        columns = (resource["returnTableType"] or {}).get("columns")
        if not isinstance(columns, list):
            raise SqlError("Invalid returnTableType: columns must be a list")
        out["returnTableType"] = {"columns": [
            {"name": str(c.get("name")), "type": types.check(c.get("type"), "returnTableType")}
            for c in columns if isinstance(c, dict)
        ]}  # fmt: skip
    libraries = resource.get("importedLibraries") or []
    if libraries:
        raise SqlError(_NO_LIBRARIES)
    for key in ("description", "determinismLevel", "securityMode", "dataGovernanceType"):
        if isinstance(resource.get(key), str):
            out[key] = resource[key]
    if isinstance(resource.get("strictMode"), bool):
        out["strictMode"] = resource["strictMode"]
    return out


_NO_LIBRARIES = ("Unsupported construct: JavaScript libraries (OPTIONS(library=...)) are read "
                 "from Cloud Storage, which this emulator does not provide")  # fmt: skip


# --- CREATE / DROP statements ---------------------------------------------------------------


@dataclasses.dataclass
class RoutineDdl:
    """A CREATE or DROP of a routine: the Statement fields the core needs."""

    kind: str  # CREATE_FUNCTION | CREATE_TABLE_FUNCTION | CREATE_PROCEDURE | DROP_...
    target: tuple[str | None, str | None, str]  # (None, None, name) for a TEMP routine
    temporary: bool = False
    or_replace: bool = False
    if_not_exists: bool = False
    if_exists: bool = False
    resource: dict | None = None


def is_routine_ddl(sql: str) -> bool:
    return bool(_DDL.match(sql))


def parse_ddl(sql: str, default_project: str, default_dataset: str | None) -> RoutineDdl:
    return _DdlParser(sql, default_project, default_dataset).statement()


class _DdlParser:
    def __init__(self, sql: str, project: str, dataset: str | None) -> None:
        self.sql = sql
        self.tokens = tokenize(sql)
        self.i = 0
        self.project = project
        self.dataset = dataset

    def word(self, ahead: int = 0) -> str:
        index = self.i + ahead
        if index >= len(self.tokens):
            return ""
        token = self.tokens[index]
        if token.token_type in (TokenType.STRING, TokenType.RAW_STRING, TokenType.IDENTIFIER):
            return ""
        return token.text.upper()

    def accept(self, *words: str) -> bool:
        if all(self.word(k) == w for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            self.fail()

    def fail(self, message: str | None = None) -> SqlError:
        if message:
            raise SqlError(message)
        if self.i >= len(self.tokens):
            raise SqlError("Syntax error: Unexpected end of statement")
        token = self.tokens[self.i]
        before = self.sql[: token.start]
        line, col = before.count("\n") + 1, token.start - (before.rfind("\n") + 1) + 1
        raise SqlError(f'Syntax error: Unexpected "{token.text}" at [{line}:{col}]', (line, col))

    def statement(self) -> RoutineDdl:
        if self.accept("DROP"):
            table = self.accept("TABLE")
            kind = "PROCEDURE" if self.accept("PROCEDURE") else (self.expect("FUNCTION") or "FUNCTION")
            ddl = RoutineDdl(kind=f"DROP_{'TABLE_' if table else ''}{kind}", target=("", "", ""))
            ddl.if_exists = self.accept("IF", "EXISTS")
            ddl.target = self.name(temporary=None)
            self.end()
            return ddl
        self.expect("CREATE")
        or_replace = self.accept("OR", "REPLACE")
        temporary = self.accept("TEMP") or self.accept("TEMPORARY")
        if self.accept("AGGREGATE"):
            raise unsupported("CREATE AGGREGATE FUNCTION")
        table = self.accept("TABLE")
        procedure = not table and self.accept("PROCEDURE")
        if not procedure:
            self.expect("FUNCTION")
        kind = PROCEDURE if procedure else TABLE_FUNCTION if table else SCALAR_FUNCTION
        if_not_exists = self.accept("IF", "NOT", "EXISTS")
        if or_replace and if_not_exists:
            raise SqlError("CREATE OR REPLACE and IF NOT EXISTS cannot both be present")
        target = self.name(temporary)
        resource: dict[str, Any] = {"routineType": kind, "language": "SQL"}
        resource["arguments"] = self.arguments(procedure)
        if procedure:
            if self.word() == "OPTIONS":
                self.options(resource)
            if self.word() != "BEGIN":
                self.fail()
            resource["definitionBody"] = self.rest()
        else:
            self.function_tail(resource, table)
        ddl_kind = {SCALAR_FUNCTION: "CREATE_FUNCTION", TABLE_FUNCTION: "CREATE_TABLE_FUNCTION",
                    PROCEDURE: "CREATE_PROCEDURE"}[kind]  # fmt: skip
        return RoutineDdl(ddl_kind, target, temporary, or_replace, if_not_exists,
                          resource=check_resource(resource))  # fmt: skip

    def name(self, temporary: bool | None) -> tuple[str | None, str | None, str]:
        """``[[project.]dataset.]name``: backticked parts may hold dots, project ids dashes."""
        parts, current, start, previous = [], "", self.i, None
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            kind = token.token_type
            if kind in (TokenType.L_PAREN, TokenType.SEMICOLON):
                break
            if previous is not None and token.start > previous.end + 1:
                self.fail()  # words apart: not one name
            if kind == TokenType.DOT:
                parts.append(current)
                current = ""
            elif kind == TokenType.IDENTIFIER:
                *whole, current = (current + token.text).split(".")
                parts.extend(whole)
            elif kind in (TokenType.STRING, TokenType.RAW_STRING):
                self.fail()
            else:
                current += token.text
            previous = token
            self.i += 1
        if self.i == start:
            self.fail()
        parts.append(current)
        if any(not p for p in parts):
            raise SqlError(f"Invalid routine name: {'.'.join(parts)}")
        text = ".".join(parts)
        if temporary:
            if len(parts) != 1:
                raise SqlError("Temporary functions and procedures cannot have a project or "
                               f"dataset qualifier: {text}")  # fmt: skip
            return None, None, _routine_id(parts[0])
        if len(parts) == 1:
            if temporary is None:  # DROP FUNCTION f: a temporary function
                return None, None, _routine_id(parts[0])
            if not self.dataset:
                raise SqlError(f'Routine "{parts[0]}" must be qualified with a dataset '
                               "(e.g. dataset.function), or be TEMP")  # fmt: skip
            parts = [self.dataset, parts[0]]
        if len(parts) == 2:
            parts = [self.project, *parts]
        if len(parts) != 3:
            raise SqlError(f"Invalid routine name: {text}")
        return parts[0], parts[1], _routine_id(parts[2])

    def arguments(self, procedure: bool) -> list[dict]:
        if self.word() != "(":
            self.fail()
        self.i += 1
        args: list[dict] = []
        if self.word() == ")":
            self.i += 1
            return args
        while True:
            arg: dict[str, Any] = {}
            if procedure and self.word() in ("IN", "OUT", "INOUT") and self.word(1) not in (
                "", ",", ")"
            ):
                arg["mode"] = self.word()
                self.i += 1
            if self.i >= len(self.tokens):
                self.fail()
            arg["name"] = self.tokens[self.i].text
            self.i += 1
            text = self.type_text()
            if " ".join(text.upper().split()) == "ANY TYPE":
                arg["argumentKind"] = "ANY_TYPE"
            else:
                arg["dataType"] = types.from_text(text)
            args.append(arg)
            closing = self.word()
            self.i += 1
            if closing == ")":
                return args

    def type_until(self, stops: set[str]) -> dict:
        start = self.i
        depth = 0
        while self.i < len(self.tokens):
            kind = self.tokens[self.i].token_type
            if kind in (TokenType.L_PAREN, TokenType.LT):
                depth += 1
            elif kind in (TokenType.R_PAREN, TokenType.GT):
                depth -= 1
            elif depth == 0 and self.word() in stops:
                break
            self.i += 1
        if self.i == start:
            self.fail()
        return types.from_text(self.sql[self.tokens[start].start : self.tokens[self.i - 1].end + 1])

    def function_tail(self, resource: dict, table: bool) -> None:
        stops = {"AS", "LANGUAGE", "OPTIONS", "DETERMINISTIC", "NOT", "REMOTE"}
        while self.i < len(self.tokens) and not self.accept("AS"):
            if self.accept("RETURNS"):
                if table:
                    self.expect("TABLE")
                    if self.word() != "<":
                        self.fail()
                    resource["returnTableType"] = {"columns": self.table_columns()}
                else:
                    resource["returnType"] = self.type_until(stops)
            elif self.accept("LANGUAGE"):
                language = self.word()
                self.i += 1
                if language != "JS":
                    raise unsupported(f"LANGUAGE {language} functions")
                resource["language"] = "JAVASCRIPT"
            elif self.accept("DETERMINISTIC"):
                resource["determinismLevel"] = "DETERMINISTIC"
            elif self.accept("NOT", "DETERMINISTIC"):
                resource["determinismLevel"] = "NOT_DETERMINISTIC"
            elif self.word() == "OPTIONS":
                self.options(resource)
            elif self.word() == "REMOTE":
                raise unsupported("remote functions")
            else:
                self.fail()
        if self.i >= len(self.tokens):
            self.fail()
        token = self.tokens[self.i]
        if resource["language"] == "JAVASCRIPT":
            if token.token_type not in (TokenType.STRING, TokenType.RAW_STRING):
                raise SqlError("Syntax error: the body of a JavaScript function must be a "
                               "string literal")  # fmt: skip
            resource["definitionBody"] = token.text
            self.i += 1
        else:
            first = self.i
            self.skip_body()
            if self.i == first:
                self.fail()
            body = self.sql[token.start : self.tokens[self.i - 1].end + 1]
            wrapped = self._wrapped(first, self.i - 1)
            if not table and not wrapped:
                raise SqlError('Syntax error: Expected "(" after AS in CREATE FUNCTION')
            resource["definitionBody"] = (body[1:-1] if wrapped else body).strip()
        if self.word() == "OPTIONS":
            self.options(resource)
        self.end()

    def table_columns(self) -> list[dict]:
        self.i += 1  # <
        columns = []
        while True:
            name = self.tokens[self.i].text
            self.i += 1
            text = self.type_text()
            columns.append({"name": name, "type": types.from_text(text)})
            closing = self.tokens[self.i].token_type
            self.i += 1
            if closing == TokenType.GT:
                return columns

    def type_text(self) -> str:
        """The type starting at the current token, up to the ``,``, ``)`` or ``>`` that ends it
        (nested ``<...>`` and ``(...)`` skipped); the cursor is left on that token."""
        start = self.i
        depth = 0
        while self.i < len(self.tokens):
            kind = self.tokens[self.i].token_type
            if kind in (TokenType.L_PAREN, TokenType.LT):
                depth += 1
            elif kind in (TokenType.R_PAREN, TokenType.GT):
                if depth == 0:
                    break
                depth -= 1
            elif kind == TokenType.COMMA and depth == 0:
                break
            self.i += 1
        if self.i == start or self.i >= len(self.tokens):
            self.fail()
        return self.sql[self.tokens[start].start : self.tokens[self.i - 1].end + 1]

    def skip_body(self) -> None:
        """Past the body: up to OPTIONS (outside brackets), a ``;`` or the end."""
        depth = 0
        while self.i < len(self.tokens):
            kind = self.tokens[self.i].token_type
            if kind in (TokenType.L_PAREN, TokenType.L_BRACKET):
                depth += 1
            elif kind in (TokenType.R_PAREN, TokenType.R_BRACKET):
                depth -= 1
            elif depth == 0 and (self.word() == "OPTIONS" or kind == TokenType.SEMICOLON):
                return
            self.i += 1

    def _wrapped(self, first: int, last: int) -> bool:
        """Whether tokens first..last are one parenthesised group."""
        if self.tokens[first].token_type != TokenType.L_PAREN:
            return False
        depth = 0
        for index in range(first, last + 1):
            kind = self.tokens[index].token_type
            if kind == TokenType.L_PAREN:
                depth += 1
            elif kind == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    return index == last
        return False

    def options(self, resource: dict) -> None:
        self.expect("OPTIONS")
        if self.word() != "(":
            self.fail()
        start = self.i
        depth = 0
        while self.i < len(self.tokens):
            kind = self.tokens[self.i].token_type
            if kind == TokenType.L_PAREN:
                depth += 1
            elif kind == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    break
            self.i += 1
        if self.i >= len(self.tokens):
            self.fail()
        inner = self.sql[self.tokens[start].end + 1 : self.tokens[self.i].start]
        self.i += 1
        if not inner.strip():
            return
        tree = parse(f"SELECT {inner}")
        for item in tree.expressions:
            if not isinstance(item, exp.EQ) or not isinstance(item.this, exp.Column):
                raise SqlError(f"Syntax error: invalid OPTIONS entry {item.sql('bigquery')}")
            key = item.this.name.lower()
            value = literal_value(item.expression)
            if key == "description" and (value is None or isinstance(value, str)):
                if value is None:
                    resource.pop("description", None)
                else:
                    resource["description"] = value
            elif key == "library" and value:
                raise SqlError(_NO_LIBRARIES)
            elif key == "data_governance_type" and isinstance(value, str):
                resource["dataGovernanceType"] = value

    def rest(self) -> str:
        token = self.tokens[self.i]
        last = len(self.tokens) - 1
        while last > self.i and self.tokens[last].token_type == TokenType.SEMICOLON:
            last -= 1
        self.i = len(self.tokens)
        return self.sql[token.start : self.tokens[last].end + 1]

    def end(self) -> None:
        while self.i < len(self.tokens) and self.tokens[self.i].token_type == TokenType.SEMICOLON:
            self.i += 1
        if self.i < len(self.tokens):
            self.fail()


def _routine_id(name: str) -> str:
    if not _ROUTINE_ID.match(name):
        raise SqlError(f"Invalid routine name: {name}. Names may contain letters, numbers and "
                       "underscores, at most 256 characters")  # fmt: skip
    return name


# --- expansion of calls ---------------------------------------------------------------------


class JsCall(exp.Expression, exp.Func):
    """``bq_js_call(handle, json_array(args...))``: a JavaScript UDF call (rendered verbatim;
    no rewrite applies to it, and users cannot write it: it is not a BigQuery name)."""

    arg_types = {"this": True, "expression": True}
    _sql_names = ["bq_js_call"]


class JsonArgs(exp.Expression, exp.Func):
    arg_types = {"expressions": False}
    is_var_len_args = True
    _sql_names = ["json_array"]


class Base64Out(exp.Expression, exp.Func):
    _sql_names = ["to_base64"]


class Base64In(exp.Expression, exp.Func):
    _sql_names = ["from_base64"]


class JsonText(exp.Expression, exp.Func):
    _sql_names = ["json"]


def expand(tree: exp.Expr, lookup: RoutineLookup, depth: int = 0) -> exp.Expr:
    """Replace every call of a user-defined function (scalar or table) in ``tree``."""
    if depth > MAX_EXPANSION_DEPTH:
        raise SqlError("Function calls are nested too deeply (a function that calls itself?)")
    for table in list(tree.find_all(exp.Table)):
        call = table.this
        if isinstance(call, exp.Anonymous):
            parts = _call_parts(call, table)
            routine = lookup.routine(parts, True) if parts else None
            if routine is not None:
                replacement = _table_function(routine, call, table, lookup, depth)
                if table is tree:
                    return replacement
                table.replace(replacement)
    for call in list(tree.find_all(exp.Anonymous)):
        if isinstance(call.parent, exp.Table) or call.parent is None and call is not tree:
            continue
        parts = _call_parts(call, None)
        routine = lookup.routine(parts, False) if parts else None
        if routine is None:
            continue
        target = call.parent if _dotted(call) else call
        replacement = _scalar_call(routine, call.expressions, lookup, depth)
        if target is tree:
            return replacement
        target.replace(replacement)
    return tree


def _dotted(call: exp.Anonymous) -> bool:
    parent = call.parent
    return isinstance(parent, exp.Dot) and parent.expression is call


def _call_parts(call: exp.Anonymous, table: exp.Table | None) -> list[str] | None:
    name = call.this
    parts = name.name.split(".") if isinstance(name, exp.Identifier) else [str(name)]
    if table is not None:
        prefix = [p.name for p in (table.args.get("catalog"), table.args.get("db")) if p]
        return [*prefix, *parts]
    if _dotted(call):
        prefix_node = call.parent.this
        prefix = []
        for part in prefix_node.walk(bfs=False):
            if isinstance(part, exp.Identifier):
                prefix.extend(part.name.split("."))
            elif not isinstance(part, (exp.Dot, exp.Column)):
                return None
        return [*prefix, *parts]
    return parts


def _arguments(routine: Routine, args: list[exp.Expr]) -> dict[str, exp.Expr]:
    if len(args) != len(routine.arguments) or any(isinstance(a, exp.Kwarg) for a in args):
        wanted = ", ".join(
            types.to_text(a.type) if a.type else "ANY TYPE" for a in routine.arguments
        )
        raise SqlError(f"No matching signature for function {routine.name} with "
                       f"{len(args)} argument(s). Supported signature: "
                       f"{routine.name.upper()}({wanted})")  # fmt: skip
    values = {}
    for arg, value in zip(routine.arguments, args, strict=True):
        value = value.copy()
        if arg.type is not None and routine.language == "SQL":
            value = exp.Cast(this=value, to=types.to_node(arg.type))
        values[arg.name.lower()] = exp.Paren(this=value)
    return values


def _substitute(body: exp.Expr, values: dict[str, exp.Expr]) -> exp.Expr:
    for column in list(body.find_all(exp.Column)):
        if not column.table and column.name.lower() in values:
            replacement = values[column.name.lower()].copy()
            if column is body:
                return replacement
            column.replace(replacement)
    return body


def _scalar_call(routine: Routine, args: list[exp.Expr], lookup: RoutineLookup,
                 depth: int) -> exp.Expr:  # fmt: skip
    if routine.kind != SCALAR_FUNCTION:
        raise SqlError(f"Function not found: {routine.name} (it is a {routine.kind.lower()})")
    if routine.language == "JAVASCRIPT":
        return _js_call(routine, args, lookup)
    values = _arguments(routine, args)
    body = parse(f"SELECT ({routine.body})").expressions[0]
    body = expand(_substitute(body, values), lookup, depth + 1)
    if routine.return_type is not None:
        body = exp.Cast(this=body, to=types.to_node(routine.return_type))
    return exp.Paren(this=body)


def _table_function(routine: Routine, call: exp.Anonymous, table: exp.Table,
                    lookup: RoutineLookup, depth: int) -> exp.Expr:  # fmt: skip
    if routine.kind != TABLE_FUNCTION:
        raise SqlError(f"Table-valued function not found: {routine.name}")
    values = _arguments(routine, list(call.expressions))
    query = parse(routine.body)
    if not isinstance(query, (exp.Select, exp.SetOperation, exp.Subquery)):
        raise SqlError(f"The body of table function {routine.name} must be a query")
    query = expand(_substitute(query, values), lookup, depth + 1)
    if routine.return_table:
        query = exp.select(*[
            exp.alias_(exp.Cast(this=exp.column(name, quoted=True), to=types.to_node(kind)),
                       name, quoted=True)
            for name, kind in routine.return_table
        ]).from_(query.subquery("_table_function"))  # fmt: skip
    alias = table.args.get("alias") or exp.TableAlias(
        this=exp.to_identifier(routine.name.split(".")[-1], quoted=True)
    )
    return exp.Subquery(this=query, alias=alias.copy())


def _js_call(routine: Routine, args: list[exp.Expr], lookup: RoutineLookup) -> exp.Expr:
    values = _arguments(routine, args)
    encoded = []
    for arg in routine.arguments:
        value = values[arg.name.lower()]
        if arg.type is not None and arg.type["typeKind"] == "BYTES":
            value = Base64Out(this=value)
        encoded.append(value)
    handle = lookup.js_handle(routine)
    call: exp.Expr = JsCall(this=exp.Literal.string(handle), expression=JsonArgs(expressions=encoded))
    kind = routine.return_type["typeKind"]
    if kind == "BYTES":
        return Base64In(this=call)
    if kind in ("ARRAY", "STRUCT"):
        call = JsonText(this=call)
    return exp.Cast(this=call, to=types.to_node(routine.return_type))
