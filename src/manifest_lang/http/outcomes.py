"""From a failed command result to the problem the API answers with.

The problem code comes from ``CommandResult.code`` (``runtime/codes.py``), never from the error
text: the text is the reference's and meant for people. The problem carries the result in its
reference JSON shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..runtime.codes import ResultCode
from .problems import ProblemError

#: result code -> problem code (and so HTTP status, ``problems.py``); anything else is
#: COMMAND_FAILED (422)
_PROBLEMS: dict[ResultCode, str] = {
    ResultCode.POLICY_DENIED: "POLICY_DENIED",
    ResultCode.CONCURRENCY_CONFLICT: "CONCURRENCY_CONFLICT",
    ResultCode.STORE_CONFLICT: "CONCURRENCY_CONFLICT",
    ResultCode.RATE_LIMITED: "RATE_LIMITED",
    ResultCode.APPROVAL_REQUIRED: "APPROVAL_REQUIRED",
    ResultCode.GUARD_FAILED: "GUARD_FAILED",
    ResultCode.MISSING_TRUSTED_CONTEXT: "MISSING_TRUSTED_CONTEXT",
    ResultCode.MISSING_REQUIRED_PARAMETER: "MISSING_REQUIRED_PARAMETER",
    # the engine's typed inputs (runtime/inputs.py): the same 400 as the request schema's
    ResultCode.INVALID_PARAMETER_TYPE: "INVALID_INPUT",
    ResultCode.MISSING_TENANT_CONTEXT: "MISSING_TENANT_CONTEXT",
    ResultCode.INVALID_TRANSITION: "INVALID_TRANSITION",
    ResultCode.UNIQUE_VIOLATION: "UNIQUE_VIOLATION",
    ResultCode.IDEMPOTENCY_IN_PROGRESS: "IDEMPOTENCY_IN_PROGRESS",
    ResultCode.UNKNOWN_COMMAND: "UNKNOWN_COMMAND",
    ResultCode.INSTANCE_NOT_FOUND: "INSTANCE_NOT_FOUND",  # also what another tenant's row looks like
    ResultCode.CONSTRAINT_BLOCKED: "CONSTRAINT_BLOCKED",
    ResultCode.IDEMPOTENCY_KEY_REUSED: "IDEMPOTENCY_KEY_REUSED",
    ResultCode.ALREADY_EXISTS: "ALREADY_EXISTS",
    ResultCode.LIMIT_EXCEEDED: "LIMIT_EXCEEDED",
}


def blocking_outcomes(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        o
        for o in result.get("constraintOutcomes") or []
        if o.get("severity") == "block" and not o.get("passed") and not o.get("overridden")
    ]


def problem_code(code: ResultCode | None, result: Mapping[str, Any]) -> str:
    """The problem code of a failed result (``code``: its ``CommandResult.code``)."""
    if code is None:
        return "COMMAND_FAILED"
    if code is ResultCode.WRITE_REJECTED:
        # readonly or a type check on a mutate reports the blocking rule as an outcome
        return "CONSTRAINT_BLOCKED" if blocking_outcomes(result) else "COMMAND_FAILED"
    return _PROBLEMS.get(code, "COMMAND_FAILED")


def problem_for_result(code: ResultCode | None, result: Mapping[str, Any]) -> ProblemError:
    """The problem of a failed result: its code, and ``result`` (the reference JSON shape) attached."""
    headers: dict[str, str] = {}
    denial = result.get("rateLimitDenial")
    if isinstance(denial, Mapping) and isinstance(denial.get("retryAfterMs"), (int, float)):
        headers["Retry-After"] = str(max(1, int(denial["retryAfterMs"] + 999) // 1000))
    return ProblemError(
        problem_code(code, result),
        str(result.get("error") or "Command failed"),
        headers=headers,
        result=dict(result),
    )
