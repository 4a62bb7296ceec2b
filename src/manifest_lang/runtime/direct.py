"""Direct instance writes (``create_instance`` / ``update_instance`` / ``delete_instance``).

They apply the same instance rules as commands (defaults, required, readonly, unique, version,
transitions, entity constraints) but no policies and no events. A rule that blocks the write
makes it return None, as the reference does, with a log line naming the rule.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import (
    InvalidInputError,
    LimitExceededError,
    ManifestReferentialRestrictError,
    ManifestReferentialSetNullError,
)
from ..expr.values import UNDEFINED, strict_equals, to_js_string, truthy
from ..stores.base import NEW_ROW, already_exists
from .checks import is_blocking
from .instances import check_entity_constraints, check_unique, prepare_create
from .records import EntityModel
from .refusal import WriteRejected
from .results import ConcurrencyConflict, EmittedEvent
from .temporal import check_temporal

if TYPE_CHECKING:
    from .execution import Execution

log = logging.getLogger("manifest_lang.runtime")

#: an unusable id is a wrong argument, not a rule of the model: raised, not answered with None
_ID_CODES: dict[str, type[InvalidInputError]] = {
    "INVALID_INPUT": InvalidInputError,
    "LIMIT_EXCEEDED": LimitExceededError,
}


def create_row(
    ex: Execution, em: EntityModel, data: dict[str, Any], *, replace: bool = False
) -> dict[str, Any] | WriteRejected:
    """The created row, or the instance rule that refused it. An id that is taken (by any
    tenant) raises ``InstanceExistsError`` unless ``replace``: a create never overwrites."""
    try:
        doc, _ = prepare_create(ex, em, data)
    except WriteRejected as rejected:
        if rejected.prop == "id" and rejected.code in _ID_CODES:
            raise _ID_CODES[rejected.code](f"{em.name}: {rejected.message}") from None
        log.warning("create of %s blocked: %s", em.name, rejected)
        return rejected
    existing, revision = ex.load(em.name, doc["id"])
    if existing is not None and not replace:
        raise already_exists(em.name, doc["id"])
    # Without ``replace`` the write is based on NEW_ROW, so a row committed meanwhile by a
    # concurrent create makes the store refuse this one (it never takes the row over).
    ex.write(em.name, doc["id"], doc, revision if replace else NEW_ROW)
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
    if em.temporal:
        check_temporal(em.temporal, data)
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
    """Delete a row, applying the ``onDelete`` action of every relation that points at it first."""
    existing, revision = ex.load_visible(em.name, id)
    if existing is None:
        return False
    ex.write(em.name, id, None, revision)
    for child_name, rel in ex.model.referencing.get(em.name, ()):
        child = ex.model.entities[child_name]
        for dependent in _dependents(ex, child, rel, existing):
            _on_delete(ex, em, id, child, rel, dependent)
    return True


def _dependents(ex: Execution, child: EntityModel, rel: Any, parent: dict[str, Any]) -> list[dict[str, Any]]:
    fields = rel.fk_fields or [f"{rel.name}Id"]
    refs = rel.fk_refs or ["id"] * len(fields)
    wanted = [(f, parent.get(r)) for f, r in zip(fields, refs, strict=False)]
    return [
        row for row in ex.scan(child.name) if all(strict_equals(row.get(f, UNDEFINED), v) for f, v in wanted)
    ]


def _on_delete(
    ex: Execution, parent: EntityModel, parent_id: str, child: EntityModel, rel: Any, row: dict[str, Any]
) -> None:
    action = rel.on_delete
    if action == "cascade":
        delete_row(ex, child, str(row["id"]))
        return
    if action == "restrict":
        raise ManifestReferentialRestrictError(
            f"REFERENTIAL_RESTRICT: cannot delete {parent.name}('{parent_id}') — {child.name}.{rel.name} "
            "declares onDelete: restrict and dependent rows exist"
        )
    fields = rel.fk_fields or [f"{rel.name}Id"]
    updated = dict(row)
    for prop in fields:
        p = child.properties.get(prop)
        if action == "setNull":
            if p is not None and ("required" in p.modifiers or not p.nullable):
                raise ManifestReferentialSetNullError(
                    f"REFERENTIAL_SET_NULL: cannot null {child.name}.{prop} — "
                    "property is required/non-nullable"
                )
            updated[prop] = None
        elif action == "setDefault":
            updated[prop] = p.default if p is not None and p.has_default else None
    _, revision = ex.load(child.name, str(row["id"]))
    ex.write(child.name, str(row["id"]), updated, revision)
