"""Pattern 2: the prep-task state machine, with idempotency against double taps.

Run: python -m examples.catering.pattern2_preptask_lifecycle
"""

from __future__ import annotations

from typing import Any

from manifest_lang.runtime.idempotency import MemoryIdempotencyStore

from .kitchen import CHEF, COOK, TENANT, kitchen


def claim_prep_task(engine: Any, tenant_id: str, user_id: str, task_id: str, event_id: str) -> dict[str, Any]:
    """The document's ``claimPrepTask``: claim once; a second tap returns the cached result."""
    key = f"claim-{tenant_id}-{task_id}-{user_id}"
    options = {
        "entity_name": "PrepTask",
        "instance_id": task_id,
        "correlation_id": f"event-{event_id}",
        "causation_id": f"user-action-{user_id}",
        "idempotency_key": key,
    }
    result = engine.run_command("claim", {"userId": user_id}, **options)
    if not result.success:
        return {"success": False, "error": result.error}
    logged = len(engine.get_event_log())
    duplicate = engine.run_command("claim", {"userId": user_id}, **options)
    return {
        "success": True,
        "events": [e.name for e in result.emitted_events],
        "warnings": [
            w.code for w in result.constraint_outcomes or () if w.severity == "warn" and not w.passed
        ],
        # the duplicate is the first result, replayed from the idempotency store: nothing ran again
        "duplicate_is_cached": duplicate.to_dict() == result.to_dict(),
        "events_emitted_by_duplicate": len(engine.get_event_log()) - logged,
    }


def main() -> None:
    idempotency = MemoryIdempotencyStore()
    factory = kitchen(
        idempotency_store=idempotency,
        evaluation_limits={"maxExpressionDepth": 32, "maxEvaluationSteps": 5_000},
    )
    chef = factory.engine(tenant_id=TENANT, user=CHEF)
    chef.create_instance(
        "PrepTask",
        {
            "id": "task-7",
            "tenantId": TENANT,
            "eventId": "evt-42",
            "name": "Brunoise shallots",
            "quantityTotal": 40,
        },
    )

    print("== chef-maria taps claim twice ==")
    print(claim_prep_task(chef, TENANT, CHEF["id"], "task-7", "evt-42"))
    print("events in the log:", [e.name for e in factory.events()])

    print("\n== cook-sam claims the same task ==")
    cook = factory.engine(tenant_id=TENANT, user=COOK)
    print(claim_prep_task(cook, TENANT, COOK["id"], "task-7", "evt-42"))

    print("\n== the rest of the lifecycle ==")
    run = {"entity_name": "PrepTask", "instance_id": "task-7"}
    for name, data, key in [
        ("start", {}, "start-task-7"),
        ("complete", {"quantityCompleted": 40}, "complete-task-7"),
        ("cancel", {}, "cancel-task-7"),
    ]:
        result = chef.run_command(name, data, idempotency_key=key, **run)
        print(f"{name}: success={result.success}", result.error or [e.name for e in result.emitted_events])


if __name__ == "__main__":
    main()
