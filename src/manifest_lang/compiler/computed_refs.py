"""G8: guards and constraints may not read computed properties (they are not evaluated there).

Constraints written in the seed's multi-line form are the one exception: their computed
references are replaced by the computed formula (recursively), so the IR still runs on the
reference runtime. Everything else keeps the reference's error.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..syntax import ast
from .composition import EntityView
from .diagnostics import DiagnosticSink
from .exprs import walk

_TAIL = "Inline the formula or use a stored property."


def _referenced(expr: ast.Expr, computed: dict[str, ast.Computed]) -> list[str]:
    found: dict[str, None] = {}
    for node in walk(expr):
        # node classes are final, so ``type() is`` equals isinstance here, at half the cost
        if type(node) is ast.Identifier:
            name = node.name
        elif (
            type(node) is ast.Member
            and type(node.object) is ast.Identifier
            and node.object.name in ("self", "this")
        ):
            name = node.property
        else:
            continue
        if name in computed:
            found.setdefault(name)
    return list(found)


def check_computed_references(views: list[EntityView], sink: DiagnosticSink) -> dict[int, ast.Expr]:
    """Report G8 errors; return inlined expressions of seed constraints keyed by ``id(constraint)``."""
    inlined: dict[int, ast.Expr] = {}
    for view in views:
        computed = {c.name: c for c in view.computed}
        if not computed:
            continue
        qualified = f"{view.module}.{view.name}" if view.module else view.name
        for command in view.commands:
            for guard in command.guards:
                for name in _referenced(guard, computed):
                    sink.error(
                        f"Guard on command '{qualified}.{command.name}' references computed property "
                        f"'{name}', which is not available during guard evaluation. {_TAIL}"
                    )
            for constraint in command.constraints:
                _constraint(constraint, computed, f"on command '{qualified}.{command.name}'", sink, inlined)
        for constraint in view.constraints:
            _constraint(constraint, computed, f"on entity '{qualified}'", sink, inlined)
    return inlined


def _constraint(
    c: ast.Constraint,
    computed: dict[str, ast.Computed],
    where: str,
    sink: DiagnosticSink,
    inlined: dict[int, ast.Expr],
) -> None:
    names = _referenced(c.expression, computed)
    if not names:
        return
    if c.seed:
        inlined[id(c)] = inline_computed(c.expression, computed)
        return
    for name in names:
        sink.error(
            f"Constraint '{c.code or c.name}' {where} references computed property '{name}', which is not "
            f"available during constraint evaluation. {_TAIL}"
        )


def inline_computed(
    expr: ast.Expr, computed: dict[str, ast.Computed], active: frozenset[str] = frozenset()
) -> Any:
    """``expr`` with every reference to a computed property replaced by its formula."""
    name = None
    if isinstance(expr, ast.Identifier):
        name = expr.name
    elif (
        isinstance(expr, ast.Member)
        and isinstance(expr.object, ast.Identifier)
        and expr.object.name in ("self", "this")
    ):
        name = expr.property
    if name is not None and name in computed and name not in active:
        return inline_computed(computed[name].expression, computed, active | {name})
    return _map_children(expr, lambda child: inline_computed(child, computed, active))


def _map_children(expr: ast.Expr, fn: Any) -> ast.Expr:
    if isinstance(expr, ast.Member):
        return replace(expr, object=fn(expr.object))
    if isinstance(expr, ast.Binary):
        return replace(expr, left=fn(expr.left), right=fn(expr.right))
    if isinstance(expr, ast.Unary):
        return replace(expr, operand=fn(expr.operand))
    if isinstance(expr, ast.Call):
        return replace(expr, callee=fn(expr.callee), args=tuple(fn(a) for a in expr.args))
    if isinstance(expr, ast.Conditional):
        return replace(
            expr, condition=fn(expr.condition), consequent=fn(expr.consequent), alternate=fn(expr.alternate)
        )
    if isinstance(expr, ast.ArrayLit):
        return replace(expr, elements=tuple(fn(e) for e in expr.elements))
    if isinstance(expr, ast.ObjectLit):
        return replace(expr, properties=tuple((k, fn(v)) for k, v in expr.properties))
    if isinstance(expr, ast.Lambda):
        return replace(expr, body=fn(expr.body))
    if isinstance(expr, ast.Aggregate):
        return replace(expr, predicates=tuple((k, fn(v)) for k, v in expr.predicates))
    return expr
