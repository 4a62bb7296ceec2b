"""The catering kitchen's inventory with Pattern 1 declared as a model saga: reserve three items
for an event, each reservation undone by ``releaseReservation`` if a later one is blocked."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from manifest_lang.runtime.engine import RuntimeEngine

REPO = Path(__file__).resolve().parents[2]
INVENTORY = (REPO / "examples" / "catering" / "inventory.manifest").read_text(encoding="utf-8")

SAGA = """
event SagaStarted: "saga.started" { sagaName: string }
event SagaStepCompleted: "saga.step.completed" { sagaName: string }
event SagaCompleted: "saga.completed" { sagaName: string }
event SagaFailed: "saga.failed" { sagaName: string }

saga ReserveForEvent {
  step first {
    command: InventoryItem.reserve
    compensate: InventoryItem.releaseReservation
  }
  step second {
    command: InventoryItem.reserve
    compensate: InventoryItem.releaseReservation
  }
  step third {
    command: InventoryItem.reserve
    compensate: InventoryItem.releaseReservation
  }
  on_failure: "compensate"
  emit SagaStarted
  emit SagaStepCompleted
  emit SagaCompleted
  emit SagaFailed
}
"""

TENANT = "kitchen-1"
CHEF = {"tenantId": TENANT, "user": {"id": "chef-maria", "role": "chef"}}
ITEMS = {"item-flour": 50, "item-butter": 20, "item-cream": 12}


@cache
def saga_model() -> Any:
    from manifest_lang.loading import load_model

    return load_model(INVENTORY + SAGA)


def seed(store: Any, items: dict[str, int] = ITEMS) -> None:
    engine = RuntimeEngine(saga_model(), dict(CHEF), store_provider=store)
    for item, stock in items.items():
        row = {
            "id": item,
            "tenantId": TENANT,
            "name": item,
            "quantityOnHand": stock,
            "quantityAvailable": stock,
        }
        assert engine.create_instance("InventoryItem", row) is not None


def reservation(quantities: tuple[int, int, int], event: str = "42") -> dict[str, Any]:
    """stepInputs for ReserveForEvent: flour, butter, cream in that order."""
    return {
        step: {"input": {"quantity": q, "eventId": event}, "instanceId": item}
        for step, item, q in zip(("first", "second", "third"), ITEMS, quantities, strict=True)
    }


def stock(store: Any) -> dict[str, tuple[int, int]]:
    """item -> (reserved, available)"""
    out = {}
    for item in ITEMS:
        found = store.load("InventoryItem", item)
        assert found is not None
        out[item] = (found.row["quantityReserved"], found.row["quantityAvailable"])
    return out
