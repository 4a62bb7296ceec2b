"""Pattern 1: event prep with correlation - reserve every item of an event, or none of them.

The document's ``prepareEventInventory`` reserves items one by one under one correlation id and,
when a reservation is blocked, releases the ones already made. Here that is a ``Saga``: one
``reserve`` step per item with ``releaseReservation`` as its compensation.

Run: python -m examples.catering.pattern1_event_prep
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from manifest_lang.workflows.eventlog import timeline
from manifest_lang.workflows.saga import Saga, SagaResult, SagaStep

from .kitchen import CHEF, TENANT, instance, kitchen


@dataclass
class EventPrepContext:
    tenant_id: str
    user: dict[str, Any]
    event_id: str
    correlation_id: str  # groups every step of this prep workflow


@dataclass
class PrepOutcome:
    success: bool
    saga: SagaResult
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def prepare_event_inventory(factory: Any, ctx: EventPrepContext, items: list[dict[str, Any]]) -> PrepOutcome:
    runtime = factory.engine(tenant_id=ctx.tenant_id, user=ctx.user)
    steps = [
        SagaStep(
            name=f"reserve-{item['inventoryItemId']}",
            command="reserve",
            input={"quantity": item["quantity"], "eventId": ctx.event_id},
            entity_name="InventoryItem",
            instance_id=item["inventoryItemId"],
            compensation="releaseReservation",
            compensation_input={"quantity": item["quantity"]},
            causation_id=f"event-prep-{ctx.event_id}",
        )
        for item in items
    ]
    result = Saga(f"event-prep-{ctx.event_id}", steps).run(runtime, correlation_id=ctx.correlation_id)
    # A warn outcome never fails a command: it comes back on a *successful* result.
    warnings = [f"{w.code}: {w.message}" for w in result.warnings()]
    if not result.success:
        failed = result.step(result.failed_step or "")
        item_id = failed.step.removeprefix("reserve-") if failed else "?"
        return PrepOutcome(False, result, warnings, f"Cannot reserve {item_id}: {result.error}")
    return PrepOutcome(True, result, warnings)


def main() -> None:
    factory = kitchen(seeded=True)
    ctx = EventPrepContext(TENANT, CHEF, "42", "prep-evt-42")

    print("== Event 42: flour, butter, cream ==")
    ok = prepare_event_inventory(
        factory,
        ctx,
        [
            {"inventoryItemId": "item-flour", "quantity": 10},
            {"inventoryItemId": "item-butter", "quantity": 8},
            {"inventoryItemId": "item-cream", "quantity": 2},
        ],
    )
    print("success:", ok.success)
    for warning in ok.warnings:
        print("warning:", warning)
    print("timeline:")
    for row in timeline(factory.events_for_correlation(ctx.correlation_id)):
        print("  ", row)

    print("\n== Event 43: asks for more cream than there is ==")
    ctx43 = EventPrepContext(TENANT, CHEF, "43", "prep-evt-43")
    failed = prepare_event_inventory(
        factory,
        ctx43,
        [
            {"inventoryItemId": "item-flour", "quantity": 5},
            {"inventoryItemId": "item-cream", "quantity": 50},
        ],
    )
    print("success:", failed.success, "|", failed.error)
    for step in failed.saga.steps:
        print(f"  step {step.step}: {step.status}")
    flour = instance(factory, "InventoryItem", "item-flour")
    # event 43's 5 units were released again; event 42's 10 remain reserved
    reserved, available = flour["quantityReserved"], flour["quantityAvailable"]
    print(f"flour after compensation: reserved {reserved}, available {available}")


if __name__ == "__main__":
    main()
