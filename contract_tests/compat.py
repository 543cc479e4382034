"""Is a new contract version backward compatible? Structural rules for the JSON Schema subset.

A new schema is compatible when it accepts every message the old one accepted. The rules
below compare the two schemas node by node and list every place where the new one may reject
something the old one allowed. They are conservative: a change they cannot prove harmless (a
different regex, an unknown keyword) is reported as breaking. Two approximations go the other
way - a new ``oneOf`` is read as ``anyOf`` (a value matching two branches would fail), and
``patternProperties`` are only compared for equality - which is what the property check in
:mod:`contract_tests.counterexample` is for: it backs the rules with concrete messages.
"""

from __future__ import annotations

from dataclasses import dataclass

ANNOTATIONS = frozenset(
    {
        "$schema", "$id", "$anchor", "$defs", "definitions", "$comment", "title",
        "description", "examples", "default", "deprecated", "readOnly", "writeOnly",
    }
)
_STRUCTURAL = frozenset(
    {
        "type", "enum", "const", "properties", "required", "additionalProperties",
        "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "items", "minItems", "maxItems",
        "uniqueItems", "minProperties", "maxProperties", "anyOf", "oneOf", "allOf", "$ref",
    }
)
ALL_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


@dataclass(frozen=True)
class Break:
    """One reason the new schema may reject a message the old one accepted."""

    path: str  # where in the message, as a JSON path ("*" = any key, "[*]" = any item)
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}: {self.detail}"


