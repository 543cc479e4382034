"""BigQuery's procedural language, parsed: a script becomes a list of statement nodes.

sqlglot parses one SQL statement at a time and knows nothing of DECLARE/IF/LOOP/BEGIN...END,
so this module splits a multi-statement query itself, over sqlglot's own BigQuery tokens
(strings, comments, backticks and raw strings are therefore read exactly as the translator
reads them). SQL statements stay text, handed to ``translate`` one at a time; expressions of
procedural statements (conditions, DEFAULT, SET values) stay text too and are evaluated by the
core as ``SELECT <expression>`` through the translator. Nothing here executes anything.
"""

from __future__ import annotations

import dataclasses
import re

from sqlglot.dialects.bigquery import BigQuery
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from .errors import SqlError
from .syntax import RESERVED_KEYWORDS

MAX_NESTING = 50  # BigQuery's limit on nested blocks, loops and conditionals

_STRINGS = {TokenType.STRING, TokenType.RAW_STRING, TokenType.BYTE_STRING,
            TokenType.NATIONAL_STRING, TokenType.HEREDOC_STRING}  # fmt: skip
_OPEN = {TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE}
_CLOSE = {TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE}
_CLOSERS = {"END", "ELSE", "ELSEIF", "EXCEPTION", "UNTIL", "WHEN", "THEN", "DO"}
_LABELLED = {"BEGIN", "LOOP", "WHILE", "REPEAT", "FOR"}
# Words that open a procedural statement (a SQL statement never starts with them).
PROCEDURAL = frozenset("""DECLARE SET IF CASE BEGIN LOOP WHILE REPEAT FOR BREAK LEAVE CONTINUE
    ITERATE RAISE RETURN CALL EXECUTE COMMIT ROLLBACK ASSERT""".split())


@dataclasses.dataclass
class Expr:
    """An expression of a procedural statement, as written."""

    text: str
    line: int
    column: int


@dataclasses.dataclass
class Node:
    """A statement: its text and where it starts (1-based), for stack traces and errors."""

    text: str
    line: int
    column: int


@dataclasses.dataclass
class Sql(Node):
    """A SQL statement (query, DML, DDL, CREATE FUNCTION/PROCEDURE ...), run as one job."""


@dataclasses.dataclass
class Declare(Node):
    names: list[str]
    type_text: str | None
    default: Expr | None


@dataclasses.dataclass
class Set(Node):
    """``SET x = e``, ``SET (a, b) = (e1, e2)`` or ``= (SELECT AS STRUCT ...)``; names of
    system variables keep their ``@@``."""

    names: list[str]
    value: Expr
    multiple: bool


@dataclasses.dataclass
class If(Node):
    branches: list[tuple[Expr, list[Node]]]
    otherwise: list[Node] | None


@dataclasses.dataclass
class Case(Node):
    subject: Expr | None
    branches: list[tuple[Expr, list[Node]]]
    otherwise: list[Node] | None


@dataclasses.dataclass
class Block(Node):
    label: str | None
    body: list[Node]
    handler: list[Node] | None  # EXCEPTION WHEN ERROR THEN ...


@dataclasses.dataclass
class Loop(Node):
    label: str | None
    body: list[Node]


@dataclasses.dataclass
class While(Node):
    label: str | None
    condition: Expr
    body: list[Node]


@dataclasses.dataclass
class Repeat(Node):
    label: str | None
    body: list[Node]
    until: Expr


@dataclasses.dataclass
class For(Node):
    label: str | None
    variable: str
    query: Expr
    body: list[Node]


@dataclasses.dataclass
class Break(Node):
    label: str | None


@dataclasses.dataclass
class Continue(Node):
    label: str | None


@dataclasses.dataclass
class Raise(Node):
    message: Expr | None


@dataclasses.dataclass
class Return(Node):
    pass


@dataclasses.dataclass
class Call(Node):
    name: list[str]
    args: list[Expr]


