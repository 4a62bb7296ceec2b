"""Hot expressions as generated Python functions: one call per evaluation instead of one per node.

``compile.py`` turns every node into a closure, so ``self.reserved + qty <= self.stock`` costs
eight Python calls. Here a whole budget unit becomes ONE function whose body is a single Python
expression: names, members, comparisons, equality, ``and`` / ``or`` / ``!`` and conditions are
inlined with their same-type fast paths (walrus temporaries keep left-to-right evaluation and
evaluate each operand once); every JS rule outside those fast paths is the same helper the
closures call (``loose_equals``, ``js_less`` ...), and builtin calls are direct calls. Node kinds
without an inline form (other calls, arrays, objects, lambdas, aggregates, relationship members)
embed the closure ``compile.py`` makes for them, so both paths share one definition of the
semantics, and the budget is charged exactly as ``compile._unit`` charges it (same static steps
and depth).

Generated sources are cached by text, so a model with many equal expressions compiles each shape
once.
"""

from __future__ import annotations

from typing import Any

from .compile import (
    _BINARY,
    _NAME_FALLBACK,
    CompileContext,
    Evaluator,
    _compile,
    _constant_members,
    _unit,
)
from .folding import ConstantSet, ir_value
from .values import (
    UNDEFINED,
    get_member,
    js_add,
    js_greater,
    js_greater_eq,
    js_less,
    js_less_eq,
    js_mul,
    js_sub,
    loose_equals,
    to_json_value,
    truthy,
)

#: longest generated expression (characters) and deepest IR tree inlined; beyond, closures
MAX_SOURCE = 6000
MAX_DEPTH = 40
#: generated sources kept (a process that loads many models starts over past this)
MAX_CACHED = 20_000

_CMP: dict[str, tuple[str, str]] = {
    "<": ("<", "_js_less"),
    "<=": ("<=", "_js_less_eq"),
    ">": (">", "_js_greater"),
    ">=": (">=", "_js_greater_eq"),
}
_EQ = {"==": False, "is": False, "!=": True}
_PRIMITIVE = (str, int, float, bool, type(None))

_BASE_GLOBALS: dict[str, Any] = {
    "_U": UNDEFINED,
    "_get_member": get_member,
    "_truthy": truthy,
    "_loose": loose_equals,
    "_js_less": js_less,
    "_js_less_eq": js_less_eq,
    "_js_greater": js_greater,
    "_js_greater_eq": js_greater_eq,
    "_NUM": frozenset((int, float)),
    "_SAFE": 2**53,
    "_js_add": js_add,
    "_js_sub": js_sub,
    "_js_mul": js_mul,
    "__builtins__": {
        "type": type,
        "bool": bool,
        "dict": dict,
        "list": list,
        "str": str,
        "int": int,
        "float": float,
    },
}

_code_cache: dict[str, Any] = {}


