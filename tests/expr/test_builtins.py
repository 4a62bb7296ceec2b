"""Built-in functions: results observed from the reference package (3.4.23) for the same calls.

``CASES`` rows are ``(name, args, expected)``; each one was run once against the reference's own
built-ins (``engine.getBuiltins()[name](...args)``) and agrees. NaN is ``NAN``, -0 is ``NEG_ZERO``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from manifest_lang.errors import ExpressionTypeError
from manifest_lang.expr.builtins import (
    BUILTIN_NAMES,
    BUILTINS,
    BuiltinContext,
    merge_builtins,
    roles_from_ir,
)
from manifest_lang.expr.builtins_regex import compile_js_regex
from manifest_lang.expr.values import INFINITY, NAN, UNDEFINED

NEG_ZERO = -0.0
U = UNDEFINED

ROLES_IR = [
    {
        "name": "Admin",
        "parent": "Manager",
        "allow": [],
        "deny": [],
        "effectivePermissions": [
            {"action": "delete"},
            {"action": "execute", "target": "X"},
            {"action": "all", "target": "Y"},
        ],
    },
    {"name": "User", "allow": [{"action": "read"}], "deny": [], "effectivePermissions": [{"action": "read"}]},
]


def make_host(**overrides: Any) -> BuiltinContext:
    ids = iter(range(1, 1000))
    defaults: dict[str, Any] = {
        "now_fn": lambda: 1_000_000_000_000,
        "generate_id_fn": lambda: f"test-id-{next(ids)}",
        "context": {"user": {"id": "u", "role": "Admin"}},
        "roles": roles_from_ir(ROLES_IR),
    }
    defaults.update(overrides)
    return BuiltinContext(**defaults)


def call(name: str, *args: Any, host: BuiltinContext | None = None) -> Any:
    return BUILTINS[name](host or make_host(), list(args))


def same(actual: Any, expected: Any) -> bool:
    """Deep equality where NaN equals NaN, -0 differs from 0, and bool never equals a number."""
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if type(expected) in (int, float) and type(actual) in (int, float):
        if expected != expected:
            return actual != actual
        if expected == 0:
            return actual == 0 and math.copysign(1, actual) == math.copysign(1, expected)
        return bool(actual == expected)
    return type(actual) is type(expected) and actual == expected or actual is expected


CASES: list[tuple[str, list[Any], Any]] = [
    # strings
    ("trim", ["  a \u00a0\n"], "a"),
    ("trim", [5], 5),
    ("toUpperCase", ["straße"], "STRASSE"),
    ("toLowerCase", [None], None),
    ("toLowerCase", ["ÀB"], "àb"),
    ("split", ["a,b,,c", ","], ["a", "b", "", "c"]),
    ("split", ["abc", ""], ["a", "b", "c"]),
    ("split", ["abc"], ["abc"]),
    ("split", ["a1b", 1], ["a", "b"]),
    ("split", ["a,b", U], ["a,b"]),
    ("split", [5, ","], 5),
    ("split", ["a,b,c", ",", 2], ["a", "b", "c"]),
    ("split", ["a,b", None], ["a,b"]),
    ("split", ["xnully", None], ["x", "y"]),
    ("startsWith", ["hello", "he"], True),
    ("startsWith", [5, "5"], False),
    ("startsWith", ["5", 5], True),
    ("endsWith", ["hello", U], False),
    ("startsWith", ["undefinedx", U], True),
    ("replace", ["a.b.c", ".", "-"], "a-b-c"),
    ("replace", ["aaa", "a", "$&$&"], "$&$&$&$&$&$&"),
    ("replace", ["abc", "", "-"], "-a-b-c-"),
    ("replace", [5, "5", "6"], 5),
    ("replace", ["abc", "b", 1], "a1c"),
    ("replace", ["abc", "b", U], "aundefinedc"),
    ("replace", ["abc", "b"], "aundefinedc"),
    ("substring", ["hello", 1, 3], "el"),
    ("substring", ["hello", 3, 1], "el"),
    ("substring", ["hello", -2], "hello"),
    ("substring", ["hello", NAN, 2], "he"),
    ("substring", ["hello", 1.7, 3.2], "el"),
    ("substring", ["hello", "1", "3"], "el"),
    ("substring", ["hello", 2, U], "llo"),
    ("substring", ["hello", 2, None], "he"),
    ("substring", [5, 1], 5),
    ("substring", ["hello", 1, INFINITY], "ello"),
    ("indexOf", ["hello", "l"], 2),
    ("indexOf", ["hello", 5], -1),
    ("indexOf", ["a5", 5], 1),
    ("indexOf", ["hello", ""], 0),
    ("indexOf", [[1, 2], 2], -1),
    ("indexOf", ["hello"], -1),
    ("indexOf", ["xundefined"], 1),
    ("count", ["abc"], "abc"),
    ("count", [[1, 2]], 2),
    ("count", [None], None),
    ("length", [5], 5),
    ("length", ["héllo\U0001f600"], 7),
    ("length", [[1, 2, 3]], 3),
    # regular expressions (JS dialect)
    ("matches", ["abc", "^a"], True),
    ("matches", ["abc", "("], False),
    ("matches", [5, "5"], False),
    ("matches", ["abc", 5], False),
    ("matches", ["a5", 5], False),
    ("matches", ["abc"], False),
    ("matches", ["undefined"], False),
    ("matches", ["a\nb", "^b"], False),
    ("matches", ["ab", "(?<x>a)\\k<x>"], False),
    ("matches", ["aa", "(?<x>a)\\k<x>"], True),
    ("matches", ["x", "\\p{L}"], False),
    ("matches", ["x", "[\\w-]"], True),
    ("matches", ["/", "\\/"], True),
    ("matches", ["abc", "a(?=b)"], True),
    ("matches", ["A", "a"], False),
    ("matches", ["a\u2028b", "a.b"], False),
    ("matches", ["ab\n", "b$"], False),
    ("matches", ["x", "[^]"], True),
    ("matches", ["x", "[]"], False),
    ("matches", ["a", "a*+"], False),
    ("matches", ["a", "(?i)a"], False),
    ("matches", ["A", "\\A"], True),
    ("matches", ["é", "\\w"], False),
    ("matches", ["\u0663", "\\d"], False),
    ("matches", ["\u00a0", "^\\s$"], True),
    ("matches", ["a{", "a{"], True),
    ("matches", ["a", "a{,5}"], False),
    ("matches", ["a{,5}", "a{,5}"], True),
    ("matches", ["user@example.com", "^[^@]+@[^@]+\\.[^@]+$"], True),
    ("matches", ["not-an-email", "^[^@]+@[^@]+\\.[^@]+$"], False),
    ("matches", ["555-123-4567", "^\\d{3}-\\d{3}-\\d{4}$"], True),
    ("matches", ["1234567890", "^\\d{3}-\\d{3}-\\d{4}$"], False),
    ("matches", ["9021", "^\\d{5}$"], False),
    # full-text search
    ("search", ["The manifest language", "Manifest"], True),
    ("search", ["manifests", "manifest"], False),
    ("search", ["a b c", "c a"], True),
    ("search", ["a b", ""], False),
    ("search", ["a b", "  "], False),
    ("search", [5, "5"], False),
    ("search", ["x5", "5"], False),
    ("search", ["café au lait", "caf"], True),
    ("search", ["café au lait", "café"], True),
    ("search", ["hello", "he-llo"], False),
    ("search", ["he llo", "he-llo"], True),
    ("search", [None, "x"], False),
    ("search", ["x", None], False),
    # math
    ("abs", [-3], 3),
    ("abs", ["-3"], "-3"),
    ("abs", [NEG_ZERO], 0),
    ("abs", [-3.7], 3.7),
    ("round", [2.5], 3),
    ("round", [-2.5], -2),
    ("round", [-3.7], -4),
    ("round", [0.49999999999999994], 0),
    ("round", ["2.5"], "2.5"),
    ("round", [NAN], NAN),
    ("round", [-0.4], NEG_ZERO),
    ("round", [2, 1], 2),
    ("round", [1.005, 2], 1),
    ("floor", [-3.5], -4),
    ("floor", [-3.7], -4),
    ("ceil", [-0.5], NEG_ZERO),
    ("ceil", [-3.7], -3),
    ("ceil", [None], None),
    ("ceil", [True], True),
    ("min", [-3.7, 0, 100], -3.7),
    ("max", [-3.7, 0, 100], 100),
    ("min", [1, [0]], 1),
    ("min", [], U),
    ("max", [], U),
    ("min", [3, "1", 2], 2),
    ("max", [NAN, 1], NAN),
    ("min", [INFINITY, 5], 5),
    ("between", [5, 1, 10], True),
    ("between", [1, 1, 10], True),
    ("between", [10, 1, 10], True),
    ("between", ["5", 1, 10], False),
    ("between", [5, "1", 10], False),
    ("between", [NAN, 1, 10], False),
    # aggregates
    ("sum", [["1", "2", 3]], 3),
    ("sum", [["10", "20"]], 0),
    ("sum", ["x"], "x"),
    ("sum", [[]], 0),
    ("sum", [[1, NAN, 2]], NAN),
    ("sum", [[1, INFINITY]], INFINITY),
    ("sum", [[1, 2], 5], 3),
    ("sum", [[0.1, 0.2, 0.3]], 0.6000000000000001),
    ("avg", [[]], 0),
    ("avg", ["x"], 0),
    ("avg", [[1, "a", 3]], 2),
    ("avg", [[1, 2]], 1.5),
    ("min_of", [[]], U),
    ("min_of", [[3, 1, "0"]], 1),
    ("max_of", [[3, NAN, 1]], NAN),
    ("max_of", [[3, 7, 1]], 7),
    ("count_of", ["abc"], 0),
    ("count_of", [[1, 2]], 2),
    ("filter", [[1, 2], U], [1, 2]),
    ("filter", [[1, 0], 5], [1, 0]),
    ("filter", ["ab", U], []),
    ("map", ["ab", U], []),
    # dates
    ("year", [1768473045000], 2026),
    ("month", [1768473045000], 1),
    ("day", [1768473045000], 15),
    ("hours", [1768473045000], 10),
    ("minutes", [1768473045000], 30),
    ("seconds", [1768473045000], 45),
    ("year", ["2020"], "2020"),
    ("year", [NAN], NAN),
    ("year", [1e20], NAN),
    ("year", [-1], 1969),
    ("year", [8.64e15], 275760),
    ("year", [8.64e15 + 1], NAN),
    ("seconds", [1500.7], 1),
    ("seconds", [-0.5], 0),
    ("hours", [-1], 23),
    ("month", [-1], 12),
    ("day", [INFINITY], NAN),
    ("minutes", [None], None),
    ("dateOf", [1000000000000], "2001-09-09"),
    ("dateOf", [-1], "1969-12-31"),
    ("dateOf", [8.64e15], "275760-09-13"),
    ("dateOf", [8.64e15 + 1], None),
    ("dateOf", [-62198755200000], "-1-01-01"),
    ("dateOf", [-61978089600000], "5-12-29"),
    ("dateOf", [-62167219200000], "0-01-01"),
    ("dateOf", [-62198755200001], "-2-12-31"),
    ("dateOf", [253402300800000], "10000-01-01"),
    ("dateOf", ["1"], None),
    ("dateOf", [NAN], None),
    ("timeOf", [1000000000000], "01:46:40"),
    ("timeOf", [1000000000999.9], "01:46:40"),
    ("timeOf", [-1], "23:59:59"),
    ("timeOf", [8.64e15 + 1], None),
    ("timeOf", ["5"], None),
    ("datetimeOf", ["2026-06-09"], 1780963200000),
    ("datetimeOf", ["2026-06-09", "09:30:00"], 1780997400000),
    ("datetimeOf", ["2026-06-09", "23:59:59"], 1781049599000),
    ("datetimeOf", ["2026-06-09", "00:00:00"], 1780963200000),
    ("datetimeOf", ["2026-06-09", U], 1780963200000),
    ("datetimeOf", ["2026-06-09", "09:30"], None),
    ("datetimeOf", ["2026-02-30"], None),
    ("datetimeOf", ["2026-6-9"], None),
    ("datetimeOf", ["2026-06-09", "25:00:00"], None),
    ("datetimeOf", ["2026-06-09", "24:00:00"], None),
    ("datetimeOf", ["2026-06-09", "23:59:60"], None),
    ("datetimeOf", ["2026-06-09", "12:60:00"], None),
    ("datetimeOf", ["2026-06-09", "09:30:00.123"], None),
    ("datetimeOf", ["2026-06-09", "9:30:00"], None),
    ("datetimeOf", ["2026-06-09", 5], None),
    ("datetimeOf", ["2026-06-09", None], None),
    ("datetimeOf", ["2026-06-09", ""], None),
    ("datetimeOf", [5], None),
    ("datetimeOf", ["0000-01-01"], -62167219200000),
    ("datetimeOf", ["0005-01-01"], -62009366400000),
    ("datetimeOf", ["-0001-01-01"], None),
    ("datetimeOf", ["12345-01-01"], None),
    ("datetimeOf", [" 2026-06-09"], None),
    ("datetimeOf", ["2026-06-09T00:00:00"], None),
    ("datetimeOf", ["2026-13-01"], None),
    ("datetimeOf", ["2026-00-01"], None),
    ("datetimeOf", ["2026-01-00"], None),
    ("datetimeOf", ["2024-02-29"], 1709164800000),
    ("datetimeOf", ["2023-02-29"], None),
    ("datetimeOf", ["1900-02-29"], None),
    ("datetimeOf", ["2000-02-29"], 951782400000),
    ("addDuration", [1, 2], 3),
    ("addDuration", [1000000000000, 3600000], 1000003600000),
    ("addDuration", ["1", 2], None),
    ("addDuration", [1, INFINITY], None),
    ("durationBetween", [1, 5], 4),
    ("durationBetween", [5, None], None),
    ("durationDays", [1.5], 129600000),
    ("durationDays", ["1"], None),
    ("durationHours", [2], 7200000),
    ("durationMinutes", [2], 120000),
    ("durationSeconds", [2], 2000),
    ("durationSeconds", [NAN], None),
    # roles (context.user.role = "Admin")
    ("hasPermission", ["delete"], True),
    ("hasPermission", ["delete", "Z"], True),
    ("hasPermission", ["execute", "X"], True),
    ("hasPermission", ["execute"], False),
    ("hasPermission", ["anything", "Y"], True),
    ("hasPermission", ["anything"], False),
    ("hasPermission", [], False),
    ("roleAllows", ["Admin", "delete"], True),
    ("roleAllows", ["admin", "delete"], False),
    ("roleAllows", ["Nope", "delete"], False),
    ("roleAllows", [None, "delete"], False),
    ("roleAllows", ["Admin", "execute", None], False),
    ("roleAllows", ["User", "read"], True),
    ("roleAllows", ["User", "write"], False),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES)
def test_builtin_matches_reference(name: str, args: list[Any], expected: Any) -> None:
    assert same(call(name, *args), expected)


def test_registry_has_the_49_core_builtins() -> None:
    assert len(BUILTINS) == 49
    assert BUILTIN_NAMES == frozenset(BUILTINS)
    assert {"flat_map", "unique_of", "now", "uuid", "roleAllows"} <= BUILTIN_NAMES


def test_custom_builtins_never_override_core_ones() -> None:
    custom = {"now": lambda host, args: "custom", "double": lambda host, args: args[0] * 2}
    merged = merge_builtins(custom)
    assert merged["double"](make_host(), [4]) == 8
    assert merged["now"](make_host(), []) == 1_000_000_000_000
    assert merge_builtins(None) is BUILTINS


def test_now_and_uuid_come_from_the_host_in_call_order() -> None:
    host = make_host()
    assert call("now", host=host) == 1_000_000_000_000
    assert [call("uuid", host=host), call("uuid", host=host)] == ["test-id-1", "test-id-2"]


def test_replace_with_a_non_string_search_raises_like_js() -> None:
    with pytest.raises(ExpressionTypeError) as info:
        call("replace", "a5", 5, "6")
    assert info.value.code == "EXPRESSION_TYPE_ERROR"


def test_string_indices_are_utf16_code_units() -> None:
    text = "\U0001f600abc"
    assert call("indexOf", text, "b") == 3
    assert call("substring", text, 2, 4) == "ab"
    assert call("length", text) == 5


# --- lambdas ----------------------------------------------------------------------------------


def test_lambdas_receive_only_the_element() -> None:
    seen: list[tuple[Any, ...]] = []

    def spy(*values: Any) -> Any:
        seen.append(values)
        return values[0]

    call("map", [1, 2], spy)
    assert seen == [(1,), (2,)]


def test_collection_builtins_with_lambdas() -> None:
    items = [{"price": 5, "qty": 2}, {"price": 1.5, "qty": 0}, {"price": "x", "qty": 1}]
    assert call("sum", items, lambda i: i["price"]) == 6.5
    assert call("avg", items, lambda i: i["price"]) == 3.25
    assert call("avg", items, lambda i: "nope") == 0
    assert call("min_of", items, lambda i: i["price"]) == 1.5
    assert call("max_of", items, lambda i: i["price"]) == 5
    assert call("count_of", items, lambda i: i["qty"]) == 2
    assert call("filter", items, lambda i: i["qty"]) == [items[0], items[2]]
    assert call("map", items, lambda i: i["qty"]) == [2, 0, 1]
    assert call("count_of", [1, 0, 2], lambda x: x) == 2
    assert call("filter", [1, 2, 3], lambda x: x > 1) == [2, 3]
    assert call("sum", [1, 2], lambda x: x * 2) == 6


def test_filter_and_map_without_a_function_return_the_same_array() -> None:
    items = [1, 2]
    assert call("filter", items) is items
    assert call("map", items, "not a function") is items


def test_flat_map_flattens_one_level_and_skips_nullish() -> None:
    orders = [{"lines": [1, 2]}, {"lines": None}, {"lines": [[3]]}, {"lines": 4}, {}]
    result = call("flat_map", orders, lambda o: o.get("lines", UNDEFINED))
    assert result == [1, 2, [3], 4]
    assert call("flat_map", "x", lambda o: o) == []


def test_unique_of_is_stable_and_keys_objects_by_json() -> None:
    a = {"k": 1}
    items = [1, 1.0, True, "1", None, UNDEFINED, None, NAN, NAN, a, {"k": 1}, [1], [1], {"k": 2}]
    result = call("unique_of", items)
    assert result[:6] == [1, True, "1", None, UNDEFINED, result[5]]
    assert result[5] != result[5]  # one NaN kept
    assert result[6:] == [a, [1], {"k": 2}]
    assert result[6] is a
    assert call("unique_of", "abc") == []


# --- flags ------------------------------------------------------------------------------------


def test_flag_prefers_the_provider_even_when_it_answers_undefined() -> None:
    values = {"a": 1, "b": 0}
    host = make_host(flag_provider=lambda name: values.get(name, UNDEFINED), flags={"zz": True})
    assert call("flag", "a", host=host) == 1
    assert call("flag", "b", host=host) == 0
    assert call("flag", "zz", host=host) is UNDEFINED
    assert call("flag", 1, host=host) is False


def test_flag_reads_own_keys_of_the_flags_mapping() -> None:
    host = make_host(flags={"new-ui": True, "variant": "b"})
    assert call("flag", "new-ui", host=host) is True
    assert call("flag", "variant", host=host) == "b"
    assert call("flag", "missing", host=host) is False
    assert call("flag", "toString", host=host) is False
    assert call("flag", "new-ui", host=make_host()) is False


# --- roles ------------------------------------------------------------------------------------


def test_has_permission_uses_the_live_runtime_context() -> None:
    host = make_host(context={"user": {"id": "u", "role": "User"}})
    assert call("hasPermission", "read", host=host) is True
    host.context = {"user": {"id": "u", "role": "Admin"}}
    assert call("hasPermission", "read", host=host) is False
    assert call("hasPermission", "delete", host=host) is True
    for context in ({}, {"user": None}, {"user": {"id": "g", "role": "Guest"}}, {"user": {"role": 3}}):
        assert call("hasPermission", "read", host=make_host(context=context)) is False


def test_roles_from_ir_ignores_malformed_entries() -> None:
    roles = roles_from_ir([{"name": "A", "effectivePermissions": [{"action": "read"}, "junk"]}, "x", {}])
    assert roles == {"A": ({"action": "read"},)}
    assert roles_from_ir(None) == {}


# --- regex translation and properties ---------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("^\\s+$", " \t\u3000", True),
        ("[\\s]", "\u2029", True),
        ("\\S", "\u00a0", False),
        ("\\bword\\b", "a word here", True),
        ("(a)\\1", "aa", True),
        ("\\8", "8", True),
        ("\\x41\\u0042", "AB", True),
        ("\\cJ", "\n", True),
        ("[a-c&&b]", "&", True),
        ("a|b", "b", True),
        ("a{2}", "aa", True),
        ("a{2}?", "aa", True),
        ("(?<year>[0-9]{4})-\\k<year>", "2024-2024", True),
        ("(?<$x>a)", "a", True),
        ("(a)|\\1b", "b", True),  # a group that took no part matches empty in JS
        ("\\1(a)", "a", True),  # a forward reference matches empty
        ("(a\\1)", "a", True),  # so does a reference inside its own group
        ("(?<n>x)|\\k<n>y", "y", True),
        ("(a)?b\\1", "b", True),
        ("[\\d-z]", "-", True),  # Annex B: "-" beside a class escape is literal
        ("[a-\\d]", "-", True),
        ("\\B", "", True),
        ("a\\Bb", "ab", True),
        ("(?>a)", "a", None),
        ("(?P<x>a)", "a", None),
        ("[a", "a", None),
        ("\\", "a", None),
    ],
)
def test_js_regex_translation(pattern: str, subject: str, expected: bool | None) -> None:
    compiled = compile_js_regex(pattern)
    if expected is None:
        assert compiled is None
    else:
        assert compiled is not None and (compiled.search(subject) is not None) is expected


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_round_is_half_up_and_floor_ceil_bracket(x: float) -> None:
    r = call("round", x)
    assert call("floor", x) <= r <= call("ceil", x)
    assert -0.5 <= x - r < 0.5


@given(st.integers(min_value=-8_640_000_000_000_000, max_value=8_640_000_000_000_000))
def test_date_components_round_trip_through_datetime_of(ts: int) -> None:
    date_text = call("dateOf", ts)
    time_text = call("timeOf", ts)
    year = call("year", ts)
    if 0 <= year <= 9999:
        padded_date = f"{year:04d}" + date_text[len(str(year)) :]
        assert call("datetimeOf", padded_date, time_text) == ts - ts % 1000
