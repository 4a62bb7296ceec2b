"""Generated expression functions agree with the closures on values, errors and budget charges."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manifest_lang.errors import EvaluationBudgetExceededError
from manifest_lang.expr.budget import Budget, EvaluationLimits
from manifest_lang.expr.codegen import generate_expression, generate_raw
from manifest_lang.expr.compile import CompileContext, compile_expression, compile_raw
from manifest_lang.expr.values import UNDEFINED


class _Rt:
    def __init__(self, limits: EvaluationLimits | None = None) -> None:
        self.budget = Budget(limits or EvaluationLimits())
        self.host = None


def lit(value: Any) -> dict[str, Any]:
    if value is None:
        return {"kind": "literal", "value": {"kind": "null"}}
    kind = {bool: "boolean", str: "string", int: "number", float: "number"}[type(value)]
    return {"kind": "literal", "value": {"kind": kind, "value": value}}


def ident(name: str) -> dict[str, Any]:
    return {"kind": "identifier", "name": name}


def member(obj: dict[str, Any], prop: str) -> dict[str, Any]:
    return {"kind": "member", "object": obj, "property": prop}


def binary(op: str, left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "binary", "operator": op, "left": left, "right": right}


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.5, -0.0, math.nan, math.inf, 2.0]),
    st.sampled_from([2**53, 2**53 - 1, -(2**53), 2**52 + 0.5, 1e300]),  # where sums leave safe ints
    st.sampled_from(["", "a", "b", "10", "2"]),
    st.just([1, 2]),
    st.just({"k": 1}),
)
OPS = [
    "==",
    "!=",
    "is",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "and",
    "or",
    "&&",
    "||",
    "in",
    "contains",
]


def leaves() -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(["a", "b", "missing", "true", "null"])
    return st.one_of(
        VALUES.filter(lambda v: not isinstance(v, (list, dict))).map(lit),
        names.map(ident),
        st.tuples(st.sampled_from(["obj", "a", "missing"]), st.sampled_from(["x", "y", "length"])).map(
            lambda t: member(ident(t[0]), t[1])
        ),
    )


def trees() -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(OPS), inner, inner).map(lambda t: binary(*t)),
            inner.map(lambda e: {"kind": "unary", "operator": "!", "operand": e}),
            inner.map(lambda e: {"kind": "unary", "operator": "-", "operand": e}),
            st.tuples(inner, inner, inner).map(
                lambda t: {"kind": "conditional", "condition": t[0], "consequent": t[1], "alternate": t[2]}
            ),
            st.lists(inner, max_size=2).map(lambda xs: {"kind": "array", "elements": xs}),
            st.lists(inner, max_size=2).map(lambda xs: {"kind": "call", "callee": ident("f"), "args": xs}),
        ),
        max_leaves=8,
    )


def _echo(host: Any, args: list[Any]) -> str:
    """A builtin for the trees: its value shows which arguments arrived, in which order."""
    return repr(["NaN" if isinstance(a, float) and math.isnan(a) else a for a in args])


def _cc() -> CompileContext:
    return CompileContext(builtins={"f": _echo})


def outcome(fn: Any, scope: dict[str, Any], limits: EvaluationLimits | None = None) -> tuple[Any, ...]:
    rt = _Rt(limits)
    try:
        value = fn(scope, rt)
    except EvaluationBudgetExceededError as exc:
        return ("budget", exc.limit_type, rt.budget.steps)
    if isinstance(value, float) and math.isnan(value):
        value = "NaN"
    return ("value", type(value).__name__, repr(value), rt.budget.steps, rt.budget.depth)


@settings(max_examples=400, deadline=None)
@given(trees(), VALUES, VALUES, VALUES)
def test_generated_functions_agree_with_closures(expr: dict[str, Any], a: Any, b: Any, x: Any) -> None:
    scope = {"a": a, "b": b, "obj": {"x": x}}
    cc = _cc()
    assert outcome(generate_expression(expr, cc), dict(scope)) == outcome(
        compile_expression(expr, cc), dict(scope)
    )


@settings(max_examples=200, deadline=None)
@given(trees(), VALUES, VALUES)
def test_raw_functions_agree_with_raw_closures(expr: dict[str, Any], a: Any, b: Any) -> None:
    scope = {"a": a, "b": b, "obj": {"x": a}}
    cc = _cc()
    generated, steps, depth = generate_raw(expr, cc)
    closure, closure_steps, closure_depth = compile_raw(expr, cc)
    assert (steps, depth) == (closure_steps, closure_depth)
    assert outcome(generated, dict(scope)) == outcome(closure, dict(scope))


@pytest.mark.parametrize("limits", [EvaluationLimits(64, 3), EvaluationLimits(2, 10_000)])
def test_budget_overruns_match(limits: EvaluationLimits) -> None:
    expr = binary("<=", binary("+", member(ident("self"), "n"), ident("q")), member(ident("self"), "max"))
    scope = {"self": {"n": 1, "max": 5}, "q": 2}
    cc = CompileContext()
    got = outcome(generate_expression(expr, cc), scope, limits)
    assert got == outcome(compile_expression(expr, cc), scope, limits)
    assert got[0] == "budget"


def test_one_evaluation_of_each_operand() -> None:
    calls: list[int] = []

    def counted(host: Any, args: list[Any]) -> Any:
        calls.append(1)
        return 3

    cc = CompileContext(builtins={"f": counted})
    call = {"kind": "call", "callee": ident("f"), "args": []}
    fn = generate_expression(binary("==", call, lit(3)), cc)
    assert fn({}, _Rt()) is True and len(calls) == 1
    fn = generate_expression(binary("<", call, call), cc)
    assert fn({}, _Rt()) is False and len(calls) == 3


def test_names_fall_back_like_the_reference() -> None:
    fn = generate_expression(binary("==", ident("missing"), lit(None)), CompileContext())
    assert fn({}, _Rt()) is True
    assert generate_expression(ident("missing"), CompileContext())({}, _Rt()) is UNDEFINED
    assert generate_expression(ident("true"), CompileContext())({}, _Rt()) is True


def _report_by_leaves(leaves: list[tuple[str, Any]], cc: CompileContext, scope: dict[str, Any]) -> Any:
    """The leaf-by-leaf report (``checks.resolved``'s loop) the generated report must equal."""
    from manifest_lang.expr.values import to_json_value

    out = []
    for text, node in leaves:
        fn, _, _ = generate_raw(node, cc)
        try:
            value = fn(scope, _Rt())
        except EvaluationBudgetExceededError:
            raise
        except Exception:  # noqa: BLE001 - as the report does
            value = UNDEFINED
        if isinstance(value, list | dict):
            value = to_json_value(value)
        out.append({"expression": text, "value": value})
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(trees(), min_size=1, max_size=4), VALUES, VALUES)
def test_generated_report_agrees_with_the_leaf_loop(nodes: list[dict[str, Any]], a: Any, b: Any) -> None:
    from manifest_lang.expr.codegen import generate_report

    cc = _cc()
    leaves = [(f"leaf{i}", node) for i, node in enumerate(nodes)]
    scope = {"a": a, "b": b, "obj": {"x": [a]}}
    report = generate_report(leaves, cc)
    assert report is not None
    got, expected = report(dict(scope), _Rt()), _report_by_leaves(leaves, cc, dict(scope))
    assert repr(got) == repr(expected)  # repr: NaN compares unequal to itself


def test_a_report_leaf_that_raises_is_undefined_and_snapshots_are_copies() -> None:
    from manifest_lang.expr.codegen import generate_report

    def boom(host: Any, args: list[Any]) -> Any:
        raise ValueError("no")

    cc = CompileContext(builtins={"boom": boom})
    leaves = [("boom()", {"kind": "call", "callee": ident("boom"), "args": []}), ("obj", ident("obj"))]
    obj = {"x": [1]}
    report = generate_report(leaves, cc)
    assert report is not None
    got = report({"obj": obj}, _Rt())
    assert got[0] == {"expression": "boom()", "value": UNDEFINED}
    obj["x"].append(2)
    assert got[1] == {"expression": "obj", "value": {"x": [1]}}
