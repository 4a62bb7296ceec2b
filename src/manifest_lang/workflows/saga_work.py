"""The worker's ``saga`` kind: resume a durable saga from its row and run it to the end.

Starting a saga commits a work item ``saga:<id>`` (kind ``saga``, group ``sagas``) with the saga
row, due after a grace period (the starting process usually runs the saga itself right away).
A worker that claims it reads the saga row and goes on from the last committed step; the item is
done when the saga is final. A runner that died leaves its item's lease to expire; the next
worker resumes the saga where the row says, and the version fence in each step's transaction
keeps any step from applying twice, should the first runner still be alive.
"""

from __future__ import annotations

from typing import Any

from ..stores.work import DONE, FAILED, PENDING, WorkOutcome
from .durable_saga import SagaRunner
from .kinds import ItemRun, WorkKind, register_kind
from .saga_api import SAGA_KIND


def _backoff(attempt: int) -> float:
    """Seconds before a saga left running by a transient failure is tried again (capped)."""
    return float(min(60, 2 ** max(0, attempt - 1)))


def runner_for(run: ItemRun) -> SagaRunner:
    """A runner whose step engines are the worker's (durable approvals, rate limits, options)."""
    services = run.worker.services

    def engine(context: dict[str, Any], store: Any, idempotency: Any) -> Any:
        return services.engine(context, store_provider=store, idempotency_store=idempotency)

    return SagaRunner(run.worker.model, run.worker.store, engine_factory=engine, clock=run.worker.clock)


def run_saga_item(run: ItemRun) -> WorkOutcome:
    saga_id = str(run.item.payload.get("sagaId") or "")
    runner = runner_for(run)
    if runner.load(saga_id) is None:
        return WorkOutcome(FAILED, error=f"no saga {saga_id!r}")
    record = runner.run(saga_id, retries=3)
    if record.final:
        return WorkOutcome(DONE, result={"sagaId": saga_id, "status": record.status})
    # A transient failure that persisted (a write race lost again and again, an outage): later.
    retry_at = run.worker.clock() + _backoff(run.item.attempts)
    return WorkOutcome(PENDING, error=f"saga still {record.status}; retrying", retry_at=retry_at)


register_kind(WorkKind(SAGA_KIND, run_saga_item, group="sagas"))
