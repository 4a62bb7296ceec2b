"""The record of one durable saga (the JSON of its row) and the transitions between its states.

Every transition is a pure function of the record: the runner computes the next record, and the
store writes it in the same transaction as the step that caused it, checked against the version
it was computed from. Statuses: ``running`` (forward steps), ``compensating`` (undoing completed
steps in reverse), then one of ``completed``, ``compensated``, ``failed`` (a compensation could not
be applied: the step is named in ``compensationFailed`` for an operator) or ``aborted`` (a model
saga whose ``on_failure`` is not ``compensate``). Step statuses are the in-process ``Saga``'s:
``pending``, ``completed``, ``failed``, ``skipped`` (never ran), ``compensated``,
``compensation_failed``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..stores.sagas import ABORTED, COMPENSATED, COMPENSATING, COMPLETED, FAILED, FINAL_STATUSES, RUNNING
from .saga_plan import SagaPlan

#: the engine clock in milliseconds (lifecycle event timestamps)
Clock = Callable[[], float]


@dataclass(slots=True)
class StepRecord:
    step: str
    command: str
    status: str = "pending"
    instance_id: str | None = None
    causation_id: str | None = None
    result: dict[str, Any] | None = None
    compensation: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step, "command": self.command, "status": self.status}
        for key, value in (
            ("instanceId", self.instance_id),
            ("causationId", self.causation_id),
            ("result", self.result),
            ("compensation", self.compensation),
            ("error", self.error),
        ):
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        return cls(
            step=str(data["step"]),
            command=str(data["command"]),
            status=str(data.get("status") or "pending"),
            instance_id=data.get("instanceId"),
            causation_id=data.get("causationId"),
            result=data.get("result"),
            compensation=data.get("compensation"),
            error=data.get("error"),
        )


@dataclass(slots=True)
class SagaRecord:
    saga_id: str
    plan: SagaPlan
    correlation_id: str
    context: dict[str, Any]
    tenant: str | None
    steps: list[StepRecord]
    status: str = RUNNING
    next: int = 0
    failed_step: str | None = None
    error: str | None = None
    compensation_failed: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float | None = None
    #: the row version this record was read at (not part of the JSON)
    version: int = 0

    @classmethod
    def new(
        cls,
        saga_id: str,
        plan: SagaPlan,
        *,
        correlation_id: str,
        context: Mapping[str, Any],
        tenant: str | None,
        at: float,
    ) -> SagaRecord:
        steps = [StepRecord(s.name, s.label, instance_id=s.instance_id) for s in plan.steps]
        return cls(saga_id, plan, correlation_id, dict(context), tenant, steps, created_at=at, updated_at=at)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def copy(self) -> SagaRecord:
        """A copy the transitions may change without touching this record: they replace step
        fields and append to lists, never change a stored result or event in place, so the
        steps and lists are copied and everything else is shared (a deep copy of a record with
        its results was most of a durable step's cost)."""
        return dataclasses.replace(
            self,
            steps=[dataclasses.replace(s) for s in self.steps],
            compensation_failed=list(self.compensation_failed),
            events=list(self.events),
        )

    # -- transitions ---------------------------------------------------------------------------
    def started(self, clock: Clock) -> list[dict[str, Any]]:
        if not self.plan.steps:
            return [self.lifecycle("SagaStarted", clock), *self._finish(COMPLETED, clock)]
        return [self.lifecycle("SagaStarted", clock)]

    def step_completed(self, index: int, result: dict[str, Any], clock: Clock) -> list[dict[str, Any]]:
        """Step ``index`` applied with ``result``; the lifecycle events this adds."""
        rec = self.steps[index]
        rec.status, rec.result, rec.error = "completed", result, None
        self.next = index + 1
        events = [self.lifecycle("SagaStepCompleted", clock, step=rec.step)]
        if self.next >= len(self.steps):
            events += self._finish(COMPLETED, clock)
        return events

    def step_failed(
        self, index: int, result: dict[str, Any] | None, error: str, clock: Clock
    ) -> list[dict[str, Any]]:
        """Step ``index`` refused (a blocking failure, not a transient one)."""
        rec = self.steps[index]
        rec.status, rec.result, rec.error = "failed", result, error
        if self.plan.steps[index].optional:
            self.next = index + 1
            return self._finish(COMPLETED, clock) if self.next >= len(self.steps) else []
        self.failed_step, self.error = rec.step, error
        for later in self.steps[index + 1 :]:
            later.status = "skipped"
        self.next = len(self.steps)
        if self.plan.on_failure != "compensate":
            return self._finish(ABORTED, clock)
        self.status = COMPENSATING
        return self._finish_compensation(clock) if self.next_compensation() is None else []

    def next_compensation(self) -> int | None:
        """The latest completed step that has a compensation, or None when all are undone."""
        for index in range(len(self.steps) - 1, -1, -1):
            if self.steps[index].status == "completed" and self.plan.steps[index].compensation:
                return index
        return None

    def compensated(self, index: int, result: dict[str, Any], clock: Clock) -> list[dict[str, Any]]:
        rec = self.steps[index]
        rec.status, rec.compensation = "compensated", result
        return self._finish_compensation(clock) if self.next_compensation() is None else []

    def compensation_refused(
        self, index: int, result: dict[str, Any] | None, error: str, clock: Clock
    ) -> list[dict[str, Any]]:
        rec = self.steps[index]
        rec.status, rec.compensation, rec.error = "compensation_failed", result, error
        self.compensation_failed.append(rec.step)
        return self._finish_compensation(clock) if self.next_compensation() is None else []

    def _finish_compensation(self, clock: Clock) -> list[dict[str, Any]]:
        return self._finish(FAILED if self.compensation_failed else COMPENSATED, clock)

    def _finish(self, status: str, clock: Clock) -> list[dict[str, Any]]:
        self.status = status
        self.finished_at = self.updated_at
        if status == COMPLETED:
            return [self.lifecycle("SagaCompleted", clock)]
        return [self.lifecycle("SagaFailed", clock, failedStep=self.failed_step)]

    def lifecycle(self, name: str, clock: Clock, **extra: Any) -> dict[str, Any]:
        """A lifecycle event in the reference's shape, plus the saga as its subject (so the outbox
        orders a saga's events by saga) and ``sagaId`` in the payload."""
        payload: dict[str, Any] = {"sagaName": self.plan.name, "sagaId": self.saga_id}
        payload.update({k: v for k, v in extra.items() if v is not None})
        at = clock()
        event = {
            "name": name,
            "channel": self.plan.channels.get(name, name),
            "payload": payload,
            "subject": {"entity": "Saga", "command": self.plan.name, "id": self.saga_id},
            "timestamp": at,
            "correlationId": self.correlation_id,
            "causationId": self.plan.causation_id,
        }
        # The record keeps what is not the saga's own (the full event goes to the outbox).
        self.events.append(
            {"name": name, "timestamp": at, **{k: v for k, v in extra.items() if v is not None}}
        )
        return event

    # -- reading -------------------------------------------------------------------------------
    def completed_results(self) -> dict[str, Any]:
        return {s.step: s.result for s in self.steps if s.result is not None and s.status != "failed"}

    def view(self) -> dict[str, Any]:
        """The status document (``saga_status``, ``GET /sagas/{id}``)."""
        out: dict[str, Any] = {
            "sagaId": self.saga_id,
            "saga": self.plan.name,
            "kind": self.plan.kind,
            "status": self.status,
            "correlationId": self.correlation_id,
            "tenantId": self.tenant,
            "steps": [s.to_dict() for s in self.steps],
            "events": list(self.events),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "version": self.version,
        }
        for key, value in (
            ("failedStep", self.failed_step),
            ("error", self.error),
            ("finishedAt", self.finished_at),
        ):
            if value is not None:
                out[key] = value
        if self.compensation_failed:
            out["compensationFailed"] = list(self.compensation_failed)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "sagaId": self.saga_id,
            "plan": self.plan.to_dict(),
            "correlationId": self.correlation_id,
            "context": self.context,
            "tenantId": self.tenant,
            "steps": [s.to_dict() for s in self.steps],
            "status": self.status,
            "next": self.next,
            "failedStep": self.failed_step,
            "error": self.error,
            "compensationFailed": list(self.compensation_failed),
            "events": self.events,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "finishedAt": self.finished_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], version: int = 0) -> SagaRecord:
        return cls(
            saga_id=str(data["sagaId"]),
            plan=SagaPlan.from_dict(data["plan"]),
            correlation_id=str(data["correlationId"]),
            context=dict(data.get("context") or {}),
            tenant=data.get("tenantId"),
            steps=[StepRecord.from_dict(s) for s in data.get("steps") or []],
            status=str(data.get("status") or RUNNING),
            next=int(data.get("next") or 0),
            failed_step=data.get("failedStep"),
            error=data.get("error"),
            compensation_failed=list(data.get("compensationFailed") or []),
            events=list(data.get("events") or []),
            created_at=float(data.get("createdAt") or 0.0),
            updated_at=float(data.get("updatedAt") or 0.0),
            finished_at=data.get("finishedAt"),
            version=version,
        )
