"""Lowering of approvals, reactions, sagas, roles, webhooks and schedules (with their checks)."""

from __future__ import annotations

import math
import re
from typing import Any

from ..syntax import ast
from .diagnostics import DiagnosticSink
from .exprs import lower_expr, number
from .provenance import locale_sorted

_DURATION_UNITS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "week": 604_800_000,
    "weeks": 604_800_000,
    "": 1,
}


def lower_approval(a: ast.Approval, entity: str, commands: list[str], sink: DiagnosticSink) -> dict[str, Any]:
    result: dict[str, Any] = {"name": a.name, "command": a.command, "stages": [], "emits": list(a.emits)}
    if a.command not in commands:
        available = ", ".join(commands) if commands else "(none)"
        sink.error(
            f"Approval '{a.name}' references command '{a.command}' which does not exist on entity "
            f"'{entity}'. Available commands: {available}",
            line=a.line,
            column=a.column,
        )
    if not a.stages:
        sink.error(f"Approval '{a.name}' must declare at least one stage", line=a.line, column=a.column)
    seen: set[str] = set()
    for stage in a.stages:
        if stage.name in seen:
            sink.error(f"Duplicate stage name '{stage.name}' in approval '{a.name}'")
        seen.add(stage.name)
        lowered: dict[str, Any] = {
            "name": stage.name,
            "policy": lower_expr(stage.policy),
            "required": number(stage.required),
        }
        if stage.when is not None:
            lowered["when"] = lower_expr(stage.when)
        result["stages"].append(lowered)
    if a.timeout is not None:
        result["timeout"] = number(a.timeout)
    if a.on_timeout == "cancel":
        result["onTimeout"] = "cancel"
    elif isinstance(a.on_timeout, ast.Escalate):
        escalate = _lower_escalate(a, a.on_timeout, sink)
        if escalate is not None:
            result["onTimeout"] = escalate
    return result


def _lower_escalate(a: ast.Approval, e: ast.Escalate, sink: DiagnosticSink) -> dict[str, Any] | None:
    if not e.has_block:
        sink.error(
            f"Approval '{a.name}' declares bare on_timeout: escalate without a block. Provide escalate "
            "{ to: <expr>, status: <pending|granted|denied|expired>, timeout: <hours|none|reset> }.",
            line=a.line,
            column=a.column,
            code="APPROVAL_ONTIMEOUT_ESCALATE_INCOMPLETE",
        )
        return None
    where = {"line": e.line, "column": e.column}
    missing = [
        ("to", e.to is None, "TO", "(author-defined target expression)"),
        ("status", e.status is None, "STATUS", "(pending, granted, denied, or expired)"),
        ("timeout", e.timeout is None, "TIMEOUT", "(hours, none, or reset)"),
    ]
    for field, absent, code, hint in missing:
        if absent:
            sink.error(
                f"Approval '{a.name}' escalate block is missing required field '{field}' {hint}.",
                code=f"APPROVAL_ESCALATE_MISSING_{code}",
                **where,
            )
    if e.timeout == "reset" and a.timeout is None:
        sink.error(
            f"Approval '{a.name}' escalate timeout: reset requires the approval to declare a numeric "
            "timeout.",
            code="APPROVAL_ESCALATE_RESET_WITHOUT_TIMEOUT",
            **where,
        )
    if e.to is None or e.status is None or e.timeout is None:
        return None
    timeout = e.timeout if isinstance(e.timeout, str) else number(e.timeout)
    return {"action": "escalate", "to": lower_expr(e.to), "status": e.status, "timeout": timeout}


def lower_reaction(r: ast.Reaction, module: str | None, entity: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "event": r.event,
        "targetEntity": r.target_entity,
        "targetCommand": r.target_command,
    }
    if r.resolve is not None:
        result["resolve"] = lower_expr(r.resolve)
    if r.match:
        result["match"] = [{"field": f, "source": lower_expr(s)} for f, s in r.match]
    if r.else_create:
        result["elseCreate"] = True
    if r.fan_out is not None:
        field, source, match_entity = r.fan_out
        fan_out: dict[str, Any] = {"matchField": field, "matchSource": lower_expr(source)}
        if match_entity is not None:
            fan_out["matchEntity"] = match_entity
        result["fanOut"] = fan_out
    if r.params:
        result["params"] = [{"name": n, "expression": lower_expr(e)} for n, e in r.params]
    if module is not None:
        result["module"] = module
    if entity is not None:
        result["entity"] = entity
    return result


