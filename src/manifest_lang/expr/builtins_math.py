"""Numeric and collection built-ins (``Math.*``, aggregates over arrays, lambdas).

Calling convention: see ``builtins_base``. "Numeric" means JS ``typeof x === "number"``: NaN and
Infinity count (and propagate like ``Math.min`` / ``+`` do), booleans and numeric strings do not.
Sums add left to right with plain float addition, as JS ``reduce`` does.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from manifest_lang.expr.builtins_base import Builtin, BuiltinHost, arg, is_number
from manifest_lang.expr.values import NAN, UNDEFINED, js_div, to_json_value, truthy


def _integral(r: int | float, x: float) -> int | float:
    """A rounded float as an int, keeping JS's ``-0`` for negative inputs that round to zero."""
    if r == 0 and (x < 0 or math.copysign(1.0, x) < 0):
        return -0.0
    return r


def _unary_math(x: Any, op: Any) -> Any:
    t = type(x)
    if t is int:
        return x
    if t is not float:
        return x  # not a number: passed through
    if x != x or x in (math.inf, -math.inf):
        return x
    return _integral(op(x), x)


def _js_round(x: float) -> int:
    """JS Math.round: halves go toward +Infinity (-2.5 -> -2, 2.5 -> 3)."""
    r = math.floor(x)
    return r + 1 if x - r >= 0.5 else r


def abs_(host: BuiltinHost, args: list[Any]) -> Any:
    x = arg(args, 0)
    return abs(x) if is_number(x) else x


def round_(host: BuiltinHost, args: list[Any]) -> Any:
    return _unary_math(arg(args, 0), _js_round)


def floor(host: BuiltinHost, args: list[Any]) -> Any:
    return _unary_math(arg(args, 0), math.floor)


def ceil(host: BuiltinHost, args: list[Any]) -> Any:
    return _unary_math(arg(args, 0), math.ceil)


def _extreme(values: list[Any], pick: Any) -> Any:
    """``Math.min``/``Math.max`` over numbers: NaN wins, an empty list gives undefined."""
    if not values:
        return UNDEFINED
    for v in values:
        if v != v:
            return NAN
    return pick(values)


def min_(host: BuiltinHost, args: list[Any]) -> Any:
    return _extreme([a for a in args if is_number(a)], min)


def max_(host: BuiltinHost, args: list[Any]) -> Any:
    return _extreme([a for a in args if is_number(a)], max)


def between(host: BuiltinHost, args: list[Any]) -> bool:
    v, lo, hi = arg(args, 0), arg(args, 1), arg(args, 2)
    if not (is_number(v) and is_number(lo) and is_number(hi)):
        return False
    return bool(lo <= v <= hi)


# --- aggregates over arrays -------------------------------------------------------------------


def _numerics(args: list[Any]) -> list[Any] | None:
    """The numeric elements (or numeric mapper results) of ``args[0]``; None if it is no array."""
    items = arg(args, 0)
    if type(items) is not list:
        return None
    fn = arg(args, 1)
    if callable(fn):
        return [r for r in (fn(item) for item in items) if is_number(r)]
    return [item for item in items if is_number(item)]


def _add_all(values: list[Any]) -> int | float:
    total: int | float = 0
    for v in values:
        total = total + v  # left to right, no compensation: same rounding as JS reduce
    return total


def sum_(host: BuiltinHost, args: list[Any]) -> Any:
    values = _numerics(args)
    if values is None:
        return arg(args, 0)
    return _add_all(values)


def avg(host: BuiltinHost, args: list[Any]) -> Any:
    values = _numerics(args)
    if not values:
        return 0
    return js_div(_add_all(values), len(values))


def min_of(host: BuiltinHost, args: list[Any]) -> Any:
    return _extreme(_numerics(args) or [], min)


def max_of(host: BuiltinHost, args: list[Any]) -> Any:
    return _extreme(_numerics(args) or [], max)


def count_of(host: BuiltinHost, args: list[Any]) -> int:
    items = arg(args, 0)
    if type(items) is not list:
        return 0
    pred = arg(args, 1)
    if not callable(pred):
        return len(items)
    return sum(1 for item in items if truthy(pred(item)))


def _array_and_function(args: list[Any]) -> tuple[list[Any] | None, Any]:
    """``(array, fn)`` of a filter/map call: None for a non-array, fn None when it is no function."""
    items = arg(args, 0)
    if type(items) is not list:
        return None, None
    fn = arg(args, 1)
    return items, fn if callable(fn) else None


def filter_(host: BuiltinHost, args: list[Any]) -> Any:
    items, pred = _array_and_function(args)
    if items is None or pred is None:
        return items if items is not None else []
    return [item for item in items if truthy(pred(item))]


def map_(host: BuiltinHost, args: list[Any]) -> Any:
    items, fn = _array_and_function(args)
    if items is None or fn is None:
        return items if items is not None else []
    return [fn(item) for item in items]


def flat_map(host: BuiltinHost, args: list[Any]) -> Any:
    """Map then flatten one level; null/undefined results are skipped."""
    items, fn = _array_and_function(args)
    if items is None or fn is None:
        return items if items is not None else []
    out: list[Any] = []
    for item in items:
        r = fn(item)
        if type(r) is list:
            out.extend(r)
        elif r is not None and r is not UNDEFINED:
            out.append(r)
    return out


def _unique_key(v: Any) -> tuple[str, Any]:
    """Dedupe key: objects by their JSON text, primitives by SameValueZero (1 == 1.0, NaN == NaN)."""
    t = type(v)
    if t is dict or t is list:
        try:
            return ("json", orjson.dumps(to_json_value(v), option=orjson.OPT_NON_STR_KEYS))
        except TypeError:  # a value JSON cannot express: only identical objects are duplicates
            return ("object", id(v))
    if t is float:
        if v != v:
            return ("number", "NaN")
        return ("number", v)
    if t is int:
        return ("number", v)
    if v is UNDEFINED:
        return ("undefined", None)
    return (t.__name__, v)


def unique_of(host: BuiltinHost, args: list[Any]) -> list[Any]:
    items = arg(args, 0)
    if type(items) is not list:
        return []
    seen: set[tuple[str, Any]] = set()
    out: list[Any] = []
    for item in items:
        key = _unique_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


MATH_BUILTINS: dict[str, Builtin] = {
    "abs": abs_,
    "round": round_,
    "floor": floor,
    "ceil": ceil,
    "min": min_,
    "max": max_,
    "between": between,
    "sum": sum_,
    "avg": avg,
    "min_of": min_of,
    "max_of": max_of,
    "count_of": count_of,
    "filter": filter_,
    "map": map_,
    "flat_map": flat_map,
    "unique_of": unique_of,
}
