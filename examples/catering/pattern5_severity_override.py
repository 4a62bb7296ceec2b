"""Pattern 5: ok / warn / block outcomes, and a manager overriding a block.

Run: python -m examples.catering.pattern5_severity_override
"""

from __future__ import annotations

from typing import Any

from manifest_lang.runtime.outcomes import get_blocking_constraints, get_warning_constraints
from manifest_lang.runtime.results import OverrideRequest

from .kitchen import CHEF, MANAGER, TENANT, kitchen


def restock_inventory_item(
    factory: Any, user: dict[str, Any], item_id: str, quantity: float
) -> dict[str, Any]:
    """The document's ``restockInventoryItem``: blockers fail, warnings succeed with a notice."""
    runtime = factory.engine(tenant_id=TENANT, user=user)
    result = runtime.run_command(
        "restock", {"quantity": quantity}, entity_name="InventoryItem", instance_id=item_id
    )
    outcomes = result.constraint_outcomes or []
    blockers = get_blocking_constraints(outcomes)
    if blockers:
        return {"success": False, "blockers": [{"code": b.code, "message": b.message} for b in blockers]}
    warnings = get_warning_constraints(outcomes)
    out: dict[str, Any] = {"success": result.success, "events": [e.name for e in result.emitted_events]}
    if warnings:
        out["warnings"] = [{"code": w.code, "message": w.message} for w in warnings]
    return out


def reserve_with_manager_override(
    factory: Any,
    user: dict[str, Any],
    manager_id: str,
    item_id: str,
    quantity: float,
    event_id: str,
    reason: str,
) -> Any:
    """The document's ``reserveWithManagerOverride``.

    The override is authorized by the override policy, evaluated for the user of the engine (who
    must be a manager); ``authorized_by`` is recorded in the audit event, not trusted.
    """
    runtime = factory.engine(tenant_id=TENANT, user=user)
    return runtime.run_command(
        "reserve",
        {"quantity": quantity, "eventId": event_id},
        entity_name="InventoryItem",
        instance_id=item_id,
        override_requests=[OverrideRequest("blockStockout", reason, manager_id)],
    )


def main() -> None:
    factory = kitchen(seeded=True)
    print("restock 10 :", restock_inventory_item(factory, CHEF, "item-cream", 10))
    print("restock 800:", restock_inventory_item(factory, CHEF, "item-cream", 800))
    print("restock 0  :", restock_inventory_item(factory, CHEF, "item-cream", 0))

    reason = "Emergency event tomorrow, ordering more stock now"
    print("\n== a chef asks to oversell butter (needs a manager) ==")
    denied = reserve_with_manager_override(factory, CHEF, "manager-jane", "item-butter", 40, "evt-50", reason)
    print("success:", denied.success, "|", denied.error)

    print("\n== the manager does it ==")
    applied = reserve_with_manager_override(
        factory, MANAGER, "manager-jane", "item-butter", 40, "evt-50", reason
    )
    print("success:", applied.success)
    override = next(e for e in applied.emitted_events if e.name == "OverrideApplied")
    print("audit event:", override.to_dict())


if __name__ == "__main__":
    main()
