"""Expressions: AST → IR expression, AST → IR value, and computed-property dependencies."""

from __future__ import annotations

import math
from typing import Any

from ..syntax import ast

_SKIP_DEPENDENCY = frozenset(["self", "this", "user", "context"])


def number(value: float | int) -> float | int:
    """JS number for JSON: integral values without ``.0`` and ``-0`` as 0; beyond 2**53 the
    double itself (never a Python big int: JSON writers and the IR hash handle it as JS does)."""
    if isinstance(value, float) and value.is_integer() and math.isfinite(value) and abs(value) < 2**53:
        return int(value)
    if isinstance(value, int) and not -(2**53) < value < 2**53:
        return float(value)
    return value


def literal_value(value: Any) -> dict[str, Any]:
    if value is None:
        return {"kind": "null"}
    if isinstance(value, bool):
        return {"kind": "boolean", "value": value}
    if isinstance(value, (int, float)):
        return {"kind": "number", "value": number(value)}
    return {"kind": "string", "value": value}


def lower_expr(node: ast.Expr) -> dict[str, Any]:
    """The IR expression for ``node`` (key order as the reference emits it)."""
    kind = type(node)
    if kind is ast.Identifier:
        return {"kind": "identifier", "name": node.name}  # type: ignore[union-attr]
    if kind is ast.Binary:
        # operands that are names (the most common) are built here, without a call each
        left, right = node.left, node.right  # type: ignore[union-attr]
        return {
            "kind": "binary",
            "operator": node.operator,  # type: ignore[union-attr]
            "left": {"kind": "identifier", "name": left.name}  # type: ignore[union-attr]
            if type(left) is ast.Identifier
            else lower_expr(left),
            "right": {"kind": "identifier", "name": right.name}  # type: ignore[union-attr]
            if type(right) is ast.Identifier
            else lower_expr(right),
        }
    if kind is ast.Literal:
        value = node.value  # type: ignore[union-attr]
        if type(value) is str:
            return {"kind": "literal", "value": {"kind": "string", "value": value}}
        if type(value) is int and -_SAFE < value < _SAFE:
            return {"kind": "literal", "value": {"kind": "number", "value": value}}
        return {"kind": "literal", "value": literal_value(value)}
    if kind is ast.Member:
        target = node.object  # type: ignore[union-attr]
        return {
            "kind": "member",
            "object": {"kind": "identifier", "name": target.name}  # type: ignore[union-attr]
            if type(target) is ast.Identifier
            else lower_expr(target),
            "property": node.property,  # type: ignore[union-attr]
        }
    return _lower_other(node)


#: integers JavaScript holds exactly (``number`` leaves them as they are)
_SAFE = 2**53


def _lower_other(node: ast.Expr) -> dict[str, Any]:
    if isinstance(node, ast.Unary):
        return {"kind": "unary", "operator": node.operator, "operand": lower_expr(node.operand)}
    if isinstance(node, ast.Call):
        return {"kind": "call", "callee": lower_expr(node.callee), "args": [lower_expr(a) for a in node.args]}
    if isinstance(node, ast.Conditional):
        return {
            "kind": "conditional",
            "condition": lower_expr(node.condition),
            "consequent": lower_expr(node.consequent),
            "alternate": lower_expr(node.alternate),
        }
    if isinstance(node, ast.ArrayLit):
        return {"kind": "array", "elements": [lower_expr(e) for e in node.elements]}
    if isinstance(node, ast.ObjectLit):
        return {
            "kind": "object",
            "properties": [{"key": k, "value": lower_expr(v)} for k, v in node.properties],
        }
    if isinstance(node, ast.Lambda):
        return {"kind": "lambda", "params": list(node.params), "body": lower_expr(node.body)}
    if isinstance(node, ast.Aggregate):
        result: dict[str, Any] = {"kind": "aggregate", "op": node.op, "entity": node.entity}
        if node.field is not None:
            result["field"] = node.field
        result["predicates"] = [{"field": f, "value": lower_expr(v)} for f, v in node.predicates]
        return result
    raise TypeError(f"not an expression node: {node!r}")


_UNDEFINED = object()


