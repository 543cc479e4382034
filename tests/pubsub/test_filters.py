"""Subscription filter grammar: examples from the Pub/Sub docs, errors, and properties."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from emulators.pubsub.filters import MAX_FILTER_BYTES, FilterError, compile_filter

ATTRS = {"domain": "com", "lang": "en-US", "iana.org/language_tag": "en", "empty": ""}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("", True),
        ("   ", True),
        ('attributes.domain = "com"', True),
        ('attributes.domain = "net"', False),
        ('attributes.domain != "net"', True),
        ('attributes.domain != "com"', False),
        ('attributes.missing != "x"', True),
        ('attributes.missing = "x"', False),
        ("attributes:domain", True),
        ("attributes:missing", False),
        ("attributes : domain", True),
        ("NOT attributes:domain", False),
        ("-attributes:domain", False),
        ("NOT NOT attributes:domain", True),
        ('attributes:domain AND attributes.lang = "en-US"', True),
        ('attributes:domain AND attributes.lang = "fr"', False),
        ('attributes:missing OR attributes.lang = "en-US"', True),
        ("attributes:missing OR attributes:nope", False),
        ('attributes:a OR attributes:b OR attributes.domain = "com"', True),
        ('attributes:domain AND (attributes:missing OR attributes.lang = "en-US")', True),
        ('(attributes:domain AND attributes:missing) OR attributes.lang = "x"', False),
        ('hasPrefix(attributes.lang, "en")', True),
        ('hasPrefix(attributes.lang, "fr")', False),
        ('hasPrefix(attributes.missing, "")', False),
        ('hasPrefix(attributes.domain, "")', True),
        ('NOT hasPrefix(attributes.lang, "fr")', True),
        ('attributes."iana.org/language_tag" = "en"', True),
        ('attributes:"iana.org/language_tag"', True),
        ('hasPrefix(attributes."iana.org/language_tag", "e")', True),
        ("attributes.empty = ''", True),
        ('attributes.domain = "c\\x6fm"', True),
        ('attributes.domain = "\\u0063om"', True),
        ('attributes.AND = "x"', False),
        ("NOT (attributes:domain AND attributes:lang)", False),
        ("-(attributes:missing)", True),
    ],
)
def test_documented_forms(expr: str, expected: bool):
    assert compile_filter(expr)(ATTRS) is expected


def test_escapes_in_string_literals():
    pred = compile_filter(r'attributes.k = "a\"b\\c\n"')
    assert pred({"k": 'a"b\\c\n'})
    assert not pred({"k": 'a"b\\c'})


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("attributes:a AND attributes:b OR attributes:c", "cannot mix AND and OR"),
        ("attributes:a OR attributes:b AND attributes:c", "cannot mix AND and OR"),
        ('attributes.a = "x', "unterminated string"),
        ("attributes.a = x", "expected a string literal after '='"),
        ("attributes.a", "expected '=' or '!=' after attribute key"),
        ("attributes", "expected '.' or ':'"),
        ("attrs:a", "expected 'attributes'"),
        ("data:a", "expected 'attributes'"),
        ("(attributes:a", "expected ')'"),
        ("attributes:a)", "expected AND, OR or end of filter"),
        ("attributes:a AND", "expected 'attributes'"),
        ("attributes:a and attributes:b", "expected AND, OR"),
        ('hasPrefix(attributes.a "x")', "expected ',' between hasPrefix arguments"),
        ("hasPrefix(attributes.a, x)", "expected a string literal prefix"),
        ('attributes.a ! "x"', "'!' must be followed by '='"),
        ('attributes.a = "\\q"', "unknown escape"),
        ('attributes.a = "\\x4"', "needs 2 hex digits"),
        ("attributes:a # b", "unexpected character '#'"),
        ('attributes.a < "1"', "unexpected character '<'"),
        ("NOT", "expected 'attributes'"),
    ],
)
def test_syntax_errors_are_clear(expr: str, fragment: str):
    with pytest.raises(FilterError, match="invalid filter at position") as info:
        compile_filter(expr)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_error_reports_position():
    with pytest.raises(FilterError) as info:
        compile_filter("attributes:a OR attributes:b AND attributes:c")
    assert info.value.position == 29


def test_length_limit_is_256_bytes():
    key = "k" * (MAX_FILTER_BYTES - len("attributes:"))
    assert compile_filter("attributes:" + key)({key: ""})
    with pytest.raises(FilterError, match="maximum is 256 bytes"):
        compile_filter("attributes:" + key + "k")
    # multi-byte characters count as bytes, not characters
    with pytest.raises(FilterError, match="maximum is 256 bytes"):
        compile_filter('attributes.k = "' + "é" * 125 + '"')


# --- property tests ---------------------------------------------------------------------------

keys = st.sampled_from(["a", "b", "c", "key_1", "my key", "iana.org/tag", "AND"])
values = st.sampled_from(["", "x", "xy", "yx", 'q"uote', "back\\slash", "é"])
attribute_maps = st.dictionaries(keys, values, max_size=5)


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key(k: str) -> str:
    return k if k.replace("_", "").isalnum() and k.isascii() else _quote(k)


def _atoms():
    """(filter text, reference predicate) pairs for the leaf forms."""
    has = keys.map(lambda k: (f"attributes:{_key(k)}", lambda a, k=k: k in a))
    eq = st.tuples(keys, values).map(
        lambda kv: (
            f"attributes.{_key(kv[0])} = {_quote(kv[1])}",
            lambda a, kv=kv: a.get(kv[0]) == kv[1],
        )
    )
    ne = st.tuples(keys, values).map(
        lambda kv: (
            f"attributes.{_key(kv[0])} != {_quote(kv[1])}",
            lambda a, kv=kv: a.get(kv[0]) != kv[1],
        )
    )
    prefix = st.tuples(keys, values).map(
        lambda kv: (
            f"hasPrefix(attributes.{_key(kv[0])}, {_quote(kv[1])})",
            lambda a, kv=kv: kv[0] in a and a[kv[0]].startswith(kv[1]),
        )
    )
    return st.one_of(has, eq, ne, prefix)


def _combine(children):
    def negate(pair):
        text, ref = pair
        return (f"NOT ({text})", lambda a: not ref(a))

    def join(op):
        def build(pairs):
            text = f" {op} ".join(f"({t})" for t, _ in pairs)
            refs = [r for _, r in pairs]
            combine = all if op == "AND" else any
            return (text, lambda a: combine(r(a) for r in refs))

        return st.lists(children, min_size=2, max_size=3).map(build)

    return st.one_of(children.map(negate), join("AND"), join("OR"))


expressions = st.recursive(_atoms(), _combine, max_leaves=6).filter(
    lambda pair: len(pair[0].encode()) <= MAX_FILTER_BYTES
)


@settings(max_examples=300, deadline=None)
@given(expressions, attribute_maps)
def test_generated_filters_parse_and_match_reference(pair, attrs):
    text, reference = pair
    assert compile_filter(text)(attrs) == reference(attrs)


@settings(max_examples=200, deadline=None)
@given(expressions, attribute_maps)
def test_not_is_the_complement(pair, attrs):
    text, _ = pair
    assume(len(text.encode()) + len("NOT ()") <= MAX_FILTER_BYTES)  # the wrapped filter must fit
    assert compile_filter(f"NOT ({text})")(attrs) != compile_filter(text)(attrs)
    assert compile_filter(f"-({text})")(attrs) != compile_filter(text)(attrs)


filter_alphabet = st.sampled_from(
    list("attributes.:=!-(),\" '\\ANDORNOThasPrefix") + ["AND", "OR", "NOT", "attributes", "\x00"]
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(filter_alphabet, max_size=30).map("".join)))
def test_garbage_only_ever_raises_filter_error(text):
    try:
        pred = compile_filter(text)
    except FilterError:
        return
    assert pred({}) in (True, False)
    assert pred({"a": "b"}) in (True, False)
