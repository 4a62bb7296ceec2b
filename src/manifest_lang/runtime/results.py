"""Typed results of the runtime, with ``to_dict()`` giving the reference's JSON shapes.

Attributes are snake_case; ``to_dict()`` is camelCase, omits absent optional keys and never
serialises ``UNDEFINED``. ``from_dict`` rebuilds a value from that shape (idempotency caches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..expr.values import UNDEFINED, to_json_value
from .codes import ResultCode, code_of_json


def _text(value: Any) -> str:
    """A text field of an override request: a string, or a scalar in its string form."""
    if type(value) is str:
        return value  # type: ignore[no-any-return]
    if value is None or type(value) in (int, float, bool):
        return str(value)
    raise TypeError(f"override request fields must be strings, not {type(value).__name__}")


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value is not UNDEFINED:
        out[key] = value


class EmittedEvent(NamedTuple):
    """An event a command emitted: an immutable value.

    A ``NamedTuple`` rather than a frozen dataclass: it is created on every command and a frozen
    dataclass's ``__init__`` costs five times as much. Attribute access and ``to_dict`` are the same.
    """

    name: str
    channel: str
    payload: dict[str, Any]
    timestamp: float
    subject: dict[str, Any] | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    emit_index: int | None = None
    provenance: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "channel": self.channel,
            "payload": to_json_value(self.payload),
        }
        _put(out, "subject", self.subject)
        out["timestamp"] = self.timestamp
        _put(out, "provenance", self.provenance)
        _put(out, "correlationId", self.correlation_id)
        _put(out, "causationId", self.causation_id)
        _put(out, "emitIndex", self.emit_index)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmittedEvent:
        return cls(
            name=d["name"],
            channel=d.get("channel", d["name"]),
            payload=dict(d.get("payload") or {}),
            timestamp=d.get("timestamp", 0),
            subject=d.get("subject"),
            correlation_id=d.get("correlationId"),
            causation_id=d.get("causationId"),
            emit_index=d.get("emitIndex"),
            provenance=d.get("provenance"),
        )


@dataclass(slots=True, init=False)
class ConstraintOutcome:
    code: str
    constraint_name: str
    severity: str
    formatted: str
    passed: bool
    message: str | None = None
    details: dict[str, Any] | None = None
    overridden: bool | None = None
    overridden_by: str | None = None
    resolved: list[dict[str, Any]] | None = None

    # Written out (init=False): the native build compiles a class body's __init__, while the one
    # @dataclass generates stays interpreted, a costly call on every command. A test checks that
    # each of these matches its fields (names, order, defaults).
    def __init__(
        self,
        code: str,
        constraint_name: str,
        severity: str,
        formatted: str,
        passed: bool,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        overridden: bool | None = None,
        overridden_by: str | None = None,
        resolved: list[dict[str, Any]] | None = None,
    ) -> None:
        self.code = code
        self.constraint_name = constraint_name
        self.severity = severity
        self.formatted = formatted
        self.passed = passed
        self.message = message
        self.details = details
        self.overridden = overridden
        self.overridden_by = overridden_by
        self.resolved = resolved

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "constraintName": self.constraint_name,
            "severity": self.severity,
            "formatted": self.formatted,
        }
        _put(out, "message", self.message)
        _put(out, "details", to_json_value(self.details) if self.details is not None else None)
        out["passed"] = self.passed
        _put(out, "overridden", self.overridden)
        _put(out, "overriddenBy", self.overridden_by)
        _put(out, "resolved", to_json_value(self.resolved) if self.resolved is not None else None)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConstraintOutcome:
        return cls(
            code=d.get("code", ""),
            constraint_name=d.get("constraintName", ""),
            severity=d.get("severity", "block"),
            formatted=d.get("formatted", ""),
            passed=bool(d.get("passed")),
            message=d.get("message"),
            details=d.get("details"),
            overridden=d.get("overridden"),
            overridden_by=d.get("overriddenBy"),
            resolved=d.get("resolved"),
        )


@dataclass(slots=True, init=False)
class GuardFailure:
    index: int
    expression: dict[str, Any]
    formatted: str
    resolved: list[dict[str, Any]] | None = None

    def __init__(
        self,
        index: int,
        expression: dict[str, Any],
        formatted: str,
        resolved: list[dict[str, Any]] | None = None,
    ) -> None:  # written out: see ConstraintOutcome
        self.index = index
        self.expression = expression
        self.formatted = formatted
        self.resolved = resolved

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "expression": self.expression,
            "formatted": self.formatted,
        }
        _put(out, "resolved", to_json_value(self.resolved) if self.resolved is not None else None)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GuardFailure:
        return cls(d["index"], d.get("expression", {}), d.get("formatted", ""), d.get("resolved"))


@dataclass(slots=True, init=False)
class PolicyDenial:
    policy_name: str
    expression: dict[str, Any] | None
    formatted: str
    context_keys: list[str]
    message: str | None = None
    resolved: list[dict[str, Any]] | None = None

    def __init__(
        self,
        policy_name: str,
        expression: dict[str, Any] | None,
        formatted: str,
        context_keys: list[str],
        message: str | None = None,
        resolved: list[dict[str, Any]] | None = None,
    ) -> None:  # written out: see ConstraintOutcome (a policy refusal builds one)
        self.policy_name = policy_name
        self.expression = expression
        self.formatted = formatted
        self.context_keys = context_keys
        self.message = message
        self.resolved = resolved

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policyName": self.policy_name}
        _put(out, "expression", self.expression)
        out["formatted"] = self.formatted
        _put(out, "message", self.message)
        out["contextKeys"] = list(self.context_keys)
        _put(out, "resolved", to_json_value(self.resolved) if self.resolved is not None else None)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PolicyDenial:
        return cls(
            d.get("policyName", ""),
            d.get("expression"),
            d.get("formatted", ""),
            list(d.get("contextKeys", [])),
            d.get("message"),
            d.get("resolved"),
        )


@dataclass(frozen=True, slots=True)
class ConcurrencyConflict:
    entity_type: str
    entity_id: str
    expected_version: Any
    actual_version: Any
    conflict_code: str = "VERSION_MISMATCH"

    def to_dict(self) -> dict[str, Any]:
        return {
            "entityType": self.entity_type,
            "entityId": self.entity_id,
            "expectedVersion": to_json_value(self.expected_version),
            "actualVersion": to_json_value(self.actual_version),
            "conflictCode": self.conflict_code,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConcurrencyConflict:
        return cls(
            d.get("entityType", ""),
            d.get("entityId", ""),
            d.get("expectedVersion"),
            d.get("actualVersion"),
            d.get("conflictCode", "VERSION_MISMATCH"),
        )


@dataclass(frozen=True, slots=True)
class OverrideRequest:
    constraint_code: str
    reason: str
    authorized_by: str
    timestamp: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "constraintCode": self.constraint_code,
            "reason": self.reason,
            "authorizedBy": self.authorized_by,
        }
        _put(out, "timestamp", self.timestamp)
        return out

    @classmethod
    def coerce(cls, value: Any) -> OverrideRequest:
        """Accept a dataclass or the reference's dict shape."""
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            timestamp = value.get("timestamp")
            if not (timestamp is None or type(timestamp) in (int, float)):
                raise TypeError("override request timestamp must be a number")
            return cls(
                constraint_code=_text(value.get("constraintCode", value.get("constraint_code", ""))),
                reason=_text(value.get("reason", "")),
                authorized_by=_text(value.get("authorizedBy", value.get("authorized_by", ""))),
                timestamp=timestamp,
            )
        raise TypeError(f"override request must be OverrideRequest or dict, not {type(value).__name__}")