def expr_to_value(node: ast.Expr | None) -> Any:
    """IRValue for defaults and store config, or None when the expression is not static."""
    value = _to_value(node)
    return None if value is _UNDEFINED else value


def _to_value(node: ast.Expr | None) -> Any:
    if isinstance(node, ast.Literal):
        return literal_value(node.value)
    if isinstance(node, ast.Identifier):
        return {"kind": "string", "value": node.name}
    if isinstance(node, ast.Unary) and node.operator in ("-", "+") and isinstance(node.operand, ast.Literal):
        operand = node.operand.value
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return {"kind": "number", "value": number(-operand if node.operator == "-" else operand) or 0}
        return _UNDEFINED
    if isinstance(node, ast.ArrayLit):
        elements = [_to_value(e) for e in node.elements]
        return {"kind": "array", "elements": [e for e in elements if e is not _UNDEFINED]}
    if isinstance(node, ast.ObjectLit):
        props = {k: _to_value(v) for k, v in node.properties}
        return {"kind": "object", "properties": {k: v for k, v in props.items() if v is not _UNDEFINED}}
    return _UNDEFINED


def dependencies(node: ast.Expr) -> list[str]:
    """Names a computed property depends on, unique, in first-seen order (reference rule)."""
    seen: dict[str, None] = {}
    _collect(node, seen)
    return list(seen)


def _collect(node: ast.Expr, seen: dict[str, None]) -> None:
    if isinstance(node, ast.Identifier):
        if node.name not in _SKIP_DEPENDENCY:
            seen.setdefault(node.name)
    elif isinstance(node, ast.Member):
        if isinstance(node.object, ast.Identifier) and node.object.name in ("self", "this"):
            seen.setdefault(node.property)
        else:
            _collect(node.object, seen)
    elif isinstance(node, ast.Binary):
        _collect(node.left, seen)
        _collect(node.right, seen)
    elif isinstance(node, ast.Unary):
        _collect(node.operand, seen)
    elif isinstance(node, ast.Call):
        _collect(node.callee, seen)
        for arg in node.args:
            _collect(arg, seen)
    elif isinstance(node, ast.Conditional):
        _collect(node.condition, seen)
        _collect(node.consequent, seen)
        _collect(node.alternate, seen)
    elif isinstance(node, ast.ArrayLit):
        for element in node.elements:
            _collect(element, seen)
    elif isinstance(node, ast.ObjectLit):
        for _key, value in node.properties:
            _collect(value, seen)
    elif isinstance(node, ast.Lambda):
        _collect(node.body, seen)


def walk(node: ast.Expr) -> list[ast.Expr]:
    """Every sub-expression of ``node`` (pre-order), lambda bodies and aggregates included."""
    found: list[ast.Expr] = []
    stack: list[ast.Expr] = [node]
    pop, push, append = stack.pop, stack.append, found.append
    children = _CHILDREN
    # The three most common node kinds are dispatched inline: this runs over every guard and
    # constraint several times per compile, and a getter call per node doubles its cost.
    leaf = _LEAVES
    while stack:
        current = pop()
        append(current)
        kind = type(current)
        if kind in leaf:
            continue
        if type(current) is ast.Binary:
            push(current.right)
            push(current.left)
        elif type(current) is ast.Member:
            push(current.object)
        else:
            getter = children.get(kind)
            if getter is not None:
                stack.extend(reversed(getter(current)))
    return found


_LEAVES: frozenset[type[ast.Node]] = frozenset((ast.Identifier, ast.Literal))
_CHILDREN: dict[type, Any] = {
    ast.Member: lambda n: (n.object,),
    ast.Binary: lambda n: (n.left, n.right),
    ast.Unary: lambda n: (n.operand,),
    ast.Call: lambda n: (n.callee, *n.args),
    ast.Conditional: lambda n: (n.condition, n.consequent, n.alternate),
    ast.ArrayLit: lambda n: n.elements,
    ast.ObjectLit: lambda n: tuple(v for _k, v in n.properties),
    ast.Lambda: lambda n: (n.body,),
    ast.Aggregate: lambda n: tuple(v for _k, v in n.predicates),
}
