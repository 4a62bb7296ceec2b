"""JavaScript value semantics, owned in one place.

The reference runtime inherits its expression semantics from JavaScript; every operator of the
evaluator goes through the functions here and nothing else re-implements a rule.

Python representation of JS values:
  undefined -> UNDEFINED (singleton below)      null -> None
  boolean   -> bool                              number -> int | float (NaN/Infinity as float)
  string    -> str                               array -> list      object -> dict
  function  -> any Python callable (lambdas bound by ``compute``)

Numbers: ints are kept while a result is exact (``6 / 2`` is ``3``), floats otherwise. ``bool`` is an
``int`` subclass in Python, so every fast path tests ``type(x) is int`` rather than ``isinstance``.
Integer results beyond 2**53 become floats, as a JS double would lose the same precision.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Final

_undefined_instance: _Undefined | None = None


class _Undefined:
    """JavaScript ``undefined``: distinct from ``None`` (null), falsy, never serialised."""

    __slots__ = ()

    def __new__(cls) -> _Undefined:
        # The singleton lives in a module global: compiled builds (mypyc) have no class-level
        # instance attributes.
        global _undefined_instance
        if _undefined_instance is None:
            _undefined_instance = super().__new__(cls)
        return _undefined_instance

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

NAN: Final = float("nan")
INFINITY: Final = float("inf")
MAX_SAFE_INTEGER: Final = 2**53 - 1

_NUMBER_TYPES: Final = (int, float)  # only used after bool has been ruled out
_INT_BOUND: Final = 2**53  # ints whose str() equals the JS digits exactly


# ---------------------------------------------------------------------------------------------
# The contract of this module (used by the expression compiler and the builtins):
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
# Extras: to_primitive, js_in / js_contains (the `in` / `contains` operators, SameValueZero),
#   same_value_zero, number_to_string, string_to_number, utf16_length.
# ---------------------------------------------------------------------------------------------


# --- ToBoolean --------------------------------------------------------------------------------


def truthy(v: Any) -> bool:
    """JS ToBoolean: ``false, 0, -0, NaN, "", null, undefined`` are falsy, everything else truthy."""
    t = type(v)
    if t is bool:
        return v  # type: ignore[no-any-return]
    if t is str or t is int:
        return bool(v)
    if t is float:
        return bool(v == v and v != 0.0)
    return v is not None and v is not UNDEFINED


# --- ToString ---------------------------------------------------------------------------------


def number_to_string(x: float) -> str:
    """JS Number::toString for a float: shortest round-trip digits, exponent outside [1e-7, 1e21)."""
    if x != x:
        return "NaN"
    if x == INFINITY:
        return "Infinity"
    if x == -INFINITY:
        return "-Infinity"
    if x == 0.0:
        return "0"  # -0 prints as "0"
    if -_INT_BOUND < x < _INT_BOUND and x.is_integer():
        return str(int(x))
    sign = "-" if x < 0 else ""
    digits, n = _shortest_digits(abs(x))
    return sign + _layout_digits(digits, n)


def _shortest_digits(x: float) -> tuple[str, int]:
    """Digits ``d`` and exponent ``n`` with ``x == 0.d * 10**n`` (Python repr is shortest round-trip)."""
    text = repr(x)
    mantissa, _, exp_text = text.partition("e")
    exp = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    combined = int_part + frac_part
    stripped = combined.lstrip("0")
    n = len(int_part) + exp - (len(combined) - len(stripped))
    return stripped.rstrip("0"), n


def _layout_digits(digits: str, n: int) -> str:
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    exponent = n - 1
    exp_text = ("+" if exponent >= 0 else "-") + str(abs(exponent))
    if k == 1:
        return digits + "e" + exp_text
    return digits[0] + "." + digits[1:] + "e" + exp_text


def to_js_string(v: Any) -> str:
    """JS ``String(v)``."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if t is int:
        if -_INT_BOUND < v < _INT_BOUND:
            return str(v)
        return number_to_string(float(v))
    if t is float:
        return number_to_string(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if v is UNDEFINED:
        return "undefined"
    if t is list or t is tuple:
        # Array.prototype.join: null/undefined elements become empty strings.
        return ",".join("" if x is None or x is UNDEFINED else to_js_string(x) for x in v)
    if t is dict:
        return "[object Object]"
    if callable(v):
        return "function () { [native code] }"
    return str(v)


def to_primitive(v: Any) -> Any:
    """JS ToPrimitive (default hint): arrays and objects become their string form."""
    t = type(v)
    if t is list or t is tuple or t is dict or callable(v):
        return to_js_string(v)
    return v


# --- ToNumber ---------------------------------------------------------------------------------

# JS StrWhiteSpaceChar: WhiteSpace and LineTerminator (Python's str.strip() uses a different set).
JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL_RE: Final = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_INTEGER_RE: Final = re.compile(r"[+-]?[0-9]+")
_RADIX_RE: Final = re.compile(r"0(?:[xX]([0-9a-fA-F]+)|[oO]([0-7]+)|[bB]([01]+))")


def string_to_number(s: str) -> int | float:
    """JS StringToNumber: trimmed decimal / Infinity / 0x 0o 0b literals; "" -> 0; else NaN."""
    s = s.strip(JS_WHITESPACE)
    if not s:
        return 0
    if _INTEGER_RE.fullmatch(s):
        value = int(s)
        if value == 0 and s[0] == "-":
            return -0.0
        return value if -_INT_BOUND < value < _INT_BOUND else float(value)
    if _DECIMAL_RE.fullmatch(s):
        return float(s.replace("Infinity", "inf"))
    radix = _RADIX_RE.fullmatch(s)
    if radix:
        hex_digits, oct_digits, bin_digits = radix.groups()
        if hex_digits is not None:
            value = int(hex_digits, 16)
        elif oct_digits is not None:
            value = int(oct_digits, 8)
        else:
            value = int(bin_digits, 2)
        return value if value < _INT_BOUND else float(value)
    return NAN


def to_number(v: Any) -> int | float:
    """JS ToNumber (null -> 0, undefined -> NaN, true -> 1, [] -> 0, [5] -> 5, {} -> NaN)."""
    t = type(v)
    if t is int or t is float:
        return v  # type: ignore[no-any-return]
    if t is bool:
        return 1 if v else 0
    if t is str:
        return string_to_number(v)
    if v is None:
        return 0
    if v is UNDEFINED:
        return NAN
    if t is list or t is tuple:
        return string_to_number(to_js_string(v))
    return NAN


def _normalize_int(r: int) -> int | float:
    return r if -_INT_BOUND <= r <= _INT_BOUND else float(r)


# --- Equality ---------------------------------------------------------------------------------


def strict_equals(a: Any, b: Any) -> bool:
    """JS ``===``: same type and value; arrays/objects by identity; NaN never equal."""
    ta = type(a)
    tb = type(b)
    if ta is tb:
        if ta is list or ta is dict:
            return a is b
        return bool(a == b)
    if ta in _NUMBER_TYPES and tb in _NUMBER_TYPES:
        return bool(a == b)
    return False


def loose_equals(a: Any, b: Any) -> bool:
    """JS ``==`` (Abstract Equality Comparison)."""
    ta = type(a)
    tb = type(b)
    if ta is tb:
        if ta is list or ta is dict:
            return a is b
        return bool(a == b)
    if a is None or a is UNDEFINED:
        return b is None or b is UNDEFINED
    if b is None or b is UNDEFINED:
        return False
    return _loose_equals_mixed(a, b, ta, tb)


def _loose_equals_mixed(a: Any, b: Any, ta: type, tb: type) -> bool:
    if ta is bool:
        return loose_equals(1 if a else 0, b)
    if tb is bool:
        return loose_equals(a, 1 if b else 0)
    a_num = ta in _NUMBER_TYPES
    b_num = tb in _NUMBER_TYPES
    if a_num and b_num:
        return bool(a == b)
    if a_num and tb is str:
        return bool(a == string_to_number(b))
    if ta is str and b_num:
        return bool(string_to_number(a) == b)
    a_obj = not (a_num or ta is str)
    b_obj = not (b_num or tb is str)
    if a_obj and b_obj:
        return a is b
    if a_obj:
        return loose_equals(to_primitive(a), b)
    return loose_equals(a, to_primitive(b))


def same_value_zero(a: Any, b: Any) -> bool:
    """JS SameValueZero (``Array.prototype.includes``): like ``===`` but NaN equals NaN."""
    if strict_equals(a, b):
        return True
    return type(a) is float and type(b) is float and a != a and b != b


def js_in(item: Any, container: Any) -> bool:
    """The Manifest ``in`` operator: array includes (SameValueZero) or substring of String(item)."""
    t = type(container)
    if t is list:
        ti = type(item)
        if ti is str or ti is int:
            for x in container:
                if type(x) is ti and x == item:
                    return True
                if ti is int and type(x) is float and x == item:
                    return True
            return False
        return any(same_value_zero(x, item) for x in container)
    if t is str:
        return to_js_string(item) in container
    return False


def js_contains(container: Any, item: Any) -> bool:
    """The Manifest ``contains`` operator: the mirror image of ``in``."""
    return js_in(item, container)


# --- Arithmetic -------------------------------------------------------------------------------


def js_add(a: Any, b: Any) -> Any:
    """JS binary ``+``: string concatenation if either primitive is a string, else numeric add."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        return _normalize_int(a + b)
    if ta is str:
        if tb is str:
            return a + b
        return a + to_js_string(b)
    if tb is str:
        return to_js_string(a) + b
    if ta is float and (tb is float or tb is int):
        return a + b
    if tb is float and ta is int:
        return a + b
    pa = to_primitive(a)
    pb = to_primitive(b)
    if type(pa) is str or type(pb) is str:
        return to_js_string(pa) + to_js_string(pb)
    return js_add(to_number(pa), to_number(pb))


def js_sub(a: Any, b: Any) -> int | float:
    if type(a) is int and type(b) is int:
        return _normalize_int(a - b)
    x = to_number(a)
    y = to_number(b)
    if type(x) is int and type(y) is int:
        return _normalize_int(x - y)
    return x - y


def js_mul(a: Any, b: Any) -> int | float:
    x = a if type(a) is int else to_number(a)
    y = b if type(b) is int else to_number(b)
    if type(x) is int and type(y) is int:
        r = x * y
        if r == 0 and (x < 0 or y < 0):
            return -0.0  # JS: 0 * -5 is -0
        return _normalize_int(r)
    return float(x) * float(y)


def js_div(a: Any, b: Any) -> int | float:
    """JS ``/``: exact int quotients stay ints; ``x/0`` is ±Infinity, ``0/0`` is NaN."""
    x = a if type(a) is int else to_number(a)
    y = b if type(b) is int else to_number(b)
    if type(x) is int and type(y) is int:
        if y != 0 and x % y == 0:
            if x == 0 and y < 0:
                return -0.0
            return x // y
    if y == 0:
        if x == 0 or x != x:
            return NAN
        negative = (x < 0) != (math.copysign(1.0, y) < 0)
        return -INFINITY if negative else INFINITY
    return x / y


def js_mod(a: Any, b: Any) -> int | float:
    """JS ``%``: the result takes the dividend's sign; ``x % 0`` and ``Infinity % y`` are NaN."""
    x = a if type(a) is int else to_number(a)
    y = b if type(b) is int else to_number(b)
    if type(x) is int and type(y) is int:
        if y == 0:
            return NAN
        r = abs(x) % abs(y)
        if x < 0:
            return -r if r else -0.0
        return r
    if y == 0 or x != x or y != y or x in (INFINITY, -INFINITY):
        return NAN
    if y in (INFINITY, -INFINITY) or x == 0:
        return x
    return math.fmod(x, y)


def js_negate(v: Any) -> int | float:
    """JS unary ``-`` (``-0`` and ``-null`` are ``-0``)."""
    if type(v) is int:
        return -v if v else -0.0
    x = to_number(v)
    if type(x) is int:
        return -x if x else -0.0
    return -x


# --- Relational -------------------------------------------------------------------------------


def _string_less(a: str, b: str) -> bool:
    """Compare by UTF-16 code units, as JS does (differs from code points only above the BMP)."""
    if a.isascii() and b.isascii():
        return a < b
    return a.encode("utf-16-be", "surrogatepass") < b.encode("utf-16-be", "surrogatepass")


def _relational_operands(a: Any, b: Any) -> tuple[Any, Any, bool]:
    """ToPrimitive both operands; returns ``(x, y, both_strings)`` with numbers when not strings."""
    pa = to_primitive(a)
    pb = to_primitive(b)
    if type(pa) is str and type(pb) is str:
        return pa, pb, True
    return to_number(pa), to_number(pb), False


def js_less(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a < b)
    x, y, strings = _relational_operands(a, b)
    if strings:
        return _string_less(x, y)
    return bool(x < y)


def js_greater(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a > b)
    x, y, strings = _relational_operands(a, b)
    if strings:
        return _string_less(y, x)
    return bool(x > y)


def js_less_eq(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a <= b)
    x, y, strings = _relational_operands(a, b)
    if strings:
        return not _string_less(y, x)
    return bool(x <= y)  # NaN on either side -> False, like JS


def js_greater_eq(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a >= b)
    x, y, strings = _relational_operands(a, b)
    if strings:
        return not _string_less(x, y)
    return bool(x >= y)


# --- typeof / member access -------------------------------------------------------------------

_TYPEOF: Final[dict[type, str]] = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "object",
    dict: "object",
    type(None): "object",
    _Undefined: "undefined",
}


