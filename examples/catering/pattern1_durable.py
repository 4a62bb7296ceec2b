"""Pattern 1, durable: reserve every item of an event or none of them, even if the process dies.

``pattern1_event_prep.py`` runs the saga in one process: killed between two reservations, it
leaves the first ones reserved forever. Here the same ``Saga`` is built with ``durable=True`` on
a SQLite store: starting it records it in the store, every reservation commits together with
the saga's progress, and ``manifest worker`` (here: a ``Worker`` in this process) resumes a
saga whose process died, from its last committed step; a blocked reservation releases the ones
made before it, each exactly once.

Run: python -m examples.catering.pattern1_durable
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from manifest_lang.stores.sqlite import SQLiteStore
from manifest_lang.workflows.saga import Saga, SagaResult, SagaStep
from manifest_lang.workflows.worker import Worker

from .kitchen import CHEF, TENANT, instance, kitchen


def event_prep_saga(event_id: str, items: list[dict[str, Any]]) -> Saga:
    """The steps of ``pattern1_event_prep``, durable; the lifecycle events go to the outbox."""
    steps = [
        SagaStep(
            name=f"reserve-{item['inventoryItemId']}",
            command="reserve",
            input={"quantity": item["quantity"], "eventId": event_id},
            entity_name="InventoryItem",
            instance_id=item["inventoryItemId"],
            compensation="releaseReservation",
            compensation_input={"quantity": item["quantity"]},
            causation_id=f"event-prep-{event_id}",
        )
        for item in items
    ]
    emits = ("SagaStarted", "SagaCompleted", "SagaFailed")
    return Saga(f"event-prep-{event_id}", steps, durable=True, emits=emits)


def prepare_event_inventory(factory: Any, event_id: str, items: list[dict[str, Any]]) -> SagaResult:
    engine = factory.engine(tenant_id=TENANT, user=CHEF)
    return event_prep_saga(event_id, items).run(engine, correlation_id=f"prep-evt-{event_id}")


def crash_after_first_step(factory: Any, event_id: str, items: list[dict[str, Any]]) -> str:
    """Start the saga and run one reservation, then stop as a killed process would."""
    saga_id = factory.start_saga(
        event_prep_saga(event_id, items), tenant_id=TENANT, user=CHEF, correlation_id=f"prep-evt-{event_id}"
    )
    runner = factory.saga_runner()
    runner.advance(runner.load(saga_id))
    return str(saga_id)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "kitchen.db")
        factory = kitchen(store, seeded=True)

        print("== Event 42: flour, butter, cream (durable) ==")
        ok = prepare_event_inventory(
            factory,
            "42",
            [
                {"inventoryItemId": "item-flour", "quantity": 10},
                {"inventoryItemId": "item-butter", "quantity": 8},
                {"inventoryItemId": "item-cream", "quantity": 2},
            ],
        )
        print("saga", ok.saga_id, "->", ok.status, "| warnings:", [w.code for w in ok.warnings()])

        print("\n== Event 43: the process dies after the first reservation ==")
        items = [
            {"inventoryItemId": "item-flour", "quantity": 5},
            {"inventoryItemId": "item-cream", "quantity": 50},  # more than there is: blocked
        ]
        saga_id = crash_after_first_step(factory, "43", items)
        flour = instance(factory, "InventoryItem", "item-flour")
        status = factory.saga_status(saga_id)
        print(f"after the crash: saga {status['status']}, flour reserved {flour['quantityReserved']}")
        # ``manifest worker`` takes over once the item is due (here at once, grace aside)
        reports = Worker(factory.model, store, only={"sagas"}, clock=lambda: 10**12).run_once()
        print("worker:", [(r.kind, r.status) for r in reports])
        status = factory.saga_status(saga_id)
        print("saga", status["status"], [(s["step"], s["status"]) for s in status["steps"]])
        flour = instance(factory, "InventoryItem", "item-flour")
        reserved, available = flour["quantityReserved"], flour["quantityAvailable"]
        print(f"flour after compensation: reserved {reserved}, available {available}")
        store.close()


if __name__ == "__main__":
    main()
