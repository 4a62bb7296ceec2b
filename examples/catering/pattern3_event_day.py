"""Pattern 3: the event-day saga - start prep, consume ingredients, assign stations - and its causal tree.

The document's ``executeEventDay`` uses three runtimes over one store; here they are three engines
from one ``RuntimeFactory``. Its ``prisma.*.findMany`` queries are ``factory.find``. Every command
carries the same correlation id; the causation ids are the document's (``event-day-start-<event>``
for the starts, ``prep-task-<task id>`` for what each task triggers), so the causal tree printed at
the end has the document's shape.

Run: python -m examples.catering.pattern3_event_day
"""

from __future__ import annotations

import logging
from typing import Any

from manifest_lang.workflows.eventlog import causal_tree, render_causal_tree
from manifest_lang.workflows.saga import Saga, SagaResult, SagaStep

from .kitchen import CHEF, TENANT, kitchen

log = logging.getLogger("examples.catering")


def event_day_steps(factory: Any, tenant_id: str, event_id: str) -> list[SagaStep]:
    """Steps 1-3 of the document, built from the rows the document reads with Prisma."""
    tasks = factory.find("PrepTask", {"eventId": event_id, "status": "claimed"}, tenant_id=tenant_id)
    steps = [
        SagaStep(
            f"start-{t['id']}",
            "start",
            {},
            "PrepTask",
            t["id"],
            compensation="release",
            compensation_input={"reason": "event day aborted"},
            causation_id=f"event-day-start-{event_id}",
        )
        for t in tasks
    ]
    for task in tasks:
        for ing in factory.find("PrepTaskIngredient", {"prepTaskId": task["id"]}, tenant_id=tenant_id):
            steps.append(
                SagaStep(
                    f"consume-{ing['id']}",
                    "consume",
                    {"quantity": ing["quantity"], "eventId": event_id},
                    "InventoryItem",
                    ing["inventoryItemId"],
                    causation_id=f"prep-task-{task['id']}",
                )
            )
    for task in tasks:
        if task.get("stationId"):
            # A station at capacity is logged, not fatal: the step is optional.
            steps.append(
                SagaStep(
                    f"assign-{task['id']}",
                    "assignTask",
                    {"taskId": task["id"]},
                    "Station",
                    task["stationId"],
                    optional=True,
                    causation_id=f"prep-task-{task['id']}",
                )
            )
    return steps


def execute_event_day(
    factory: Any, tenant_id: str, user: dict[str, Any], event_id: str, correlation_id: str
) -> SagaResult:
    engines = {
        entity: factory.engine(tenant_id=tenant_id, user=user)
        for entity in ("PrepTask", "InventoryItem", "Station")
    }
    saga = Saga(f"event-day-{event_id}", event_day_steps(factory, tenant_id, event_id))
    result = saga.run(lambda step: engines[step.entity_name], correlation_id=correlation_id)
    for step in result.steps:
        if step.status == "failed" and step.command == "assignTask":
            log.warning("station at capacity: %s (%s)", step.step, step.error)
    return result


def reserve_for_event(factory: Any, event_id: str) -> None:
    """Ingredients must be reserved before they can be consumed (Pattern 1 did that)."""
    engine = factory.engine(tenant_id=TENANT, user=CHEF)
    for ing in factory.find("PrepTaskIngredient", tenant_id=TENANT):
        engine.run_command(
            "reserve",
            {"quantity": ing["quantity"], "eventId": event_id},
            entity_name="InventoryItem",
            instance_id=ing["inventoryItemId"],
        )


def main() -> None:
    factory = kitchen(seeded=True)
    reserve_for_event(factory, "evt-42")
    correlation_id = "event-day-evt-42"
    result = execute_event_day(factory, TENANT, CHEF, "evt-42", correlation_id)
    print(
        "success:",
        result.success,
        "| status:",
        result.status,
        "| steps completed:",
        len(result.completed_steps),
    )
    print()
    print(render_causal_tree(causal_tree(factory.events_for_correlation(correlation_id))))


if __name__ == "__main__":
    main()
