"""Hypothesis strategies for messages valid under a JSON Schema (the subset the project uses).

``hypothesis-jsonschema`` cannot generate from the contract: ``data`` is a recursive ``$ref``
(``#dataValue``), which it refuses. This generator covers what the contract and likely next
versions use - types, properties/required/additionalProperties, anyOf/oneOf/allOf, local
``$ref`` and anchors, enum/const, string length/pattern/``date-time``, number bounds, arrays -
and every value is finally filtered through the real validator, so a keyword it only
approximates can never produce an invalid message.
"""

from __future__ import annotations

import re
from functools import lru_cache

from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from contract_tests.compat import SchemaDocument
from pipeline.validate import parse_timestamp

MAX_DEPTH = 3
_KEY = st.text(min_size=0, max_size=8)


def format_checker() -> FormatChecker:
    """Formats asserted like the pipeline does: ``date-time`` is checked by the pipeline's own
    RFC 3339 parser (it dead-letters other timestamps as ``invalid_timestamp``)."""
    checker = FormatChecker(formats=())

    # OverflowError: offsets at the edge of datetime's range (year 1 or 9999).
    @checker.checks("date-time", raises=(ValueError, OverflowError))
    def _date_time(value) -> bool:
        if isinstance(value, str):
            parse_timestamp(value)
        return True

    return checker


def validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=format_checker())


def _date_times() -> st.SearchStrategy[str]:
    fraction = st.one_of(st.just(""), st.integers(1, 9).flatmap(
        lambda n: st.from_regex(rf"\.[0-9]{{{n}}}", fullmatch=True)))
    offset = st.one_of(st.sampled_from(["Z", "z", "+00:00"]), st.builds(
        lambda sign, h, m: f"{sign}{h:02d}:{m:02d}", st.sampled_from("+-"),
        st.integers(0, 14), st.integers(0, 59)))
    return st.builds(
        lambda d, sep, t, f, z: f"{d.year:04d}-{d:%m-%d}{sep}{t:%H:%M:%S}{f}{z}",
        st.dates(), st.sampled_from("Tt "), st.times(), fraction, offset,
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEY, inner, max_size=3),
    max_leaves=8,
)


class _Generator:
    def __init__(self, schema: dict):
        self.doc = SchemaDocument(schema)

    def node(self, node, depth: int) -> st.SearchStrategy:
        node = self.doc.expand(node)
        if node is True or node == {}:
            return _JSON if depth < MAX_DEPTH else st.none() | st.booleans() | st.text(max_size=5)
        if node is False:
            return st.nothing()
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        for combinator in ("anyOf", "oneOf"):
            if combinator in node:
                rest = {k: v for k, v in node.items() if k != combinator}
                return st.one_of([self.node({**rest, **self.doc.expand(b)}, depth)
                                  for b in node[combinator]])
        if "allOf" in node:  # generate from the first branch; the final filter does the rest
            return self.node(node["allOf"][0], depth)
        declared = node.get("type", ["null", "boolean", "number", "string", "object", "array"])
        types = [declared] if isinstance(declared, str) else declared
        return st.one_of([self.typed(t, node, depth) for t in types])

    def typed(self, kind: str, node: dict, depth: int) -> st.SearchStrategy:
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind == "integer":
            return st.integers(_bound(node, "minimum", "exclusiveMinimum", 1),
                               _bound(node, "maximum", "exclusiveMaximum", -1))
        if kind == "number":
            low = node.get("minimum", node.get("exclusiveMinimum"))
            high = node.get("maximum", node.get("exclusiveMaximum"))
            return st.integers(_bound(node, "minimum", "exclusiveMinimum", 1),
                               _bound(node, "maximum", "exclusiveMaximum", -1)) | st.floats(
                low, high, allow_nan=False, allow_infinity=False,
                exclude_min="exclusiveMinimum" in node, exclude_max="exclusiveMaximum" in node)
        if kind == "string":
            return self.string(node)
        if kind == "array":
            items = node.get("items", True)
            high = node.get("maxItems", 3 if depth < MAX_DEPTH else node.get("minItems", 0))
            return st.lists(self.node(items, depth + 1), min_size=node.get("minItems", 0),
                            max_size=max(high, node.get("minItems", 0)))
        if kind == "object":
            return self.object(node, depth)
        return st.nothing()

    def string(self, node: dict) -> st.SearchStrategy[str]:
        low, high = node.get("minLength", 0), node.get("maxLength")
        if node.get("format") == "date-time":
            base = _date_times()
        elif "pattern" in node:
            base = st.from_regex(re.compile(node["pattern"]))
        else:
            return st.text(min_size=low, max_size=high if high is not None else max(low, 12))
        return base.filter(lambda s: len(s) >= low and (high is None or len(s) <= high))

    def object(self, node: dict, depth: int) -> st.SearchStrategy[dict]:
        props = node.get("properties", {})
        required = [k for k in node.get("required", []) if k in props]
        optional = {k: self.node(v, depth + 1) for k, v in props.items() if k not in required}
        fixed = st.fixed_dictionaries(
            {k: self.node(props[k], depth + 1) for k in required}, optional=optional)
        extra_schema = node.get("additionalProperties", True)
        if extra_schema is False or depth >= MAX_DEPTH:
            return fixed
        extra = st.dictionaries(_KEY.filter(lambda k: k not in props),
                                self.node(extra_schema, depth + 1), max_size=3)
        return st.builds(lambda a, b: {**b, **a}, fixed, extra)


def _bound(node: dict, inclusive: str, exclusive: str, step: int):
    if inclusive in node:
        return int(node[inclusive])
    if isinstance(node.get(exclusive), (int, float)):
        return int(node[exclusive]) + step
    return None


@lru_cache(maxsize=32)
def _cached(schema_json: str) -> st.SearchStrategy:
    import json

    schema = json.loads(schema_json)
    check = validator(schema)
    return _Generator(schema).node(schema, 0).filter(check.is_valid)


def valid_messages(schema: dict) -> st.SearchStrategy:
    """Values that ``schema`` accepts (formats checked as the pipeline checks them)."""
    import json

    return _cached(json.dumps(schema, sort_keys=True))
