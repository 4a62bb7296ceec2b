"""Durable approvals: requests in the store's ``approvals`` table, decisions as outbox events,
the approved command in the same transaction as the final approval.

- The command's approval gate (``runtime/approvals.py``) loads and saves requests through the
  engine's ``approval_store``; ``StoreApprovalStore`` keeps them in the store, and a new request
  with a ``timeout`` gets a work item (kind ``approval_timeout``) due at its expiry, in the same
  transaction, plus an ``ApprovalRequested`` outbox event.
- ``ApprovalDesk`` records decisions: ``approve`` checks the stage's policy for the caller (the
  IR's ``policy``, with the caller bound as ``user``), records who decided and when; when the last
  required stage is approved it runs the command, and the grant is consumed in the command's own
  unit of work (the request row becomes ``approved`` and the decision events are committed with
  the command's rows and events, or none of it). ``deny`` ends a request.
- Every decision is an outbox event (``ApprovalRequested``, ``ApprovalStageApproved``,
  ``ApprovalGranted``, ``ApprovalDenied``, ``ApprovalExpired``, ``ApprovalEscalated``) under the
  request's correlation id (``approval:<key>:<requestedAt>``), which the approved command runs
  under too, so ``/trace/{correlationId}`` shows the whole story.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ManifestError, StoreConflictError
from ..runtime.approvals import approve_stage, deny, may_decide, request_key
from ..stores.work import ApprovalWrite, WorkItem, revision_of

TIMEOUT_KIND = "approval_timeout"
HOUR_MS = 3_600_000


def correlation_of(request: Mapping[str, Any]) -> str:
    return str(request.get("correlationId") or f"approval:{request.get('key')}:{request.get('requestedAt')}")


def approval_event(
    model: Any, request: Mapping[str, Any], name: str, at: float, **extra: Any
) -> dict[str, Any]:
    """An outbox entry for one decision (a deterministic entry id: written at most once)."""
    declared = next((e for e in model.ir.get("events", []) or [] if e.get("name") == name), None)
    channel = (declared or {}).get("channel") or f"approvals.{request.get('approval')}"
    payload = {
        "requestKey": request.get("key"),
        "approval": request.get("approval"),
        "entity": request.get("entity"),
        "instanceId": request.get("instanceId"),
        "orderId": request.get("instanceId"),
        "status": request.get("status"),
        **extra,
    }
    event = {
        "name": name,
        "channel": channel,
        "payload": payload,
        "timestamp": at,
        "subject": {"entity": request.get("entity"), "id": request.get("instanceId")},
        "correlationId": correlation_of(request),
        "causationId": f"approval:{request.get('key')}",
    }
    suffix = "".join(f":{extra[k]}" for k in sorted(extra) if isinstance(extra[k], str | int | float))
    entry_id = f"{correlation_of(request)}:{name}{suffix}"
    return {"entryId": entry_id, "event": event, "enqueuedAt": at}


class StoreApprovalStore:
    """The engine's ``approval_store`` over a store's approvals table."""

    def __init__(self, store: Any, model: Any = None) -> None:
        self.store = store
        self.model = model

    def load(self, key: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.store.approval_load(key)
        return result

    def save(self, key: str, request: dict[str, Any]) -> None:
        request.setdefault("correlationId", correlation_of(request))
        work: list[WorkItem] = []
        outbox: list[dict[str, Any]] = []
        if request.get("status") == "pending" and not request.get("decisions"):
            # A new request (the gate saves the same pending request on every refusal: the
            # dedupe key and the entry id make that a no-op after the first time).
            expires = request.get("expiresAt")
            if isinstance(expires, int | float):
                work.append(timeout_item(request, escalations=0))
            if self.model is not None and self.store.records_outbox:
                outbox.append(
                    approval_event(self.model, request, "ApprovalRequested", request["requestedAt"])
                )
        self.store.approval_write([ApprovalWrite(key, request)], now=time.time(), work=work, outbox=outbox)

    def delete(self, key: str) -> None:
        self.store.approval_write([ApprovalWrite(key, None)], now=time.time())

    def list(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.store.approval_list()
        return result


def timeout_item(request: Mapping[str, Any], *, escalations: int) -> WorkItem:
    key = str(request["key"])
    marker = f"{key}:{request.get('requestedAt')}:{escalations}"
    return WorkItem(
        id=f"approval-timeout:{marker}",
        kind=TIMEOUT_KIND,
        payload={"key": key, "requestedAt": request.get("requestedAt"), "escalations": escalations},
        due_at=float(request["expiresAt"]) / 1000,
        dedupe_key=f"approval-timeout:{marker}",
    )


def remember_input(store: Any, key: str, input: Mapping[str, Any]) -> None:
    """Keep the input of the refused call on its pending request (once), so the final approval
    runs the command with it unless the approver sends another."""
    request = store.approval_load(key) if hasattr(store, "approval_load") else None
    if request is None or request.get("status") != "pending" or "input" in request:
        return
    revision = revision_of(request)
    kept = {**request, "input": dict(input), "revision": revision + 1}
    try:
        store.approval_write([ApprovalWrite(key, kept, expect_revision=revision)], now=time.time())
    except StoreConflictError:
        pass  # a decision came first: the approver's input (or none) it is


@dataclass(slots=True)
class Decision:
    """What a decision did: the request after it and, for a final approval, the command's result."""

    request: dict[str, Any]
    result: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"request": self.request}
        if self.result is not None:
            out["result"] = self.result
        return out


