"""Best practice 2: use the causation id to link an effect to the event that caused it.

The document links the assignment to ``reservation-<emitIndex>``; but every command's first
event has emitIndex 0, so that id cannot tell two reservations apart. ``event_ref(event)``
(``"InventoryReserved:item-flour"``) names the event itself, and ``causal_tree`` then nests the
assignment under the reservation that caused it.

Run: python -m examples.catering.bp2_causation
"""

from __future__ import annotations

from typing import Any

from manifest_lang.workflows.eventlog import causal_tree, event_ref, render_causal_tree

from .kitchen import CHEF, TENANT, kitchen


def reserve_then_assign(factory: Any, correlation_id: str) -> str:
    engine = factory.engine(tenant_id=TENANT, user=CHEF)
    reserve = engine.run_command(
        "reserve",
        {"quantity": 5, "eventId": "evt-42"},
        entity_name="InventoryItem",
        instance_id="item-flour",
        correlation_id=correlation_id,
        causation_id=f"user-action-{CHEF['id']}",
    )
    engine.run_command(
        "assignTask",
        {"taskId": "task-1"},
        entity_name="Station",
        instance_id="station-hot-line",
        correlation_id=correlation_id,
        causation_id=event_ref(reserve.emitted_events[0]),
    )
    return render_causal_tree(causal_tree(engine.events_for_correlation(correlation_id)))


def main() -> None:
    factory = kitchen(seeded=True)
    print(reserve_then_assign(factory, "event-prep-evt-42"))


if __name__ == "__main__":
    main()
