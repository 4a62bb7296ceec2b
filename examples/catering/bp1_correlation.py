"""Best practice 1: give every command of a multi-step workflow the same correlation id.

Run: python -m examples.catering.bp1_correlation
"""

from __future__ import annotations

from typing import Any

from manifest_lang.workflows.eventlog import timeline

from .kitchen import CHEF, TENANT, kitchen


def run_workflow(factory: Any, correlation_id: str) -> list[Any]:
    engine = factory.engine(tenant_id=TENANT, user=CHEF)
    engine.run_command(
        "reserve",
        {"quantity": 5, "eventId": "evt-42"},
        entity_name="InventoryItem",
        instance_id="item-flour",
        correlation_id=correlation_id,
    )
    engine.run_command(
        "assignTask",
        {"taskId": "task-1"},
        entity_name="Station",
        instance_id="station-hot-line",
        correlation_id=correlation_id,
    )
    engine.run_command(
        "start", {}, entity_name="PrepTask", instance_id="task-1", correlation_id=correlation_id
    )
    # A command outside the workflow: no correlation id, so it is not part of the timeline.
    engine.run_command("restock", {"quantity": 3}, entity_name="InventoryItem", instance_id="item-cream")
    return list(engine.events_for_correlation(correlation_id))


def main() -> None:
    factory = kitchen(seeded=True)
    correlation_id = "event-prep-evt-42-1707840000000"
    events = run_workflow(factory, correlation_id)
    for row in timeline(events):
        print(row)


if __name__ == "__main__":
    main()