@dataclasses.dataclass
class ExecuteImmediate(Node):
    sql: Expr
    into: list[str]
    using: list[tuple[Expr, str | None]]


@dataclasses.dataclass
class Assert(Node):
    condition: Expr
    description: Expr | None


@dataclasses.dataclass
class Transaction(Node):
    verb: str  # BEGIN | COMMIT | ROLLBACK


class _Tokenizer(BigQuery.Tokenizer):
    # sqlglot reads the rest of a statement after LOOP, BEGIN, EXCEPTION, ... as one opaque
    # string (its fallback for statements it cannot parse); here every word is a token.
    COMMANDS: set = set()


def tokenize(sql: str) -> list[Token]:
    try:
        return list(_Tokenizer().tokenize(sql))
    except TokenError as error:
        raise SqlError(f"Syntax error: {str(error).strip().splitlines()[0]}") from None


def maybe_script(sql: str) -> bool:
    """Cheap test: could this text be more than one plain SQL statement? (False means it is
    certainly a single statement; True means ``parse`` must look.)"""
    body = sql.strip().rstrip(";")
    if ";" in body:
        return True
    head = re.match(r"(?:\s|--[^\n]*\n|#[^\n]*\n|/\*.*?\*/)*([A-Za-z_`][\w`]*)\s*(:?)", body,
                    re.DOTALL)  # fmt: skip
    if head is None:
        return False
    word = head.group(1).upper()
    return word in PROCEDURAL or bool(head.group(2)) or (
        word == "CREATE" and re.search(r"\bPROCEDURE\b", body[:200], re.IGNORECASE) is not None
    )


def parse(sql: str) -> list[Node]:
    """The statements of a script (a single statement gives a list of one)."""
    return _Parser(sql).script()


def split_name(text: str) -> list[str]:
    """``a.b.c`` / `` `a.b`.c `` -> its parts (backticks removed)."""
    parts: list[str] = []
    for token in tokenize(text):
        if token.token_type == TokenType.DOT:
            continue
        if token.token_type == TokenType.IDENTIFIER:
            parts.extend(token.text.split("."))
        else:
            parts.append(token.text)
    return parts


