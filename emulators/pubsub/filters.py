"""Pub/Sub subscription filter language: a recursive-descent parser compiled to a predicate.

Grammar (https://cloud.google.com/pubsub/docs/subscription-message-filter)::

    filter     := [ expression ] EOF
    expression := term { "AND" term }  |  term { "OR" term }   (mixing needs parentheses)
    term       := ( "NOT" | "-" ) term  |  primary
    primary    := "(" expression ")"
               |  "hasPrefix" "(" member "," string ")"
               |  member ( "=" | "!=" ) string
               |  "attributes" ":" key
    member     := "attributes" "." key
    key        := identifier | string

Semantics follow the service: ``!=`` is true when the key is absent, ``=`` and ``hasPrefix``
are false when it is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_FILTER_BYTES = 256

Predicate = Callable[[Mapping[str, str]], bool]

_PUNCTUATION = {"(": "'('", ")": "')'", ",": "','", ".": "'.'", ":": "':'", "=": "'='", "-": "'-'"}
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "`": "`",
    "?": "?",
}


class FilterError(ValueError):
    """A filter expression that the service would reject (INVALID_ARGUMENT)."""

    def __init__(self, message: str, position: int | None = None):
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"invalid filter{where}: {message}")


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "string", "!=", one of _PUNCTUATION, or "end"
    text: str
    pos: int

    def describe(self) -> str:
        if self.kind == "end":
            return "end of filter"
        if self.kind == "string":
            return f"string {self.text!r}"
        return repr(self.text)


def _is_word_char(ch: str) -> bool:
    return ch == "_" or (ch.isascii() and ch.isalnum())


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in _PUNCTUATION:
            tokens.append(_Token(ch, ch, i))
            i += 1
        elif ch == "!":
            if text.startswith("!=", i):
                tokens.append(_Token("!=", "!=", i))
                i += 2
            else:
                raise FilterError("'!' must be followed by '=' (use NOT or '-' to negate)", i)
        elif ch in "\"'":
            value, i = _read_string(text, i)
            tokens.append(value)
        elif _is_word_char(ch):
            start = i
            while i < n and _is_word_char(text[i]):
                i += 1
            tokens.append(_Token("word", text[start:i], start))
        else:
            raise FilterError(f"unexpected character {ch!r}", i)
    tokens.append(_Token("end", "", n))
    return tokens


def _read_string(text: str, start: int) -> tuple[_Token, int]:
    quote = text[start]
    out: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == quote:
            return _Token("string", "".join(out), start), i + 1
        if ch == "\n":
            break
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            break
        esc = text[i + 1]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = text[i + 2 : i + 2 + width]
            if len(digits) != width or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise FilterError(f"'\\{esc}' escape needs {width} hex digits", i)
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise FilterError(f"'\\{esc}{digits}' is not a valid code point", i)
            out.append(chr(code))
            i += 2 + width
        else:
            raise FilterError(f"unknown escape sequence '\\{esc}'", i)
    raise FilterError("unterminated string literal", start)


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        return self.tok.kind == "word" and self.tok.text == word

    def expect(self, kind: str, what: str) -> _Token:
        if self.tok.kind != kind:
            self.fail(what)
        return self.advance()

    def fail(self, what: str):
        raise FilterError(f"expected {what}, found {self.tok.describe()}", self.tok.pos)

    def parse(self) -> Predicate:
        if self.tok.kind == "end":
            return lambda attrs: True
        pred = self.expression()
        if self.tok.kind != "end":
            self.fail("AND, OR or end of filter")
        return pred

    def expression(self) -> Predicate:
        terms = [self.term()]
        op = None
        while self.is_word("AND") or self.is_word("OR"):
            tok = self.advance()
            if op is not None and tok.text != op:
                raise FilterError(
                    f"cannot mix AND and OR without parentheses (found {tok.text} after {op})",
                    tok.pos,
                )
            op = tok.text
            terms.append(self.term())
        if op is None:
            return terms[0]
        combine = all if op == "AND" else any
        frozen = tuple(terms)
        return lambda attrs: combine(t(attrs) for t in frozen)

    def term(self) -> Predicate:
        if self.is_word("NOT") or self.tok.kind == "-":
            self.advance()
            inner = self.term()
            return lambda attrs: not inner(attrs)
        return self.primary()

    def primary(self) -> Predicate:
        if self.tok.kind == "(":
            self.advance()
            inner = self.expression()
            self.expect(")", "')'")
            return inner
        if self.is_word("hasPrefix"):
            self.advance()
            self.expect("(", "'(' after hasPrefix")
            key = self.member()
            self.expect(",", "',' between hasPrefix arguments")
            prefix = self.expect("string", "a string literal prefix").text
            self.expect(")", "')' closing hasPrefix")
            return lambda attrs: (v := attrs.get(key)) is not None and v.startswith(prefix)
        if not self.is_word("attributes"):
            self.fail("'attributes', 'hasPrefix', NOT, '-' or '('")
        self.advance()
        if self.tok.kind == ":":
            self.advance()
            key = self.key()
            return lambda attrs: key in attrs
        if self.tok.kind != ".":
            self.fail("'.' or ':' after 'attributes'")
        self.advance()
        key = self.key()
        if self.tok.kind == "=":
            self.advance()
            value = self.expect("string", "a string literal after '='").text
            return lambda attrs: attrs.get(key) == value
        if self.tok.kind == "!=":
            self.advance()
            value = self.expect("string", "a string literal after '!='").text
            return lambda attrs: attrs.get(key) != value
        self.fail("'=' or '!=' after attribute key")

    def member(self) -> str:
        if not self.is_word("attributes"):
            self.fail("'attributes.KEY'")
        self.advance()
        self.expect(".", "'.' after 'attributes'")
        return self.key()

    def key(self) -> str:
        if self.tok.kind in ("word", "string"):
            return self.advance().text
        self.fail("an attribute key (identifier or quoted string)")


def compile_filter(expr: str) -> Predicate:
    """Parse a subscription filter and return a predicate over message attributes.

    Raises FilterError (a ValueError) with the position and what was expected on bad syntax.
    An empty or blank filter matches every message.
    """
    if not isinstance(expr, str):
        raise FilterError(f"filter must be a string, not {type(expr).__name__}")
    size = len(expr.encode("utf-8", "surrogatepass"))
    if size > MAX_FILTER_BYTES:
        raise FilterError(f"filter is {size} bytes; the maximum is {MAX_FILTER_BYTES} bytes")
    return _Parser(expr).parse()