class _Overlay:
    """The approval store a decision's engine sees: the final grant stays in memory, to be
    consumed by the command and committed in the command's unit of work."""

    def __init__(self, base: StoreApprovalStore) -> None:
        self.base = base
        self.granted: dict[str, Any] | None = None
        self.consumed = False
        self.saved: dict[str, Any] | None = None

    def load(self, key: str) -> dict[str, Any] | None:
        if self.granted is not None and self.granted.get("key") == key:
            return dict(self.granted)
        return self.base.load(key)

    def save(self, key: str, request: dict[str, Any]) -> None:
        if request.get("status") == "granted":
            self.granted = request
            return
        self.saved = request

    def delete(self, key: str) -> None:
        if self.granted is not None and self.granted.get("key") == key:
            self.consumed = True
            return
        self.base.delete(key)

    def list(self) -> list[dict[str, Any]]:
        return self.base.list()


class _CommitWith:
    """A store that adds the approval's rows and events to the command's unit of work."""

    def __init__(self, store: Any, approvals: list[ApprovalWrite], outbox: list[dict[str, Any]]) -> None:
        self._store = store
        self._approvals = approvals
        self._outbox = outbox
        self.committed = False
        self.records_outbox = store.records_outbox
        self.records_audit = store.records_audit
        self.audit_refusals = getattr(store, "audit_refusals", False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def commit(self, uow: Any) -> None:
        if not self.committed and (uow.writes or uow.outbox):
            uow.approvals = [*uow.approvals, *self._approvals]
            if self.records_outbox:
                uow.outbox = [*self._outbox, *uow.outbox]
            self._store.commit(uow)
            self.committed = True
            return
        self._store.commit(uow)


class ApprovalDecisionError(ManifestError):
    """A decision that cannot be recorded; ``code`` says why (HTTP maps it to a status)."""

    code = "APPROVAL_NOT_FOUND"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def caller(context: Mapping[str, Any]) -> dict[str, Any]:
    """The deciding user: ``context['user']`` (a dict with ``id``/``role``, or an id)."""
    user = context.get("user")
    return dict(user) if isinstance(user, dict) else {"id": user}


class ApprovalDesk:
    """Decisions on approval requests, for the HTTP routes and scripts."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.model = services.model
        self.store = services.store

    def requests(
        self, entity: str, instance_id: str, *, status: str | None = "pending"
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.store.approval_list(
            entity=entity, instance_id=instance_id, status=status
        )
        return rows

    def get(self, entity: str, instance_id: str, approval: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.store.approval_load(request_key(entity, instance_id, approval))
        return found

    def approve(
        self,
        context: dict[str, Any],
        entity: str,
        instance_id: str,
        approval: str,
        stage: str,
        *,
        input: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Approve ``stage`` as ``context['user']``; ValueError if the request, the stage or the
        caller's role does not allow it. The last approval runs the command."""
        base = StoreApprovalStore(self.store, self.model)
        current = self._pending(entity, instance_id, approval)
        if stage not in (current.get("stages") or {}) or stage not in (current.get("pendingStages") or []):
            raise ApprovalDecisionError(
                "APPROVAL_STAGE_INVALID", f"stage '{stage}' is not pending on '{current.get('key')}'"
            )
        overlay = _Overlay(base)
        engine = self.services.engine(context, approval_store=overlay, idempotency_store=None)
        user = caller(context)
        try:
            request = approve_stage(engine, entity, instance_id, approval, stage, user)
        except ValueError as exc:  # only the stage policy is left to refuse
            raise ApprovalDecisionError("APPROVER_NOT_ALLOWED", str(exc)) from None
        now = engine.now()
        decision = {
            "stage": stage,
            "decision": "approved",
            "by": user.get("id"),
            "role": user.get("role"),
            "at": now,
        }
        revision = revision_of(request)
        decisions = [*(request.get("decisions") or []), decision]
        request = {**request, "decisions": decisions, "revision": revision + 1}
        events = [self._event(request, "ApprovalStageApproved", now, stage=stage, by=str(user.get("id")))]
        if overlay.granted is None:
            self._write(request, events, revision)
            return Decision(request)
        events.append(self._event(request, "ApprovalGranted", now))
        command_input = input or request.get("input") or {}
        return self._run_granted(context, request, events, command_input, revision)

    def _run_granted(
        self,
        context: dict[str, Any],
        request: dict[str, Any],
        events: list[dict[str, Any]],
        input: Mapping[str, Any],
        revision: int,
    ) -> Decision:
        """Run the command with the grant; the request's final write is conditional on
        ``revision``, so of two final approvals at once only one command commits."""
        done = {**request, "status": "approved", "pendingStages": []}
        overlay = _Overlay(StoreApprovalStore(self.store, self.model))
        overlay.granted = {**request, "status": "granted"}
        write = ApprovalWrite(str(request["key"]), done, expect_revision=revision)
        store = _CommitWith(self.store, [write], events)
        engine = self.services.engine(
            context, approval_store=overlay, store_provider=store, idempotency_store=None
        )
        result = engine.run_command(
            str(request.get("command")),
            dict(input),
            entity_name=request.get("entity"),
            instance_id=request.get("instanceId"),
            correlation_id=correlation_of(request),
            causation_id=f"approval:{request['key']}",
        )
        if result.success and not store.committed:
            self._write(done, events, revision)  # the command wrote nothing: the approval alone
        elif not result.success:
            if revision_of(self.store.approval_load(str(request["key"]))) != revision:
                raise ApprovalDecisionError("CONCURRENCY_CONFLICT", "the request was decided concurrently")
            # The command was refused (a guard, a constraint): the grant stays, so running the
            # command again consumes it.
            granted = {**request, "status": "granted"}
            self._write(granted, events, revision)
            return Decision(granted, result.to_dict())
        return Decision(done, result.to_dict())

    def deny(
        self,
        context: dict[str, Any],
        entity: str,
        instance_id: str,
        approval: str,
        reason: str | None = None,
        *,
        stage: str | None = None,
    ) -> Decision:
        """Deny the request as ``context['user']``, who must pass the policy of ``stage`` (or,
        without one, of some stage still pending): whoever may approve may also refuse."""
        overlay = _Overlay(StoreApprovalStore(self.store, self.model))
        engine = self.services.engine(context, approval_store=overlay, idempotency_store=None)
        user = caller(context)
        current = self._pending(entity, instance_id, approval, also_granted=True)
        stages = (
            [stage]
            if stage is not None
            else list(current.get("pendingStages") or current.get("stages") or [])
        )
        if stage is not None and stage not in (current.get("stages") or {}):
            raise ApprovalDecisionError(
                "APPROVAL_STAGE_INVALID", f"stage '{stage}' is not on '{current['key']}'"
            )
        if not any(may_decide(engine, entity, instance_id, approval, s, user) for s in stages):
            raise ApprovalDecisionError(
                "APPROVER_NOT_ALLOWED", f"{user.get('id')!r} may not decide approval '{approval}'"
            )
        request = deny(engine, entity, instance_id, approval, user.get("id"), reason)
        request = overlay.saved or request
        revision = revision_of(request)
        now = engine.now()
        decision = {
            "decision": "denied",
            "stage": stage,
            "by": user.get("id"),
            "role": user.get("role"),
            "at": now,
            "reason": reason,
        }
        request = {
            **request,
            "decisions": [*(request.get("decisions") or []), decision],
            "revision": revision + 1,
        }
        self._write(request, [self._event(request, "ApprovalDenied", now, by=str(user.get("id")))], revision)
        return Decision(request)

    def _pending(
        self, entity: str, instance_id: str, approval: str, *, also_granted: bool = False
    ) -> dict[str, Any]:
        request = self.get(entity, instance_id, approval)
        open_statuses = ("pending", "granted") if also_granted else ("pending",)
        if request is None or request.get("status") not in open_statuses:
            key = request_key(entity, instance_id, approval)
            raise ApprovalDecisionError("APPROVAL_NOT_FOUND", f"no pending approval request '{key}'")
        return request

    def _event(self, request: Mapping[str, Any], name: str, at: float, **extra: Any) -> dict[str, Any]:
        return approval_event(self.model, request, name, at, **extra)

    def _write(self, request: dict[str, Any], events: list[dict[str, Any]], revision: int) -> None:
        """The decision, if the request is still at ``revision`` (else 409 CONCURRENCY_CONFLICT)."""
        outbox = events if self.store.records_outbox else []
        write = ApprovalWrite(str(request["key"]), request, expect_revision=revision)
        try:
            self.store.approval_write([write], now=time.time(), outbox=outbox)
        except StoreConflictError:
            raise ApprovalDecisionError(
                "CONCURRENCY_CONFLICT", "the request was decided concurrently"
            ) from None
