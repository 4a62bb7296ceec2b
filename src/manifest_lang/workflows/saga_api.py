"""The Python surface of durable sagas: start one, read its status, run it to the end.

``RuntimeFactory.start_saga`` / ``saga_status`` / ``run_saga`` and ``Saga(..., durable=True).run``
are thin calls into these functions; ``SagaRunner`` (``durable_saga.py``) does the work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInputError
from ..runtime.results import CommandResult
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


def run_durably(saga: Any, engine: Any, *, correlation_id: str, saga_id: str | None = None) -> Any:
    """``Saga(..., durable=True).run(engine)``: record it in the engine's store, run it here,
    and answer as the in-process saga does (a ``SagaResult``)."""
    store = engine.store
    runner = SagaRunner(engine.model, store, engine_options=engine_options_of(engine))
    existing = runner.load(saga_id) if saga_id is not None else None
    if existing is None:
        saga_id = start_saga(
            runner, saga, context=engine.context, correlation_id=correlation_id, saga_id=saga_id
        )
    elif existing.plan.name != saga.name:
        raise InvalidInputError(f"saga {saga_id!r} is a '{existing.plan.name}', not a '{saga.name}'")
    return saga_result(runner.run(str(saga_id)))


def saga_result(record: SagaRecord) -> Any:
    """A durable saga's record as the in-process ``SagaResult`` (results as ``CommandResult``)."""
    from .saga import SagaResult, SagaStepOutcome

    status = "aborted" if record.status == "failed" else record.status
    result = SagaResult(
        record.plan.name,
        record.correlation_id,
        success=record.status == "completed",
        status=status,  # type: ignore[arg-type]
        failed_step=record.failed_step,
        error=record.error,
        saga_id=record.saga_id,
    )
    for step in record.steps:
        outcome = SagaStepOutcome(
            step.step,
            step.command,
            step.status,  # type: ignore[arg-type]
            causation_id=step.causation_id,
            result=_command_result(step.result),
            compensation=_command_result(step.compensation),
            error=step.error,
        )
        result.steps.append(outcome)
        for part in (outcome.result, outcome.compensation):
            if part is not None:
                result.emitted_events.extend(part.emitted_events)
    return result


def _command_result(data: Mapping[str, Any] | None) -> CommandResult | None:
    return None if data is None else CommandResult.from_dict(dict(data))
