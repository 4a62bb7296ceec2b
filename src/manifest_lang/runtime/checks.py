"""Policies, constraints (with overrides) and the ``resolved`` reports of failed checks."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..expr.values import UNDEFINED, to_js_string, to_json_value, truthy
from .records import Checked, ConstraintModel, PolicyModel
from .results import ConstraintOutcome, EmittedEvent, OverrideRequest, PolicyDenial

if TYPE_CHECKING:
    from .execution import Execution


def resolved(check: Checked, scope: dict[str, Any], ex: Execution) -> list[dict[str, Any]]:
    """``[{expression, value}]`` for the leaves of a check, re-evaluated in ``scope``."""
    out: list[dict[str, Any]] = []
    budget = ex.budget
    if budget is not None and check.leaf_steps:
        steps = budget.steps + check.leaf_steps
        if steps > budget.max_steps or budget.depth + check.leaf_depth > budget.peak_depth:
            budget.charge(check.leaf_steps, check.leaf_depth)  # limits, peak depth: the full rule
        else:
            budget.steps = steps
    if check.report is not None:
        report: list[dict[str, Any]] = check.report(scope, ex)
        return report
    for text, fn, constant in check.leaves:
        if fn is None:
            out.append({"expression": text, "value": constant})
            continue
        try:
            value = fn(scope, ex)
        except Exception as exc:  # a report must not fail; the budget error still propagates
            if getattr(exc, "code", None) == "EVALUATION_BUDGET_EXCEEDED":
                raise
            value = UNDEFINED
        t = type(value)
        if t is dict or t is list:
            value = to_json_value(value)  # a snapshot: later mutates must not change the report
        out.append({"expression": text, "value": value})
    return out


def policy_denial(
    policy: PolicyModel, scope: dict[str, Any] | None, ex: Execution, message: str
) -> PolicyDenial:
    """The denial report; ``message`` is the refusal's error (the policy's own message, else the
    default the caller built), as the reference reports it."""
    check = policy.check
    report = resolved(check, scope, ex) if scope is not None else None
    return PolicyDenial(policy.name, check.ir, check.formatted, policy.context_keys, message, report)


def evaluate_constraint(c: ConstraintModel, scope: dict[str, Any], ex: Execution) -> ConstraintOutcome:
    check = c.check
    value = check.fn(scope, ex)
    if c.severity == "ok":
        passed = True
    else:
        held = value if type(value) is bool else truthy(value)
        passed = held is not c.fail_when
    details = {k: fn(scope, ex) for k, fn in c.details} if c.details else None
    report = resolved(check, scope, ex)
    message = c.message
    if not message and c.message_template:
        message = _render_template(c.message_template, details or {}, report, scope)
    # positional: a keyword call costs more, in the native build too
    return ConstraintOutcome(
        c.code, c.name, c.severity, check.formatted, passed, message, details, None, None, report
    )


_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def _render_template(
    template: str, details: dict[str, Any], report: list[dict[str, Any]], scope: dict[str, Any]
) -> str:
    by_text = {r["expression"]: r["value"] for r in report}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1).strip()
        for source in (details, by_text, scope):
            if name in source:
                value = source[name]
                return name if value is UNDEFINED else to_js_string(value)
        return m.group(0)

    return _PLACEHOLDER.sub(sub, template)


def is_blocking(o: ConstraintOutcome) -> bool:
    return not o.passed and o.severity == "block" and not o.overridden


class OverrideContext:
    """What an override decision needs about the running command."""

    __slots__ = ("command", "entity", "instance_id", "requests", "correlation_id", "causation_id")

    def __init__(
        self,
        command: str,
        entity: str | None,
        instance_id: str | None,
        requests: list[OverrideRequest],
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> None:
        self.command = command
        self.entity = entity
        self.instance_id = instance_id
        self.requests = requests
        self.correlation_id = correlation_id
        self.causation_id = causation_id


def command_subject(command: str, entity: str | None, instance_id: str | None) -> dict[str, Any]:
    """The ``subject`` of an event a command emits."""
    subject: dict[str, Any] = {"command": command}
    if entity:
        subject["entity"] = entity
    if instance_id:
        subject["id"] = instance_id
    return subject


def try_override(
    c: ConstraintModel,
    outcome: ConstraintOutcome,
    scope: dict[str, Any],
    ex: Execution,
    oc: OverrideContext,
) -> EmittedEvent | None:
    """Override a failed overrideable block constraint; returns the OverrideApplied event."""
    if not c.overrideable:
        return None
    policy = ex.model.policies.get(c.override_policy) if c.override_policy else None
    request = next((r for r in oc.requests if r.constraint_code == c.code), None)
    if request is not None:
        if not _authorized(policy, c, request, scope, ex):
            return None
        reason = request.reason
        by: Any = request.authorized_by
        outcome.overridden_by = request.authorized_by
    elif policy is not None and policy.action == "override" and truthy(policy.check.fn(scope, ex)):
        # Without a request only a policy declared for `override` authorises (the reference's rule).
        user = ex.engine.context.get("user")
        by = user.get("id", UNDEFINED) if isinstance(user, dict) else UNDEFINED
        if by is None or by is UNDEFINED:
            by = f"policy:{policy.name}"  # the reference's fallback when the caller has no id
        reason = f"Auto-authorized by policy '{policy.name}'"
        outcome.overridden_by = f"policy:{policy.name}"
    else:
        return None
    outcome.overridden = True
    now = ex.engine.now()
    payload: dict[str, Any] = {
        "constraintCode": c.code,
        "reason": reason,
        "authorizedBy": by,
        "timestamp": now,  # the engine's clock: a caller-supplied timestamp is not trusted
        "commandName": oc.command,
    }
    if oc.entity is not None:
        payload["entityName"] = oc.entity
    if oc.instance_id is not None:
        payload["instanceId"] = oc.instance_id
    # Unlike the reference, the event carries the command's subject and ids like every other event.
    return EmittedEvent(
        "OverrideApplied",
        "system",
        payload,
        now,
        command_subject(oc.command, oc.entity, oc.instance_id),
        oc.correlation_id,
        oc.causation_id,
        provenance=ex.model.provenance,
    )


def _authorized(
    policy: PolicyModel | None,
    c: ConstraintModel,
    request: OverrideRequest,
    scope: dict[str, Any],
    ex: Execution,
) -> bool:
    if policy is None:
        user = ex.engine.context.get("user")
        return isinstance(user, dict) and user.get("role") == "admin"
    bound = dict(scope)
    bound["_override"] = {
        "constraintCode": request.constraint_code,
        "constraintName": c.name,
        "reason": request.reason,
        "authorizedBy": request.authorized_by,
    }
    return truthy(policy.check.fn(bound, ex))
