"""Type inference for computed properties written without a type (seed syntax extension)."""

from __future__ import annotations

from typing import Any

from ..syntax import ast

_BOOLEAN_OPS = frozenset(["==", "!=", "is", "in", "contains", "<", ">", "<=", ">=", "&&", "||", "and", "or"])
_NUMBER_OPS = frozenset(["-", "*", "/", "%"])
_CALL_TYPES = {
    "now": "number",
    "today": "number",
    "uuid": "string",
    "trim": "string",
    "toUpperCase": "string",
    "toLowerCase": "string",
    "substring": "string",
    "replace": "string",
    "length": "number",
    "count": "number",
    "sum": "number",
    "avg": "number",
    "min": "number",
    "max": "number",
    "abs": "number",
    "round": "number",
    "floor": "number",
    "ceil": "number",
    "indexOf": "number",
    "count_of": "number",
    "min_of": "number",
    "max_of": "number",
    "startsWith": "boolean",
    "endsWith": "boolean",
    "matches": "boolean",
    "search": "boolean",
    "between": "boolean",
    "flag": "boolean",
    "hasPermission": "boolean",
    "roleAllows": "boolean",
    "year": "number",
    "month": "number",
    "day": "number",
    "hours": "number",
    "minutes": "number",
    "seconds": "number",
}


def infer_type(expr: ast.Expr, properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """IR type of ``expr``; property types come from ``properties`` (name → IR type)."""
    name = _infer(expr, properties)
    if isinstance(name, dict):
        return {"name": name["name"], "nullable": False} if "generic" not in name else dict(name)
    return {"name": name, "nullable": False}


def _infer(expr: ast.Expr, properties: dict[str, dict[str, Any]]) -> Any:
    if isinstance(expr, ast.Literal):
        value = expr.value
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, (int, float)):
            return "number"
        return "string" if isinstance(value, str) else "any"
    if isinstance(expr, ast.Binary):
        if expr.operator in _BOOLEAN_OPS:
            return "boolean"
        if expr.operator in _NUMBER_OPS:
            return "number"
        left, right = _infer(expr.left, properties), _infer(expr.right, properties)
        return "string" if "string" in (left, right) else "number"
    if isinstance(expr, ast.Unary):
        return "number" if expr.operator == "-" else "boolean"
    if isinstance(expr, ast.Conditional):
        consequent = _infer(expr.consequent, properties)
        return consequent if consequent != "any" else _infer(expr.alternate, properties)
    if isinstance(expr, ast.Call) and isinstance(expr.callee, ast.Identifier):
        return _CALL_TYPES.get(expr.callee.name, "any")
    if isinstance(expr, ast.Aggregate):
        return "number"
    if isinstance(expr, ast.ArrayLit):
        return "array"
    prop = _property_name(expr)
    if prop is not None and prop in properties:
        return properties[prop]
    return "any"


def _property_name(expr: ast.Expr) -> str | None:
    if isinstance(expr, ast.Identifier):
        return expr.name
    if isinstance(expr, ast.Member) and isinstance(expr.object, ast.Identifier):
        if expr.object.name in ("self", "this"):
            return expr.property
    return None
