"""Constant literal arrays and objects, folded once when an expression is compiled.

The IR keeps ``x in ["sales", "manager"]`` as an ``array`` node of literals (the IR stays the
reference's); evaluated as written it builds a fresh list on every evaluation and then scans it.
Here such a tree is recognised at compile time and becomes either

- a ``ConstantSet``, where the value is only looked into (the right side of ``in``, the left of
  ``contains``): a membership test by type against prebuilt frozensets, with the language's
  SameValueZero rule (strings equal strings, numbers numbers with NaN equal to NaN, booleans
  booleans, null only null); or
- a copier, where the value escapes (a mutate, an emit payload, a compute binding): JS makes a new
  array or object on each evaluation, and the value may be changed later, so each evaluation still
  gets its own copy, made from the prebuilt value instead of walking the IR.

Both keep the budget as it was: the static step and depth counts come from the IR tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import IRError
from .values import as_double

#: ``constant_value``'s answer for a tree that is not made of literals only
NOT_CONSTANT: Any = object()

_PRIMITIVES = (str, int, float, bool, type(None))


def ir_value(value: Any) -> Any:
    """Python value of an IR literal value (``{"kind": "number", "value": 1}``)."""
    if not isinstance(value, dict):
        raise IRError("literal value must be an object")
    kind = value.get("kind")
    if kind == "number":
        return as_double(value.get("value"))  # an IR from JSON text may hold ints past 2**53
    if kind in ("string", "boolean"):
        return value.get("value")
    if kind == "null":
        return None
    if kind == "array":
        return [ir_value(v) for v in value.get("elements", [])]
    if kind == "object":
        return {k: ir_value(v) for k, v in value.get("properties", {}).items()}
    raise IRError(f"unknown literal value kind {kind!r}")


def constant_value(expr: Any) -> Any:
    """The value of a tree of literals, arrays and objects (``NOT_CONSTANT`` for anything else).

    Only what evaluates the same every time, without a scope, counts: an identifier such as
    ``true`` may be shadowed by a binding, so it is not a constant here.
    """
    if not isinstance(expr, dict):
        return NOT_CONSTANT
    kind = expr.get("kind")
    if kind == "literal":
        try:
            return ir_value(expr.get("value"))
        except IRError:
            return NOT_CONSTANT
    if kind == "array":
        elements = expr.get("elements", [])
        if not isinstance(elements, list):
            return NOT_CONSTANT
        items = [constant_value(e) for e in elements]
        return NOT_CONSTANT if any(v is NOT_CONSTANT for v in items) else items
    if kind == "object":
        props = expr.get("properties", [])
        if not isinstance(props, list) or not all(isinstance(p, dict) for p in props):
            return NOT_CONSTANT
        out: dict[Any, Any] = {}
        for p in props:
            value = constant_value(p.get("value"))
            if value is NOT_CONSTANT:
                return NOT_CONSTANT
            out[p.get("key")] = value
        return out
    return NOT_CONSTANT


class ConstantSet:
    """The elements of a constant array, for ``in`` / ``contains`` (SameValueZero membership).

    Elements that are arrays or objects are left out: a fresh array or object is never the same
    value as the item (JS compares them by identity), so they can never match.
    """

    __slots__ = ("strings", "numbers", "booleans", "has_null", "has_nan", "only_strings")

    def __init__(self, elements: list[Any]) -> None:
        self.strings = frozenset(e for e in elements if type(e) is str)
        self.numbers = frozenset(e for e in elements if (type(e) is int or type(e) is float) and e == e)
        self.booleans = frozenset(e for e in elements if type(e) is bool)
        self.has_null = any(e is None for e in elements)
        self.has_nan = any(type(e) is float and e != e for e in elements)
        self.only_strings = all(type(e) is str for e in elements)

    def contains(self, item: Any) -> bool:
        t = type(item)
        if t is str:
            return item in self.strings
        if t is int or t is float:
            if item != item:
                return self.has_nan
            return item in self.numbers
        if t is bool:
            return item in self.booleans
        if item is None:
            return self.has_null
        return False


def constant_set(expr: Any) -> ConstantSet | None:
    """A ``ConstantSet`` for a constant array expression, else None."""
    value = constant_value(expr)
    if type(value) is not list:
        return None
    return ConstantSet(value)


def copier(value: Any) -> Callable[[], Any]:
    """A function returning a fresh deep copy of the constant ``value`` (a list or dict)."""
    if type(value) is list and all(type(v) in _PRIMITIVES for v in value):
        return value.copy
    if type(value) is dict and all(type(v) in _PRIMITIVES for v in value.values()):
        return value.copy
    return lambda: _deep_copy(value)


def _deep_copy(value: Any) -> Any:
    t = type(value)
    if t is list:
        return [_deep_copy(v) for v in value]
    if t is dict:
        return {k: _deep_copy(v) for k, v in value.items()}
    return value
