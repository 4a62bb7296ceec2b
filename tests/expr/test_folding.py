"""Constant arrays and objects folded at compile time keep the language's semantics."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from manifest_lang.expr.codegen import generate_expression
from manifest_lang.expr.compile import CompileContext, compile_expression
from manifest_lang.expr.folding import NOT_CONSTANT, ConstantSet, constant_value
from manifest_lang.expr.values import UNDEFINED, js_in, loose_equals

from .test_codegen import _Rt, binary, ident, lit


def array(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "array", "elements": list(elements)}


PRIMITIVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 1.0, 0.5, math.nan, math.inf, 2.0**60]),
    st.sampled_from(["", "a", "1", "true", "null", "sales"]),
)
ITEMS = st.one_of(PRIMITIVES, st.just(UNDEFINED), st.just([1]), st.just({"k": 1}), st.integers(2**60, 2**60))
#: array elements: primitives, and now and then a nested array (never equal to any item)
ELEMENTS = st.one_of(PRIMITIVES.map(lit), st.just(array(lit(1))))


def _value(fn: Any, scope: dict[str, Any]) -> Any:
    rt = _Rt()
    return fn(scope, rt), rt.budget.steps, rt.budget.depth


@settings(max_examples=500, deadline=None)
@given(st.lists(ELEMENTS, max_size=5), ITEMS)
def test_in_a_constant_array_is_same_value_zero_membership(elements: list[Any], item: Any) -> None:
    expected = js_in(item, [constant_value(e) for e in elements])
    cc = CompileContext()
    for op, expr in (
        ("in", binary("in", ident("x"), array(*elements))),
        ("contains", binary("contains", array(*elements), ident("x"))),
    ):
        generated, closure = generate_expression(expr, cc), compile_expression(expr, cc)
        got_gen, got_closure = _value(generated, {"x": item}), _value(closure, {"x": item})
        assert got_gen == got_closure, op
        assert got_gen[0] is expected, (op, elements, item)


def test_budget_counts_the_array_as_written() -> None:
    # 1 (in) + 1 (x) + 1 (array) + 3 elements: the fold charges what the tree would
    expr = binary("in", ident("x"), array(lit("a"), lit("b"), lit("c")))
    for fn in (generate_expression(expr), compile_expression(expr)):
        assert _value(fn, {"x": "b"}) == (True, 6, 0)


def test_a_constant_set_of_role_names() -> None:
    roles = ConstantSet(["sales", "manager"])
    assert roles.only_strings
    assert roles.contains("sales") and not roles.contains("admin")
    assert not roles.contains(None) and not roles.contains(UNDEFINED) and not roles.contains(["sales"])


def test_numbers_match_across_int_and_float_but_not_booleans() -> None:
    numbers = ConstantSet([1, 0.0])
    assert numbers.contains(1.0) and numbers.contains(-0.0) and numbers.contains(0)
    assert not numbers.contains(True) and not numbers.contains(False) and not numbers.contains("1")
    assert ConstantSet([math.nan]).contains(math.nan)  # SameValueZero: NaN is NaN
    assert not ConstantSet([1]).contains(math.nan)


def test_an_escaping_constant_array_is_a_fresh_copy_each_time() -> None:
    nested = array(lit("a"), array(lit(1), lit(2)))
    obj = {"kind": "object", "properties": [{"key": "k", "value": nested}]}
    literal = {"kind": "literal", "value": {"kind": "array", "elements": [{"kind": "number", "value": 1}]}}
    for expr in (nested, obj, literal):
        for fn in (generate_expression(expr), compile_expression(expr)):
            first, second = fn({}, _Rt()), fn({}, _Rt())
            assert first == second and first is not second
            if isinstance(first, dict):
                assert first["k"][1] is not second["k"][1]
                first["k"][1].append(3)
            else:
                first.append(99)
            assert fn({}, _Rt()) == second  # what a caller did to one copy is not in the next


def test_equality_with_a_constant_array_keeps_js_identity_and_coercion() -> None:
    cc = CompileContext()
    same = binary("==", ident("x"), array(lit("a"), lit("b")))
    for fn in (generate_expression(same, cc), compile_expression(same, cc)):
        assert fn({"x": "a,b"}, _Rt()) is loose_equals("a,b", ["a", "b"]) is True
        assert fn({"x": ["a", "b"]}, _Rt()) is False  # another array: never the same object


def test_only_literal_trees_are_constants() -> None:
    assert constant_value(array(lit(1), ident("true"))) is NOT_CONSTANT  # a binding may shadow it
    assert constant_value({"kind": "object", "properties": [{"key": "a", "value": lit(None)}]}) == {"a": None}
    assert constant_value({"kind": "call", "callee": ident("now"), "args": []}) is NOT_CONSTANT
