"""Lowering of commands (parameters, actions, emits, retry, rate limits) and policies."""

from __future__ import annotations

import math
from typing import Any

from ..syntax import ast
from ..syntax.expressions import js_string
from .diagnostics import DiagnosticSink
from .exprs import expr_to_value, lower_expr, number
from .lower_members import check_duplicate_codes, lower_constraint, lower_type

INTENT_VERBS = (
    ("create", "create"),
    ("add", "create"),
    ("new", "create"),
    ("update", "update"),
    ("edit", "update"),
    ("modify", "update"),
    ("delete", "delete"),
    ("remove", "delete"),
    ("deactivate", "delete"),
    ("archive", "delete"),
)


class CommandLowering:
    """Lowers one command; ``declared_events`` and ``properties`` drive the action checks."""

    def __init__(self, sink: DiagnosticSink, declared_events: set[str]) -> None:
        self.sink = sink
        self.declared_events = declared_events

    def lower(
        self,
        cmd: ast.Command,
        *,
        module: str | None,
        entity: str | None,
        qualified: str | None,
        properties: set[str],
        default_policies: list[str],
        constraint_exprs: dict[int, ast.Expr],
    ) -> dict[str, Any]:
        result: dict[str, Any] = {"name": cmd.name}
        if module is not None:
            result["module"] = module
        if entity is not None:
            result["entity"] = entity
        result["parameters"] = [self.parameter(p) for p in cmd.parameters]
        actions = [self.action(a, cmd.name, properties) for a in cmd.actions]
        constraints = [
            lower_constraint(c, self.sink, constraint_exprs.get(index))
            for index, c in enumerate(cmd.constraints)
        ]
        scope = f"command '{qualified}.{cmd.name}'" if qualified else f"command '{cmd.name}'"
        check_duplicate_codes(constraints, scope, self.sink)
        result["guards"] = [lower_expr(g) for g in cmd.guards]
        result["constraints"] = constraints
        if default_policies:
            result["policies"] = list(default_policies)
        if cmd.retry is not None:
            result["retry"] = self.retry(cmd.retry)
        if cmd.rate_limit is not None:
            result["rateLimit"] = lower_rate_limit(cmd.rate_limit, self.sink)
        result["actions"] = actions
        result["emits"] = [e.event for e in cmd.emits]
        payloads = [
            {"eventName": e.event, "fields": [{"name": k, "expression": lower_expr(v)} for k, v in e.payload]}
            for e in cmd.emits
            if e.payload is not None
        ]
        if payloads:
            result["emitPayloads"] = payloads
        if cmd.returns is not None:
            result["returns"] = lower_type(cmd.returns)
        if cmd.is_async:
            result["async"] = True
            result["completionEvent"] = f"{cmd.name}Completed"
            result["failureEvent"] = f"{cmd.name}Failed"
        return result

    def parameter(self, p: ast.Parameter) -> dict[str, Any]:
        result: dict[str, Any] = {"name": p.name, "type": lower_type(p.type), "required": p.required}
        if p.default is not None:
            value = expr_to_value(p.default)
            if value is not None:
                result["defaultValue"] = value
        if p.trusted_source is not None:
            result["trustedSource"] = p.trusted_source
        return result

    def action(self, a: ast.Action, command: str, properties: set[str]) -> dict[str, Any]:
        result: dict[str, Any] = {"kind": a.kind}
        if a.target is not None:
            result["target"] = a.target
        result["expression"] = lower_expr(a.expression)
        if a.kind in ("emit", "publish"):
            if a.target is None:
                self.sink.error(
                    f"EMIT_ACTION_UNKNOWN_EVENT: {a.kind} action in command '{command}' must name an event "
                    f"to "
                    f"{a.kind}, e.g. '{a.kind} SomeEvent'.",
                    line=a.line,
                    column=a.column,
                )
            elif a.target not in self.declared_events:
                self.sink.error(
                    f"EMIT_ACTION_UNKNOWN_EVENT: {a.kind} action in command '{command}' targets event "
                    f"'{a.target}', which is not declared. Declare 'event {a.target} {{ ... }}' or reference "
                    "an existing event.",
                    line=a.line,
                    column=a.column,
                )
        elif a.kind == "compute" and a.target is not None and a.target in properties:
            self.sink.warning(
                f"COMPUTE_USED_AS_MUTATE: compute '{a.target}' in command '{command}' assigns to a declared "
                f"property but 'compute' no longer persists. Change 'compute' to 'mutate' to keep persisting "
                f"'{a.target}', or keep 'compute' for an ephemeral local binding.",
                line=a.line,
                column=a.column,
            )
        return result

    def retry(self, fields: dict[str, Any]) -> dict[str, Any]:
        max_attempts = fields.get("maxAttempts", 1)
        delay = fields.get("delayMs", fields.get("delay", 0))
        result: dict[str, Any] = {
            "maxAttempts": number(max_attempts),
            "backoff": fields.get("backoff", "fixed"),
            "delayMs": number(delay),
        }
        if "maxDelayMs" in fields:
            result["maxDelayMs"] = number(fields["maxDelayMs"])
        if "jitter" in fields:
            result["jitter"] = bool(fields["jitter"])
        if "retryOn" in fields:
            result["retryOn"] = list(dict.fromkeys(fields["retryOn"]))
        _require_numbers(
            "Retry", {"maxAttempts": max_attempts, "delay": delay, **_picked(fields, "maxDelayMs")}, self.sink
        )
        if result["backoff"] not in _BACKOFFS:
            self.sink.error(
                f"Retry backoff must be 'fixed', 'linear', or 'exponential', got '{result['backoff']}'"
            )
        if _lt(max_attempts, 1):
            self.sink.error(f"Retry maxAttempts must be >= 1, got {_js(max_attempts)}")
        if _lt(delay, 0):
            self.sink.error(f"Retry delay must be >= 0, got {_js(delay)}")
        if "maxDelayMs" in fields and _lt(fields["maxDelayMs"], 0):
            self.sink.error(f"Retry maxDelay must be >= 0, got {_js(fields['maxDelayMs'])}")
        return result


