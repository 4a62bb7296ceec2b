"""Computed properties: evaluated on demand with their computed dependencies bound by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..expr.values import UNDEFINED
from .records import EntityModel

if TYPE_CHECKING:
    from .execution import Execution


def evaluate_computed(ex: Execution, em: EntityModel, id: str, prop: str) -> Any:
    """Value of ``prop`` on instance ``id``; undefined for a missing instance/property or a cycle."""
    if prop not in em.computed:
        return UNDEFINED
    row, _ = ex.load_visible(em.name, id)
    if row is None:
        return UNDEFINED
    instance = dict(row)
    instance["_entity"] = em.name
    return _compute(ex, em, instance, prop, set())


def _compute(ex: Execution, em: EntityModel, instance: dict[str, Any], prop: str, visiting: set[str]) -> Any:
    if prop in visiting:
        return UNDEFINED
    visiting.add(prop)
    try:
        computed = em.computed[prop]
        context = ex.engine.context
        scope: dict[str, Any] = {"self": instance, "this": instance}
        scope.update(instance)
        for dep in computed.dependencies:
            if dep in em.computed and dep != prop:
                scope[dep] = _compute(ex, em, instance, dep, visiting)
            elif dep == prop:
                return UNDEFINED
        scope["user"] = context.get("user", None)
        scope["context"] = context
        return computed.fn(scope, ex)
    finally:
        visiting.discard(prop)
