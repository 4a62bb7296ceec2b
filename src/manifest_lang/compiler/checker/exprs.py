"""Expression helpers of the checker: walking, the few types that can be inferred, constants."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from ...syntax import ast

NUMBER, STRING, BOOLEAN = "number", "string", "boolean"
_NUMERIC = frozenset("number int integer float bigint decimal money".split())
_COMPARISONS = frozenset(["==", "!=", "<", ">", "<=", ">=", "is"])
_LOGIC = frozenset(["&&", "||", "and", "or"])
_ARITHMETIC = frozenset(["-", "*", "/", "%"])
#: built-ins whose result type is fixed
_RETURNS = {
    **dict.fromkeys(
        "length indexOf abs round floor ceil min max sum avg count count_of min_of max_of year month day "
        "hours minutes seconds durationBetween durationDays durationHours durationMinutes durationSeconds "
        "addDuration".split(),
        NUMBER,
    ),
    **dict.fromkeys("trim toUpperCase toLowerCase substring replace uuid".split(), STRING),
    **dict.fromkeys("startsWith endsWith matches between flag hasPermission roleAllows".split(), BOOLEAN),
}


def children(expr: ast.Expr) -> Iterator[ast.Expr]:
    if isinstance(expr, ast.Member):
        yield expr.object
    elif isinstance(expr, ast.Binary):
        yield expr.left
        yield expr.right
    elif isinstance(expr, ast.Unary):
        yield expr.operand
    elif isinstance(expr, ast.Call):
        yield expr.callee
        yield from expr.args
    elif isinstance(expr, ast.Conditional):
        yield expr.condition
        yield expr.consequent
        yield expr.alternate
    elif isinstance(expr, ast.ArrayLit):
        yield from expr.elements
    elif isinstance(expr, ast.ObjectLit):
        yield from (value for _, value in expr.properties)
    elif isinstance(expr, ast.Lambda):
        yield expr.body
    elif isinstance(expr, ast.Aggregate):
        yield from (value for _, value in expr.predicates)


def walk(expr: ast.Expr, visit: Callable[[ast.Expr, frozenset[str]], None], bound: frozenset[str]) -> None:
    """Call ``visit(node, names bound by enclosing lambdas)`` on every node, outermost first."""
    stack: list[tuple[ast.Expr, frozenset[str]]] = [(expr, bound)]
    while stack:
        node, names = stack.pop()
        visit(node, names)
        inner = names | frozenset(node.params) if isinstance(node, ast.Lambda) else names
        stack.extend((child, inner) for child in reversed(list(children(node))))


def names_read(expr: ast.Expr) -> set[str]:
    """Bare identifiers and ``self.x`` / ``this.x`` members the expression reads."""
    found: set[str] = set()

    def visit(node: ast.Expr, bound: frozenset[str]) -> None:
        if isinstance(node, ast.Identifier) and node.name not in bound:
            found.add(node.name)
        elif isinstance(node, ast.Member) and _is_self(node.object):
            found.add(node.property)

    walk(expr, visit, frozenset())
    return found


def _is_self(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Identifier) and expr.name in ("self", "this")


def self_member(expr: ast.Expr) -> str | None:
    return expr.property if isinstance(expr, ast.Member) and _is_self(expr.object) else None


def simple_type(name: str | None) -> str | None:
    if name is None:
        return None
    if name in _NUMERIC:
        return NUMBER
    if name in (STRING, BOOLEAN):
        return name
    return None


def type_of(expr: ast.Expr, env: Mapping[str, str | None]) -> str | None:
    """The type of ``expr`` when it is certain (number, string, boolean), else None."""
    if isinstance(expr, ast.Literal):
        value = expr.value
        if isinstance(value, bool):
            return BOOLEAN
        if isinstance(value, int | float):
            return NUMBER
        return STRING if isinstance(value, str) else None
    if isinstance(expr, ast.Identifier):
        return env.get(expr.name)
    member = self_member(expr)
    if member is not None:
        return env.get(member)
    if isinstance(expr, ast.Binary):
        op = expr.operator
        if op in _COMPARISONS or op in _LOGIC:
            return BOOLEAN
        if op in _ARITHMETIC:
            return NUMBER
        if op == "+":
            left, right = type_of(expr.left, env), type_of(expr.right, env)
            if STRING in (left, right):
                return STRING
            return NUMBER if left == right == NUMBER else None
        return None
    if isinstance(expr, ast.Unary):
        return BOOLEAN if expr.operator in ("!", "not") else NUMBER if expr.operator == "-" else None
    if isinstance(expr, ast.Call) and isinstance(expr.callee, ast.Identifier):
        return _RETURNS.get(expr.callee.name)
    if isinstance(expr, ast.Conditional):
        a, b = type_of(expr.consequent, env), type_of(expr.alternate, env)
        return a if a == b else None
    return None


def is_constant(expr: ast.Expr) -> bool:
    """Reads nothing: no name, member, call or aggregate anywhere in it."""
    if isinstance(expr, ast.Identifier | ast.Member | ast.Call | ast.Aggregate | ast.Lambda):
        return False
    return all(is_constant(child) for child in children(expr))


def same_operands(expr: ast.Expr) -> bool:
    """``x == x``, ``self.a != self.a``: a comparison of a name with itself."""
    if not isinstance(expr, ast.Binary) or expr.operator not in _COMPARISONS:
        return False
    left, right = expr.left, expr.right
    if isinstance(left, ast.Identifier) and isinstance(right, ast.Identifier):
        return left.name == right.name
    a, b = self_member(left), self_member(right)
    return a is not None and a == b
