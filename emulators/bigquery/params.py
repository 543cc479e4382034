"""Query parameters: the REST `queryParameters` list as Python values for the SQL translator.

Named parameters become a dict (name -> value), positional ones a list. Scalars are parsed
to Python types (int, float, Decimal, bool, str, bytes, datetime, date, time); ARRAY becomes
a list and STRUCT a dict in field order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import Invalid, expect_dict, expect_list
from .sql.nodes import RANGE_END, RANGE_START
from .types import RANGE_ELEMENTS, ConversionError, canonical_type, scalar_parser


def _value(ptype: dict, pvalue: object) -> Any:
    ptype = expect_dict(ptype, "parameterType")
    if pvalue is None:
        return None
    pvalue = expect_dict(pvalue, "parameterValue")
    type_name = str(ptype.get("type") or "").upper()
    if type_name == "ARRAY":
        items = pvalue.get("arrayValues")
        if items is None:
            return [] if "value" not in pvalue else None
        item_type = expect_dict(ptype.get("arrayType"), "parameterType.arrayType")
        return [_value(item_type, item) for item in expect_list(items, "arrayValues")]
    if type_name == "RANGE":
        return _range_value(ptype, pvalue)
    if type_name == "STRUCT":
        values = expect_dict(pvalue.get("structValues"), "structValues")
        fields = [
            expect_dict(f, "parameterType.structTypes[]")
            for f in expect_list(ptype.get("structTypes"), "parameterType.structTypes")
        ]
        return {
            str(f.get("name") or f"_field_{i + 1}"): _value(
                f.get("type") or {}, values.get(f.get("name"))
            )
            for i, f in enumerate(fields)
        }
    raw = pvalue.get("value")
    if raw is None:
        return None
    try:
        return scalar_parser(canonical_type(type_name))(raw)
    except (ConversionError, ValueError) as exc:
        raise Invalid(f"Invalid query parameter value of type {type_name}: {exc}") from None


def _range_value(ptype: dict, pvalue: dict) -> dict | None:
    element = expect_dict(ptype.get("rangeElementType"), "parameterType.rangeElementType")
    kind = str(element.get("type") or "").upper()
    if kind not in RANGE_ELEMENTS:
        raise Invalid(f"Invalid RANGE query parameter element type: {kind or 'none'}")
    if pvalue.get("rangeValue") is None:
        return None
    bounds = expect_dict(pvalue.get("rangeValue"), "parameterValue.rangeValue")
    parse = scalar_parser(kind)
    out = {}
    for key, name in (("start", RANGE_START), ("end", RANGE_END)):
        raw = expect_dict(bounds.get(key) or {}, f"rangeValue.{key}").get("value")
        try:
            out[name] = None if raw is None else parse(raw)
        except (ConversionError, ValueError) as exc:
            raise Invalid(f"Invalid query parameter value of type RANGE<{kind}>: {exc}") from None
    if None not in out.values() and out[RANGE_START] >= out[RANGE_END]:
        raise Invalid("Invalid query parameter value of type RANGE: start must be less than end")
    return out


def query_parameters(params: list | None, mode: str | None = None) -> list | dict | None:
    """Python values of REST query parameters (dict when named, list when positional)."""
    return _by_position_or_name(
        params, mode, lambda p: _value(p.get("parameterType") or {}, p.get("parameterValue"))
    )


def parameter_types(params: list | None, mode: str | None = None) -> dict | list | None:
    """REST parameter types alongside the values (same shape as query_parameters)."""
    return _by_position_or_name(params, mode, lambda p: p.get("parameterType") or {})


def _by_position_or_name(
    params: list | None, mode: str | None, each: Callable[[dict], Any]
) -> list | dict | None:
    """``each`` of the REST parameters: by name when any has one (or ``mode`` is NAMED), else
    in order; None without parameters."""
    if not params:
        return None
    params = expect_list(params, "queryParameters")
    for param in params:
        expect_dict(param, "queryParameters[]")
    if any(p.get("name") for p in params) or (mode or "").upper() == "NAMED":
        return {p.get("name"): each(p) for p in params}
    return [each(p) for p in params]