class _Parser:
    def __init__(self, sql: str) -> None:
        if not isinstance(sql, str):
            raise SqlError("Syntax error: query must be a string")
        self.sql = sql
        self.tokens = tokenize(sql)
        self.i = 0
        self.depth = 0
        self.labels: list[str] = []

    # ------------------------------------------------------------------ tokens

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.i + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def word(self, ahead: int = 0) -> str:
        """The upper-case text of a keyword-like token ('' for strings, identifiers, EOF)."""
        token = self.peek(ahead)
        if token is None or token.token_type in _STRINGS or token.token_type in (
            TokenType.IDENTIFIER, TokenType.PARAMETER, TokenType.NUMBER
        ):
            return ""
        return token.text.upper()

    def at(self, *words: str) -> bool:
        return all(self.word(k) == w for k, w in enumerate(words))

    def take(self, *words: str) -> Token:
        for k, word in enumerate(words):
            if self.word(k) != word:
                self.fail(self.peek(k))
        token = self.tokens[self.i]
        self.i += len(words)
        return token

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.i += len(words)
            return True
        return False

    def fail(self, token: Token | None = None, what: str | None = None) -> SqlError:
        token = token or self.peek()
        if token is None:
            line, col = self.position(len(self.sql.rstrip()))
            raise SqlError(f"Syntax error: Unexpected end of script at [{line}:{col}]", (line, col))
        line, col = self.position(token.start)
        shown = what or _describe(token)
        raise SqlError(f"Syntax error: Unexpected {shown} at [{line}:{col}]", (line, col))

    def position(self, offset: int) -> tuple[int, int]:
        before = self.sql[:offset]
        return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1

    def text(self, first: int, last: int) -> str:
        """Source text from token ``first`` to token ``last`` (inclusive)."""
        return self.sql[self.tokens[first].start : self.tokens[last].end + 1]

    def expr(self, first: int, last: int) -> Expr:
        if last < first:
            self.fail()
        line, col = self.position(self.tokens[first].start)
        return Expr(self.text(first, last), line, col)

    def node_args(self, first: int) -> dict:
        last = max(first, self.i - 1)
        line, col = self.position(self.tokens[first].start)
        return {"text": self.text(first, last), "line": line, "column": col}

    def scan(self, stops: set[str], *, pairs: tuple[str, ...] = ()) -> int:
        """Advance to the first token (at bracket depth 0, outside CASE ... END) whose word is
        in ``stops`` (or a ``;``/EOF); returns the index of the last token before it.
        ``pairs`` are two-word stops such as ``END REPEAT``."""
        depth = cases = 0
        start = self.i
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            kind = token.token_type
            word = self.word()
            if kind in _OPEN:
                depth += 1
            elif kind in _CLOSE:
                if depth == 0:
                    self.fail(token)
                depth -= 1
            elif depth == 0 and word == "CASE":
                cases += 1
            elif depth == 0 and cases and word == "END":
                cases -= 1
            elif depth == 0 and not cases:
                if kind == TokenType.SEMICOLON or word in stops:
                    break
                if any(self.at(*pair.split()) for pair in pairs):
                    break
            self.i += 1
        if depth:
            self.fail()
        if self.i == start and stops:
            self.fail()
        return self.i - 1

    def end_statement(self) -> None:
        if self.peek() is None:
            return
        if self.peek().token_type != TokenType.SEMICOLON:
            self.fail()
        self.i += 1

    # ------------------------------------------------------------------ statements

    def script(self) -> list[Node]:
        nodes = self.statements(set())
        if self.peek() is not None:
            self.fail()
        return nodes

    def statements(self, stops: set[str]) -> list[Node]:
        nodes: list[Node] = []
        while self.peek() is not None:
            if self.peek().token_type == TokenType.SEMICOLON:
                self.i += 1
                continue
            if self.word() in stops:
                break
            nodes.append(self.statement())
        return nodes

    def statement(self) -> Node:
        first = self.i
        label = None
        if self.peek(1) is not None and self.peek(1).token_type == TokenType.COLON and (
            self.word(2) in _LABELLED
        ):
            token = self.tokens[self.i]
            label = token.text.lower()
            if label in self.labels:
                self.fail(token, f'label "{token.text}": it is already used by an enclosing '
                                 "block or loop")  # fmt: skip
            self.i += 2
        word = self.word()
        if word in _CLOSERS:
            self.fail()
        if word == "BEGIN TRANSACTION":  # one token for sqlglot
            return self._transaction(first)
        method = getattr(self, f"_{word.lower()}", None)
        if word in PROCEDURAL and method is not None:
            following = self.peek(1)
            if word == "BEGIN" and (following is None
                                    or following.token_type == TokenType.SEMICOLON):
                if label:
                    self.fail()
                return self._transaction(first)
            if label is not None and word not in _LABELLED:
                self.fail()
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise SqlError(f"Script nesting exceeds the maximum of {MAX_NESTING} levels")
            try:
                if word in _LABELLED:
                    if label:
                        self.labels.append(label)
                    try:
                        return method(first, label)
                    finally:
                        if label:
                            self.labels.pop()
                return method(first)
            finally:
                self.depth -= 1
        if label is not None:
            self.fail()
        return self._sql(first)

    def _sql(self, first: int) -> Node:
        if self.at("CREATE"):
            probe = self.i
            while probe < len(self.tokens) and self.tokens[probe].text.upper() in (
                "CREATE", "OR", "REPLACE", "TEMP", "TEMPORARY"
            ):
                probe += 1
            if probe < len(self.tokens) and self.tokens[probe].text.upper() == "PROCEDURE":
                return self._create_procedure(first)
        last = self.scan(set())
        node = Sql(**self.node_args(first))
        node.text = self.text(first, last)
        self.end_statement()
        return node

    def _create_procedure(self, first: int) -> Node:
        """CREATE PROCEDURE ... BEGIN ... END: one statement, ``;`` inside its body."""
        while not self.at("BEGIN"):
            if self.peek() is None or self.peek().token_type == TokenType.SEMICOLON:
                self.fail()
            self.i += 1
        saved = self.labels
        self.labels = []  # each procedure has its own label names
        try:
            self._begin(self.i, None, end=False)
        finally:
            self.labels = saved
        node = Sql(**self.node_args(first))
        self.end_statement()
        return node

    def _transaction(self, first: int) -> Node:
        verb = self.word().split()[0]
        self.i += 1
        self.accept("TRANSACTION")
        node = Transaction(**self.node_args(first), verb=verb)
        self.end_statement()
        return node

    def _commit(self, first: int) -> Node:
        return self._transaction(first)

    def _rollback(self, first: int) -> Node:
        return self._transaction(first)

    def _declare(self, first: int) -> Node:
        self.take("DECLARE")
        names = [self.identifier()]
        while self.peek() is not None and self.peek().token_type == TokenType.COMMA:
            self.i += 1
            names.append(self.identifier())
        type_text = None
        if not self.at("DEFAULT") and self.peek() is not None and (
            self.peek().token_type != TokenType.SEMICOLON
        ):
            start = self.i
            last = self.scan({"DEFAULT"})
            type_text = self.text(start, last)
        default = None
        if self.accept("DEFAULT"):
            start = self.i
            default = self.expr(start, self.scan(set()))
        if type_text is None and default is None:
            self.fail()
        node = Declare(**self.node_args(first), names=names, type_text=type_text,
                       default=default)  # fmt: skip
        self.end_statement()
        return node

    def _set(self, first: int) -> Node:
        self.take("SET")
        multiple = False
        if self.peek() is not None and self.peek().token_type == TokenType.L_PAREN:
            multiple = True
            self.i += 1
            names = [self.variable_name()]
            while self.peek() is not None and self.peek().token_type == TokenType.COMMA:
                self.i += 1
                names.append(self.variable_name())
            if self.peek() is None or self.peek().token_type != TokenType.R_PAREN:
                self.fail()
            self.i += 1
        else:
            names = [self.variable_name()]
        if self.peek() is None or self.peek().token_type != TokenType.EQ:
            self.fail()
        self.i += 1
        start = self.i
        value = self.expr(start, self.scan(set()))
        node = Set(**self.node_args(first), names=names, value=value, multiple=multiple)
        self.end_statement()
        return node

    def variable_name(self) -> str:
        token = self.peek()
        if token is not None and token.token_type == TokenType.PARAMETER:
            self.i += 1
            if self.peek() is None or self.peek().token_type != TokenType.PARAMETER:
                self.fail()
            self.i += 1
            name = self.identifier()
            while self.peek() is not None and self.peek().token_type == TokenType.DOT:
                self.i += 1
                name += "." + self.identifier()
            return "@@" + name
        return self.identifier()

    def identifier(self) -> str:
        token = self.peek()
        if token is None or token.token_type in _STRINGS or token.token_type in (
            TokenType.NUMBER, TokenType.SEMICOLON, TokenType.COMMA, TokenType.L_PAREN,
            TokenType.R_PAREN, TokenType.EQ, TokenType.PARAMETER,
        ):  # fmt: skip
            self.fail(token)
        self.i += 1
        return token.text

    def _if(self, first: int) -> Node:
        self.take("IF")
        branches = []
        while True:
            start = self.i
            condition = self.expr(start, self.scan({"THEN"}))
            self.take("THEN")
            body = self.statements({"ELSEIF", "ELSE", "END"})
            branches.append((condition, body))
            if not self.accept("ELSEIF"):
                break
        otherwise = self.statements({"END"}) if self.accept("ELSE") else None
        self.take("END", "IF")
        node = If(**self.node_args(first), branches=branches, otherwise=otherwise)
        self.end_statement()
        return node

    def _case(self, first: int) -> Node:
        self.take("CASE")
        subject = None
        if not self.at("WHEN"):
            start = self.i
            subject = self.expr(start, self.scan({"WHEN"}))
        branches = []
        while self.accept("WHEN"):
            start = self.i
            condition = self.expr(start, self.scan({"THEN"}))
            self.take("THEN")
            branches.append((condition, self.statements({"WHEN", "ELSE", "END"})))
        if not branches:
            self.fail()
        otherwise = self.statements({"END"}) if self.accept("ELSE") else None
        self.take("END", "CASE")
        node = Case(**self.node_args(first), subject=subject, branches=branches,
                    otherwise=otherwise)  # fmt: skip
        self.end_statement()
        return node

    def end_label(self, label: str | None) -> None:
        token = self.peek()
        if token is None or token.token_type == TokenType.SEMICOLON:
            return
        if label is None or token.text.lower() != label:
            self.fail(token)
        self.i += 1

    def _begin(self, first: int, label: str | None = None, *, end: bool = True) -> Node:
        self.take("BEGIN")
        body = self.statements({"EXCEPTION", "END"})
        handler = None
        if self.accept("EXCEPTION"):
            self.take("WHEN", "ERROR", "THEN")
            handler = self.statements({"END"})
        self.take("END")
        self.end_label(label)
        node = Block(**self.node_args(first), label=label, body=body, handler=handler)
        if end:
            self.end_statement()
        return node

    def _loop(self, first: int, label: str | None = None) -> Node:
        self.take("LOOP")
        body = self.statements({"END"})
        self.take("END", "LOOP")
        self.end_label(label)
        node = Loop(**self.node_args(first), label=label, body=body)
        self.end_statement()
        return node

    def _while(self, first: int, label: str | None = None) -> Node:
        self.take("WHILE")
        start = self.i
        condition = self.expr(start, self.scan({"DO"}))
        self.take("DO")
        body = self.statements({"END"})
        self.take("END", "WHILE")
        self.end_label(label)
        node = While(**self.node_args(first), label=label, condition=condition, body=body)
        self.end_statement()
        return node

    def _repeat(self, first: int, label: str | None = None) -> Node:
        self.take("REPEAT")
        body = self.statements({"UNTIL"})
        self.take("UNTIL")
        start = self.i
        until = self.expr(start, self.scan(set(), pairs=("END REPEAT",)))
        self.take("END", "REPEAT")
        self.end_label(label)
        node = Repeat(**self.node_args(first), label=label, body=body, until=until)
        self.end_statement()
        return node

    def _for(self, first: int, label: str | None = None) -> Node:
        self.take("FOR")
        variable = self.identifier()
        self.take("IN")
        start = self.i
        last = self.scan({"DO"})
        query = self.expr(start, last)
        if query.text.startswith("(") and query.text.endswith(")") and last > start:
            query = self.expr(start + 1, last - 1)
        self.take("DO")
        body = self.statements({"END"})
        self.take("END", "FOR")
        self.end_label(label)
        node = For(**self.node_args(first), label=label, variable=variable, query=query,
                   body=body)  # fmt: skip
        self.end_statement()
        return node

    def _jump(self, first: int, cls: type) -> Node:
        self.i += 1
        label = None
        token = self.peek()
        if token is not None and token.token_type != TokenType.SEMICOLON:
            label = self.identifier().lower()
        node = cls(**self.node_args(first), label=label)
        self.end_statement()
        return node

    def _break(self, first: int) -> Node:
        return self._jump(first, Break)

    def _leave(self, first: int) -> Node:
        return self._jump(first, Break)

    def _continue(self, first: int) -> Node:
        return self._jump(first, Continue)

    def _iterate(self, first: int) -> Node:
        return self._jump(first, Continue)

    def _raise(self, first: int) -> Node:
        self.take("RAISE")
        message = None
        if self.accept("USING"):
            self.take("MESSAGE")
            if self.peek() is None or self.peek().token_type != TokenType.EQ:
                self.fail()
            self.i += 1
            start = self.i
            message = self.expr(start, self.scan(set()))
        node = Raise(**self.node_args(first), message=message)
        self.end_statement()
        return node

    def _return(self, first: int) -> Node:
        self.take("RETURN")
        node = Return(**self.node_args(first))
        self.end_statement()
        return node

    def _assert(self, first: int) -> Node:
        self.take("ASSERT")
        start = self.i
        condition = self.expr(start, self.scan({"AS"}))
        description = None
        if self.accept("AS"):
            start = self.i
            description = self.expr(start, self.scan(set()))
        node = Assert(**self.node_args(first), condition=condition, description=description)
        self.end_statement()
        return node

    def _call(self, first: int) -> Node:
        self.take("CALL")
        start = self.i
        while self.peek() is not None and self.peek().token_type != TokenType.L_PAREN:
            if self.peek().token_type == TokenType.SEMICOLON:
                self.fail()
            self.i += 1
        if self.i == start or self.peek() is None:
            self.fail()
        name = split_name(self.text(start, self.i - 1))
        self.i += 1
        args = self.arguments()
        node = Call(**self.node_args(first), name=name, args=args)
        self.end_statement()
        return node

    def arguments(self) -> list[Expr]:
        """Comma-separated expressions up to the closing parenthesis (consumed)."""
        args: list[Expr] = []
        if self.peek() is not None and self.peek().token_type == TokenType.R_PAREN:
            self.i += 1
            return args
        while True:
            start = self.i
            last = self._scan_argument()
            args.append(self.expr(start, last))
            token = self.peek()
            if token is None:
                self.fail()
            self.i += 1
            if token.token_type == TokenType.R_PAREN:
                return args

    def _scan_argument(self) -> int:
        depth = 0
        start = self.i
        while self.i < len(self.tokens):
            kind = self.tokens[self.i].token_type
            if kind in _OPEN:
                depth += 1
            elif kind in _CLOSE:
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and kind in (TokenType.COMMA, TokenType.SEMICOLON):
                break
            self.i += 1
        if self.i == start or self.peek() is None or (
            self.peek().token_type == TokenType.SEMICOLON
        ):
            self.fail()
        return self.i - 1

    def _execute(self, first: int) -> Node:
        self.take("EXECUTE", "IMMEDIATE")
        start = self.i
        sql = self.expr(start, self.scan({"INTO", "USING"}))
        into: list[str] = []
        using: list[tuple[Expr, str | None]] = []
        if self.accept("INTO"):
            into.append(self.identifier())
            while self.peek() is not None and self.peek().token_type == TokenType.COMMA:
                self.i += 1
                into.append(self.identifier())
        if self.accept("USING"):
            while True:
                start = self.i
                last = self.scan({"AS"} | {","})
                value = self.expr(start, last)
                alias = self.identifier() if self.accept("AS") else None
                using.append((value, alias))
                if self.peek() is None or self.peek().token_type != TokenType.COMMA:
                    break
                self.i += 1
        node = ExecuteImmediate(**self.node_args(first), sql=sql, into=into, using=using)
        self.end_statement()
        return node


def _describe(token: Token) -> str:
    text = token.text
    if token.token_type in _STRINGS:
        return "string literal"
    if token.token_type == TokenType.IDENTIFIER:
        return f"identifier `{text}`"
    if re.fullmatch(r"\d+", text):
        return f'integer literal "{text}"'
    if re.fullmatch(r"[A-Za-z_]\w*", text):
        upper = text.upper()
        if upper in RESERVED_KEYWORDS or upper in PROCEDURAL or upper in (
            "END", "ELSEIF", "THEN", "DO", "UNTIL", "EXCEPTION"
        ):
            return f"keyword {upper}"
        return f'identifier "{text}"'
    return f'"{text}"'
