"""The per-write rules of a ``mutate``: temporal ranges, readonly, unique, the version check,
transitions, and the fields a write manages (version, version timestamp, ``updatedAt``).

Split out of ``commands.py``; each function takes the ``CommandRun`` it works for. A refusal here
is raised (``run.fail``): these writes are the rare path, the common refusals are returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..expr.values import UNDEFINED, strict_equals, to_js_string, truthy
from .instances import WriteRejected, check_unique
from .model import EntityModel
from .results import ConcurrencyConflict, EmittedEvent
from .temporal import check_temporal

if TYPE_CHECKING:
    from .commands import CommandRun


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


def check_write_rules(run: CommandRun, em: EntityModel, wc: dict[str, Any], target: str, value: Any) -> None:
    if target in em.temporal:
        try:
            check_temporal(em.temporal, {target: value})
        except WriteRejected as rejected:
            reject(run, rejected)
    if target in em.readonly and not run.init_mode and not strict_equals(wc.get(target, UNDEFINED), value):
        message = f"Property '{target}' is readonly and cannot be modified after creation"
        reject(run, WriteRejected("E_READONLY", message, target))
    if target in em.unique:
        probe = dict(wc)
        probe[target] = value
        try:
            check_unique(run.ex, em, probe, (target,))
        except WriteRejected as rejected:
            reject(run, rejected)
    if target == em.version_property:
        existing = wc.get(target, UNDEFINED)
        if existing is not UNDEFINED and value is not UNDEFINED and not strict_equals(existing, value):
            conflict(run, existing, value)
    if not run.init_mode:
        rules = em.transitions.get(target)
        if rules is not None:
            refusal = transition_error(target, rules, wc.get(target, UNDEFINED), value)
            if refusal is not None:
                raise run.fail(refusal)


def managed_fields(
    run: CommandRun, em: EntityModel, wc: dict[str, Any], target: str, value: Any
) -> list[str]:
    """Bump the version (once per command) and the write timestamps; returns the fields set."""
    if run.init_mode:
        return []
    changed = []
    vp = em.version_property
    if (
        vp is not None
        and target != vp
        and not run.version_bumped
        and (em.name, run.instance_id) not in run.ex.just_created
    ):
        current = wc.get(vp, UNDEFINED)
        wc[vp] = (current if truthy(current) else 0) + 1
        run.version_bumped = True
        changed.append(vp)
    if em.version_at_property:
        wc[em.version_at_property] = run.engine.now()
        changed.append(em.version_at_property)
    if em.timestamps:
        wc["updatedAt"] = run.engine.now()
        changed.append("updatedAt")
    return changed


def reject(run: CommandRun, rejected: WriteRejected) -> None:
    raise run.fail(str(rejected), constraint_outcomes=[rejected.outcome()])


def conflict(run: CommandRun, actual: Any, expected: Any) -> None:
    em = run.entity
    assert em is not None
    entity_id = str(run.instance_id)
    found = ConcurrencyConflict(em.name, entity_id, expected, actual, "VERSION_MISMATCH")
    now = run.engine.now()
    payload = dict(found.to_dict())
    payload["timestamp"] = now
    run.ex.log_only.append(
        EmittedEvent("ConcurrencyConflict", "system", payload, now, provenance=run.ex.model.provenance)
    )
    raise run.fail(
        f"Concurrency conflict on {em.name}#{entity_id}: expected version "
        f"{to_js_string(expected)}, actual {to_js_string(actual)}",
        concurrency_conflict=found,
    )