class SchemaDocument:
    """A schema document with its local ``$ref`` targets (``#``, ``#/...`` pointers, anchors)."""

    def __init__(self, root):
        self.root = root
        self.anchors: dict[str, object] = {}
        self._collect(root)

    def _collect(self, node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$anchor"), str):
                self.anchors[node["$anchor"]] = node
            for value in node.values():
                self._collect(value)
        elif isinstance(node, list):
            for value in node:
                self._collect(value)

    def resolve(self, ref: str):
        if ref == "#":
            return self.root
        if ref.startswith("#/"):
            node = self.root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                node = node[int(part)] if isinstance(node, list) else node[part]
            return node
        if ref.startswith("#") and ref[1:] in self.anchors:
            return self.anchors[ref[1:]]
        raise ValueError(f"cannot resolve $ref {ref!r}: only local references are supported")

    def expand(self, node):
        """``node`` with a ``$ref`` replaced by its target (siblings kept as an ``allOf``)."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            target = self.resolve(node["$ref"])
            rest = {k: v for k, v in node.items() if k != "$ref" and k not in ANNOTATIONS}
            node = {"allOf": [target, rest]} if rest else target
            seen += 1
            if seen > 100:
                raise ValueError("$ref chain too long")
        return node


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def _types(node: dict) -> set[str]:
    declared = node.get("type")
    if declared is None:
        if "const" in node or "enum" in node:  # the values say which types can occur
            return {_json_type(v) for v in node.get("enum", [node.get("const")])}
        return set(ALL_TYPES)
    return {declared} if isinstance(declared, str) else set(declared)


def _accepts_type(new_types: set[str], t: str) -> bool:
    return t in new_types or (t == "integer" and "number" in new_types)


def _assertions(node) -> set[str]:
    return set(node) - ANNOTATIONS if isinstance(node, dict) else set()


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() or key == "*" else f"{path}[{key!r}]"


class _Comparer:
    def __init__(self, old_root, new_root):
        self.old, self.new = SchemaDocument(old_root), SchemaDocument(new_root)
        self._active: set[tuple[int, int]] = set()

    def compare(self, o, n, path: str) -> list[Break]:
        o, n = self.old.expand(o), self.new.expand(n)
        key = (id(o), id(n))
        if key in self._active:  # recursive schemas: assume compatible (co-inductively)
            return []
        self._active.add(key)
        try:
            return self._compare(o, n, path)
        finally:
            self._active.discard(key)

    def _compare(self, o, n, path: str) -> list[Break]:
        if o is False or n is True or (isinstance(n, dict) and not _assertions(n)):
            return []
        if n is False:
            return [Break(path, "forbidden", "the new schema rejects every value here")]
        if o is True or not _assertions(o):
            return [Break(path, "constrained", f"was unconstrained, now has {_kw(n)}")]
        for combinator in ("anyOf", "oneOf"):
            if combinator in o:
                rest = {k: v for k, v in o.items() if k != combinator}
                return [b for branch in o[combinator] for b in self.compare(
                    _merge(rest, self.old.expand(branch)), n, path)]
        if "allOf" in o:
            merged = {k: v for k, v in o.items() if k != "allOf"}
            for branch in o["allOf"]:
                merged = _merge(merged, self.old.expand(branch))
            return self.compare(merged, n, path)
        if "allOf" in n:
            rest = {k: v for k, v in n.items() if k != "allOf"}
            return [b for branch in [*n["allOf"], rest] for b in self.compare(o, branch, path)]
        for combinator in ("anyOf", "oneOf"):
            if combinator in n:
                return self._into_union(o, n, combinator, path)
        return self._compare_plain(o, n, path)

    def _into_union(self, o: dict, n: dict, combinator: str, path: str) -> list[Break]:
        rest = {k: v for k, v in n.items() if k != combinator}
        branches = [_merge(rest, self.new.expand(b)) for b in n[combinator]]
        old_types = _types(o)
        # Split a multi-type old node so each type may land in a different branch.
        parts = [o] if len(old_types) == 1 else [{**o, "type": t} for t in sorted(old_types)]
        breaks: list[Break] = []
        for part in parts:
            tries = [self.compare(part, branch, path) for branch in branches]
            if all(tries):  # no branch takes it whole: report the closest branch's reasons
                breaks += min(tries, key=len)
        return breaks

    def _compare_plain(self, o: dict, n: dict, path: str) -> list[Break]:
        breaks: list[Break] = []
        old_types, new_types = _types(o), _types(n)
        lost = sorted(t for t in old_types if not _accepts_type(new_types, t))
        if lost:
            breaks.append(Break(path, "narrowed-type", f"no longer accepts {', '.join(lost)}"))
        common = {t for t in old_types if _accepts_type(new_types, t)}
        breaks += _enum_breaks(o, n, path)
        if "string" in common:
            breaks += _string_breaks(o, n, path)
        if common & {"number", "integer"}:
            breaks += _number_breaks(o, n, path)
        if "object" in common:
            breaks += self._object_breaks(o, n, path)
        if "array" in common:
            breaks += self._array_breaks(o, n, path)
        for keyword in sorted(_assertions(n) - _STRUCTURAL):
            if o.get(keyword) != n[keyword]:
                breaks.append(Break(path, "unsupported-keyword",
                                    f"cannot prove {keyword!r} compatible; treated as breaking"))
        return breaks

    def _object_breaks(self, o: dict, n: dict, path: str) -> list[Break]:
        breaks = []
        o_props, n_props = o.get("properties", {}), n.get("properties", {})
        o_extra, n_extra = o.get("additionalProperties", True), n.get("additionalProperties", True)
        for name in sorted(set(n.get("required", [])) - set(o.get("required", []))):
            breaks.append(Break(_child(path, name), "newly-required", f"{name!r} is now required"))
        for name, old_sub in o_props.items():
            if name in n_props:
                breaks += self.compare(old_sub, n_props[name], _child(path, name))
            elif n_extra is False:
                breaks.append(Break(_child(path, name), "removed-property",
                                    f"{name!r} was removed and extra properties are forbidden"))
            else:
                breaks += self.compare(old_sub, n_extra, _child(path, name))
        if o_extra is not False:
            for name, new_sub in n_props.items():
                if name not in o_props:
                    breaks += self.compare(o_extra, new_sub, _child(path, name))
            if n_extra is False:
                breaks.append(Break(path, "closed-additionalProperties",
                                    "additionalProperties went from allowed to false"))
            else:
                breaks += self.compare(o_extra, n_extra, _child(path, "*"))
        breaks += _bound_breaks(o, n, path, "minProperties", "maxProperties")
        return breaks

    def _array_breaks(self, o: dict, n: dict, path: str) -> list[Break]:
        breaks = self.compare(o.get("items", True), n.get("items", True), f"{path}[*]")
        breaks += _bound_breaks(o, n, path, "minItems", "maxItems")
        if n.get("uniqueItems") and not o.get("uniqueItems"):
            breaks.append(Break(path, "added-uniqueItems", "items must now be unique"))
        return breaks


def _merge(a: dict, b) -> dict:
    if not isinstance(b, dict):
        return {"allOf": [a, b]} if a else b
    clash = set(a) & set(b) - ANNOTATIONS
    return {**a, **b} if not clash else {**a, "allOf": [b]}


def _kw(node) -> str:
    return ", ".join(sorted(_assertions(node))) if isinstance(node, dict) else "false"


def _enum_breaks(o: dict, n: dict, path: str) -> list[Break]:
    def values(node):
        if "const" in node:
            return [node["const"]]
        return node.get("enum")

    old_values, new_values = values(o), values(n)
    if new_values is None:
        return []
    if old_values is None:
        return [Break(path, "added-enum", f"only {new_values!r} are accepted now")]
    dropped = [v for v in old_values if v not in new_values]
    if dropped:
        return [Break(path, "narrowed-enum", f"no longer accepts {dropped!r}")]
    return []


def _bound_breaks(o: dict, n: dict, path: str, low: str, high: str) -> list[Break]:
    breaks = []
    if n.get(low, 0) > o.get(low, 0):
        breaks.append(Break(path, f"raised-{low}", f"{low} {o.get(low, 0)} -> {n[low]}"))
    if high in n and (high not in o or n[high] < o[high]):
        breaks.append(Break(path, f"tightened-{high}", f"{high} {o.get(high, 'none')} -> {n[high]}"))
    return breaks


def _string_breaks(o: dict, n: dict, path: str) -> list[Break]:
    breaks = _bound_breaks(o, n, path, "minLength", "maxLength")
    for keyword in ("pattern", "format"):
        if keyword in n and n[keyword] != o.get(keyword):
            change = "added" if keyword not in o else "changed"
            breaks.append(Break(path, f"{change}-{keyword}",
                                f"{o.get(keyword, 'none')!r} -> {n[keyword]!r}"))
    return breaks


def _number_breaks(o: dict, n: dict, path: str) -> list[Break]:
    breaks = []
    o_low, n_low = _lower(o), _lower(n)
    if n_low is not None and (o_low is None or n_low > o_low):
        breaks.append(Break(path, "raised-minimum", f"{_show(o_low)} -> {_show(n_low)}"))
    o_high, n_high = _upper(o), _upper(n)
    if n_high is not None and (o_high is None or n_high < o_high):
        breaks.append(Break(path, "lowered-maximum", f"{_show(o_high)} -> {_show(n_high)}"))
    if "multipleOf" in n:
        step = o.get("multipleOf")
        if step is None or (step / n["multipleOf"]) % 1 != 0:
            breaks.append(Break(path, "changed-multipleOf", f"{step} -> {n['multipleOf']}"))
    return breaks


# Bounds as (value, exclusive) so "> 3" sorts above ">= 3" and "< 3" below "<= 3".
def _lower(node: dict):
    options = []
    if "minimum" in node:
        options.append((node["minimum"], 0))
    if isinstance(node.get("exclusiveMinimum"), (int, float)):
        options.append((node["exclusiveMinimum"], 1))
    return max(options) if options else None


def _upper(node: dict):
    options = []
    if "maximum" in node:
        options.append((node["maximum"], 0))
    if isinstance(node.get("exclusiveMaximum"), (int, float)):
        options.append((node["exclusiveMaximum"], -1))
    return min(options) if options else None


def _show(bound) -> str:
    if bound is None:
        return "none"
    value, exclusive = bound
    return f"{'>' if exclusive > 0 else '<' if exclusive < 0 else ''}{value}"


def structural_breaks(old: dict, new: dict) -> list[Break]:
    """Every structural reason ``new`` may reject a message ``old`` accepted (empty: compatible)."""
    breaks = _Comparer(old, new).compare(old, new, "$")
    return list(dict.fromkeys(breaks))  # each branch of an old anyOf may report the same break
