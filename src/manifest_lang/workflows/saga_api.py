"""The Python surface of durable sagas: start one (with the work item a worker resumes it from),
read its status, take over an engine's options.

``RuntimeFactory.start_saga`` / ``saga_status`` / ``run_saga`` and ``Saga(..., durable=True).run``
are thin calls into these functions; ``SagaRunner`` (``durable_saga.py``) does the work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..stores.base import UnitOfWork
from ..stores.work import WorkItem
from .durable_saga import SagaRunner
from .saga_record import SagaRecord

#: a saga's work item kind (``workflows/saga_work.py`` registers its handler with the worker)
SAGA_KIND = "saga"


def engine_options_of(engine: Any) -> dict[str, Any]:
    """The options a saga's step engines take over from ``engine`` (clock, ids, limits, hooks,
    flags, shared rate limits and approvals)."""
    return {
        "now": engine.now,
        "generate_id": engine.generate_id,
        "evaluation_limits": engine.limits,
        "command_hooks": tuple(engine.command_hooks),
        "flags": dict(engine.flags),
        "rate_limit_store": engine.rate_limits,
        "approval_store": engine.approval_store,
        "job_queue": engine.job_queue,
    }


def start_saga(
    runner: SagaRunner,
    saga: Any,
    input: Mapping[str, Any] | None = None,
    *,
    context: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
    saga_id: str | None = None,
    grace_seconds: float = 30.0,
) -> str:
    """Record a saga (a model saga name with its stepInputs, a ``Saga`` or a ``SagaPlan``) and
    the work item a worker resumes it from; the saga id. The item is due after
    ``grace_seconds``: a process that goes on to run the saga itself has that long before a
    worker steps in (were both to run it, the version fence lets each step apply once)."""
    plan = runner.plan(saga, input)
    return runner.start(
        plan,
        context=context,
        correlation_id=correlation_id,
        saga_id=saga_id,
        extra=lambda record: _work_for(record, runner.clock() + grace_seconds),
    ).saga_id


def _work_for(record: SagaRecord, due_at: float) -> UnitOfWork:
    item = WorkItem(
        id=f"saga:{record.saga_id}",
        kind=SAGA_KIND,
        payload={"sagaId": record.saga_id},
        due_at=due_at,
        tenant=record.tenant,
        dedupe_key=f"saga:{record.saga_id}",
        max_attempts=1000,  # transient failures of a long contention; the saga row tells the story
    )
    return UnitOfWork(work=[item])


def saga_status(runner: SagaRunner, saga_id: str) -> dict[str, Any] | None:
    """The status document of a saga (status, steps, events), or None if there is none."""
    record = runner.load(saga_id)
    return None if record is None else record.view()
