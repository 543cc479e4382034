"""Parsing BigQuery SQL with sqlglot, and syntax errors in BigQuery's words."""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp
from sqlglot.dialects.bigquery import BigQuery
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from .errors import SqlError, unsupported


def parse(sql: Any) -> exp.Expr:
    """The one statement in ``sql`` as a sqlglot tree, or SqlError."""
    if not isinstance(sql, str):
        raise SqlError("Syntax error: query must be a string")
    try:
        trees = [t for t in _DIALECT.parse(sql) if t is not None]
    except ParseError as error:
        raise _syntax_error(error, sql) from None
    except TokenError as error:
        raise SqlError(f"Syntax error: {_first_line(str(error))}") from None
    if not trees or (isinstance(trees[0], exp.Select) and not trees[0].expressions):
        raise SqlError("Syntax error: Unexpected end of script", (1, 1))
    if len(trees) > 1:
        raise unsupported("multi-statement script")
    return trees[0]


NAME_KEY = BigQuery.ORIGINAL_NAME_META_KEY


def _named(name: str, parse_call: Any) -> Any:
    """Wrap a special-form function parser so its result records the name written (sqlglot
    does that itself only for ordinary calls) and where it stood."""

    def parse_named(parser: Any) -> Any:
        token = parser._tokens[parser._index - 2]  # NAME ( already consumed
        result = parse_call(parser)
        if isinstance(result, exp.Expr) and NAME_KEY not in result.meta:
            result.meta[NAME_KEY] = token.text
            result.update_positions(token)
        return result

    return parse_named


class _StrictBigQuery(BigQuery):
    """BigQuery as sqlglot reads it, with every function call keeping the name it was called
    by, so ``surface.check_names`` can hold calls to BigQuery's function list."""

    class Parser(BigQuery.Parser):
        FUNCTION_PARSERS = {
            name: _named(name, parse_call)
            for name, parse_call in BigQuery.Parser.FUNCTION_PARSERS.items()
        }

        def _parse_cast(self, strict: bool, safe: bool | None = None) -> exp.Expr:
            # sqlglot turns CAST(s AS <date/time type> FORMAT f) into its STR_TO_TIME with the
            # format translated to strptime codes, losing the target type (TIME, DATETIME)
            # and BigQuery's format elements; keep the CAST for castformat.py instead.
            start = self._index
            this = self._parse_assignment()
            if self._match(TokenType.ALIAS):
                to = self._parse_types(with_collation=True)
                temporal = isinstance(to, exp.DataType) and to.this in exp.DataType.TEMPORAL_TYPES
                if temporal and self._match(TokenType.FORMAT):
                    fmt = self._parse_at_time_zone(self._parse_string())
                    return self.build_cast(strict=strict, this=this, to=to, format=fmt, safe=safe)
            self._retreat(start)
            return super()._parse_cast(strict, safe)


_DIALECT = _StrictBigQuery()


def _syntax_error(error: ParseError, sql: str) -> SqlError:
    details = error.errors[0] if error.errors else {}
    line, col = details.get("line"), details.get("col")
    highlight = (details.get("highlight") or "").strip()
    description = details.get("description") or _first_line(str(error))
    missing = description.startswith(("Expecting", "Required keyword", "Expected"))
    if missing and line and col and _at_end(sql, line, col):
        end = _end_position(sql)
        return SqlError(f"Syntax error: Unexpected end of script at [{end[0]}:{end[1]}]", end)
    if highlight:
        start = max(1, (col or 1) - len(highlight) + 1)
        message = f"Syntax error: Unexpected {_describe_token(highlight)} at [{line}:{start}]"
        return SqlError(message, (line, start))
    if line:
        return SqlError(f"Syntax error: {description} at [{line}:{col}]", (line, col))
    return SqlError(f"Syntax error: {description}")


def _describe_token(token: str) -> str:
    if re.fullmatch(r"\d+", token):
        return f'integer literal "{token}"'
    if re.fullmatch(r"(\d+\.\d*|\.\d+)([eE][-+]?\d+)?|\d+[eE][-+]?\d+", token):
        return f'floating point literal "{token}"'
    if token.upper() in RESERVED_KEYWORDS:
        return f"keyword {token.upper()}"
    if re.fullmatch(r"\w+", token):
        return f'identifier "{token}"'
    if token[:1] in "'\"":
        return "string literal"
    return f'"{token}"'


def _at_end(sql: str, line: int, col: int) -> bool:
    lines = sql.splitlines() or [""]
    if line < len(lines):
        return not "\n".join(lines[line:]).strip() and not lines[line - 1][col:].strip()
    return line == len(lines) and not lines[-1][col:].strip()


def _end_position(sql: str) -> tuple[int, int]:
    lines = sql.rstrip().splitlines() or [""]
    return len(lines), len(lines[-1]) + 1


# GoogleSQL reserved keywords (they cannot be unquoted identifiers or aliases).
RESERVED_KEYWORDS = frozenset(
    """ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE CAST COLLATE CONTAINS
    CREATE CROSS CUBE CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM ESCAPE EXCEPT EXCLUDE
    EXISTS EXTRACT FALSE FETCH FOLLOWING FOR FROM FULL GROUP GROUPING GROUPS HASH HAVING IF
    IGNORE IN INNER INTERSECT INTERVAL INTO IS JOIN LATERAL LEFT LIKE LIMIT LOOKUP MERGE NATURAL
    NEW NO NOT NULL NULLS OF ON OR ORDER OUTER OVER PARTITION PRECEDING PROTO QUALIFY RANGE
    RECURSIVE RESPECT RIGHT ROLLUP ROWS SELECT SET SOME STRUCT TABLESAMPLE THEN TO TREAT TRUE
    UNBOUNDED UNION UNNEST USING WHEN WHERE WINDOW WITH WITHIN""".split()
)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid query"