@dataclass(slots=True, init=False)
class CommandResult:
    success: bool
    result: Any = UNDEFINED
    instance: dict[str, Any] | None = None
    error: str | None = None
    denied_by: str | None = None
    guard_failure: GuardFailure | None = None
    policy_denial: PolicyDenial | None = None
    parameter_failure: dict[str, Any] | None = None
    constraint_outcomes: list[ConstraintOutcome] | None = None
    override_requests: list[OverrideRequest] | None = None
    concurrency_conflict: ConcurrencyConflict | None = None
    approval_required: dict[str, Any] | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    emitted_events: list[EmittedEvent] = field(default_factory=list)
    retry: dict[str, Any] | None = None
    rate_limit_denial: dict[str, Any] | None = None
    #: why a failed result failed (``codes.ResultCode``); None on success. Not in ``to_dict()``
    #: (the reference shape has no such key) and not compared: a result rebuilt from its JSON
    #: form gets its code back from the structured fields.
    code: ResultCode | None = field(default=None, compare=False)

    def __init__(
        self,
        success: bool,
        result: Any = UNDEFINED,
        instance: dict[str, Any] | None = None,
        error: str | None = None,
        denied_by: str | None = None,
        guard_failure: GuardFailure | None = None,
        policy_denial: PolicyDenial | None = None,
        parameter_failure: dict[str, Any] | None = None,
        constraint_outcomes: list[ConstraintOutcome] | None = None,
        override_requests: list[OverrideRequest] | None = None,
        concurrency_conflict: ConcurrencyConflict | None = None,
        approval_required: dict[str, Any] | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        emitted_events: list[EmittedEvent] | None = None,
        retry: dict[str, Any] | None = None,
        rate_limit_denial: dict[str, Any] | None = None,
        code: ResultCode | None = None,
    ) -> None:  # written out: see ConstraintOutcome (emitted_events None: a new list)
        self.success = success
        self.result = result
        self.instance = instance
        self.error = error
        self.denied_by = denied_by
        self.guard_failure = guard_failure
        self.policy_denial = policy_denial
        self.parameter_failure = parameter_failure
        self.constraint_outcomes = constraint_outcomes
        self.override_requests = override_requests
        self.concurrency_conflict = concurrency_conflict
        self.approval_required = approval_required
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.emitted_events = [] if emitted_events is None else emitted_events
        self.retry = retry
        self.rate_limit_denial = rate_limit_denial
        self.code = code

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"success": self.success}
        if self.result is not UNDEFINED:
            out["result"] = to_json_value(self.result)
        _put(out, "instance", to_json_value(self.instance) if self.instance is not None else None)
        _put(out, "error", self.error)
        _put(out, "deniedBy", self.denied_by)
        _put(out, "guardFailure", self.guard_failure.to_dict() if self.guard_failure else None)
        _put(out, "policyDenial", self.policy_denial.to_dict() if self.policy_denial else None)
        _put(out, "parameterFailure", self.parameter_failure)
        if self.constraint_outcomes:
            out["constraintOutcomes"] = [o.to_dict() for o in self.constraint_outcomes]
        if self.override_requests:
            out["overrideRequests"] = [r.to_dict() for r in self.override_requests]
        _put(
            out,
            "concurrencyConflict",
            self.concurrency_conflict.to_dict() if self.concurrency_conflict else None,
        )
        _put(out, "approvalRequired", self.approval_required)
        _put(out, "correlationId", self.correlation_id)
        _put(out, "causationId", self.causation_id)
        out["emittedEvents"] = [e.to_dict() for e in self.emitted_events]
        _put(out, "retry", self.retry)
        _put(out, "rateLimitDenial", self.rate_limit_denial)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CommandResult:
        def opt(key: str, conv: Any) -> Any:
            value = d.get(key)
            return conv(value) if value is not None else None

        return cls(
            success=bool(d.get("success")),
            result=d["result"] if "result" in d else UNDEFINED,
            instance=d.get("instance"),
            error=d.get("error"),
            denied_by=d.get("deniedBy"),
            guard_failure=opt("guardFailure", GuardFailure.from_dict),
            policy_denial=opt("policyDenial", PolicyDenial.from_dict),
            parameter_failure=d.get("parameterFailure"),
            constraint_outcomes=opt(
                "constraintOutcomes", lambda v: [ConstraintOutcome.from_dict(o) for o in v]
            ),
            override_requests=opt("overrideRequests", lambda v: [OverrideRequest.coerce(o) for o in v]),
            concurrency_conflict=opt("concurrencyConflict", ConcurrencyConflict.from_dict),
            approval_required=d.get("approvalRequired"),
            correlation_id=d.get("correlationId"),
            causation_id=d.get("causationId"),
            emitted_events=[EmittedEvent.from_dict(e) for e in d.get("emittedEvents", [])],
            retry=d.get("retry"),
            rate_limit_denial=d.get("rateLimitDenial"),
            code=None if d.get("success") else code_of_json(d),
        )


def failure(code: ResultCode, error: str, **fields: Any) -> CommandResult:
    """A failed result with no events (the reference's ``{success:false, error, emittedEvents:[]}``)."""
    return CommandResult(success=False, error=error, code=code, **fields)