class _Gen:
    """One unit's source: ``names`` are the globals it needs beyond ``_BASE_GLOBALS``."""

    def __init__(self, cc: CompileContext) -> None:
        self.cc = cc
        self.names: dict[str, Any] = {}
        self.temps = 0

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def bind(self, value: Any) -> str:
        name = f"_g{len(self.names)}"
        self.names[name] = value
        return name

    def const(self, value: Any) -> str:
        # repr is exact for these (floats go through a global: repr(nan) is not Python source)
        if type(value) in (str, int, bool) or value is None:
            return repr(value)
        return self.bind(value)

    def truthy(self, code: str) -> str:
        t = self.temp()
        return f"({t} if type({t} := {code}) is bool else _truthy({t}))"

    def closure(self, expr: Any, level: int) -> str:
        return f"{self.bind(_compile(expr, self.cc, level).fn)}(s, rt)"

    # --- nodes --------------------------------------------------------------------------------

    def node(self, expr: Any, level: int) -> str:
        kind = expr.get("kind") if isinstance(expr, dict) else None
        method = getattr(self, f"n_{kind}", None) if isinstance(kind, str) else None
        if method is None:
            return self.closure(expr, level)
        code: str = method(expr, level)
        return code

    def n_literal(self, expr: dict[str, Any], level: int) -> str:
        value = ir_value(expr.get("value"))
        if not isinstance(value, _PRIMITIVE):
            return self.closure(expr, level)  # a fresh array/object per evaluation
        return self.const(value)

    def n_identifier(self, expr: dict[str, Any], level: int) -> str:
        name = expr.get("name")
        if not isinstance(name, str):
            return self.closure(expr, level)
        fallback = _NAME_FALLBACK.get(name, UNDEFINED)
        return f"s.get({name!r}, {'_U' if fallback is UNDEFINED else repr(fallback)})"

    def n_member(self, expr: dict[str, Any], level: int) -> str:
        prop = expr.get("property")
        if not isinstance(prop, str) or prop in self.cc.relation_names:
            return self.closure(expr, level)
        obj = self.node(expr.get("object"), level + 1)
        t = self.temp()
        return f"({t}.get({prop!r}, _U) if type({t} := {obj}) is dict else _get_member({t}, {prop!r}))"

    def n_call(self, expr: dict[str, Any], level: int) -> str:
        # A builtin call inline (``compile._compile_call``'s call_builtin: the arguments left to
        # right into a fresh list); any other callee keeps its closure.
        callee = expr.get("callee") or {}
        args = expr.get("args", [])
        if not (
            isinstance(callee, dict)
            and callee.get("kind") == "identifier"
            and callee.get("name") in self.cc.builtins
            and isinstance(args, list)
        ):
            return self.closure(expr, level)
        builtin = self.bind(self.cc.builtins[callee["name"]])
        values = ", ".join(self.node(a, level + 1) for a in args)
        return f"{builtin}(rt.host, [{values}])"

    def n_unary(self, expr: dict[str, Any], level: int) -> str:
        operator = expr.get("operator")
        if operator not in ("!", "not"):
            return self.closure(expr, level)
        return f"(not {self.truthy(self.node(expr.get('operand'), level + 1))})"

    def n_conditional(self, expr: dict[str, Any], level: int) -> str:
        cond = self.node(expr.get("condition"), level + 1)
        # Branches stay lazy budget units, one level below this node (as in compile.py).
        yes = self.bind(_unit(_compile(expr.get("consequent"), self.cc, 1), level))
        no = self.bind(_unit(_compile(expr.get("alternate"), self.cc, 1), level))
        return f"({yes}(s, rt) if {self.truthy(cond)} else {no}(s, rt))"

    def n_binary(self, expr: dict[str, Any], level: int) -> str:
        operator = expr.get("operator")
        op = _BINARY.get(operator) if isinstance(operator, str) else None
        if op is None:
            return self.closure(expr, level)
        members = _constant_members(operator, expr)
        if members is not None:
            return self.membership(members, expr.get("left" if operator == "in" else "right"), level)
        left = self.node(expr.get("left"), level + 1)
        right_ir = expr.get("right")
        constant = _primitive_literal(right_ir)
        a, b = self.temp(), self.temp()
        if operator in _CMP:
            sym, slow = _CMP[operator]
            if constant is not _NOT_CONSTANT and type(constant) in (int, float):
                c = self.const(constant)
                return f"({a} {sym} {c} if type({a} := {left}) in _NUM else {slow}({a}, {c}))"
            right = self.node(right_ir, level + 1)
            return (
                f"({a} {sym} {b} if (({a} := {left}), ({b} := {right})) and type({a}) in _NUM "
                f"and type({b}) in _NUM else {slow}({a}, {b}))"
            )
        if operator in _EQ:
            return self.equality(left, right_ir, constant, _EQ[operator], level)
        if operator in _ARITH:
            right = self.node(right_ir, level + 1)
            return self.arithmetic(operator, left, right)
        right = self.node(right_ir, level + 1)
        if operator in ("and", "&&", "or", "||"):
            joiner = "and" if operator in ("and", "&&") else "or"
            return f"((({a} := {left}), ({b} := {right})) and ({self.truthy(a)} {joiner} {self.truthy(b)}))"
        return f"{self.bind(op)}({left}, {right})"

    def membership(self, members: ConstantSet, item_ir: Any, level: int) -> str:
        """``item in [constants]`` against the set built once (``folding.ConstantSet``); a list
        of strings, the usual role list, inline."""
        item = self.node(item_ir, level + 1)
        if members.only_strings:
            t = self.temp()
            return f"(type({t} := {item}) is str and {t} in {self.bind(members.strings)})"
        return f"{self.bind(members.contains)}({item})"

    def arithmetic(self, operator: str, left: str, right: str) -> str:
        """``+ - *`` on two numbers inline while the result stays a safe integer or a finite
        double; anything else (strings, -0 from an integer product, overflow, NaN) is the JS
        helper's, which computes it again from the same operands."""
        a, b, r = self.temp(), self.temp(), self.temp()
        sym, slow = _ARITH[operator]
        result = f"({r} := {a} {sym} {b})"
        nonzero = f"{result} and " if operator == "*" else f"({result} or True) and "
        return (
            f"({r} if (({a} := {left}), ({b} := {right})) and type({a}) in _NUM and type({b}) in _NUM "
            f"and {nonzero}-_SAFE <= {r} <= _SAFE else {slow}({a}, {b}))"
        )

    def equality(self, left: str, right_ir: Any, constant: Any, negate: bool, level: int) -> str:
        a, b, ta = self.temp(), self.temp(), self.temp()
        eq, slow = ("!=", "not _loose") if negate else ("==", "_loose")
        if constant is None:
            # loose equality with null: only null and undefined
            test = f"(({a} := {left}) is None or {a} is _U)"
            return f"(not {test})" if negate else test
        flag = _boolean_literal(right_ir)
        if flag is not None:
            same = f"{a} is {flag!r}" if not negate else f"{a} is not {flag!r}"
            return f"({same} if type({a} := {left}) is bool else {slow}({a}, {flag!r}))"
        tc = type(constant)
        if constant is not _NOT_CONSTANT and tc in (str, int, float):
            c = self.const(constant)
            same = f"type({a} := {left}) is str" if tc is str else f"type({a} := {left}) in _NUM"
            return f"({a} {eq} {c} if {same} else {slow}({a}, {c}))"
        right = self.node(right_ir, level + 1)
        return (
            f"({a} {eq} {b} if (({a} := {left}), ({b} := {right})) and (({ta} := type({a})) is str "
            f"or {ta} is int or {ta} is float) and type({b}) is {ta} else {slow}({a}, {b}))"
        )