def js_typeof(v: Any) -> str:
    name = _TYPEOF.get(type(v))
    if name is not None:
        return name
    return "function" if callable(v) else "object"


def utf16_length(s: str) -> int:
    """JS ``s.length``: UTF-16 code units (astral characters count twice)."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


_CANONICAL_INDEX_RE: Final = re.compile(r"0|[1-9][0-9]*")


def get_member(obj: Any, key: Any) -> Any:
    """``obj[key]`` as the reference evaluates a member node; never throws.

    Objects expose only their own keys; arrays their indices and ``length``; strings only ``length``
    (the reference returns undefined for any other property of a primitive).
    """
    t = type(obj)
    if t is dict:
        if type(key) is not str:
            key = to_js_string(key)
        return obj.get(key, UNDEFINED)
    if t is list:
        return _list_member(obj, key)
    if t is str:
        return utf16_length(obj) if key == "length" else UNDEFINED
    return UNDEFINED


def _list_member(obj: list[Any], key: Any) -> Any:
    if key == "length" and type(key) is str:
        return len(obj)
    tk = type(key)
    if tk is float and key.is_integer():
        key = int(key)
        tk = int
    if tk is int:
        return obj[key] if 0 <= key < len(obj) else UNDEFINED
    if tk is str and _CANONICAL_INDEX_RE.fullmatch(key):
        index = int(key)
        return obj[index] if index < len(obj) else UNDEFINED
    return UNDEFINED


# --- JSON -------------------------------------------------------------------------------------


def to_json_value(v: Any) -> Any:
    """Deep copy as ``JSON.parse(JSON.stringify(v))`` would see it.

    Object keys holding undefined or functions are dropped; in arrays they become null; NaN and
    ±Infinity become null; integral floats below 1e21 become ints (JS prints them without ".0").
    A top-level undefined becomes None.
    """
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if t is dict:
        out: dict[Any, Any] = {}
        for k, x in v.items():
            tx = type(x)
            if tx is str or tx is int or tx is bool or x is None:
                out[k] = x
            elif x is not UNDEFINED and not _is_function(x):
                out[k] = to_json_value(x)
        return out
    if t is list or t is tuple:
        return [None if x is UNDEFINED or _is_function(x) else to_json_value(x) for x in v]
    if t is float:
        if v != v or v in (INFINITY, -INFINITY):
            return None
        if v.is_integer() and -_INT_BOUND < v < _INT_BOUND:
            return int(v)
        return v  # beyond 2**53 a number stays the double it is, never a Python big int
    if v is UNDEFINED or _is_function(v):
        return None
    return v


# --- Numbers at the JSON boundary -------------------------------------------------------------
# The language's numbers are JavaScript doubles: an integer that JSON text, an IR or a caller
# hands over beyond 2**53 is the double it denotes (what JSON.parse would make of it).


def as_double(v: Any) -> Any:
    """``v`` with every int beyond ±2**53 replaced by its float; the same object when none is."""
    t = type(v)
    if t is int:
        return v if -_INT_BOUND < v < _INT_BOUND else float(v)
    if t is dict:
        out: dict[Any, Any] | None = None
        for k, x in v.items():
            y = as_double(x)
            if y is not x:
                if out is None:
                    out = dict(v)
                out[k] = y
        return v if out is None else out
    if t is list:
        items: list[Any] | None = None
        for i, x in enumerate(v):
            y = as_double(x)
            if y is not x:
                if items is None:
                    items = list(v)
                items[i] = y
        return v if items is None else items
    return v


def has_big_int(v: Any) -> bool:
    """True if ``v`` (a JSON value) holds an int beyond ±2**53 anywhere."""
    t = type(v)
    if t is int:
        return not -_INT_BOUND < v < _INT_BOUND
    if t is dict:
        return any(has_big_int(x) for x in v.values())
    if t is list or t is tuple:
        return any(has_big_int(x) for x in v)
    return False


def _js_int(text: str) -> int | float:
    value = int(text)
    return value if -_INT_BOUND < value < _INT_BOUND else float(value)


_LONG_DIGITS: Final = re.compile(rb"[0-9]{16}")


def loads_json(raw: bytes | str) -> Any:
    """JSON text to Python values with numbers as JavaScript reads them: integers beyond 2**53
    (even beyond 2**64, which orjson refuses) become floats. Raises ``ValueError`` if malformed."""
    import json

    import orjson

    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "64-bit" not in str(exc):
            raise
        return json.loads(data, parse_int=_js_int)
    # Only an integer of 16+ digits can be beyond 2**53: the scan keeps the usual case walk-free.
    return as_double(value) if _LONG_DIGITS.search(data) else value


def _is_function(v: Any) -> bool:
    return callable(v)


JsFunction = Callable[..., Any]
