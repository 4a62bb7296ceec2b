"""Queries over emitted events: a workflow's timeline and its causal tree.

Every command of a workflow is run with the same ``correlation_id``; each may also name a
``causation_id``, the thing that caused it. This module answers "what happened in workflow X, in
what order, and what caused what" over any collection of events: one engine's log, the logs of
several engines merged (the document's Pattern 3), or event dicts read back from an outbox.

What a causation id points at
-----------------------------
A causation id is an opaque string chosen by the caller (``"prep-task-task-1"``,
``"user-action-chef-maria"``). Two forms are recognised as pointing at another *event* of the
same set, so that chains nest instead of sitting side by side:

* an event's *reference*, ``event_ref(e)`` = ``"<name>:<subject id>"`` (or just the name when
  the event has no subject id): what ``Saga`` passes to a step triggered by an earlier step;
* an event's bare *name*: what the engine's reactions pass to the commands they trigger.

Either form resolves to the **latest earlier** event carrying it, because a cause always
precedes its effect. Any other causation id is a root of the tree, and events without one are
grouped under ``"root"`` (as in the document's ``event.causationId ?? 'root'``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: group name of events that carry no causation id
ROOT_KEY = "root"


def event_field(event: Any, snake: str, camel: str | None = None) -> Any:
    """Read a field of an ``EmittedEvent`` or of its JSON dict form (camelCase keys)."""
    if isinstance(event, Mapping):
        return event.get(camel or snake, event.get(snake))
    return getattr(event, snake, None)


def subject_id(event: Any) -> str | None:
    """The id of the instance an event is about, if it has one."""
    subject = event_field(event, "subject")
    if subject is None:
        return None
    value = subject.get("id") if isinstance(subject, Mapping) else getattr(subject, "id", None)
    return value if isinstance(value, str) and value else None


def event_ref(event: Any) -> str:
    """The string another command passes as ``causation_id`` to say "this event caused me"."""
    name = str(event_field(event, "name"))
    sid = subject_id(event)
    return f"{name}:{sid}" if sid else name


def events_for_correlation(events: Iterable[Any], correlation_id: str) -> list[Any]:
    """The events of one workflow, ordered by timestamp (log order breaks ties).

    Within a command events keep their ``emit_index`` order because they share a timestamp and
    the sort is stable; across engines the timestamp is the only common clock.
    """
    picked = [e for e in events if event_field(e, "correlation_id", "correlationId") == correlation_id]
    picked.sort(key=_timestamp)
    return picked


def timeline(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The document's timeline rows: name, emitIndex, correlationId, causationId, timestamp."""
    rows = []
    for e in sorted(events, key=_timestamp):
        row = {
            "name": event_field(e, "name"),
            "emitIndex": event_field(e, "emit_index", "emitIndex"),
            "correlationId": event_field(e, "correlation_id", "correlationId"),
            "causationId": event_field(e, "causation_id", "causationId"),
            "timestamp": event_field(e, "timestamp"),
        }
        rows.append({k: v for k, v in row.items() if v is not None})
    return rows


def _timestamp(event: Any) -> float:
    value = event_field(event, "timestamp")
    return float(value) if isinstance(value, int | float) else 0.0


@dataclass
class CausalNode:
    """A cause (``event`` is None: a caller-provided causation id) or an event, with its effects."""

    key: str
    event: Any = None
    children: list[CausalNode] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.event is None:
            return self.key
        return event_label(self.event)

    def walk(self) -> Iterable[CausalNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "label": self.label}
        if self.event is not None:
            out["event"] = _event_dict(self.event)
        out["children"] = [c.to_dict() for c in self.children]
        return out


@dataclass
class CausalTree:
    """Root causes in order of first appearance; each holds the events it caused, nested."""

    roots: list[CausalNode] = field(default_factory=list)

    def root(self, key: str) -> CausalNode | None:
        return next((r for r in self.roots if r.key == key), None)

    def events(self) -> list[Any]:
        return [n.event for r in self.roots for n in r.walk() if n.event is not None]

    def to_dict(self) -> dict[str, Any]:
        return {"roots": [r.to_dict() for r in self.roots]}


def event_label(event: Any) -> str:
    """``PrepTaskStarted (task-1, emitIndex: 0)``, the document's notation."""
    parts = []
    sid = subject_id(event)
    if sid is None:
        payload = event_field(event, "payload")
        # OverrideApplied has no subject; its payload names the instance instead.
        if isinstance(payload, Mapping) and isinstance(payload.get("instanceId"), str):
            sid = payload["instanceId"]
    if sid:
        parts.append(sid)
    index = event_field(event, "emit_index", "emitIndex")
    if index is not None:
        parts.append(f"emitIndex: {index}")
    name = str(event_field(event, "name"))
    return f"{name} ({', '.join(parts)})" if parts else name


def causal_tree(events: Iterable[Any]) -> CausalTree:
    """Group events by what caused them (see the module docstring for the resolution rule)."""
    tree = CausalTree()
    groups: dict[str, CausalNode] = {}
    latest: dict[str, CausalNode] = {}  # event name / event ref -> most recent event node
    for event in sorted(events, key=_timestamp):
        cause = event_field(event, "causation_id", "causationId") or ROOT_KEY
        node = CausalNode(key=event_ref(event), event=event)
        parent = latest.get(cause)
        if parent is None:
            parent = groups.get(cause)
            if parent is None:
                parent = groups[cause] = CausalNode(key=cause)
                tree.roots.append(parent)
        parent.children.append(node)
        latest[str(event_field(event, "name"))] = node
        latest[node.key] = node
    return tree


def render_causal_tree(tree: CausalTree) -> str:
    """Text like the document's "Example causal tree" (one block per root cause)."""
    blocks = []
    for root in tree.roots:
        lines = [root.label]
        _render_children(root, 1, lines)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _render_children(node: CausalNode, depth: int, lines: list[str]) -> None:
    indent = "  " + "   " * (depth - 1)
    for child in node.children:
        lines.append(f"{indent}└─ {child.label}")
        _render_children(child, depth + 1, lines)


def _event_dict(event: Any) -> dict[str, Any]:
    to_dict = getattr(event, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    return dict(event) if isinstance(event, Mapping) else {"name": str(event)}
