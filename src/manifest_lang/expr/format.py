"""Source-like text of IR expressions, and the sub-expressions a failure report shows.

``format_expression`` is what ``guardFailure.formatted`` / ``policyDenial.formatted`` and
constraint outcomes show (binary operators without parentheses, as the reference prints them).
``resolved_nodes`` lists the leaves (literals, identifiers, member paths) that a ``resolved``
report re-evaluates, depth-first and left to right, deduplicated by their text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .values import to_js_string

IRExpr = dict[str, Any]


def format_value(value: Any) -> str:
    """An IR literal value (``{"kind": "string", "value": ...}``) as source text."""
    if not isinstance(value, dict):
        return to_js_string(value)
    kind = value.get("kind")
    if kind == "string":
        return json.dumps(value.get("value", ""), ensure_ascii=False)
    if kind == "number":
        return to_js_string(value.get("value"))
    if kind == "boolean":
        return "true" if value.get("value") else "false"
    if kind == "null":
        return "null"
    if kind == "array":
        return "[" + ", ".join(format_value(v) for v in value.get("elements", [])) + "]"
    if kind == "object":
        props = value.get("properties", {})
        return "{ " + ", ".join(f"{k}: {format_value(v)}" for k, v in props.items()) + " }"
    return "<value>"


def format_expression(expr: Any) -> str:
    """Source-like text of an IR expression (never raises on malformed input)."""
    if not isinstance(expr, dict):
        return "<expr>"
    kind = expr.get("kind")
    fmt = _FORMATTERS.get(kind)  # type: ignore[arg-type]
    return fmt(expr) if fmt is not None else "<expr>"


def _fmt_unary(e: IRExpr) -> str:
    op = e.get("operator", "")
    operand = format_expression(e.get("operand"))
    return f"not {operand}" if op == "not" else f"{op}{operand}"


def _fmt_object(e: IRExpr) -> str:
    props = e.get("properties", [])
    return "{ " + ", ".join(f"{p.get('key')}: {format_expression(p.get('value'))}" for p in props) + " }"


_FORMATTERS: dict[str, Any] = {
    "literal": lambda e: format_value(e.get("value")),
    "identifier": lambda e: str(e.get("name", "")),
    "member": lambda e: f"{format_expression(e.get('object'))}.{e.get('property', '')}",
    "binary": lambda e: (
        f"{format_expression(e.get('left'))} {e.get('operator', '')} {format_expression(e.get('right'))}"
    ),
    "unary": _fmt_unary,
    "call": lambda e: (
        f"{format_expression(e.get('callee'))}({', '.join(format_expression(a) for a in e.get('args', []))})"
    ),
    "conditional": lambda e: (
        f"{format_expression(e.get('condition'))} ? {format_expression(e.get('consequent'))} : "
        f"{format_expression(e.get('alternate'))}"
    ),
    "array": lambda e: "[" + ", ".join(format_expression(x) for x in e.get("elements", [])) + "]",
    "object": _fmt_object,
    "lambda": lambda e: f"({', '.join(e.get('params', []))}) => {format_expression(e.get('body'))}",
    "aggregate": lambda e: "<expr>",
}


def _children(e: IRExpr) -> Iterator[Any]:
    kind = e.get("kind")
    if kind == "binary":
        yield e.get("left")
        yield e.get("right")
    elif kind == "unary":
        yield e.get("operand")
    elif kind == "call":
        yield from e.get("args", [])
    elif kind == "conditional":
        yield e.get("condition")
        yield e.get("consequent")
        yield e.get("alternate")
    elif kind == "array":
        yield from e.get("elements", [])
    elif kind == "object":
        for p in e.get("properties", []):
            yield p.get("value")
    elif kind == "lambda":
        yield e.get("body")


_LEAVES = frozenset({"literal", "identifier", "member"})


def resolved_nodes(expr: Any) -> list[tuple[str, IRExpr]]:
    """``(formatted text, node)`` of every leaf a ``resolved`` report shows, first occurrence wins."""
    out: list[tuple[str, IRExpr]] = []
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        if node.get("kind") in _LEAVES:
            text = format_expression(node)
            if text not in seen:
                seen.add(text)
                out.append((text, node))
            return
        for child in _children(node):
            walk(child)

    walk(expr)
    return out


def context_keys(expr: Any) -> list[str]:
    """The context paths a policy expression reads (``user``, ``user.role``...), sorted like the reference."""
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        kind = node.get("kind")
        if kind == "identifier" and node.get("name") in ("self", "this", "user", "context"):
            keys.add(str(node["name"]))
        elif kind == "member":
            path = _member_path(node)
            if path is not None:
                parts = path.split(".")
                for i in range(1, len(parts) + 1):
                    keys.add(".".join(parts[:i]))
            walk(node.get("object"))
            return
        for child in _children(node):
            walk(child)

    walk(expr)
    return sorted(keys, key=locale_sort_key)


def _member_path(node: IRExpr) -> str | None:
    kind = node.get("kind")
    if kind == "identifier":
        return str(node.get("name", ""))
    if kind == "member":
        base = _member_path(node.get("object") or {})
        return None if base is None else f"{base}.{node.get('property', '')}"
    return None


def locale_sort_key(s: str) -> tuple[str, str]:
    """Approximates ``localeCompare`` order for identifiers: case-insensitive first, then case."""
    return (s.casefold(), s.swapcase())
