"""Direct instance writes (``create_instance`` / ``update_instance`` / ``delete_instance``).

They apply the same instance rules as commands (defaults, required, readonly, unique, version,
transitions, entity constraints) but no policies and no events. A rule that blocks the write
makes it return None, as the reference does, with a log line naming the rule.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..expr.values import UNDEFINED, strict_equals, to_js_string, truthy
from .checks import is_blocking
from .instances import WriteRejected, check_entity_constraints, check_unique, prepare_create
from .model import EntityModel
from .results import ConcurrencyConflict, EmittedEvent

if TYPE_CHECKING:
    from .execution import Execution

log = logging.getLogger("manifest_lang.runtime")


def create_row(ex: Execution, em: EntityModel, data: dict[str, Any]) -> dict[str, Any] | None:
    try:
        doc, _ = prepare_create(ex, em, data)
    except WriteRejected as rejected:
        log.warning("create of %s blocked: %s", em.name, rejected)
        return None
    _, revision = ex.load(em.name, doc["id"])
    ex.write(em.name, doc["id"], doc, revision)
    return doc


def update_row(ex: Execution, em: EntityModel, id: str, data: dict[str, Any]) -> dict[str, Any] | None:
    existing, revision = ex.load_visible(em.name, id)
    if existing is None:
        return None
    try:
        merged = _apply_update(ex, em, id, existing, dict(data))
    except WriteRejected as rejected:
        log.warning("update of %s#%s blocked: %s", em.name, id, rejected)
        return None
    if merged is None:
        return None
    ex.write(em.name, id, merged, revision)
    return merged


def _apply_update(
    ex: Execution, em: EntityModel, id: str, existing: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any] | None:
    for prop in em.readonly:
        if prop in data and not strict_equals(existing.get(prop, UNDEFINED), data[prop]):
            raise WriteRejected(
                "E_READONLY", f"Property '{prop}' is readonly and cannot be modified after creation", prop
            )
    merged = dict(existing)
    merged.update(data)
    merged["id"] = id
    check_unique(ex, em, merged, data)
    vp = em.version_property
    if vp is not None:
        actual = existing.get(vp, UNDEFINED)
        provided = data.get(vp, UNDEFINED)
        if actual is not UNDEFINED and provided is not UNDEFINED and not strict_equals(actual, provided):
            _log_conflict(ex, em, id, provided, actual)
            return None
        if provided is UNDEFINED:
            merged[vp] = (actual if truthy(actual) else 0) + 1
    now = ex.engine.now
    if em.version_at_property:
        merged[em.version_at_property] = now()
    if em.timestamps:
        merged["updatedAt"] = now()
    for prop, rules in em.transitions.items():
        if prop in data and existing.get(prop, UNDEFINED) is not UNDEFINED:
            current = to_js_string(existing[prop])
            allowed = rules.get(current)
            if allowed is not None and to_js_string(data[prop]) not in allowed:
                raise WriteRejected("E_TRANSITION", f"Invalid state transition for '{prop}'", prop)
    outcomes = check_entity_constraints(ex, em, merged)
    blocking = next((o for o in outcomes if is_blocking(o)), None)
    if blocking is not None:
        raise WriteRejected(blocking.code, blocking.message or blocking.constraint_name)
    return merged


def _log_conflict(ex: Execution, em: EntityModel, id: str, expected: Any, actual: Any) -> None:
    conflict = ConcurrencyConflict(em.name, id, expected, actual)
    now = ex.engine.now()
    payload = conflict.to_dict()
    payload["timestamp"] = now
    ex.log_only.append(
        EmittedEvent("ConcurrencyConflict", "system", payload, now, provenance=ex.model.provenance)
    )


def delete_row(ex: Execution, em: EntityModel, id: str) -> bool:
    existing, revision = ex.load_visible(em.name, id)
    if existing is None:
        return False
    ex.write(em.name, id, None, revision)
    return True
