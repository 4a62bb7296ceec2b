"""IR expressions compiled once into Python closures.

Every IR node kind has one ``_compile_<kind>`` function (dispatch table ``_COMPILERS``). A
compiled unit is a closure ``run(scope, rt)``: ``scope`` is the dict of bindings (the reference's
evaluation context object) and ``rt`` the evaluation runtime of the current top-level call
(``rt.budget``, relationship and aggregate resolution, built-in services; see ``EvalRuntime``).

Budget: the eagerly evaluated nodes of a unit are counted at compile time and charged in one step
on entry (see ``budget.py``); conditional branches and lambda bodies are their own units charged
when they run, at the depth where they sit in the enclosing unit.
"""

from __future__ import annotations

import operator as _op
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import IRError
from .folding import NOT_CONSTANT, ConstantSet, constant_set, constant_value, copier, ir_value
from .values import (
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
    loose_equals,
    same_value_zero,
    truthy,
)

Scope = dict[str, Any]
Evaluator = Callable[[Scope, Any], Any]

#: returned by ``EvalRuntime.relation`` when ``obj.prop`` is not a relationship
NOT_A_RELATION: Any = object()


class EvalRuntime(Protocol):
    """What compiled code needs from the engine during one top-level call."""

    budget: Any  # Budget | None

    def relation(self, obj: dict[str, Any], prop: str) -> Any: ...

    def aggregate(
        self, op: str, entity: str, predicates: list[tuple[str, Any]], field: str | None
    ) -> Any: ...

    #: the ``BuiltinHost`` built-ins are called with (``now()``, ``generate_id()``, context...)
    host: Any


@dataclass(slots=True)
class CompileContext:
    """Static facts the compiler specialises on."""

    #: relationship names declared anywhere in the model (member access checks only these)
    relation_names: frozenset[str] = frozenset()
    #: built-in functions by name, called ``fn(rt.host, args)``; they shadow scope values
    builtins: Mapping[str, Callable[[Any, list[Any]], Any]] = field(default_factory=dict)
    cache: dict[int, Evaluator] = field(default_factory=dict)


@dataclass(slots=True)
class _Node:
    fn: Evaluator
    steps: int  # eagerly evaluated nodes (this one included)
    depth: int  # deepest eager node below and including this one


def compile_expression(expr: Any, cc: CompileContext | None = None) -> Evaluator:
    """Compile an IR expression into ``run(scope, rt)`` that charges the budget of ``rt``."""
    cc = cc or CompileContext()
    node = _compile(expr, cc, 1)
    return _unit(node)


def compile_raw(expr: Any, cc: CompileContext | None = None) -> tuple[Evaluator, int, int]:
    """The unwrapped closure and its static ``(steps, depth)``: the caller charges the budget.

    Used where many small expressions run together (the leaves of a ``resolved`` report), so
    they are charged once instead of one wrapper call each.
    """
    node = _compile(expr, cc or CompileContext(), 1)
    return node.fn, node.steps, node.depth


def _unit(node: _Node, offset: int = 0) -> Evaluator:
    fn, steps, depth = node.fn, node.steps, node.depth

    if offset == 0:

        def run(s: Scope, rt: Any) -> Any:
            b = rt.budget
            if b is not None:
                total = b.steps + steps
                if total > b.max_steps or b.depth + depth > b.max_depth:
                    b.charge(steps, depth)
                b.steps = total
            return fn(s, rt)

        return run

    def run_nested(s: Scope, rt: Any) -> Any:
        b = rt.budget
        if b is None:
            return fn(s, rt)
        b.charge(steps, depth + offset)
        b.depth += offset
        try:
            return fn(s, rt)
        finally:
            b.depth -= offset

    return run_nested


def _compile(expr: Any, cc: CompileContext, level: int) -> _Node:
    if not isinstance(expr, dict):
        raise IRError(f"expression must be an object, got {type(expr).__name__}")
    compiler = _COMPILERS.get(expr.get("kind"))  # type: ignore[arg-type]
    if compiler is None:
        # The reference evaluates unknown kinds to undefined.
        return _Node(lambda s, rt: UNDEFINED, 1, 1)
    return compiler(expr, cc, level)


# --- leaves -----------------------------------------------------------------------------------


