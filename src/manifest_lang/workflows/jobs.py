"""Durable async commands: ``run_command`` on an ``async`` command enqueues a work item of kind
``job`` in the caller's transaction; a worker runs it with the command's retry policy.

- The item carries the job (command, entity, instance, input, correlation and causation ids) and
  the caller's context, so the command runs later as the same user in the same tenant.
- Each attempt is one item attempt (``engine.retry_in_process = False``): a retryable failure
  (its error code is in ``retryOn``) goes back to pending at ``now + delay`` (``fixed``: delay,
  ``linear``: delay × attempt, ``exponential``: delay × 2^(attempt-1), capped by ``maxDelay``;
  ``jitter`` draws uniformly in [delay/2, delay]); after ``maxAttempts`` the job is dead
  (dead-lettered). Any other failure ends the job ``failed``; success ends it ``done``.
- The reference's ``<cmd>Completed`` / ``<cmd>Failed`` event (``completionEvent`` /
  ``failureEvent`` of the IR) is committed to the outbox with the job's final status, once.
- The command runs with the idempotency key ``work:<item id>``: a job re-run after its worker
  died between the command's commit and the job's finish answers from the record.
"""

from __future__ import annotations

import random
import time
from typing import Any

from ..runtime.jobs import backoff_delay, error_code, job_event, retryable
from ..stores.work import (
    DEAD,
    DEFAULT_MAX_ATTEMPTS,
    DONE,
    FAILED,
    PENDING,
    WorkItem,
    WorkOutcome,
    item_key,
)
from .item_engine import item_engine
from .kinds import ItemRun, WorkKind, register_kind

JOB = "job"
_IN_PROGRESS = "IDEMPOTENCY_IN_PROGRESS"
#: a job whose key is still claimed by a run that died: try again after this many seconds
_CLAIM_WAIT = 1.0


class StoreJobQueue:
    """The engine's ``job_queue`` over a store's work items (``transactional_store`` tells the
    engine to commit the item in the command's own unit of work)."""

    def __init__(self, store: Any) -> None:
        self.transactional_store = store

    def item_for(self, job: dict[str, Any], context: dict[str, Any], tenant: str | None) -> WorkItem:
        model_tenant = tenant if tenant is not None else context.get("tenantId")
        payload = {**job, "context": dict(context)}
        return WorkItem(
            id=str(job["jobId"]),
            kind=JOB,
            payload=payload,
            due_at=time.time(),
            tenant=model_tenant if isinstance(model_tenant, str) else None,
            max_attempts=DEFAULT_MAX_ATTEMPTS,
        )

    def enqueue(self, job: dict[str, Any]) -> None:
        """A job from outside a command (the engine commits its own through ``item_for``)."""
        self.transactional_store.enqueue_work([self.item_for(job, {}, None)], now=time.time())

    def get(self, job_id: str) -> dict[str, Any] | None:
        item = self.transactional_store.get_work(job_id)
        return job_view(item) if item is not None and item.kind == JOB else None

    def jobs(self) -> list[dict[str, Any]]:
        return [job_view(it) for it in self.transactional_store.list_work(kind=JOB, limit=10_000)]


def job_view(item: WorkItem) -> dict[str, Any]:
    """A job as ``GET /jobs/{id}`` shows it."""
    job = item.payload
    status = {DONE: "completed"}.get(item.status, item.status)
    view: dict[str, Any] = {
        "jobId": item.id,
        "commandName": job.get("commandName"),
        "entityName": job.get("entityName"),
        "instanceId": job.get("instanceId"),
        "status": status,
        "attempts": item.attempts,
        "enqueuedAt": job.get("enqueuedAt"),
        "correlationId": job.get("correlationId"),
    }
    if item.status == PENDING and item.attempts:
        view["nextAttemptAt"] = item.due_at * 1000
    if item.result is not None:
        view["result"] = item.result.get("result") if isinstance(item.result, dict) else item.result
    if item.last_error is not None and item.status != DONE:
        view["error"] = item.last_error
    return view


def _jitter(delay_ms: float) -> float:
    return random.uniform(delay_ms / 2, delay_ms)


def _completed(run: ItemRun, result: dict[str, Any], now: float) -> WorkOutcome:
    job = run.item.payload
    cmd = job["commandName"]
    declared = run.worker.model.command(cmd, job.get("entityName"))
    name = (declared.ir.get("completionEvent") if declared is not None else None) or f"{cmd}Completed"
    event = {
        "name": name,
        "channel": f"jobs.{cmd}",
        "payload": {"jobId": job["jobId"], "result": result.get("result"), "completedAt": now},
        "timestamp": now,
        "correlationId": job.get("correlationId"),
        "causationId": job.get("causationId"),
    }
    outbox = []
    if run.worker.store.records_outbox:
        outbox.append({"entryId": f"job-event:{run.item.id}", "event": event, "enqueuedAt": now})
    return WorkOutcome(DONE, result=result, outbox=outbox)


def run_job(run: ItemRun) -> WorkOutcome:
    item, job = run.item, run.item.payload
    context = {**dict(job.get("context") or {}), "source": "job"}
    engine, finisher = item_engine(run, context, lambda result, now: _completed(run, result, now))
    engine.retry_in_process = False
    result = engine.run_command(
        job["commandName"],
        dict(job.get("input") or {}),
        entity_name=job.get("entityName"),
        instance_id=job.get("instanceId"),
        correlation_id=job.get("correlationId"),
        causation_id=job.get("causationId"),
        idempotency_key=item_key(item),
    )
    if result.success:
        if finisher is not None and finisher.finished is not None:
            return finisher.finished
        return _final(run, engine, DONE, result)
    if (result.error or "").startswith(_IN_PROGRESS):
        return WorkOutcome(PENDING, error=result.error, retry_at=run.worker.clock() + _CLAIM_WAIT)
    cmd = run.worker.model.command(job["commandName"], job.get("entityName"))
    policy = cmd.retry if cmd is not None else None
    if policy and retryable(result, list(policy.get("retryOn") or [])):
        if item.attempts >= max(1, int(policy.get("maxAttempts", 1) or 1)):
            return _final(run, engine, DEAD, result)
        delay = backoff_delay(policy, item.attempts)
        if policy.get("jitter"):
            delay = _jitter(delay)
        code = error_code(result)
        return WorkOutcome(
            PENDING, error=f"{code}: {result.error}", retry_at=run.worker.clock() + delay / 1000
        )
    return _final(run, engine, FAILED, result)


def _final(run: ItemRun, engine: Any, status: str, result: Any) -> WorkOutcome:
    job = run.item.payload
    event = job_event(engine, job, result)
    outbox = []
    if run.worker.store.records_outbox:
        entry = {"entryId": f"job-event:{run.item.id}", "event": event.to_dict(), "enqueuedAt": engine.now()}
        outbox.append(entry)
    return WorkOutcome(status, result=result.to_dict(), error=result.error, outbox=outbox)


register_kind(WorkKind(JOB, run_job, group="jobs"))
