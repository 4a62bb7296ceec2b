"""The per-write rules of a ``mutate``: temporal ranges, readonly, unique, the version check,
transitions, and the fields a write manages (version, version timestamp, ``updatedAt``).

Each rule takes what it needs (the execution, the entity, the working copy) and returns a
``Refusal`` or None; the command run turns a refusal into its failed result.
"""

from __future__ import annotations

from typing import Any

from ..expr.values import UNDEFINED, strict_equals, to_js_string, truthy
from .codes import ResultCode
from .execution import Execution
from .instances import check_unique
from .records import EntityModel
from .refusal import Refusal, WriteRejected, rejection
from .results import ConcurrencyConflict, EmittedEvent
from .temporal import check_temporal


def transition_error(prop: str, rules: dict[str, list[str]], current: Any, new: Any) -> str | None:
    """The reference's error for a move of ``prop`` that ``rules`` do not allow, or None."""
    if current is UNDEFINED:
        return None
    cur = to_js_string(current)
    allowed = rules.get(cur)
    if allowed is None or to_js_string(new) in allowed:
        return None
    listed = ", ".join(f"'{a}'" for a in allowed)
    return (
        f"Invalid state transition for '{prop}': '{cur}' -> '{to_js_string(new)}' is not allowed. "
        f"Allowed from '{cur}': [{listed}]"
    )


def put_value(wc: dict[str, Any], target: str, value: Any) -> None:
    """Write a mutate's value into the working copy. Undefined means "the field is absent" (as
    ``JSON.stringify`` drops it), so no internal marker is ever stored or sent to a database;
    inside a list or object it is dropped from objects and becomes null in arrays."""
    if value is UNDEFINED:
        wc.pop(target, None)
        return
    t = type(value)
    wc[target] = without_undefined(value) if t is list or t is dict else value


def without_undefined(value: Any) -> Any:
    """``value`` unchanged unless a container in it holds undefined (then a cleaned copy)."""
    t = type(value)
    if t is dict:
        if not any(v is UNDEFINED or type(v) in _CONTAINERS for v in value.values()):
            return value
        return {k: without_undefined(v) for k, v in value.items() if v is not UNDEFINED}
    if t is list:
        if not any(v is UNDEFINED or type(v) in _CONTAINERS for v in value):
            return value
        return [None if v is UNDEFINED else without_undefined(v) for v in value]
    return value


_CONTAINERS = (list, dict)


def check_write_rules(
    ex: Execution,
    em: EntityModel,
    wc: dict[str, Any],
    target: str,
    value: Any,
    init_mode: bool,
    instance_id: str | None,
) -> Refusal | None:
    """The refusal of the first per-write rule that ``wc[target] = value`` breaks, or None."""
    if target in em.temporal:
        try:
            check_temporal(em.temporal, {target: value})
        except WriteRejected as rejected:
            return rejection(rejected)
    if target in em.readonly and not init_mode and not strict_equals(wc.get(target, UNDEFINED), value):
        message = f"Property '{target}' is readonly and cannot be modified after creation"
        return rejection(WriteRejected("E_READONLY", message, target))
    if target in em.unique:
        probe = dict(wc)
        probe[target] = value
        try:
            check_unique(ex, em, probe, (target,))
        except WriteRejected as rejected:
            return rejection(rejected)
    if target == em.version_property:
        existing = wc.get(target, UNDEFINED)
        if existing is not UNDEFINED and value is not UNDEFINED and not strict_equals(existing, value):
            return conflict(ex, em, instance_id, existing, value)
    if not init_mode:
        rules = em.transitions.get(target)
        if rules is not None:
            error = transition_error(target, rules, wc.get(target, UNDEFINED), value)
            if error is not None:
                return Refusal(ResultCode.INVALID_TRANSITION, error)
    return None


def managed_fields(
    ex: Execution, em: EntityModel, wc: dict[str, Any], target: str, instance_id: str | None, bump: bool
) -> list[str]:
    """Set the fields a write of an existing row manages: the version (when ``bump``: once per
    command) and the write timestamps. Returns the fields set."""
    changed = []
    vp = em.version_property
    if vp is not None and target != vp and bump and (em.name, instance_id) not in ex.just_created:
        current = wc.get(vp, UNDEFINED)
        wc[vp] = (current if truthy(current) else 0) + 1
        changed.append(vp)
    if em.version_at_property:
        wc[em.version_at_property] = ex.engine.now()
        changed.append(em.version_at_property)
    if em.timestamps:
        wc["updatedAt"] = ex.engine.now()
        changed.append("updatedAt")
    return changed


def conflict(ex: Execution, em: EntityModel, instance_id: str | None, actual: Any, expected: Any) -> Refusal:
    """A version mismatch: logged as a ``ConcurrencyConflict`` event even though the call fails."""
    entity_id = str(instance_id)
    found = ConcurrencyConflict(em.name, entity_id, expected, actual, "VERSION_MISMATCH")
    now = ex.engine.now()
    payload = dict(found.to_dict())
    payload["timestamp"] = now
    ex.log_only.append(
        EmittedEvent("ConcurrencyConflict", "system", payload, now, provenance=ex.model.provenance)
    )
    return Refusal(
        ResultCode.CONCURRENCY_CONFLICT,
        f"Concurrency conflict on {em.name}#{entity_id}: expected version "
        f"{to_js_string(expected)}, actual {to_js_string(actual)}",
        {"concurrency_conflict": found},
    )