_NOT_CONSTANT: Any = object()

#: operators inlined on numbers: (Python operator, the JS helper of every other case)
_ARITH = {"+": ("+", "_js_add"), "-": ("-", "_js_sub"), "*": ("*", "_js_mul")}


def _boolean_literal(expr: Any) -> bool | None:
    if isinstance(expr, dict) and expr.get("kind") == "literal":
        value = expr.get("value")
        if isinstance(value, dict) and value.get("kind") == "boolean" and type(value.get("value")) is bool:
            return bool(value["value"])
    return None


def _primitive_literal(expr: Any) -> Any:
    if not isinstance(expr, dict) or expr.get("kind") != "literal":
        return _NOT_CONSTANT
    value = ir_value(expr.get("value"))
    return value if isinstance(value, _PRIMITIVE) and type(value) is not bool else _NOT_CONSTANT


def _ir_depth(expr: Any, limit: int) -> int:
    """Nesting depth of an IR tree, counting stops once ``limit`` is passed."""
    stack = [(expr, 1)]
    deepest = 0
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth) for v in node if isinstance(v, (dict, list)))
    return deepest


def generate_expression(expr: Any, cc: CompileContext | None = None) -> Evaluator:
    """Like ``compile.compile_expression``, as one generated function where the tree allows."""
    cc = cc or CompileContext()
    node = _compile(expr, cc, 1)  # validates the IR and gives the static budget figures
    charge = (
        "    b = rt.budget\n"
        "    if b is not None:\n"
        f"        t = b.steps + {node.steps}\n"
        f"        if t > b.max_steps or b.depth + {node.depth} > b.max_depth:\n"
        f"            b.charge({node.steps}, {node.depth})\n"
        "        b.steps = t\n"
    )
    return _generated(expr, cc, charge) or _unit(node)


