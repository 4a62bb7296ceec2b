"""From a failed command result (reference JSON shape) to the problem the API answers with.

Keys of the reference shape are stable and the error strings the runtime must reproduce are
specified verbatim, so the mapping reads the JSON form and never the engine's Python types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .problems import ProblemError

# (error prefix, problem code) checked in order after the structured fields.
_ERROR_PREFIXES = (
    ("MISSING_TENANT_CONTEXT", "MISSING_TENANT_CONTEXT"),
    ("MISSING_TRUSTED_CONTEXT", "MISSING_TRUSTED_CONTEXT"),
    ("MISSING_REQUIRED_PARAMETER", "MISSING_REQUIRED_PARAMETER"),
    ("Invalid state transition", "INVALID_TRANSITION"),
    ("E_UNIQUE", "UNIQUE_VIOLATION"),
    ("E_ALTERNATE_KEY", "UNIQUE_VIOLATION"),
    ("Rate limit exceeded", "RATE_LIMITED"),
    ("IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_IN_PROGRESS"),
)


def blocking_outcomes(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        o
        for o in result.get("constraintOutcomes") or []
        if o.get("severity") == "block" and not o.get("passed") and not o.get("overridden")
    ]


def problem_code(result: Mapping[str, Any]) -> str:
    """The problem code for a result with ``success: false``."""
    error = str(result.get("error") or "")
    if result.get("policyDenial") or result.get("deniedBy"):
        return "POLICY_DENIED"
    if result.get("concurrencyConflict"):
        return "CONCURRENCY_CONFLICT"
    if result.get("rateLimitDenial"):
        return "RATE_LIMITED"
    if result.get("approvalRequired"):
        return "APPROVAL_REQUIRED"
    if result.get("guardFailure"):
        return "GUARD_FAILED"
    failure = result.get("parameterFailure")
    if isinstance(failure, Mapping):
        if failure.get("code") == "INVALID_PARAMETER_TYPE":
            return "INVALID_INPUT"  # the engine's typed inputs (runtime/inputs.py): same 400 as the schema's
        return "MISSING_TRUSTED_CONTEXT" if failure.get("code") else "MISSING_REQUIRED_PARAMETER"
    for prefix, code in _ERROR_PREFIXES:
        if error.startswith(prefix):
            return code
    if error.startswith("Command '") and error.endswith("not found"):
        return "UNKNOWN_COMMAND"
    if error.startswith("Instance '") and error.endswith("not found"):
        return "INSTANCE_NOT_FOUND"  # also what another tenant's row looks like
    if blocking_outcomes(result):
        return "CONSTRAINT_BLOCKED"
    return "COMMAND_FAILED"


def problem_for_result(result: Mapping[str, Any]) -> ProblemError:
    code = problem_code(result)
    headers: dict[str, str] = {}
    denial = result.get("rateLimitDenial")
    if isinstance(denial, Mapping) and isinstance(denial.get("retryAfterMs"), (int, float)):
        headers["Retry-After"] = str(max(1, int(denial["retryAfterMs"] + 999) // 1000))
    return ProblemError(
        code, str(result.get("error") or "Command failed"), headers=headers, result=dict(result)
    )
