"""Multi-stage approvals: a command guarded by an ``approval`` runs only once its request is granted.

The gate runs after the guards: the stages whose ``when`` holds are required; without a granted
request the command fails with ``Command '<cmd>' requires approval '<name>'`` and a pending request
is created (or refreshed). Approvers record their decision with ``approve_stage`` / ``deny``; each
stage's ``policy`` is evaluated for the approving user. A granted request is consumed by the
command it unlocks, so every execution needs its own approval.
"""

from __future__ import annotations

import threading
from typing import Any

from ..expr.values import truthy
from .codes import ResultCode
from .execution import Execution, new_execution
from .host import EngineHost
from .records import ApprovalModel, ApprovalStageModel, EntityModel
from .refusal import Refusal

HOUR_MS = 3_600_000


class MemoryApprovalStore:
    """Approval requests by key (``<Entity>:<id>:<approval>``); thread-safe."""

    def __init__(self) -> None:
        self._requests: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def load(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            request = self._requests.get(key)
            return dict(request) if request is not None else None

    def save(self, key: str, request: dict[str, Any]) -> None:
        with self._lock:
            self._requests[key] = request

    def delete(self, key: str) -> None:
        with self._lock:
            self._requests.pop(key, None)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._requests.values()]


def request_key(entity: str, instance_id: str | None, approval: str) -> str:
    return f"{entity}:{instance_id or 'unknown'}:{approval}"


def approval_gate(
    ex: Execution, em: EntityModel, command: str, instance_id: str | None, scope: dict[str, Any]
) -> Refusal | None:
    """The refusal of the first approval on ``command`` that is not granted (a pending request is
    created or kept), or None; a granted request is consumed."""
    for approval in em.approvals:
        if approval.command != command:
            continue
        required = [st for st in approval.stages if st.when is None or truthy(st.when(scope, ex))]
        if not required:
            continue
        engine = ex.engine
        key = request_key(em.name, instance_id, approval.name)
        request = engine.approval_store.load(key)
        if request is not None and request.get("status") == "granted":
            engine.approval_store.delete(key)
            continue
        request = _pending_request(engine, key, em.name, instance_id, approval, required, request)
        engine.approval_store.save(key, request)
        return Refusal(
            ResultCode.APPROVAL_REQUIRED,
            f"Command '{command}' requires approval '{approval.name}'",
            {
                "approval_required": {
                    "approvalName": approval.name,
                    "pendingStages": request["pendingStages"],
                    "requestKey": key,
                }
            },
        )
    return None


def _pending_request(
    engine: EngineHost,
    key: str,
    entity: str,
    instance_id: str | None,
    approval: ApprovalModel,
    required: list[ApprovalStageModel],
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    if previous is not None and previous.get("status") == "pending":
        return previous
    now = engine.now()
    request: dict[str, Any] = {
        "key": key,
        "entity": entity,
        "instanceId": instance_id,
        "approval": approval.name,
        "command": approval.command,
        "status": "pending",
        "requestedAt": now,
        "stages": {st.name: {"required": st.required, "approvals": []} for st in required},
        "pendingStages": [st.name for st in required],
    }
    timeout = approval.timeout
    if isinstance(timeout, (int, float)) and timeout > 0:
        request["expiresAt"] = now + timeout * HOUR_MS
    return request


def approve_stage(
    engine: EngineHost, entity: str, instance_id: str, approval_name: str, stage: str, approver: Any
) -> dict[str, Any]:
    """Record ``approver``'s approval of ``stage``; returns the updated request.

    ``approver`` is the approving user (a dict with ``id``/``role``, or an id): the stage policy is
    evaluated with it bound as ``user``. Raises ``ValueError`` for an unknown request or stage, or
    when the approver is not allowed.
    """
    key = request_key(entity, instance_id, approval_name)
    request: dict[str, Any] | None = engine.approval_store.load(key)
    if request is None or request.get("status") != "pending":
        raise ValueError(f"no pending approval request '{key}'")
    stages = request["stages"]
    if stage not in stages:
        raise ValueError(f"stage '{stage}' is not pending on '{key}'")
    user = approver if isinstance(approver, dict) else {"id": approver}
    policy = _stage_policy(engine, entity, approval_name, stage)
    if policy is not None and not _allowed(engine, entity, instance_id, policy, user):
        raise ValueError(f"approver {user.get('id')!r} is not allowed to approve stage '{stage}'")
    entry = stages[stage]
    if user.get("id") not in entry["approvals"]:
        entry["approvals"].append(user.get("id"))
    request["pendingStages"] = [n for n, st in stages.items() if len(st["approvals"]) < st["required"]]
    if not request["pendingStages"]:
        request["status"] = "granted"
    engine.approval_store.save(key, request)
    return request


def deny(
    engine: EngineHost,
    entity: str,
    instance_id: str,
    approval_name: str,
    by: Any,
    reason: str | None = None,
) -> dict[str, Any]:
    key = request_key(entity, instance_id, approval_name)
    request: dict[str, Any] | None = engine.approval_store.load(key)
    if request is None:
        raise ValueError(f"no approval request '{key}'")
    request.update(status="denied", deniedBy=by)
    if reason is not None:
        request["reason"] = reason
    engine.approval_store.save(key, request)
    return request


def expire(engine: EngineHost, now: float | None = None) -> list[str]:
    """Mark pending requests past their ``expiresAt`` as expired; returns their keys."""
    at = engine.now() if now is None else now
    expired = []
    for request in engine.approval_store.list():
        if request.get("status") == "pending" and request.get("expiresAt", at + 1) <= at:
            request["status"] = "expired"
            engine.approval_store.save(request["key"], request)
            expired.append(request["key"])
    return expired


def may_decide(
    engine: EngineHost, entity: str, instance_id: str, approval_name: str, stage: str, user: dict[str, Any]
) -> bool:
    """Whether ``user`` passes ``stage``'s policy on the instance (a stage without one: anyone)."""
    policy = _stage_policy(engine, entity, approval_name, stage)
    return policy is None or _allowed(engine, entity, instance_id, policy, user)


def _stage_policy(engine: EngineHost, entity: str, approval_name: str, stage: str) -> Any:
    em = engine.model.entities.get(entity)
    for approval in em.approvals if em is not None else []:
        if approval.name == approval_name:
            for st in approval.stages:
                if st.name == stage:
                    return st.policy
    return None


def _allowed(engine: EngineHost, entity: str, instance_id: str, policy: Any, user: dict[str, Any]) -> bool:
    ex = new_execution(engine, budget=False)
    row, _ = ex.load_visible(entity, instance_id)
    scope: dict[str, Any] = dict(row or {})
    self_obj = dict(row or {}, _entity=entity) if row is not None else None
    scope.update(self=self_obj, this=self_obj, user=user, context=dict(engine.context, user=user))
    return truthy(policy(scope, ex))