def lower_rate_limit(fields: dict[str, Any], sink: DiagnosticSink) -> dict[str, Any]:
    max_requests = fields.get("maxRequests")
    window = fields.get("windowMs")
    if "perMinute" in fields:
        max_requests = fields["perMinute"]
        if window is None:
            window = 60000
    max_requests = 100 if max_requests is None else max_requests
    window = 60000 if window is None else window
    scope = fields.get("scope", "global")
    result: dict[str, Any] = {"maxRequests": number(max_requests), "windowMs": number(window), "scope": scope}
    burst = fields.get("burstAllowance")
    if burst is not None and not _lt(burst, 0):
        result["burstAllowance"] = number(burst)
    _require_numbers(
        "RateLimit", {"maxRequests": max_requests, "window": window, "burstAllowance": burst}, sink
    )
    if _lt(max_requests, 1):
        sink.error(f"RateLimit maxRequests must be >= 1, got {_js(max_requests)}")
    if _lt(window, 1):
        sink.error("RateLimit window must be >= 1ms")
    if scope not in ("user", "tenant", "global"):
        sink.error(f"RateLimit scope must be 'user', 'tenant', or 'global', got '{scope}'")
    return result


def lower_policy(
    p: ast.Policy, module: str | None, entity: str | None, sink: DiagnosticSink
) -> dict[str, Any]:
    result: dict[str, Any] = {"name": p.name}
    if module is not None:
        result["module"] = module
    if entity is not None:
        result["entity"] = entity
    result["action"] = p.action
    result["expression"] = lower_expr(p.expression)
    if p.rate_limit is not None:
        result["rateLimit"] = lower_rate_limit(p.rate_limit, sink)
    if p.message is not None:
        result["message"] = p.message
    return result


_CANONICAL_VERB = dict(INTENT_VERBS)
#: longest first, so the first verb that prefixes a name is the longest one
_VERBS_LONGEST_FIRST = sorted(_CANONICAL_VERB, key=len, reverse=True)


def canonical_intent(command: str, entity: str | None) -> str:
    text = "".join(filter(str.isalnum, command.lower()))
    if entity:
        stem = "".join(filter(str.isalnum, entity.lower()))
        changed = bool(stem)
        while changed:
            changed = False
            if text.startswith(stem) and len(text) > len(stem):
                text, changed = text[len(stem) :], True
            if text.endswith(stem) and len(text) > len(stem):
                text, changed = text[: -len(stem)], True
    for verb in _VERBS_LONGEST_FIRST:
        if text.startswith(verb):
            return f"{_CANONICAL_VERB[verb]}:{text[len(verb) :]}"
    return f"custom:{text}"


def check_command_intents(commands: list[dict[str, Any]], sink: DiagnosticSink) -> None:
    seen: dict[tuple[str, str], str] = {}
    for command in commands:
        entity = command.get("entity")
        scope = entity or "__global__"
        name = command["name"]
        label = f"{entity}.{name}" if entity else name
        keys = ("name:" + name, canonical_intent(name, entity))
        for key in keys:
            existing = seen.get((scope, key))
            if existing is not None:
                sink.error(
                    f"Duplicate command intent for {label} conflicts with existing command {existing}; "
                    "use or extend the existing command."
                )
                break
        else:
            for key in keys:
                seen[(scope, key)] = label


_BACKOFFS = ("fixed", "linear", "exponential")


def _picked(fields: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: fields[name] for name in names if name in fields}


def _require_numbers(block: str, values: dict[str, Any], sink: DiagnosticSink) -> None:
    """A value that is not a finite number (``maxRequests: property`` reads as NaN, as
    ``Number()`` does in the reference) would be null in the IR, which the schema rejects."""
    for label, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            sink.error(f"{block} {label} must be a finite number, got {_js(value)}")


def _lt(value: Any, bound: float) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value) and value < bound


def _js(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return js_string(value)
    return str(value)