def lower_saga(s: ast.Saga, module: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {"name": s.name}
    if module is not None:
        result["module"] = module
    steps = []
    for step in s.steps:
        lowered = {"name": step.name, "commandEntity": step.command[0], "command": step.command[1]}
        if step.compensate is not None:
            lowered["compensateEntity"] = step.compensate[0]
            lowered["compensate"] = step.compensate[1]
        steps.append(lowered)
    result["steps"] = steps
    result["onFailure"] = s.on_failure
    result["emits"] = list(s.emits)
    return result


def _permission(p: ast.Permission) -> dict[str, Any]:
    return {"action": p.action, "target": p.target} if p.target is not None else {"action": p.action}


def _sort_permissions(perms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from .provenance import collation_key

    return sorted(perms, key=lambda p: (collation_key(p["action"]), collation_key(p.get("target", ""))))


def lower_roles(roles: list[tuple[ast.Role, str | None]], sink: DiagnosticSink) -> list[dict[str, Any]]:
    by_name: dict[str, ast.Role] = {}
    for role, _module in roles:
        if role.name in by_name:
            sink.error(f"Duplicate role declaration '{role.name}'")
        by_name.setdefault(role.name, role)
    for role, _module in roles:
        if role.parent is not None and role.parent not in by_name:
            sink.error(f"Role '{role.name}' extends unknown role '{role.parent}'")
    cyclic = _role_cycles(by_name, sink)
    result = []
    for role, module in roles:
        lowered: dict[str, Any] = {"name": role.name}
        if module is not None:
            lowered["module"] = module
        if role.parent is not None:
            lowered["parent"] = role.parent
        lowered["allow"] = _sort_permissions([_permission(p) for p in role.allow])
        lowered["deny"] = _sort_permissions([_permission(p) for p in role.deny])
        lowered["effectivePermissions"] = [] if cyclic else _effective(role, by_name)
        result.append(lowered)
    return locale_sorted(result, key=lambda r: r["name"])


def _role_cycles(by_name: dict[str, ast.Role], sink: DiagnosticSink) -> bool:
    for name in by_name:
        chain = [name]
        current = by_name[name].parent
        while current is not None and current in by_name:
            if current in chain:
                cycle = chain[chain.index(current) :] + [current]
                sink.error("Role cycle detected: " + " -> ".join(cycle))
                return True
            chain.append(current)
            current = by_name[current].parent
    return False


def _effective(role: ast.Role, by_name: dict[str, ast.Role]) -> list[dict[str, Any]]:
    chain: list[ast.Role] = []
    current: ast.Role | None = role
    while current is not None:
        chain.append(current)
        current = by_name.get(current.parent) if current.parent else None
    denies = [d for r in chain for d in r.deny]
    allowed: dict[tuple[str, str | None], dict[str, Any]] = {}
    for r in reversed(chain):
        for p in r.allow:
            allowed.setdefault((p.action, p.target), _permission(p))

    def denied(action: str, target: str | None) -> bool:
        return any((d.action in ("all", action)) and (d.target is None or d.target == target) for d in denies)

    return _sort_permissions([p for (a, t), p in allowed.items() if not denied(a, t)])


def lower_webhook(w: ast.Webhook, module: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {"name": w.name}
    if module is not None:
        result["module"] = module
    result["path"] = w.path
    if w.method is not None:
        result["method"] = w.method
    result["command"] = w.command
    if w.entity is not None:
        result["entity"] = w.entity
    if w.signature is not None:
        sig = w.signature
        lowered = {
            k: sig[k] for k in ("algorithm", "header", "secret", "scheme", "toleranceSeconds") if k in sig
        }
        if "toleranceSeconds" in lowered:
            lowered["toleranceSeconds"] = number(lowered["toleranceSeconds"])
        result["signature"] = lowered
    if w.idempotency_header is not None:
        result["idempotencyHeader"] = w.idempotency_header
    if w.transform is not None:
        result["transform"] = [{"name": n, "expression": lower_expr(e)} for n, e in w.transform]
    return result


def lower_schedule(s: ast.Schedule, sink: DiagnosticSink) -> dict[str, Any]:
    result: dict[str, Any] = {"name": s.name}
    if s.entity is not None:
        result["entityName"] = s.entity
    result["commandName"] = s.command
    if s.kind == "cron":
        cron = s.value or ""
        if not cron:
            sink.error(f"Cron schedule '{s.name}' missing cronExpression")
        elif len(cron.split()) != 5:
            sink.error(
                f"Invalid cron expression '{cron}' in schedule '{s.name}' "
                "(expected 5 fields: minute hour day month dayOfWeek)"
            )
        result["trigger"] = {"kind": "cron", "cron": cron}
    else:
        duration, problem = parse_duration(s.value)
        if problem is not None:
            sink.error(f"Invalid {s.kind} duration in schedule '{s.name}': {problem}")
        result["trigger"] = {"kind": s.kind, "durationMs": duration}
    if s.params:
        result["params"] = [{"name": n, "expression": lower_expr(e)} for n, e in s.params]
    return result


def parse_duration(text: str | None) -> tuple[int | float, str | None]:
    if not text:
        return 0, "missing duration"
    compact = re.fullmatch(r"(\d+)([a-z]*)", text.strip())
    spaced = re.fullmatch(r"(\d+(?:\.\d+)?)\s+([A-Za-z]+)", text.strip())
    match = compact or spaced
    if match is None:
        return 0, f'Invalid duration format: "{text}"'
    unit = match.group(2)
    if unit not in _DURATION_UNITS:
        return 0, f'Invalid duration unit: "{unit}"'
    milliseconds = float(match.group(1)) * _DURATION_UNITS[unit]
    if not math.isfinite(milliseconds):
        return 0, f'Duration is too large: "{text}"'
    return number(milliseconds), None
