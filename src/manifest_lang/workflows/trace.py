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

import json
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .eventlog import ROOT_KEY, event_field, event_ref, subject_id

DEFAULT_MAX_WORKFLOWS = 2000
#: records kept per workflow (and tenant); older ones are evicted and counted in the trace
DEFAULT_MAX_RECORDS = 1000
#: records kept over all workflows (0.7-1.4 KB each, by the size of their events and warnings)
DEFAULT_MAX_TOTAL_RECORDS = 50_000
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


class _Workflow:
    """The retained records of one workflow for one tenant, oldest first."""

    __slots__ = ("records", "keys", "evicted", "horizon")

    def __init__(self) -> None:
        self.records: deque[CommandRecord] = deque()
        #: idempotency keys of the retained records: a retry is found without a scan
        self.keys: set[str] = set()
        #: how many older records were dropped to stay within the cap
        self.evicted = 0
        #: the latest event timestamp among the evicted records: a keyed retry whose events are
        #: older than this answers a command that was evicted (nothing ran again)
        self.horizon = float("-inf")


class TraceRecorder:
    """Command records by correlation id and tenant, for the workflows most recently active.

    Bounded three ways: at most ``max_records`` records per workflow (older ones are evicted and
    counted), ``max_workflows`` workflows and ``max_total_records`` records in all (the least
    recently active workflows are dropped first). ``max_records=None`` lifts the per-workflow cap
    (the total still applies). Recording a command is O(1).
    """

    def __init__(
        self,
        max_workflows: int = DEFAULT_MAX_WORKFLOWS,
        max_records: int | None = DEFAULT_MAX_RECORDS,
        max_total_records: int = DEFAULT_MAX_TOTAL_RECORDS,
    ) -> None:
        if min(max_workflows, max_total_records, 1 if max_records is None else max_records) < 1:
            raise ValueError("a trace recorder keeps at least one workflow and one record per workflow")
        self.max_workflows = max_workflows
        self.max_records = max_records
        self.max_total_records = max_total_records
        self._workflows: OrderedDict[tuple[str, Any], _Workflow] = OrderedDict()
        # records of workflows dropped whole, so a workflow that comes back still says how many
        # of its records are gone (as bounded as the workflows themselves)
        self._dropped: OrderedDict[tuple[str, Any], int] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def record_command(
        self, command: Any, instance_id: str | None, meta: Any, result: Mapping[str, Any], tenant: Any
    ) -> None:
        correlation = meta.correlation_id
        if not correlation:
            return
        record = _record(command, instance_id, meta, result, tenant)
        key = (correlation, _tenant_key(tenant))
        with self._lock:
            flow = self._workflows.get(key)
            if flow is None:
                flow = self._workflows[key] = _Workflow()
                flow.evicted = self._dropped.pop(key, 0)
            else:
                self._workflows.move_to_end(key)
            idem = record.idempotency_key
            if idem and (idem in flow.keys or (record.events and record.timestamp < flow.horizon)):
                return  # a retry answered from the idempotency store: nothing ran again
            flow.records.append(record)
            self._total += 1
            if idem:
                flow.keys.add(idem)
            if self.max_records is not None and len(flow.records) > self.max_records:
                _evict_oldest(flow)
                self._total -= 1
            self._shrink(flow)

    def _shrink(self, current: _Workflow) -> None:
        """Drop the least recently active workflows while over a global bound."""
        workflows = self._workflows
        while len(workflows) > self.max_workflows or self._total > self.max_total_records:
            oldest = next(iter(workflows.values()))
            if oldest is current:  # the only one left: it gives up its oldest record instead
                _evict_oldest(current)
                self._total -= 1
            else:
                key, _ = workflows.popitem(last=False)
                self._total -= len(oldest.records)
                self._dropped[key] = oldest.evicted + len(oldest.records)
                if len(self._dropped) > self.max_workflows:
                    self._dropped.popitem(last=False)

    def records(self, correlation_id: str, tenant: Any) -> list[CommandRecord]:
        return self.window(correlation_id, tenant)[0]

    def window(self, correlation_id: str, tenant: Any) -> tuple[list[CommandRecord], int]:
        """The retained records of a workflow for ``tenant`` and how many older ones were evicted."""
        with self._lock:
            key = (correlation_id, _tenant_key(tenant))
            flow = self._workflows.get(key)
            return ([], self._dropped.get(key, 0)) if flow is None else (list(flow.records), flow.evicted)

    @property
    def record_count(self) -> int:
        """How many records are kept, over all workflows."""
        return self._total

    @property
    def workflow_count(self) -> int:
        return len(self._workflows)


def _evict_oldest(flow: _Workflow) -> None:
    old = flow.records.popleft()
    flow.evicted += 1
    if old.idempotency_key:
        flow.keys.discard(old.idempotency_key)
    if old.events:
        flow.horizon = max(flow.horizon, max(_ts(e) for e in old.events))


def _record(
    command: Any, instance_id: str | None, meta: Any, result: Mapping[str, Any], tenant: Any
) -> CommandRecord:
    events = [dict(e) for e in result.get("emittedEvents") or []]
    return CommandRecord(
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


def _tenant_key(tenant: Any) -> Any:
    """A hashable stand-in for a tenant value (a tenant function may return any JSON)."""
    try:
        hash(tenant)
    except TypeError:
        return ("json", json.dumps(tenant, sort_keys=True, default=str))
    return tenant


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
    #: older command records of this workflow no longer in memory (their committed events are
    #: still drawn from the outbox; their warnings and refusals are gone)
    evicted: int = 0

    def to_dict(self) -> dict[str, Any]:
        nodes = [n for r in self.roots for n in r.walk()]
        return {
            "correlationId": self.correlation_id,
            "commands": sum(1 for n in nodes if n.kind == "command"),
            "events": sum(1 for n in nodes if n.kind in {"event", "override"}),
            "evicted": self.evicted,
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
    correlation_id: str,
    records: list[CommandRecord],
    durable_events: Iterable[Mapping[str, Any]],
    evicted: int = 0,
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
    return Trace(correlation_id, list(roots.values()), evicted)


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
    if trace.evicted:
        lines.append(f"  ({trace.evicted} older command records evicted from memory)")
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
