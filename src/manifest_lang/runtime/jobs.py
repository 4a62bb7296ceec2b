"""Async commands (job queue), command retry policies and schedules."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from ..expr.values import UNDEFINED
from .execution import new_execution
from .host import EngineHost
from .jsonvalues import bounded_int
from .records import ScheduleModel
from .results import CommandResult, EmittedEvent

#: the most attempts a retry policy may ask for (an IR could name any number)
MAX_ATTEMPTS = 1000


class MemoryJobQueue:
    """In-process queue of async command jobs (``enqueue`` / ``drain_pending`` / ``update_status``)."""

    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def enqueue(self, job: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[job["jobId"]] = dict(job)

    def drain_pending(self) -> list[dict[str, Any]]:
        with self._lock:
            pending = [j for j in self._jobs.values() if j["status"] == "pending"]
            for job in pending:
                job["status"] = "running"
            return [dict(j) for j in pending]

    def update_status(
        self, job_id: str, status: str, *, result: Any = None, error: str | None = None
    ) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            job["status"] = status
            if result is not None:
                job["result"] = result
            if error is not None:
                job["error"] = error

    def jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(j) for j in self._jobs.values()]


def job_event(engine: EngineHost, job: dict[str, Any], result: CommandResult) -> EmittedEvent:
    """The ``<cmd>Completed`` / ``<cmd>Failed`` event of a drained job (in its result only)."""
    name = job["commandName"]
    cmd = engine.model.command(name, job.get("entityName"))
    now = engine.now()
    if result.success:
        event_name = (cmd.ir.get("completionEvent") if cmd else None) or f"{name}Completed"
        payload: dict[str, Any] = {"jobId": job["jobId"], "result": result.result, "completedAt": now}
    else:
        event_name = (cmd.ir.get("failureEvent") if cmd else None) or f"{name}Failed"
        payload = {"jobId": job["jobId"], "error": result.error, "failedAt": now}
    return EmittedEvent(
        event_name,
        f"jobs.{name}",
        payload,
        now,
        correlation_id=job.get("correlationId"),
        causation_id=job.get("causationId"),
    )


# --- retry ------------------------------------------------------------------------------------

_CODE = re.compile(r"^([A-Z][A-Z0-9_]+):")


def error_code(result: CommandResult) -> str | None:
    if result.concurrency_conflict is not None:
        return "CONCURRENCY_CONFLICT"
    m = _CODE.match(result.error or "")
    if m:
        return m.group(1)
    return "TIMEOUT" if "TIMEOUT" in (result.error or "") else None


def retryable(result: CommandResult, retry_on: list[str]) -> bool:
    if result.success or result.policy_denial or result.guard_failure:
        return False
    if result.constraint_outcomes and any(
        not o.passed and o.severity == "block" and not o.overridden for o in result.constraint_outcomes
    ):
        return False
    return error_code(result) in retry_on


def backoff_delay(policy: dict[str, Any], attempt: int) -> float:
    base = float(policy.get("delayMs", 0) or 0)
    kind = policy.get("backoff", "fixed")
    delay = (
        base * attempt if kind == "linear" else base * (2 ** (attempt - 1)) if kind == "exponential" else base
    )
    ceiling = policy.get("maxDelayMs")
    return min(delay, float(ceiling)) if ceiling is not None else delay


def with_retry(
    policy: dict[str, Any],
    attempt_fn: Callable[[], tuple[Any, CommandResult]],
    sleep: Callable[[float], None],
    jitter: Callable[[float], float],
) -> tuple[Any, CommandResult]:
    """Run ``attempt_fn`` until success, a non-retryable failure or ``maxAttempts``."""
    max_attempts = bounded_int(policy.get("maxAttempts", 1) or 1, 1, 1, MAX_ATTEMPTS)
    retry_on = list(policy.get("retryOn") or [])
    delays: list[float] = []
    attempts = 0
    while True:
        attempts += 1
        state, result = attempt_fn()
        if attempts >= max_attempts or not retryable(result, retry_on):
            break
        delay = backoff_delay(policy, attempts)
        if policy.get("jitter"):
            delay = jitter(delay)
        delays.append(delay)
        sleep(delay)
    info: dict[str, Any] = {
        "attempts": attempts,
        "exhausted": not result.success and attempts >= max_attempts and retryable(result, retry_on),
        "delaysMs": delays,
    }
    code = error_code(result) if not result.success else None
    if code is not None:
        info["lastErrorCode"] = code
    result.retry = info
    return state, result


# --- schedules --------------------------------------------------------------------------------


def schedule_params(engine: EngineHost, schedule: ScheduleModel) -> dict[str, Any]:
    if not schedule.params:
        return {}
    ex = new_execution(engine, budget=False)
    context = engine.context
    scope: dict[str, Any] = {
        "self": None,
        "this": None,
        "user": context.get("user", None),
        "context": context,
        "now": engine.now(),
    }
    if schedule.entity_name:
        scope["_entity"] = schedule.entity_name
    out = {}
    for name, fn in schedule.params:
        value = fn(scope, ex)
        if value is not UNDEFINED:
            out[name] = value
    return out
