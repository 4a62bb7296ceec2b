"""JavaScript value semantics: tables of results known from JavaScript, plus property tests.

Every expected value below is what node 20 prints for the same expression (checked once with
``node -e``); NaN is written ``NAN`` and negative zero ``NEG_ZERO``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from manifest_lang.expr.values import (
    INFINITY,
    NAN,
    UNDEFINED,
    get_member,
    js_add,
    js_contains,
    js_div,
    js_greater,
    js_greater_eq,
    js_in,
    js_less,
    js_less_eq,
    js_mod,
    js_mul,
    js_negate,
    js_sub,
    js_typeof,
    loose_equals,
    same_value_zero,
    strict_equals,
    to_js_string,
    to_json_value,
    to_number,
    truthy,
)

NEG_ZERO = -0.0


def same_number(actual: Any, expected: Any) -> bool:
    """Object.is for numbers: NaN equals NaN, -0 differs from +0, and int/float is one type."""
    if type(actual) not in (int, float) or type(expected) not in (int, float):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    if expected == 0:
        return actual == 0 and math.copysign(1, actual) == math.copysign(1, expected)
    return bool(actual == expected)


# --- String(v) --------------------------------------------------------------------------------

STRING_CASES: list[tuple[Any, str]] = [
    (1, "1"),
    (1.0, "1"),
    (-0.0, "0"),
    (0.1 + 0.2, "0.30000000000000004"),
    (1e21, "1e+21"),
    (1e20, "100000000000000000000"),
    (123456789012345680000.0, "123456789012345680000"),
    (1.5e21, "1.5e+21"),
    (1e-7, "1e-7"),
    (1.5e-7, "1.5e-7"),
    (1e-6, "0.000001"),
    (0.0000015, "0.0000015"),
    (-1.25, "-1.25"),
    (2**53, "9007199254740992"),
    (2**60, "1152921504606847000"),
    (10**21, "1e+21"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (5e-324, "5e-324"),
    (100.5, "100.5"),
    (NAN, "NaN"),
    (INFINITY, "Infinity"),
    (-INFINITY, "-Infinity"),
    (True, "true"),
    (False, "false"),
    (None, "null"),
    (UNDEFINED, "undefined"),
    ("abc", "abc"),
    ([], ""),
    ([1, 2], "1,2"),
    ([1, [2, 3]], "1,2,3"),
    ([None, UNDEFINED, 1], ",,1"),
    ([{}], "[object Object]"),
    ({}, "[object Object]"),
    ({"a": 1}, "[object Object]"),
]


@pytest.mark.parametrize(("value", "expected"), STRING_CASES)
def test_to_js_string(value: Any, expected: str) -> None:
    assert to_js_string(value) == expected


# --- Number(v) --------------------------------------------------------------------------------

NUMBER_CASES: list[tuple[Any, Any]] = [
    (None, 0),
    (UNDEFINED, NAN),
    (True, 1),
    (False, 0),
    ("", 0),
    ("   ", 0),
    ("5", 5),
    (" 42\n", 42),
    ("\u00a07\ufeff", 7),
    ("-0", NEG_ZERO),
    ("+3", 3),
    ("1.5", 1.5),
    (".5", 0.5),
    ("5.", 5),
    ("1e3", 1000),
    ("1E-2", 0.01),
    ("0x1F", 31),
    ("0b101", 5),
    ("0o17", 15),
    ("-0x1F", NAN),
    ("Infinity", INFINITY),
    ("-Infinity", -INFINITY),
    ("inf", NAN),
    ("nan", NAN),
    ("1_000", NAN),
    ("\u0663", NAN),
    ("12px", NAN),
    ("a", NAN),
    ([], 0),
    ([5], 5),
    (["7"], 7),
    ([1, 2], NAN),
    ({}, NAN),
    (3.25, 3.25),
]


@pytest.mark.parametrize(("value", "expected"), NUMBER_CASES)
def test_to_number(value: Any, expected: Any) -> None:
    assert same_number(to_number(value), expected)


# --- ToBoolean --------------------------------------------------------------------------------

TRUTHY_CASES: list[tuple[Any, bool]] = [
    (False, False),
    (0, False),
    (-0.0, False),
    (0.0, False),
    (NAN, False),
    ("", False),
    (None, False),
    (UNDEFINED, False),
    (True, True),
    (1, True),
    (-1.5, True),
    (INFINITY, True),
    ("0", True),
    ("false", True),
    (" ", True),
    ([], True),
    ({}, True),
    (lambda: 0, True),
]


@pytest.mark.parametrize(("value", "expected"), TRUTHY_CASES)
def test_truthy(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


# --- Equality ---------------------------------------------------------------------------------

SHARED_LIST: list[Any] = [1]
SHARED_DICT: dict[str, Any] = {"a": 1}

LOOSE_CASES: list[tuple[Any, Any, bool]] = [
    (None, UNDEFINED, True),
    (UNDEFINED, None, True),
    (None, None, True),
    (UNDEFINED, UNDEFINED, True),
    (None, 0, False),
    (None, False, False),
    (UNDEFINED, "", False),
    ("5", 5, True),
    (5, "5", True),
    ("5.0", 5, True),
    ("", 0, True),
    (" ", 0, True),
    ("a", 0, False),
    (0, False, True),
    (1, True, True),
    (2, True, False),
    ("1", True, True),
    ("true", True, False),
    (NAN, NAN, False),
    (0, -0.0, True),
    (1, 1.0, True),
    ([1], 1, True),
    ([1, 2], "1,2", True),
    ([], "", True),
    ([], 0, True),
    ([], False, True),
    ({}, "[object Object]", True),
    ([1], [1], False),
    ({}, {}, False),
    (SHARED_LIST, SHARED_LIST, True),
    (SHARED_DICT, SHARED_DICT, True),
    ([], None, False),
    ("abc", "abc", True),
    ("abc", "abd", False),
]


@pytest.mark.parametrize(("a", "b", "expected"), LOOSE_CASES)
def test_loose_equals(a: Any, b: Any, expected: bool) -> None:
    assert loose_equals(a, b) is expected
    assert loose_equals(b, a) is expected  # == is symmetric in JS


STRICT_CASES: list[tuple[Any, Any, bool]] = [
    (1, 1.0, True),
    (0, -0.0, True),
    (NAN, NAN, False),
    ("5", 5, False),
    (True, 1, False),
    (None, UNDEFINED, False),
    (None, None, True),
    (UNDEFINED, UNDEFINED, True),
    ([1], [1], False),
    (SHARED_LIST, SHARED_LIST, True),
    ("a", "a", True),
]


@pytest.mark.parametrize(("a", "b", "expected"), STRICT_CASES)
def test_strict_equals(a: Any, b: Any, expected: bool) -> None:
    assert strict_equals(a, b) is expected
    assert strict_equals(b, a) is expected


def test_same_value_zero_treats_nan_as_equal() -> None:
    assert same_value_zero(NAN, NAN)
    assert same_value_zero(0, -0.0)
    assert not same_value_zero(1, "1")


# --- Arithmetic -------------------------------------------------------------------------------

ADD_CASES: list[tuple[Any, Any, Any]] = [
    (1, 2, 3),
    (0.1, 0.2, 0.30000000000000004),
    ("a", 1, "a1"),
    (1, "a", "1a"),
    ("1", 1, "11"),
    ("x", None, "xnull"),
    ("x", UNDEFINED, "xundefined"),
    ("x", True, "xtrue"),
    ("x", 1.0, "x1"),
    ("x", 1e21, "x1e+21"),
    ("x", [1, 2], "x1,2"),
    ("x", {}, "x[object Object]"),
    ([1, 2], "", "1,2"),
    ([1], [2], "12"),
    ([], [], ""),
    ({}, 1, "[object Object]1"),
    ([], 1, "1"),
    (None, 1, 1),
    (UNDEFINED, 1, NAN),
    (True, 1, 2),
    (True, True, 2),
    (None, None, 0),
    (INFINITY, -INFINITY, NAN),
    (2**53, 2, 9007199254740994),
]


@pytest.mark.parametrize(("a", "b", "expected"), ADD_CASES)
def test_js_add(a: Any, b: Any, expected: Any) -> None:
    assert same_number(js_add(a, b), expected)


ARITH_CASES: list[tuple[Any, Any, Any, Any]] = [
    (js_sub, 5, 3, 2),
    (js_sub, "5", "2", 3),
    (js_sub, None, 1, -1),
    (js_sub, UNDEFINED, 1, NAN),
    (js_sub, [5], 1, 4),
    (js_sub, "a", 1, NAN),
    (js_sub, 0.3, 0.1, 0.19999999999999998),
    (js_mul, 3, 4, 12),
    (js_mul, "3", "4", 12),
    (js_mul, 0, -5, NEG_ZERO),
    (js_mul, True, 7, 7),
    (js_mul, 1.5, 2, 3),
    (js_mul, INFINITY, 0, NAN),
    (js_div, 6, 2, 3),
    (js_div, 1, 3, 0.3333333333333333),
    (js_div, 7, 2, 3.5),
    (js_div, -6, 3, -2),
    (js_div, 1, 0, INFINITY),
    (js_div, -1, 0, -INFINITY),
    (js_div, 1, -0.0, -INFINITY),
    (js_div, 0, 0, NAN),
    (js_div, 0, -5, NEG_ZERO),
    (js_div, "6", "3", 2),
    (js_div, None, 5, 0),
    (js_div, NAN, 0, NAN),
    (js_mod, 5, 3, 2),
    (js_mod, -5, 3, -2),
    (js_mod, 5, -3, 2),
    (js_mod, -4, 2, NEG_ZERO),
    (js_mod, 5, 0, NAN),
    (js_mod, 5.5, 2, 1.5),
    (js_mod, -5.5, 2, -1.5),
    (js_mod, INFINITY, 2, NAN),
    (js_mod, 5, INFINITY, 5),
    (js_mod, 0, 5, 0),
    (js_mod, "7", "4", 3),
]


@pytest.mark.parametrize(("op", "a", "b", "expected"), ARITH_CASES)
def test_arithmetic(op: Any, a: Any, b: Any, expected: Any) -> None:
    assert same_number(op(a, b), expected)


def test_exact_division_keeps_int_and_prints_like_js() -> None:
    result = js_div(6, 2)
    assert type(result) is int
    assert to_js_string(result) == "3"
    assert to_js_string(js_div(1, 3)) == "0.3333333333333333"


def test_large_int_products_lose_precision_like_doubles() -> None:
    assert js_mul(2**40, 2**40) == float(2**80)
    assert type(js_mul(2**40, 2**40)) is float


NEGATE_CASES: list[tuple[Any, Any]] = [
    (5, -5),
    (0, NEG_ZERO),
    (None, NEG_ZERO),
    ("3", -3),
    ("", NEG_ZERO),
    (UNDEFINED, NAN),
    (True, -1),
    (-2.5, 2.5),
    ([2], -2),
]


@pytest.mark.parametrize(("value", "expected"), NEGATE_CASES)
def test_js_negate(value: Any, expected: Any) -> None:
    assert same_number(js_negate(value), expected)


# --- Relational -------------------------------------------------------------------------------

# (a, b, a<b, a<=b, a>b, a>=b)
RELATIONAL_CASES: list[tuple[Any, Any, bool, bool, bool, bool]] = [
    (1, 2, True, True, False, False),
    (2, 2, False, True, False, True),
    ("a", "b", True, True, False, False),
    ("B", "a", True, True, False, False),
    ("10", "9", True, True, False, False),
    ("10", 9, False, False, True, True),
    (None, 1, True, True, False, False),
    (None, 0, False, True, False, True),
    (UNDEFINED, 1, False, False, False, False),
    (UNDEFINED, UNDEFINED, False, False, False, False),
    (NAN, 1, False, False, False, False),
    ("a", 1, False, False, False, False),
    ([2], [10], False, False, True, True),
    ([2], 10, True, True, False, False),
    (True, 2, True, True, False, False),
    ("", 0, False, True, False, True),
    ("\uff61", "\U0001f600", False, False, True, True),  # UTF-16: 0xFF61 > 0xD83D
    ("abc", "abcd", True, True, False, False),
]


@pytest.mark.parametrize(("a", "b", "lt", "le", "gt", "ge"), RELATIONAL_CASES)
def test_relational(a: Any, b: Any, lt: bool, le: bool, gt: bool, ge: bool) -> None:
    assert (js_less(a, b), js_less_eq(a, b), js_greater(a, b), js_greater_eq(a, b)) == (lt, le, gt, ge)


# --- typeof / members / in --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (UNDEFINED, "undefined"),
        (None, "object"),
        (True, "boolean"),
        (1, "number"),
        (NAN, "number"),
        ("s", "string"),
        ([], "object"),
        ({}, "object"),
        (len, "function"),
    ],
)
def test_js_typeof(value: Any, expected: str) -> None:
    assert js_typeof(value) == expected


def test_get_member_on_objects_uses_own_keys_only() -> None:
    obj = {"a": 1, "n": None, "0": "zero"}
    assert get_member(obj, "a") == 1
    assert get_member(obj, "n") is None
    assert get_member(obj, "missing") is UNDEFINED
    assert get_member(obj, "toString") is UNDEFINED
    assert get_member(obj, 0) == "zero"


def test_get_member_on_arrays_and_strings() -> None:
    items = [10, 20]
    assert get_member(items, "length") == 2
    assert get_member(items, "1") == 20
    assert get_member(items, 0) == 10
    assert get_member(items, "2") is UNDEFINED
    assert get_member(items, "01") is UNDEFINED
    assert get_member(items, -1) is UNDEFINED
    assert get_member(items, "map") is UNDEFINED
    assert get_member("héllo", "length") == 5
    assert get_member("\U0001f600", "length") == 2  # UTF-16 code units
    assert get_member("abc", "0") is UNDEFINED  # the reference reads no property of a primitive


@pytest.mark.parametrize("base", [None, UNDEFINED, 5, True, len])
def test_get_member_never_throws(base: Any) -> None:
    assert get_member(base, "x") is UNDEFINED


def test_in_and_contains_use_same_value_zero_and_substrings() -> None:
    assert js_in(1, [1, 2])
    assert js_in(1, [1.0])
    assert not js_in("1", [1])
    assert not js_in(True, [1])
    assert not js_in(1, [True])
    assert js_in(NAN, [NAN])
    assert js_in(None, [None])
    assert not js_in(UNDEFINED, [None])
    assert js_in(1, "a1b")
    assert js_in(None, "is null")
    assert not js_in("x", {"x": 1})
    assert js_contains(["a", "b"], "b")
    assert js_contains("hello", "ell")
    assert not js_contains(5, 5)


# --- JSON -------------------------------------------------------------------------------------


def test_to_json_value_drops_undefined_and_normalises_numbers() -> None:
    source = {
        "a": 1,
        "u": UNDEFINED,
        "f": lambda: 1,
        "nested": {"x": UNDEFINED, "y": [1, UNDEFINED, NAN, INFINITY, 2.0, 0.5]},
        "n": None,
        "t": (1, 2),
        "neg": -0.0,
    }
    result = to_json_value(source)
    expected = {"a": 1, "nested": {"y": [1, None, None, None, 2, 0.5]}, "n": None, "t": [1, 2], "neg": 0}
    assert result == expected
    assert type(result["nested"]["y"][4]) is int
    assert type(result["neg"]) is int


def test_to_json_value_is_a_deep_copy() -> None:
    inner = {"k": [1]}
    copy = to_json_value({"inner": inner})
    copy["inner"]["k"].append(2)
    assert inner == {"k": [1]}
    assert to_json_value(UNDEFINED) is None


# --- Property tests ---------------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
safe_ints = st.integers(min_value=-(2**53), max_value=2**53)


@given(finite_floats)
def test_number_string_round_trips(x: float) -> None:
    assert same_number(to_number(to_js_string(x)), x if x != 0 else 0)


@given(safe_ints)
def test_int_strings_match_python(n: int) -> None:
    assert to_js_string(n) == str(n)
    assert to_js_string(float(n)) == str(n)


@given(st.one_of(safe_ints, finite_floats, st.text(max_size=5), st.none(), st.booleans()))
def test_loose_equality_is_reflexive_for_non_nan_primitives(v: Any) -> None:
    assert loose_equals(v, v)
    assert strict_equals(v, v)


@given(safe_ints, safe_ints)
def test_int_arithmetic_matches_float_arithmetic(a: int, b: int) -> None:
    assert js_add(a, b) == float(a) + float(b)
    assert js_sub(a, b) == float(a) - float(b)
    if b != 0:
        assert same_number(js_div(a, b), float(a) / float(b))
        assert same_number(js_mod(a, b), math.fmod(float(a), float(b)))


@given(finite_floats, finite_floats)
def test_relational_operators_are_consistent(a: float, b: float) -> None:
    assert js_less(a, b) == js_greater(b, a)
    assert js_less_eq(a, b) == (js_less(a, b) or loose_equals(a, b))
    assert js_greater_eq(a, b) == (not js_less(a, b))


@given(st.text(max_size=8), st.text(max_size=8))
def test_string_comparison_is_utf16_order(a: str, b: str) -> None:
    expected = a.encode("utf-16-be", "surrogatepass") < b.encode("utf-16-be", "surrogatepass")
    assert js_less(a, b) is expected


@given(st.text(max_size=8))
def test_string_concatenation_round_trip(s: str) -> None:
    assert js_add(s, 1) == s + "1"
    assert js_add(1, s) == "1" + s