def generate_raw(expr: Any, cc: CompileContext | None = None) -> tuple[Evaluator, int, int]:
    """Like ``compile.compile_raw``: the uncharged function and its static ``(steps, depth)``."""
    cc = cc or CompileContext()
    node = _compile(expr, cc, 1)
    return _generated(expr, cc, "") or node.fn, node.steps, node.depth


def _leaf_failed(exc: Exception) -> Any:
    """A report leaf whose evaluation raised: undefined, except that a budget overrun propagates."""
    if getattr(exc, "code", None) == "EVALUATION_BUDGET_EXCEEDED":
        raise exc
    return UNDEFINED


def generate_report(leaves: list[tuple[str, Any]], cc: CompileContext) -> Evaluator | None:
    """The ``resolved`` report of a check as one generated function: ``[{expression, value}]``
    of every leaf in order, each evaluated as ``generate_raw`` would (uncharged: the caller
    charges the leaves together), a leaf that raises reported as undefined (a budget overrun
    propagates), and a list or object value snapshotted with ``to_json_value``. One call per
    report instead of one per leaf; None when a leaf is too big to inline (the caller then
    evaluates the leaves one by one)."""
    gen = _Gen(cc)
    lines = ["def run(s, rt):"]
    items = []
    for i, (text, node) in enumerate(leaves):
        if _ir_depth(node, MAX_DEPTH) > MAX_DEPTH:
            return None
        _compile(node, cc, 1)  # validates the IR as generate_raw does
        constant = ir_value(node["value"]) if node.get("kind") == "literal" else _NOT_CONSTANT
        if isinstance(constant, _PRIMITIVE):  # an atomic literal: its value, nothing to evaluate
            items.append(f'{{"expression": {gen.const(text)}, "value": {gen.const(constant)}}}')
            continue
        code = gen.node(node, 1)
        if len(code) > MAX_SOURCE:
            return None
        v = f"_v{i}"
        lines += ["    try:", f"        {v} = {code}", "    except _Exception as _e:"]
        lines.append(f"        {v} = _leaf_failed(_e)")
        snap = f"({v} if (({v}t := type({v})) is not dict and {v}t is not list) else _snap({v}))"
        items.append(f'{{"expression": {gen.const(text)}, "value": {snap}}}')
    lines.append(f"    return [{', '.join(items)}]")
    source = "\n".join(lines) + "\n"
    namespace = dict(_BASE_GLOBALS)
    namespace.update(gen.names)
    namespace.update(_Exception=Exception, _leaf_failed=_leaf_failed, _snap=to_json_value)
    exec(_cached_code(source), namespace)
    fn: Evaluator = namespace["run"]
    return fn


def _cached_code(source: str) -> Any:
    code = _code_cache.get(source)
    if code is None:
        if len(_code_cache) >= MAX_CACHED:
            _code_cache.clear()
        code = compile(source, "<manifest expression>", "exec")
        _code_cache[source] = code
    return code


def _generated(expr: Any, cc: CompileContext, prologue: str) -> Evaluator | None:
    """``run(s, rt)``: ``prologue`` then the inlined expression; None if the tree is too big."""
    if _ir_depth(expr, MAX_DEPTH) > MAX_DEPTH:
        return None
    gen = _Gen(cc)
    body = gen.node(expr, 1)
    if len(body) > MAX_SOURCE:
        return None
    source = f"def run(s, rt):\n{prologue}    return {body}\n"
    namespace = dict(_BASE_GLOBALS)
    namespace.update(gen.names)
    exec(_cached_code(source), namespace)
    fn: Evaluator = namespace["run"]
    return fn
