"""Record every command an engine runs, and replay the record to prove it is deterministic.

The document's Pattern 4 replays "last night's commands" in deterministic mode and checks that
each produces the same events. That only works if the replay sees the same world: the same
starting rows, the same clock readings and the same generated ids. ``CommandJournal`` records all
of it:

* it is a *command hook* (``RuntimeEngine(..., command_hooks=[journal])``): for each top-level
  command it stores the name, input, options (entity, instance, correlation/causation ids,
  idempotency key, override requests), the engine's context when it changed, and a summary of the
  result (success, error, events with payloads, constraint outcomes, result value);
* ``journal.clock(now)`` and ``journal.ids(generate_id)`` wrap the engine's ``now`` and
  ``generate_id`` so the values each command consumed are stored with it;
* ``journal.snapshot(store_or_engine)`` / ``journal.record_rows(...)`` store the rows the
  commands start from (also usable between commands, e.g. after a direct ``create_instance``).

A journal lives in memory, or in a JSON-lines file (one header line, then one line per entry,
flushed as it is written, so a crash loses at most the command in flight).

``replay_and_verify(model, journal)`` builds a fresh engine in deterministic mode over an empty
memory store, restores the rows, feeds each command its recorded clock and ids, and compares the
new result with the recorded one. Each difference names the command (sequence number and name)
and what differs, in the document's wording: ``Command claim (#1): expected event
PrepTaskClaimed, got PrepTaskStarted``.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

from ..expr.values import UNDEFINED, to_json_value
from .factory import entity_names, model_ir

JOURNAL_VERSION = 1
T = TypeVar("T")

#: option keys recorded per command (snake_case, as run_command takes them) -> JSON key
_OPTION_KEYS = {
    "entity_name": "entityName",
    "instance_id": "instanceId",
    "correlation_id": "correlationId",
    "causation_id": "causationId",
    "idempotency_key": "idempotencyKey",
    "override_requests": "overrideRequests",
}


def _json_default(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if repr(value) == "UNDEFINED":
        return None
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot record a value of type {type(value).__name__} in a journal")


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data (what a journal stores and what a replay compares)."""
    # Dataclasses go through their to_dict() (camelCase), not orjson's field-name serialisation.
    options = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
    return orjson.loads(orjson.dumps(value, default=_json_default, option=options))


def _get(obj: Any, snake: str, camel: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(camel, obj.get(snake))
    return getattr(obj, snake, None)


def summarize_result(result: Any) -> dict[str, Any]:
    """The parts of a ``CommandResult`` a replay must reproduce, as JSON data.

    Read from the result's fields rather than its full ``to_dict()``: the diagnostic parts
    (``resolved`` values, formatted expressions) are not needed and are the costly ones.
    """
    events = getattr(result, "emitted_events", None)
    if events is None:  # a result in dict form
        return _summarize_dict(to_json(result))
    out: dict[str, Any] = {"success": bool(result.success)}
    if getattr(result, "error", None) is not None:
        out["error"] = result.error
    out["events"] = [e.to_dict() for e in events]
    outcomes = getattr(result, "constraint_outcomes", None)
    if outcomes:
        out["constraints"] = [_outcome_summary(o.code, o.severity, o.passed, o.overridden) for o in outcomes]
    value = getattr(result, "result", UNDEFINED)
    if value is not UNDEFINED:
        out["result"] = to_json_value(value)
    return out


def _outcome_summary(code: Any, severity: Any, passed: Any, overridden: Any) -> dict[str, Any]:
    out = {"code": code, "severity": severity, "passed": passed}
    if overridden is not None:
        out["overridden"] = overridden
    return out


def _summarize_dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {"success": False, "error": f"not a command result: {data!r}", "events": []}
    out: dict[str, Any] = {"success": bool(data.get("success"))}
    if data.get("error") is not None:
        out["error"] = data["error"]
    out["events"] = list(data.get("emittedEvents") or [])
    outcomes = data.get("constraintOutcomes") or []
    if outcomes:
        out["constraints"] = [
            _outcome_summary(o.get("code"), o.get("severity"), o.get("passed"), o.get("overridden"))
            for o in outcomes
        ]
    if "result" in data:
        out["result"] = data["result"]
    return out


@dataclass
class JournalEntry:
    """One recorded command (``kind == "command"``) or a set of restored rows (``"rows"``)."""

    kind: str
    seq: int = 0
    command: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] | None = None
    clock: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=dict)
    entity: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "rows":
            return {"type": "rows", "entity": self.entity, "rows": self.rows}
        out: dict[str, Any] = {
            "type": "command",
            "seq": self.seq,
            "command": self.command,
            "input": self.input,
            "options": self.options,
        }
        if self.context is not None:
            out["context"] = self.context
        out.update(clock=self.clock, ids=self.ids, expected=self.expected)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JournalEntry:
        if data.get("type") == "rows":
            return cls("rows", entity=str(data["entity"]), rows=list(data.get("rows") or []))
        if data.get("type") != "command":
            raise ValueError(f"unknown journal entry type {data.get('type')!r}")
        return cls(
            "command",
            seq=int(data["seq"]),
            command=str(data["command"]),
            input=dict(data.get("input") or {}),
            options=dict(data.get("options") or {}),
            context=data.get("context"),
            clock=list(data.get("clock") or []),
            ids=[str(i) for i in data.get("ids") or []],
            expected=dict(data.get("expected") or {}),
        )


