"""JavaScript value semantics, owned in one place.

The reference runtime inherits its expression semantics from JavaScript; every operator of the
evaluator goes through the functions here and nothing else re-implements a rule.

Python representation of JS values:
  undefined -> UNDEFINED (singleton below)      null -> None
  boolean   -> bool                              number -> int | float (NaN/Infinity as float)
  string    -> str                               array -> list      object -> dict
"""

from __future__ import annotations

from typing import Any, Final


class _Undefined:
    """JavaScript ``undefined``: distinct from ``None`` (null), falsy, never serialised."""

    __slots__ = ()
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"

    def __copy__(self) -> _Undefined:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Undefined:
        return self


UNDEFINED: Final = _Undefined()


# ---------------------------------------------------------------------------------------------
# The functions below are the contract of this module (filled in by the values implementation):
#   truthy(v) -> bool                      JS ToBoolean ([] and {} truthy, "" / 0 / NaN falsy)
#   to_number(v) -> int | float            JS ToNumber
#   to_js_string(v) -> str                 JS String(v) (number formatting: 1.0 -> "1", 1e21 -> "1e+21")
#   loose_equals(a, b) -> bool             JS ==
#   strict_equals(a, b) -> bool            JS ===
#   js_add(a, b), js_sub, js_mul, js_div, js_mod   arithmetic with JS coercion (x/0 -> ±Infinity/NaN)
#   js_less(a, b), js_less_eq, js_greater, js_greater_eq   relational comparison with JS coercion
#   js_negate(v)                           unary minus
#   js_typeof(v) -> str
#   get_member(obj, key) -> Any            obj[key]; null/undefined base -> UNDEFINED (never throws)
#   to_json_value(v) -> Any                deep copy dropping UNDEFINED keys (for to_dict / storage)
# ---------------------------------------------------------------------------------------------
