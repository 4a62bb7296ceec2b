"""Reactions: events of a command dispatch further commands inside the same execution.

Nested commands share the parent's budget and unit of work, so a reaction's writes commit (or
roll back) with the command that caused them. A nested failure does not fail the parent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ManifestReactionDepthError
from ..expr.values import UNDEFINED, strict_equals, to_js_string
from .execution import CallOptions, Execution
from .records import ReactionModel
from .results import CommandResult, EmittedEvent

MAX_REACTION_DEPTH = 10

#: runs a command inside an execution: ``dispatch(ex, command, input, options)``
Dispatch = Callable[[Execution, str, dict[str, Any], CallOptions], CommandResult]


def run_reactions(
    ex: Execution, events: list[EmittedEvent], count: int, correlation_id: str | None, dispatch: Dispatch
) -> None:
    """Dispatch the reactions to the first ``count`` of ``events``; the events of every nested
    command that succeeds are appended to ``events``."""
    model = ex.model
    for event in list(events[:count]):
        for reaction in model.reactions.get(event.name, ()):
            _react(ex, events, correlation_id, dispatch, event, reaction)


def _react(
    ex: Execution,
    events: list[EmittedEvent],
    correlation_id: str | None,
    dispatch: Dispatch,
    event: EmittedEvent,
    reaction: ReactionModel,
) -> None:
    if ex.reaction_depth >= MAX_REACTION_DEPTH:
        target = f"{reaction.target_entity}.{reaction.target_command}"
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
    entity = reaction.target_entity
    command = reaction.target_command
    targets = _targets(ex, reaction, base)
    for instance_id, scope in targets:
        params = {name: fn(scope, ex) for name, fn in reaction.params}
        if command == "create" and instance_id is not None:
            params.setdefault("id", instance_id)
            instance_id = None
        opts = CallOptions(
            entity_name=entity,
            instance_id=instance_id,
            correlation_id=correlation_id,
            causation_id=event.name,
        )
        ex.reaction_depth += 1
        try:
            nested = dispatch(ex, str(command), params, opts)
        finally:
            ex.reaction_depth -= 1
        if nested.success:
            events.extend(nested.emitted_events)


def _targets(
    ex: Execution, reaction: ReactionModel, base: dict[str, Any]
) -> list[tuple[str | None, dict[str, Any]]]:
    entity = str(reaction.target_entity)
    if reaction.fan_out:
        match_entity = str(reaction.fan_entity)
        source = reaction.fan_source(base, ex) if reaction.fan_source is not None else UNDEFINED
        field = reaction.fan_field
        out: list[tuple[str | None, dict[str, Any]]] = []
        for row in ex.scan(match_entity):
            if strict_equals(row.get(field, UNDEFINED), source) and row.get("deletedAt") is None:
                tagged = dict(row, _entity=match_entity)
                scope = dict(base, self=tagged, target=tagged)
                out.append((row.get("id") if match_entity == entity else None, scope))
        return out
    if reaction.match:
        wanted = [(f, fn(base, ex)) for f, fn in reaction.match]
        rows = [
            r
            for r in ex.scan(entity)
            if r.get("deletedAt") is None and all(strict_equals(r.get(f, UNDEFINED), v) for f, v in wanted)
        ]
        rows.sort(key=lambda r: to_js_string(r.get("id")))
        if rows:
            return [(rows[0].get("id"), base)]
        return [(None, base)] if reaction.else_create else []
    if reaction.resolve is not None:
        return [(to_js_string(reaction.resolve(base, ex)), base)]
    return [(None, base)]