class _Capture:
    __slots__ = ("clock", "ids")

    def __init__(self) -> None:
        self.clock: list[float] = []
        self.ids: list[str] = []


class _Pending:
    __slots__ = ("entry", "capture")

    def __init__(self, entry: JournalEntry, capture: _Capture) -> None:
        self.entry = entry
        self.capture = capture


def wall_clock_ms() -> int:
    """Milliseconds since the epoch, as JavaScript's ``Date.now()``."""
    return int(time.time() * 1000)


class CommandJournal:
    """A command hook that records commands; see the module docstring."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        model: Any = None,
        keep_in_memory: bool | None = None,
        idempotency: bool = False,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.keep_in_memory = self.path is None if keep_in_memory is None else keep_in_memory
        self.entries: list[JournalEntry] = []
        # ``idempotency``: the recorded engine had an idempotency store, so the replay needs one too.
        self.header: dict[str, Any] = {
            "type": "header",
            "version": JOURNAL_VERSION,
            "idempotency": idempotency,
        }
        if model is not None:
            ir = model_ir(model)
            ir_hash = (ir.get("provenance") or {}).get("irHash")
            if ir_hash:
                self.header["irHash"] = ir_hash
            self.header["modelHash"] = model_hash(ir)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._seq = 0
        self._last_context: Any = None
        self._file: IO[bytes] | None = None
        if self.path is not None:
            fresh = not self.path.exists() or self.path.stat().st_size == 0
            self._file = self.path.open("ab")
            if fresh:
                self._write(self.header)

    # -- what the engine is built with ----------------------------------------------------------

    def clock(self, now: Callable[[], float] | None = None) -> Callable[[], float]:
        """Wrap ``now`` (default: wall-clock ms) so each command's readings are recorded."""
        return self._recording(now or wall_clock_ms, "clock")

    def ids(self, generate_id: Callable[[], str] | None = None) -> Callable[[], str]:
        """Wrap ``generate_id`` (default: uuid4) so each command's ids are recorded."""
        return self._recording(generate_id or (lambda: str(uuid.uuid4())), "ids")

    def _recording(self, source: Callable[[], T], slot: str) -> Callable[[], T]:
        local = self._local

        def recording() -> T:
            value = source()
            capture = getattr(local, "capture", None)
            if capture is not None:  # inside a command of this thread
                getattr(capture, slot).append(value)
            return value

        return recording

    def engine_options(
        self, *, now: Callable[[], float] | None = None, generate_id: Callable[[], str] | None = None
    ) -> dict[str, Any]:
        """``RuntimeEngine(model, ctx, **journal.engine_options())``: clock, ids and the hook."""
        return {"now": self.clock(now), "generate_id": self.ids(generate_id), "command_hooks": [self]}

    # -- command hook -----------------------------------------------------------------------------

    def before_command(self, engine: Any, name: str, input: Any, options: Mapping[str, Any]) -> _Pending:
        recorded_options = {}
        for snake, camel in _OPTION_KEYS.items():
            value = options.get(snake, options.get(camel))
            if value is not None and value != [] and value != ():
                recorded_options[camel] = value if type(value) is str else to_json(value)
        context = _engine_context(engine)
        entry = JournalEntry("command", command=name, input=to_json(input or {}), options=recorded_options)
        with self._lock:
            # Compared before copying: the context rarely changes, so it is copied rarely.
            if context != self._last_context:
                entry.context = to_json(context)
                self._last_context = entry.context
        capture = _Capture()
        self._local.capture = capture
        return _Pending(entry, capture)

    def after_command(self, token: _Pending, result: Any) -> None:
        self._local.capture = None
        entry = token.entry
        entry.clock, entry.ids = token.capture.clock, token.capture.ids
        if result is None:
            entry.expected = {"success": False, "error": "command raised", "raised": True, "events": []}
        else:
            entry.expected = summarize_result(result)
            if "overrideRequests" not in entry.options:
                recovered = _override_requests_of(result)
                if recovered:
                    entry.options["overrideRequests"] = recovered
        with self._lock:
            self._seq += 1
            entry.seq = self._seq
            self._append(entry)

    def attach(self, engine: Any) -> Any:
        """Install the journal on an existing engine (its clock and ids are not recorded then)."""
        hooks = getattr(engine, "command_hooks", None)
        if isinstance(hooks, list):
            hooks.append(self)
        elif isinstance(hooks, tuple):
            engine.command_hooks = (*hooks, self)
        else:
            raise TypeError("this engine does not expose command_hooks; pass command_hooks=[journal] instead")
        return engine

    # -- starting state ---------------------------------------------------------------------------

    def record_rows(self, entity: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Rows that exist at this point of the journal (a replay writes them to its store)."""
        entry = JournalEntry("rows", entity=entity, rows=[to_json(dict(r)) for r in rows])
        with self._lock:
            self._append(entry)

    def snapshot(self, source: Any, entities: Iterable[str] | None = None, *, model: Any = None) -> None:
        """Record every row of a ``Store`` (``scan``) or of an engine (``find_instances``)."""
        if entities is None:
            entities = entity_names(model if model is not None else source)
        names = list(entities)
        for name in names:
            if hasattr(source, "scan"):
                rows = source.scan(name)
            else:
                rows = source.find_instances(name, {})
            if rows:
                self.record_rows(name, rows)

    # -- storage ----------------------------------------------------------------------------------

    def _append(self, entry: JournalEntry) -> None:
        if self.keep_in_memory:
            self.entries.append(entry)
        if self._file is not None:
            self._write(entry.to_dict())

    def _write(self, data: Mapping[str, Any]) -> None:
        assert self._file is not None
        self._file.write(orjson.dumps(data, default=_json_default) + b"\n")
        self._file.flush()

    def commands(self) -> list[JournalEntry]:
        return [e for e in self.entries if e.kind == "command"]

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def save(self, path: str | Path) -> None:
        """Write the in-memory entries to a JSON-lines file."""
        with Path(path).open("wb") as fh:
            fh.write(orjson.dumps(self.header) + b"\n")
            for entry in self.entries:
                fh.write(orjson.dumps(entry.to_dict(), default=_json_default) + b"\n")

    @classmethod
    def load(cls, path: str | Path) -> CommandJournal:
        """Read a JSON-lines journal; raises ``ValueError`` naming the first bad line."""
        journal = cls()
        with Path(path).open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    data = orjson.loads(line)
                    if not isinstance(data, dict):
                        raise ValueError("not a JSON object")
                    if data.get("type") == "header":
                        if data.get("version") != JOURNAL_VERSION:
                            raise ValueError(f"unsupported journal version {data.get('version')!r}")
                        journal.header = data
                        continue
                    journal.entries.append(JournalEntry.from_dict(data))
                except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                    raise ValueError(f"{path}: line {number}: {exc}") from None
        return journal

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> CommandJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _override_requests_of(result: Any) -> list[dict[str, Any]]:
    """The override requests behind a result, for engines whose hooks do not pass them.

    A failed result echoes the requests; a successful one shows each applied override as an
    ``OverrideApplied`` event. Requests that changed nothing (their constraint passed) do not
    affect the result, so a replay without them reproduces it all the same.
    """
    echoed = getattr(result, "override_requests", None)
    if echoed:
        return [to_json(r) for r in echoed]
    found = []
    for event in getattr(result, "emitted_events", None) or ():
        if getattr(event, "name", None) != "OverrideApplied":
            continue
        payload = getattr(event, "payload", None) or {}
        if str(payload.get("reason", "")).startswith("Auto-authorized by policy"):
            continue  # granted by policy without a request
        found.append({k: payload.get(k) for k in ("constraintCode", "reason", "authorizedBy")})
    return found


def model_hash(ir: Mapping[str, Any]) -> str:
    """A hash of the model itself: the IR minus when it was compiled.

    ``irHash`` covers the whole provenance, ``compiledAt`` included, so the same source compiled
    twice never matches; replay compares this one instead.
    """
    provenance = {k: v for k, v in (ir.get("provenance") or {}).items() if k not in ("irHash", "compiledAt")}
    document = {**ir, "provenance": provenance}
    try:
        encoded = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers past 64 bits: the standard encoder writes them exactly
        import json

        encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def _engine_context(engine: Any) -> Mapping[str, Any]:
    for attr in ("context", "get_context"):
        value = getattr(engine, attr, None)
        if callable(value):
            value = value()
        if isinstance(value, Mapping):
            return value
    return {}


__all__ = [
    "CommandJournal",
    "JournalEntry",
    "summarize_result",
    "to_json",
]
