"""Reactions: events of a command dispatch further commands inside the same execution.

Nested commands share the parent's budget and unit of work, so a reaction's writes commit (or
roll back) with the command that caused them. A nested failure does not fail the parent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ManifestReactionDepthError
from ..expr.values import UNDEFINED, strict_equals, to_js_string
from .commands import CallOptions

if TYPE_CHECKING:
    from .commands import CommandRun
    from .results import EmittedEvent

MAX_REACTION_DEPTH = 10


def run_reactions(run: CommandRun, count: int) -> None:
    model = run.ex.model
    for event in list(run.events[:count]):
        for reaction in model.reactions.get(event.name, ()):
            _react(run, event, reaction)


def _react(run: CommandRun, event: EmittedEvent, reaction: dict[str, Any]) -> None:
    ex = run.ex
    if ex.reaction_depth >= MAX_REACTION_DEPTH:
        target = f"{reaction.get('targetEntity')}.{reaction.get('targetCommand')}"
        raise ManifestReactionDepthError(
            f"Reaction depth limit ({MAX_REACTION_DEPTH}) exceeded. Event '{event.name}' → command "
            f"'{target}' would exceed max depth. Check for circular reaction chains."
        )
    payload = dict(event.payload)
    subject = event.subject or {}
    if payload.get("id", UNDEFINED) is UNDEFINED and "id" in subject:
        payload["id"] = subject["id"]
    payload.update(_subject=subject, _eventName=event.name, _channel=event.channel)
    base = {"payload": payload, "self": payload}
    entity = reaction.get("targetEntity")
    command = reaction.get("targetCommand")
    targets = _targets(run, reaction, base)
    for instance_id, scope in targets:
        params = {name: fn(scope, ex) for name, fn in reaction["_params"]}
        if command == "create" and instance_id is not None:
            params.setdefault("id", instance_id)
            instance_id = None
        opts = CallOptions(
            entity_name=entity,
            instance_id=instance_id,
            correlation_id=run.opts.correlation_id,
            causation_id=event.name,
        )
        ex.reaction_depth += 1
        try:
            nested = ex.engine.execute_in(ex, str(command), params, opts)
        finally:
            ex.reaction_depth -= 1
        if nested.success:
            run.events.extend(nested.emitted_events)


def _targets(
    run: CommandRun, reaction: dict[str, Any], base: dict[str, Any]
) -> list[tuple[str | None, dict[str, Any]]]:
    ex = run.ex
    entity = str(reaction.get("targetEntity"))
    fan = reaction.get("fanOut")
    if fan:
        match_entity = str(fan.get("matchEntity") or entity)
        source = reaction["_fan_source"](base, ex) if "_fan_source" in reaction else UNDEFINED
        field = fan.get("matchField")
        out: list[tuple[str | None, dict[str, Any]]] = []
        for row in ex.scan(match_entity):
            if strict_equals(row.get(field, UNDEFINED), source) and row.get("deletedAt") is None:
                tagged = dict(row, _entity=match_entity)
                scope = dict(base, self=tagged, target=tagged)
                out.append((row.get("id") if match_entity == entity else None, scope))
        return out
    if reaction["_match"]:
        wanted = [(f, fn(base, ex)) for f, fn in reaction["_match"]]
        rows = [
            r
            for r in ex.scan(entity)
            if r.get("deletedAt") is None and all(strict_equals(r.get(f, UNDEFINED), v) for f, v in wanted)
        ]
        rows.sort(key=lambda r: to_js_string(r.get("id")))
        if rows:
            return [(rows[0].get("id"), base)]
        return [(None, base)] if reaction.get("elseCreate") else []
    if "_resolve" in reaction:
        return [(to_js_string(reaction["_resolve"](base, ex)), base)]
    return [(None, base)]
