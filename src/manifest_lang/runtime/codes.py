"""``ResultCode``: why a command failed, as a stable code (``CommandResult.code``).

Every failed ``CommandResult`` the runtime builds carries one; a successful result carries None.
The code is Python-side only: ``to_dict()`` leaves it out, so the reference JSON shape is
unchanged, and callers (the HTTP layer, retries, applications) branch on it instead of on the
error text, which is the reference's and meant for people.
"""

from __future__ import annotations

from enum import StrEnum


class ResultCode(StrEnum):
    # refusals by the model's rules
    POLICY_DENIED = "POLICY_DENIED"
    GUARD_FAILED = "GUARD_FAILED"
    CONSTRAINT_BLOCKED = "CONSTRAINT_BLOCKED"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"
    RATE_LIMITED = "RATE_LIMITED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    UNIQUE_VIOLATION = "UNIQUE_VIOLATION"
    #: another instance rule (readonly, a date/time type, a required property); the blocking
    #: outcome, when there is one, is in ``constraint_outcomes``
    WRITE_REJECTED = "WRITE_REJECTED"
    CONCURRENCY_CONFLICT = "CONCURRENCY_CONFLICT"
    STORE_CONFLICT = "STORE_CONFLICT"
    #: a create whose id is taken (by any tenant): creates never replace a row
    ALREADY_EXISTS = "ALREADY_EXISTS"
    # the call itself
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    UNKNOWN_SCHEDULE = "UNKNOWN_SCHEDULE"
    INSTANCE_NOT_FOUND = "INSTANCE_NOT_FOUND"
    INVALID_INPUT = "INVALID_INPUT"
    #: an id or value beyond the documented limits (docs/persistence.md, "Limits")
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    MISSING_REQUIRED_PARAMETER = "MISSING_REQUIRED_PARAMETER"
    MISSING_TRUSTED_CONTEXT = "MISSING_TRUSTED_CONTEXT"
    #: a supplied parameter that does not have its declared type (``runtime/inputs.py``)
    INVALID_PARAMETER_TYPE = "INVALID_PARAMETER_TYPE"
    MISSING_TENANT_CONTEXT = "MISSING_TENANT_CONTEXT"
    MISSING_IDEMPOTENCY_KEY = "MISSING_IDEMPOTENCY_KEY"
    IDEMPOTENCY_IN_PROGRESS = "IDEMPOTENCY_IN_PROGRESS"
    #: the key was recorded for another request (another fingerprint)
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    PARALLEL_COMMAND_LIMIT = "PARALLEL_COMMAND_LIMIT"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    # the engine's configuration
    MISSING_JOB_QUEUE = "MISSING_JOB_QUEUE"
    MISSING_OUTBOX_STORE = "MISSING_OUTBOX_STORE"
    MISSING_EFFECT_HANDLER = "MISSING_EFFECT_HANDLER"
    #: a failure the runtime cannot classify (a result rebuilt from JSON that names no rule)
    FAILED = "FAILED"


#: error-text prefixes of the runtime's own messages, for results rebuilt from their JSON form
#: (``CommandResult.from_dict``: a result stored by an idempotency store); checked in order
#: after the structured fields
_PREFIXES = (
    ("MISSING_TENANT_CONTEXT", ResultCode.MISSING_TENANT_CONTEXT),
    ("IdempotencyStore is configured but no idempotencyKey", ResultCode.MISSING_IDEMPOTENCY_KEY),
    ("IDEMPOTENCY_IN_PROGRESS", ResultCode.IDEMPOTENCY_IN_PROGRESS),
    ("IDEMPOTENCY_KEY_REUSED", ResultCode.IDEMPOTENCY_KEY_REUSED),
    ("INVALID_INPUT", ResultCode.INVALID_INPUT),
    ("LIMIT_EXCEEDED", ResultCode.LIMIT_EXCEEDED),
    ("ALREADY_EXISTS", ResultCode.ALREADY_EXISTS),
    ("Invalid state transition", ResultCode.INVALID_TRANSITION),
    ("E_UNIQUE", ResultCode.UNIQUE_VIOLATION),
    ("E_ALTERNATE_KEY", ResultCode.UNIQUE_VIOLATION),
    ("STORE_CONFLICT", ResultCode.STORE_CONFLICT),
    ("PARALLEL_COMMAND_LIMIT", ResultCode.PARALLEL_COMMAND_LIMIT),
    ("MISSING_JOB_QUEUE", ResultCode.MISSING_JOB_QUEUE),
    ("MISSING_OUTBOX_STORE", ResultCode.MISSING_OUTBOX_STORE),
    ("MISSING_EFFECT_HANDLER", ResultCode.MISSING_EFFECT_HANDLER),
    ("Evaluation budget exceeded", ResultCode.BUDGET_EXCEEDED),
)


def code_of_json(result: dict[str, object]) -> ResultCode:
    """The code of a failed result in its JSON form, where the code itself is not recorded."""
    if result.get("policyDenial") or result.get("deniedBy"):
        return ResultCode.POLICY_DENIED
    if result.get("concurrencyConflict"):
        conflict = result["concurrencyConflict"]
        kind = conflict.get("conflictCode") if isinstance(conflict, dict) else None
        return ResultCode.STORE_CONFLICT if kind == "STORE_CONFLICT" else ResultCode.CONCURRENCY_CONFLICT
    if result.get("rateLimitDenial"):
        return ResultCode.RATE_LIMITED
    if result.get("approvalRequired"):
        return ResultCode.APPROVAL_REQUIRED
    if result.get("guardFailure"):
        return ResultCode.GUARD_FAILED
    failure = result.get("parameterFailure")
    if isinstance(failure, dict):
        if failure.get("code") == ResultCode.INVALID_PARAMETER_TYPE.value:
            return ResultCode.INVALID_PARAMETER_TYPE
        trusted = bool(failure.get("code"))
        return ResultCode.MISSING_TRUSTED_CONTEXT if trusted else ResultCode.MISSING_REQUIRED_PARAMETER
    error = str(result.get("error") or "")
    for prefix, code in _PREFIXES:
        if error.startswith(prefix):
            return code
    if error.startswith("Command '") and error.endswith("not found"):
        return ResultCode.UNKNOWN_COMMAND
    if error.startswith("Instance '") and error.endswith("not found"):
        return ResultCode.INSTANCE_NOT_FOUND
    outcomes = result.get("constraintOutcomes")
    if isinstance(outcomes, list) and any(_blocks(o) for o in outcomes):
        return ResultCode.CONSTRAINT_BLOCKED
    return ResultCode.FAILED


def _blocks(outcome: object) -> bool:
    if not isinstance(outcome, dict):
        return False
    return outcome.get("severity") == "block" and not outcome.get("passed") and not outcome.get("overridden")
