"""The causal tree of one workflow (correlation id): commands, their events, warnings, overrides.

Two sources feed it. The app records every command it runs (``TraceRecorder``, in memory,
bounded), which knows warnings, failures and overrides. Durable stores keep the emitted events
in their outbox, which survives restarts: events found there but not in memory are grouped
back into the command that emitted them (same subject, causation and timestamp).

Placement follows ``workflows.eventlog``: a command whose causation id is the name or the
reference (``Name:subjectId``) of an earlier event of the workflow nests under that event;
any other causation id becomes a root, and commands without one sit under ``root``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .eventlog import ROOT_KEY, event_field, event_ref, subject_id

DEFAULT_MAX_WORKFLOWS = 2000
OVERRIDE_EVENT = "OverrideApplied"


@dataclass(slots=True)
class CommandRecord:
    """What one command of a workflow did, in the reference result shape."""

    command: str
    entity: str | None
    instance_id: str | None
    causation_id: str | None
    success: bool
    error: str | None
    events: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    tenant: Any = None
    timestamp: float = 0.0
    idempotency_key: str | None = None


class TraceRecorder:
    """Command records by correlation id, for the workflows most recently active."""

    def __init__(self, max_workflows: int = DEFAULT_MAX_WORKFLOWS) -> None:
        self.max_workflows = max_workflows
        self._by_correlation: OrderedDict[str, list[CommandRecord]] = OrderedDict()
        self._lock = threading.Lock()

    def record_command(
        self, command: Any, instance_id: str | None, meta: Any, result: Mapping[str, Any], tenant: Any
    ) -> None:
        correlation = meta.correlation_id
        if not correlation:
            return
        events = [dict(e) for e in result.get("emittedEvents") or []]
        record = CommandRecord(
            command=command.name,
            entity=command.entity,
            instance_id=instance_id or _created_id(result, events),
            causation_id=meta.causation_id,
            success=bool(result.get("success")),
            error=result.get("error"),
            events=events,
            warnings=[
                dict(o)
                for o in result.get("constraintOutcomes") or []
                if o.get("severity") == "warn" and not o.get("passed")
            ],
            tenant=tenant,
            # Events carry the engine's clock; a command without events is placed by wall time.
            timestamp=min((_ts(e) for e in events), default=time.time() * 1000),
            idempotency_key=meta.idempotency_key,
        )
        with self._lock:
            records = self._by_correlation.setdefault(correlation, [])
            if record.idempotency_key and any(
                (r.idempotency_key, r.tenant) == (record.idempotency_key, tenant) for r in records
            ):
                return  # a retry answered from the idempotency store: nothing ran again
            records.append(record)
            self._by_correlation.move_to_end(correlation)
            while len(self._by_correlation) > self.max_workflows:
                self._by_correlation.popitem(last=False)

    def records(self, correlation_id: str, tenant: Any) -> list[CommandRecord]:
        with self._lock:
            return [r for r in self._by_correlation.get(correlation_id, ()) if r.tenant == tenant]


def _created_id(result: Mapping[str, Any], events: list[dict[str, Any]]) -> str | None:
    instance = result.get("instance") or result.get("result")
    if isinstance(instance, Mapping) and isinstance(instance.get("id"), str):
        return str(instance["id"])
    return next((sid for e in events if (sid := subject_id(e))), None)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _ts(event: Mapping[str, Any]) -> float:
    value = event.get("timestamp")
    return float(value) if isinstance(value, int | float) else 0.0


@dataclass(slots=True)
class TraceNode:
    """``kind`` is one of: cause, command, event, override, warning, failure."""

    kind: str
    label: str
    detail: dict[str, Any] = field(default_factory=dict)
    children: list[TraceNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "detail": self.detail,
            "children": [c.to_dict() for c in self.children],
        }

    def walk(self) -> Iterable[TraceNode]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(slots=True)
class Trace:
    correlation_id: str
    roots: list[TraceNode]

    def to_dict(self) -> dict[str, Any]:
        nodes = [n for r in self.roots for n in r.walk()]
        return {
            "correlationId": self.correlation_id,
            "commands": sum(1 for n in nodes if n.kind == "command"),
            "events": sum(1 for n in nodes if n.kind in {"event", "override"}),
            "roots": [r.to_dict() for r in self.roots],
        }


def _event_key(event: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        event.get("name"),
        _ts(event),
        event.get("emitIndex"),
        subject_id(event),
        event.get("causationId"),
    )


def _records_from_events(events: Iterable[Mapping[str, Any]]) -> list[CommandRecord]:
    """Regroup durable events (no command record survived) into the commands that emitted them."""
    groups: dict[tuple[Any, ...], CommandRecord] = {}
    for event in events:
        subject = _mapping(event.get("subject"))
        key = (
            subject.get("command"),
            subject.get("entity"),
            subject_id(event),
            event.get("causationId"),
            _ts(event),
        )
        record = groups.get(key)
        if record is None:
            record = groups[key] = CommandRecord(
                command=str(subject.get("command") or event.get("name")),
                entity=subject.get("entity"),
                instance_id=subject_id(event),
                causation_id=event.get("causationId"),
                success=True,
                error=None,
                events=[],
                warnings=[],
                timestamp=_ts(event),
            )
        record.events.append(dict(event))
    return list(groups.values())


def build_trace(
    correlation_id: str, records: list[CommandRecord], durable_events: Iterable[Mapping[str, Any]]
) -> Trace:
    known = {_event_key(e) for r in records for e in r.events}
    extra = [e for e in durable_events if _event_key(e) not in known]
    all_records = sorted([*records, *_records_from_events(extra)], key=lambda r: r.timestamp)
    roots: dict[str, TraceNode] = {}
    latest: dict[str, TraceNode] = {}  # event name / event ref -> most recent event node
    for record in all_records:
        node = _command_node(record)
        cause = record.causation_id or ROOT_KEY
        parent = latest.get(cause) or roots.get(cause)
        if parent is None:
            parent = roots[cause] = TraceNode("cause", cause, {"causationId": cause})
        parent.children.append(node)
        for child in node.children:
            if child.kind in {"event", "override"}:
                latest[str(child.detail.get("name"))] = child
                latest[event_ref(child.detail)] = child
    return Trace(correlation_id, list(roots.values()))


def _command_node(record: CommandRecord) -> TraceNode:
    target = f"{record.entity}.{record.command}" if record.entity else record.command
    label = f"{target} ({record.instance_id})" if record.instance_id else target
    detail: dict[str, Any] = {
        "command": record.command,
        "entity": record.entity,
        "instanceId": record.instance_id,
        "causationId": record.causation_id,
        "success": record.success,
    }
    node = TraceNode("command", label, {k: v for k, v in detail.items() if v is not None})
    for event in sorted(
        record.events, key=lambda e: (e.get("name") != OVERRIDE_EVENT, e.get("emitIndex") or 0)
    ):
        kind = "override" if event.get("name") == OVERRIDE_EVENT else "event"
        node.children.append(TraceNode(kind, _event_label(event), event))
    for outcome in record.warnings:
        text = outcome.get("message") or outcome.get("formatted") or outcome.get("code")
        node.children.append(TraceNode("warning", f"{outcome.get('code')}: {text}", outcome))
    if not record.success:
        node.children.append(TraceNode("failure", str(record.error), {"error": record.error}))
    return node


def _event_label(event: Mapping[str, Any]) -> str:
    if event.get("name") == OVERRIDE_EVENT:
        payload = _mapping(event.get("payload"))
        return f"{payload.get('constraintCode')} by {payload.get('authorizedBy')}: {payload.get('reason')}"
    index = event_field(event, "emit_index", "emitIndex")
    parts = [p for p in (subject_id(event), f"emitIndex: {index}" if index is not None else None) if p]
    name = str(event.get("name"))
    return f"{name} ({', '.join(parts)})" if parts else name


def render_text(trace: Trace) -> str:
    """The tree as indented text (what ``manifest trace`` prints)."""
    lines = [f"workflow {trace.correlation_id}"]
    if not trace.roots:
        lines.append("  (no commands or events recorded)")

    def walk(node: TraceNode, prefix: str, last: bool) -> None:
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}[{node.kind}] {node.label}")
        for i, child in enumerate(node.children):
            walk(child, prefix + ("   " if last else "│  "), i == len(node.children) - 1)

    for i, root in enumerate(trace.roots):
        walk(root, "", i == len(trace.roots) - 1)
    return "\n".join(lines)


def durable_events(store: Any, correlation_id: str) -> list[dict[str, Any]]:
    """The events of a workflow that the store committed to its outbox (survive restarts)."""
    reader = getattr(store, "outbox_events", None)
    if callable(reader):
        return [dict(e) for e in reader(correlation_id=correlation_id)]
    entries = getattr(store, "outbox", None)  # the memory store keeps its outbox as a list
    if isinstance(entries, list):
        events = [e.get("event") for e in list(entries) if isinstance(e, Mapping)]
        return [
            dict(e) for e in events if isinstance(e, Mapping) and e.get("correlationId") == correlation_id
        ]
    return []
