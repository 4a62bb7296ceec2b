"""Pattern 3, durable and declared in the model: the event day of a prep task as a ``saga`` block.

``catering.manifest`` declares ``saga EventDayTask``: start the task, consume its ingredient,
book its station, each undone by its ``compensate`` command if a later step is refused. The
saga runs durably (``factory.start_saga(...)``, or ``POST /sagas/EventDayTask`` on
``manifest serve``): its row, its steps and its lifecycle events are in the store, so
``manifest worker`` finishes it if this process dies, and the causal tree is read back from the
outbox.

A model saga has a fixed list of steps, so this runs one saga per task and the kitchen here
gives each task one ingredient (a task with several is a Python ``Saga(durable=True)`` with a
step per ingredient, as ``pattern1_durable.py`` builds). The document logs a station at capacity
and carries on; a model saga has no optional step, so here the station's refusal releases the
task and restocks its ingredient (the saga ends ``compensated``).

Run: python -m examples.catering.pattern3_durable
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from manifest_lang.stores.sqlite import SQLiteStore
from manifest_lang.workflows.eventlog import causal_tree, render_causal_tree
from manifest_lang.workflows.trace import durable_events

from .kitchen import CHEF, MANAGER, TENANT, engine_for, kitchen

#: (task, ingredient item, quantity, station): two tasks for the cold prep station (capacity 1)
TASKS = [
    ("task-1", "item-flour", 5, "station-hot-line"),
    ("task-2", "item-cream", 2, "station-cold-prep"),
    ("task-3", "item-butter", 3, "station-cold-prep"),
]


def seed_event_day(factory: Any, event_id: str) -> None:
    """Claimed tasks of ``event_id`` with their ingredients reserved (Pattern 1 did that)."""
    manager = engine_for(factory, MANAGER)
    chef = engine_for(factory, CHEF)
    for task, item, quantity, station in TASKS:
        row = {
            "id": task,
            "tenantId": TENANT,
            "eventId": event_id,
            "name": f"prep {task}",
            "status": "claimed",
            "claimedBy": CHEF["id"],
            "stationId": station,
        }
        if factory.store.load("PrepTask", task) is None:
            manager.create_instance("PrepTask", row)
        reserved = chef.run_command(
            "reserve",
            {"quantity": quantity, "eventId": event_id},
            entity_name="InventoryItem",
            instance_id=item,
        )
        assert reserved.success, reserved.error


def event_day_inputs(task: str, item: str, quantity: int, station: str, event_id: str) -> dict[str, Any]:
    """The stepInputs of ``EventDayTask``: each step's input and instance (a compensation gets
    its step's input, so the start carries the release reason)."""
    return {
        "startTask": {"input": {"reason": "event day aborted"}, "instanceId": task},
        "consumeIngredient": {"input": {"quantity": quantity, "eventId": event_id}, "instanceId": item},
        "assignStation": {"input": {"taskId": task}, "instanceId": station},
    }


def execute_event_day(factory: Any, event_id: str) -> list[dict[str, Any]]:
    """One durable ``EventDayTask`` per task, under one correlation id; their final statuses."""
    correlation_id = f"event-day-{event_id}"
    statuses = []
    for task, item, quantity, station in TASKS:
        saga_id = factory.start_saga(
            "EventDayTask",
            event_day_inputs(task, item, quantity, station, event_id),
            tenant_id=TENANT,
            user=CHEF,
            correlation_id=correlation_id,
            saga_id=f"{correlation_id}-{task}",
            run=True,
        )
        statuses.append(factory.saga_status(saga_id))
    return statuses


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "kitchen.db")
        factory = kitchen(store, seeded=True)
        seed_event_day(factory, "evt-42")
        for status in execute_event_day(factory, "evt-42"):
            steps = ", ".join(f"{s['step']} {s['status']}" for s in status["steps"])
            print(f"{status['sagaId']}: {status['status']} ({steps})")
            if status.get("failedStep"):
                print(f"   {status['failedStep']}: {status['error']}")
        print()
        print(render_causal_tree(causal_tree(durable_events(store, "event-day-evt-42"))))
        store.close()


if __name__ == "__main__":
    main()
