"""The worker side of approvals: ``on_timeout`` fired at the request's expiry.

A request with a ``timeout`` (hours) gets an ``approval_timeout`` item due at ``expiresAt``. When
it runs and the request is still pending (and is the same request: a consumed-and-renewed
request has another ``requestedAt``):

- ``on_timeout: cancel`` (or none): the request becomes ``expired``; ``ApprovalExpired``.
- ``on_timeout: escalate { to, status, timeout }``: ``to`` is evaluated against the instance
  (``self``), the request gets ``escalatedTo``, the status the block names (``pending`` keeps it
  open), a new expiry ``timeout`` hours on and a new timeout item; ``ApprovalEscalated``. An
  escalated request that times out again expires.
"""

from __future__ import annotations

from typing import Any

from ..errors import StoreConflictError
from ..expr.values import UNDEFINED
from ..stores.work import DONE, ApprovalWrite, WorkOutcome, revision_of
from .approvals import HOUR_MS, TIMEOUT_KIND, approval_event, timeout_item
from .kinds import ItemRun, WorkKind, register_kind


def _declaration(model: Any, entity: str, name: str) -> dict[str, Any] | None:
    em = model.entities.get(entity)
    for approval in em.approvals if em is not None else []:
        if approval.name == name:
            return dict(approval.ir)
    return None


def run_timeout(run: ItemRun) -> WorkOutcome:
    payload, store, model = run.item.payload, run.worker.store, run.worker.model
    request = store.approval_load(payload["key"])
    same = request is not None and request.get("requestedAt") == payload.get("requestedAt")
    if not same or request is None or request.get("status") != "pending":
        return WorkOutcome(DONE, result={"skipped": "the request was decided or replaced"})
    if int(request.get("escalations", 0)) != int(payload.get("escalations", 0)):
        return WorkOutcome(DONE, result={"skipped": "superseded by a later escalation"})
    declared = _declaration(model, str(request.get("entity")), str(request.get("approval"))) or {}
    on_timeout = declared.get("onTimeout")
    engine = run.engine({"source": "approval_timeout"})
    now = engine.now()
    if (
        isinstance(on_timeout, dict)
        and on_timeout.get("action") == "escalate"
        and not request.get("escalations")
    ):
        updated = _escalated(engine, request, on_timeout, now)
        event = approval_event(
            model, updated, "ApprovalEscalated", now, escalatedTo=str(updated["escalatedTo"])
        )
        renewed = float(updated.get("expiresAt") or 0) > now
        work = [timeout_item(updated, escalations=1)] if renewed else []
    else:
        updated = {**request, "status": "expired", "expiredAt": now, "timeoutAction": "cancel"}
        event = approval_event(model, updated, "ApprovalExpired", now)
        work = []
    outbox = [event] if store.records_outbox else []
    revision = revision_of(request)
    write = ApprovalWrite(
        str(request["key"]), {**updated, "revision": revision + 1}, expect_revision=revision
    )
    try:
        store.approval_write([write], now=run.now, work=work, outbox=outbox)
    except StoreConflictError:
        return WorkOutcome(DONE, result={"skipped": "a decision came first"})
    return WorkOutcome(DONE, result={"status": updated["status"], "escalatedTo": updated.get("escalatedTo")})


def _escalated(engine: Any, request: dict[str, Any], spec: dict[str, Any], now: float) -> dict[str, Any]:
    entity, instance_id = str(request.get("entity")), request.get("instanceId")
    row = engine.get_instance(entity, str(instance_id)) if instance_id is not None else None
    target: Any = None
    if spec.get("to") is not None:
        self_obj = dict(row or {}, _entity=entity) if row is not None else None
        scope = {**(row or {}), "self": self_obj, "this": self_obj, "user": None, "context": engine.context}
        target = engine.evaluate_expression(spec["to"], scope)
    hours = spec.get("timeout")
    updated = {
        **request,
        "status": str(spec.get("status") or "pending"),
        "escalatedTo": None if target is UNDEFINED else target,
        "escalatedAt": now,
        "escalations": int(request.get("escalations", 0)) + 1,
    }
    if isinstance(hours, int | float) and hours > 0:
        updated["expiresAt"] = now + hours * HOUR_MS
    return updated


register_kind(WorkKind(TIMEOUT_KIND, run_timeout, group="approvals"))
