"""Audit records of commands (the reference's ``AuditRecord`` shape and outcome classification)."""

from __future__ import annotations

from typing import Any

from .outcomes import get_blocking_constraints
from .results import CommandResult

_CONTEXT_FIELDS = ("tenantId", "orgId", "actorId", "requestId", "source")


def classify(result: CommandResult | None) -> str:
    if result is None:
        return "error"
    if result.success:
        return "success"
    if result.policy_denial is not None:
        return "policy_denied"
    if result.guard_failure is not None:
        return "guard_denied"
    if result.rate_limit_denial is not None:
        return "rate_limit_denied"
    if result.concurrency_conflict is not None:
        return "concurrency_conflict"
    if (result.error or "").startswith("MISSING_TENANT_CONTEXT"):
        return "missing_tenant_context"
    if result.constraint_outcomes and get_blocking_constraints(result.constraint_outcomes):
        return "constraint_failed"
    return "error"


def audit_record(
    record_id: str,
    occurred_at: float,
    command: str,
    entity: str | None,
    context: dict[str, Any],
    ir_hash: str | None,
    result: CommandResult,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "recordId": record_id,
        "occurredAt": occurred_at,
        "command": command,
        "commandId": f"{entity}.{command}" if entity else command,
        "outcome": classify(result),
    }
    if entity:
        record["entity"] = entity
    for key in _CONTEXT_FIELDS:
        value = context.get(key)
        if isinstance(value, str):
            record[key] = value
    if ir_hash:
        record["irHash"] = ir_hash
    if not result.success:
        full = result.to_dict()
        keys = (
            "error",
            "deniedBy",
            "policyDenial",
            "guardFailure",
            "concurrencyConflict",
            "constraintOutcomes",
            "overrideRequests",
        )
        record["diagnostics"] = {k: full[k] for k in keys if k in full}
    if result.emitted_events:
        record["emittedEventNames"] = [e.name for e in result.emitted_events]
    return record
