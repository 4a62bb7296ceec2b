"""Pattern 6: evaluation budgets - tight for the kitchen, generous for batch jobs.

item-01 carries a user-defined rule list (``restrictedEvents``) with 1,000 entries; checking a
reservation against it takes ~3,000 evaluation steps. The kitchen engine (2,000 steps) refuses
the command with a failed result; the batch engine (50,000) runs it. Outside a command (here
``evaluate_computed``) the same overrun raises ``EvaluationBudgetExceededError``.

Run: python -m examples.catering.pattern6_budget
"""

from __future__ import annotations

from typing import Any

from manifest_lang.errors import EvaluationBudgetExceededError
from manifest_lang.expr.budget import EvaluationLimits
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.workflows.factory import RuntimeFactory

from .kitchen import MANAGER, TENANT, load_model

KITCHEN_LIMITS = EvaluationLimits(max_expression_depth=32, max_evaluation_steps=2_000)
BATCH_LIMITS = EvaluationLimits(max_expression_depth=64, max_evaluation_steps=50_000)


def engines(store: Any) -> tuple[Any, Any]:
    kitchen_factory = RuntimeFactory(load_model(), store, evaluation_limits=KITCHEN_LIMITS)
    batch_factory = RuntimeFactory(load_model(), store, evaluation_limits=BATCH_LIMITS)
    ctx = {"tenant_id": TENANT, "user": MANAGER}
    return kitchen_factory.engine(**ctx), batch_factory.engine(**ctx)


def seed_item(engine: Any, restrictions: int = 1_000) -> None:
    engine.create_instance(
        "InventoryItem",
        {
            "id": "item-01",
            "tenantId": TENANT,
            "quantityOnHand": 500,
            "quantityAvailable": 500,
            "restrictedEvents": [f"evt-blocked-{n}" for n in range(restrictions)],
        },
    )


def main() -> None:
    store = MemoryStore()
    kitchen_engine, batch_engine = engines(store)
    seed_item(batch_engine)
    options = {"entity_name": "InventoryItem", "instance_id": "item-01"}

    result = kitchen_engine.run_command("reserve", {"quantity": 100, "eventId": "evt-99"}, **options)
    print("kitchen engine:", {"success": result.success, "error": result.error})

    result = batch_engine.run_command("reserve", {"quantity": 100, "eventId": "evt-99"}, **options)
    print("batch engine:  ", {"success": result.success, "events": [e.name for e in result.emitted_events]})

    try:
        kitchen_engine.evaluate_computed("InventoryItem", "item-01", "restrictionCount")
    except EvaluationBudgetExceededError as exc:
        print(f"evaluate_computed: {type(exc).__name__}: {exc.limit_type} limit {exc.limit}")


if __name__ == "__main__":
    main()