def _compile_literal(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    value = ir_value(expr.get("value"))
    if isinstance(value, (list, dict)):
        # Each evaluation makes a fresh array/object, as in JS (identity matters for ==).
        fresh = copier(value)
        return _Node(lambda s, rt: fresh(), 1, 1)
    return _Node(lambda s, rt: value, 1, 1)


_NAME_FALLBACK: dict[str, Any] = {"true": True, "false": False, "null": None}


def _compile_identifier(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    name = expr.get("name")
    if not isinstance(name, str):
        raise IRError("identifier without a name")
    fallback = _NAME_FALLBACK.get(name, UNDEFINED)
    return _Node(lambda s, rt: s.get(name, fallback), 1, 1)


def _compile_member(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    obj_ir = expr.get("object")
    obj = _compile(obj_ir, cc, level + 1)
    prop = expr.get("property")
    if not isinstance(prop, str):
        raise IRError("member expression without a property name")
    of = obj.fn
    steps, depth = obj.steps + 1, obj.depth + 1
    if prop in cc.relation_names:

        def member_rel(s: Scope, rt: Any) -> Any:
            o = of(s, rt)
            if type(o) is dict:
                if "_entity" in o and type(o.get("id")) is str:
                    r = rt.relation(o, prop)
                    if r is not NOT_A_RELATION:
                        return r
                return o.get(prop, UNDEFINED)
            return get_member(o, prop)

        return _Node(member_rel, steps, depth)
    if isinstance(obj_ir, dict) and obj_ir.get("kind") == "identifier":
        # ``self.x`` / ``user.role``: one closure instead of two (the most common node).
        name = obj_ir["name"]
        fallback = _NAME_FALLBACK.get(name, UNDEFINED)

        def member_of_name(s: Scope, rt: Any) -> Any:
            o = s.get(name, fallback)
            if type(o) is dict:
                return o.get(prop, UNDEFINED)
            return get_member(o, prop)

        return _Node(member_of_name, steps, depth)

    def member(s: Scope, rt: Any) -> Any:
        o = of(s, rt)
        if type(o) is dict:
            return o.get(prop, UNDEFINED)
        return get_member(o, prop)

    return _Node(member, steps, depth)


# --- operators --------------------------------------------------------------------------------


def _and(a: Any, b: Any) -> bool:
    return truthy(a) and truthy(b)


def _or(a: Any, b: Any) -> bool:
    return truthy(a) or truthy(b)


def _not_equals(a: Any, b: Any) -> bool:
    return not loose_equals(a, b)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": js_add,
    "-": js_sub,
    "*": js_mul,
    "/": js_div,
    "%": js_mod,
    "==": loose_equals,
    "is": loose_equals,
    "!=": _not_equals,
    "<": js_less,
    ">": js_greater,
    "<=": js_less_eq,
    ">=": js_greater_eq,
    "and": _and,
    "&&": _and,
    "or": _or,
    "||": _or,
    "in": js_in,
    "contains": js_contains,
}


_NUMERIC_CMP: dict[str, tuple[Callable[[Any, Any], bool], Callable[[Any, Any], bool]]] = {
    ">": (_op.gt, js_greater),
    ">=": (_op.ge, js_greater_eq),
    "<": (_op.lt, js_less),
    "<=": (_op.le, js_less_eq),
}


def _compile_binary(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    left = _compile(expr.get("left"), cc, level + 1)
    right = _compile(expr.get("right"), cc, level + 1)
    op = _BINARY.get(expr.get("operator"))  # type: ignore[arg-type]
    lf, rf = left.fn, right.fn
    steps = left.steps + right.steps + 1
    depth = max(left.depth, right.depth) + 1
    if op is None:

        def unknown(s: Scope, rt: Any) -> Any:
            lf(s, rt)
            rf(s, rt)
            return UNDEFINED

        return _Node(unknown, steps, depth)
    operator = expr.get("operator")
    members = _constant_members(operator, expr)
    if members is not None:
        # ``x in ["a", "b"]``: the array is only looked into, so it is built once (folding.py).
        contains = members.contains
        if operator == "in":
            return _Node(lambda s, rt: contains(lf(s, rt)), steps, depth)
        return _Node(lambda s, rt: contains(rf(s, rt)), steps, depth)
    right_ir = expr.get("right") or {}
    if right_ir.get("kind") == "literal" and not isinstance(ir_value(right_ir["value"]), (list, dict)):
        constant = ir_value(right_ir["value"])
        fast = _fast_compare(operator, lf, constant)
        if fast is not None:
            return _Node(fast, steps, depth)
        return _Node(lambda s, rt: op(lf(s, rt), constant), steps, depth)
    return _Node(lambda s, rt: op(lf(s, rt), rf(s, rt)), steps, depth)


def _constant_members(operator: Any, expr: dict[str, Any]) -> ConstantSet | None:
    """The constant array of an ``in`` (right side) or ``contains`` (left side), else None."""
    if operator == "in":
        return constant_set(expr.get("right"))
    if operator == "contains":
        return constant_set(expr.get("left"))
    return None


def _fast_compare(operator: Any, lf: Evaluator, c: Any) -> Evaluator | None:
    """Comparisons with a literal: decide same-type cases inline, defer the rest to JS rules."""
    tc = type(c)
    if operator in ("==", "is", "!=") and (tc is str or tc is int or tc is float) and tc is not bool:
        negate = operator == "!="
        numeric = tc is not str

        def equals(s: Scope, rt: Any) -> bool:
            a = lf(s, rt)
            ta = type(a)
            if ta is tc or (numeric and (ta is int or ta is float)):
                return bool(a != c) if negate else bool(a == c)
            return negate is not loose_equals(a, c)

        return equals
    if tc in (int, float) and operator in _NUMERIC_CMP:
        cmp, slow = _NUMERIC_CMP[operator]

        def compare(s: Scope, rt: Any) -> bool:
            a = lf(s, rt)
            ta = type(a)
            if ta is int or ta is float:
                return cmp(a, c)
            return slow(a, c)

        return compare
    return None


def _compile_unary(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    operand = _compile(expr.get("operand"), cc, level + 1)
    of = operand.fn
    operator = expr.get("operator")
    fn: Evaluator
    if operator in ("!", "not"):
        fn = lambda s, rt: not truthy(of(s, rt))  # noqa: E731
    elif operator == "-":
        fn = lambda s, rt: js_negate(of(s, rt))  # noqa: E731
    else:
        fn = of
    return _Node(fn, operand.steps + 1, operand.depth + 1)


def _compile_conditional(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    cond = _compile(expr.get("condition"), cc, level + 1)
    # Branches are lazy: each is its own budget unit, evaluated one level below this node.
    yes = _unit(_compile(expr.get("consequent"), cc, 1), level)
    no = _unit(_compile(expr.get("alternate"), cc, 1), level)
    cf = cond.fn

    def conditional(s: Scope, rt: Any) -> Any:
        return yes(s, rt) if truthy(cf(s, rt)) else no(s, rt)

    return _Node(conditional, cond.steps + 1, cond.depth + 1)


def _compile_array(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    elements = [_compile(e, cc, level + 1) for e in expr.get("elements", [])]
    fns = [e.fn for e in elements]
    steps = sum(e.steps for e in elements) + 1
    depth = max((e.depth for e in elements), default=0) + 1
    return _Node(_constant_or(expr, lambda s, rt: [f(s, rt) for f in fns]), steps, depth)


def _compile_object(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    props = [(p.get("key"), _compile(p.get("value"), cc, level + 1)) for p in expr.get("properties", [])]
    pairs = [(k, n.fn) for k, n in props]
    steps = sum(n.steps for _, n in props) + 1
    depth = max((n.depth for _, n in props), default=0) + 1
    return _Node(_constant_or(expr, lambda s, rt: {k: f(s, rt) for k, f in pairs}), steps, depth)


def _constant_or(expr: dict[str, Any], evaluate: Evaluator) -> Evaluator:
    """A copy of the prebuilt value for an array or object of literals (each evaluation still gets
    its own, which the caller may change), else ``evaluate``."""
    value = constant_value(expr)
    if value is NOT_CONSTANT:
        return evaluate
    fresh = copier(value)
    return lambda s, rt: fresh()


def _compile_lambda(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    params = [str(p) for p in expr.get("params", [])]
    body = _unit(_compile(expr.get("body"), cc, 1), level)

    def make_lambda(s: Scope, rt: Any) -> Any:
        def js_function(*args: Any) -> Any:
            inner = dict(s)
            for i, name in enumerate(params):
                inner[name] = args[i] if i < len(args) else UNDEFINED
            return body(inner, rt)

        return js_function

    return _Node(make_lambda, 1, 1)


def _compile_aggregate(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    op = str(expr.get("op"))
    entity = str(expr.get("entity"))
    agg_field = expr.get("field")
    preds = [
        (str(p.get("field")), _compile(p.get("value"), cc, level + 1)) for p in expr.get("predicates", [])
    ]
    pairs = [(f, n.fn) for f, n in preds]
    steps = sum(n.steps for _, n in preds) + 1
    depth = max((n.depth for _, n in preds), default=0) + 1

    def aggregate(s: Scope, rt: Any) -> Any:
        return rt.aggregate(op, entity, [(f, vf(s, rt)) for f, vf in pairs], agg_field)

    return _Node(aggregate, steps, depth)


# --- calls ------------------------------------------------------------------------------------


def _compile_call(expr: dict[str, Any], cc: CompileContext, level: int) -> _Node:
    callee_ir = expr.get("callee") or {}
    args = [_compile(a, cc, level + 1) for a in expr.get("args", [])]
    arg_fns = [a.fn for a in args]
    arg_steps = sum(a.steps for a in args)
    arg_depth = max((a.depth for a in args), default=0)
    if callee_ir.get("kind") == "identifier" and callee_ir.get("name") in cc.builtins:
        builtin = cc.builtins[callee_ir["name"]]

        def call_builtin(s: Scope, rt: Any) -> Any:
            return builtin(rt.host, [f(s, rt) for f in arg_fns])

        return _Node(call_builtin, arg_steps + 1, arg_depth + 1)
    callee = _compile(callee_ir, cc, level + 1)
    cf = callee.fn
    steps = arg_steps + callee.steps + 1
    depth = max(arg_depth, callee.depth) + 1
    if callee_ir.get("kind") == "member" and callee_ir.get("property") in _ARRAY_METHODS:
        obj_fn = _compile(callee_ir.get("object"), cc, level + 2).fn
        method = _ARRAY_METHODS[callee_ir["property"]]

        def call_method(s: Scope, rt: Any) -> Any:
            target = obj_fn(s, rt)
            values = [f(s, rt) for f in arg_fns]
            if type(target) is list:
                return method(target, values)
            return _call_value(cf(s, rt), values)

        return _Node(call_method, steps, depth)

    def call(s: Scope, rt: Any) -> Any:
        fn = cf(s, rt)
        return _call_value(fn, [f(s, rt) for f in arg_fns])

    return _Node(call, steps, depth)


def _call_value(fn: Any, args: list[Any]) -> Any:
    if callable(fn) and fn is not UNDEFINED:
        return fn(*args)
    return UNDEFINED


def _array_contains(arr: list[Any], args: list[Any]) -> bool:
    item = args[0] if args else UNDEFINED
    return any(same_value_zero(x, item) for x in arr)


def _array_all(arr: list[Any], args: list[Any]) -> bool:
    pred = args[0] if args else None
    if not callable(pred):
        return False
    return all(truthy(pred(x)) for x in arr)


def _array_any(arr: list[Any], args: list[Any]) -> bool:
    pred = args[0] if args else None
    if not callable(pred):
        return False
    return any(truthy(pred(x)) for x in arr)


_ARRAY_METHODS: dict[str, Callable[[list[Any], list[Any]], Any]] = {
    "contains": _array_contains,
    "all": _array_all,
    "any": _array_any,
}


_COMPILERS: Mapping[str, Callable[[dict[str, Any], CompileContext, int], _Node]] = {
    "literal": _compile_literal,
    "identifier": _compile_identifier,
    "member": _compile_member,
    "binary": _compile_binary,
    "unary": _compile_unary,
    "call": _compile_call,
    "conditional": _compile_conditional,
    "array": _compile_array,
    "object": _compile_object,
    "lambda": _compile_lambda,
    "aggregate": _compile_aggregate,
}
