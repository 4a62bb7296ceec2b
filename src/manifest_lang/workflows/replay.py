"""Replay a ``CommandJournal`` in deterministic mode and report every difference.

See ``journal.py`` for what is recorded. The replay runs on a fresh memory store with the
recorded rows, the recorded clock readings and the recorded ids, so a correct runtime and an
unchanged model reproduce every result exactly; any difference means the model, the runtime or
the journal changed. Differences are reported per command, in the order they appear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import ManifestError
from ..loading import load_model
from ..runtime.engine import RuntimeEngine
from ..runtime.idempotency import MemoryIdempotencyStore
from ..runtime.results import OverrideRequest
from ..stores.base import NEW_ROW, RowWrite, UnitOfWork
from ..stores.memory import MemoryStore
from .factory import model_ir
from .journal import CommandJournal, JournalEntry, model_hash, summarize_result

#: option JSON key -> run_command keyword
_RUN_OPTIONS = {
    "entityName": "entity_name",
    "instanceId": "instance_id",
    "correlationId": "correlation_id",
    "causationId": "causation_id",
    "idempotencyKey": "idempotency_key",
}


@dataclass(frozen=True)
class Mismatch:
    """One difference between the recorded and the replayed result of a command."""

    seq: int
    command: str
    kind: str  # failed | succeeded | error | event | emitIndex | payload | result | constraints | clock | ids
    message: str
    expected: Any = None
    actual: Any = None

    def to_dict(self) -> dict[str, Any]:
        out = {"seq": self.seq, "command": self.command, "kind": self.kind, "message": self.message}
        if self.expected is not None:
            out["expected"] = self.expected
        if self.actual is not None:
            out["actual"] = self.actual
        return out


@dataclass
class ReplayReport:
    verified: bool
    commands: int
    mismatches: list[Mismatch] = field(default_factory=list)
    #: the journal was recorded against a model with a different IR hash
    model_changed: bool = False

    @property
    def messages(self) -> list[str]:
        """The mismatches as text, as the document's ``{verified, mismatches: string[]}``."""
        return [m.message for m in self.mismatches]

    @property
    def commands_differing(self) -> list[int]:
        return sorted({m.seq for m in self.mismatches})

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "commands": self.commands,
            "modelChanged": self.model_changed,
            "mismatches": [m.to_dict() for m in self.mismatches],
        }


class _RecordedValues:
    """Feeds one command's recorded clock readings / ids back to the engine.

    A replay that reads more values than were recorded gets ``fallback(n, last)`` for the n-th
    extra read, and the overrun is reported as a mismatch.
    """

    def __init__(self, fallback: Callable[[int, Any], Any]) -> None:
        self.values: list[Any] = []
        self.position = 0
        self.overrun = 0
        self.last: Any = None
        self._fallback = fallback

    def load(self, values: list[Any]) -> None:
        self.values, self.position, self.overrun = values, 0, 0

    def __call__(self) -> Any:
        if self.position < len(self.values):
            self.last = self.values[self.position]
            self.position += 1
            return self.last
        self.overrun += 1
        return self._fallback(self.overrun, self.last)


class _Replayer:
    def __init__(self, model: Any, journal: CommandJournal, evaluation_limits: Any) -> None:
        self.model = load_model(model)
        self.store = MemoryStore()
        self.clock = _RecordedValues(lambda _n, last: last if last is not None else 0)
        self.ids = _RecordedValues(lambda n, _last: f"replay-unrecorded-id-{n}")
        self.idempotency = _idempotency_store() if journal.header.get("idempotency") else None
        self.evaluation_limits = evaluation_limits
        self.context: dict[str, Any] = {}
        self._engines: dict[bytes, Any] = {}

    def engine(self) -> Any:
        key = orjson.dumps(self.context, option=orjson.OPT_SORT_KEYS)
        engine = self._engines.get(key)
        if engine is None:
            options: dict[str, Any] = {
                "now": self.clock,
                "generate_id": self.ids,
                "deterministic_mode": True,
                "store_provider": self.store,
            }
            if self.idempotency is not None:
                options["idempotency_store"] = self.idempotency
            if self.evaluation_limits is not None:
                options["evaluation_limits"] = self.evaluation_limits
            engine = self._engines[key] = RuntimeEngine(self.model, dict(self.context), **options)
        return engine

    def restore(self, entry: JournalEntry) -> None:
        writes = []
        for row in entry.rows:
            current = self.store.load(entry.entity, str(row["id"]))
            revision = current.revision if current is not None else NEW_ROW
            writes.append(RowWrite(entry.entity, str(row["id"]), dict(row), revision))
        self.store.commit(UnitOfWork(writes=writes))

    def run(self, entry: JournalEntry) -> tuple[dict[str, Any] | None, str | None]:
        if entry.context is not None:
            self.context = dict(entry.context)
        self.clock.load(list(entry.clock))
        self.ids.load(list(entry.ids))
        kwargs = {kw: entry.options[key] for key, kw in _RUN_OPTIONS.items() if key in entry.options}
        if entry.options.get("overrideRequests"):
            kwargs["override_requests"] = [_override_request(o) for o in entry.options["overrideRequests"]]
        try:
            result = self.engine().run_command(entry.command, dict(entry.input), **kwargs)
        except ManifestError as exc:
            return None, f"{type(exc).__name__}: {exc.message}"
        return summarize_result(result), None


def _idempotency_store() -> Any:
    return MemoryIdempotencyStore()


def _override_request(data: Mapping[str, Any]) -> Any:
    return OverrideRequest.coerce(dict(data))


def replay_and_verify(
    model: Any,
    journal: CommandJournal | Iterable[JournalEntry],
    *,
    evaluation_limits: Any = None,
    max_mismatches: int = 1000,
) -> ReplayReport:
    """Re-run every command of ``journal`` against ``model`` (IR, ``CompiledModel`` or source)."""
    if not isinstance(journal, CommandJournal):
        entries = list(journal)
        journal = CommandJournal()
        journal.entries = entries
    replayer = _Replayer(model, journal, evaluation_limits)
    report = ReplayReport(verified=True, commands=0)
    # modelHash leaves compiledAt out (irHash does not): the same source recompiled is the same
    # model. A journal written before modelHash existed cannot tell, so it says nothing.
    recorded_hash = journal.header.get("modelHash")
    report.model_changed = bool(recorded_hash) and recorded_hash != model_hash(model_ir(replayer.model))
    for entry in journal.entries:
        if entry.kind == "rows":
            replayer.restore(entry)
            continue
        report.commands += 1
        actual, raised = replayer.run(entry)
        # Clock / id consumption is checked only when the results agree: once a command
        # differs, a different number of readings is a consequence, not news.
        found = _compare(entry, actual, raised) or _consumption(entry, replayer)
        if len(report.mismatches) < max_mismatches:
            report.mismatches.extend(found[: max_mismatches - len(report.mismatches)])
        if found:
            report.verified = False
    return report


def _mismatch(
    entry: JournalEntry, kind: str, text: str, expected: Any = None, actual: Any = None
) -> Mismatch:
    """A mismatch whose message starts with the command it is about: ``Command claim (#3)...``."""
    return Mismatch(
        entry.seq, entry.command, kind, f"Command {entry.command} (#{entry.seq}){text}", expected, actual
    )


def _consumption(entry: JournalEntry, replayer: _Replayer) -> list[Mismatch]:
    found = []
    for kind, source, recorded in (("clock", replayer.clock, entry.clock), ("ids", replayer.ids, entry.ids)):
        used = source.position + source.overrun
        if used != len(recorded):
            what = "clock readings" if kind == "clock" else "generated ids"
            found.append(
                _mismatch(entry, kind, f": used {used} {what}, recorded {len(recorded)}", len(recorded), used)
            )
    return found


def _compare(entry: JournalEntry, actual: dict[str, Any] | None, raised: str | None) -> list[Mismatch]:
    expected = entry.expected
    if actual is None:
        return [_mismatch(entry, "error", f" raised {raised}", None, raised)]
    want_error, got_error = expected.get("error"), actual.get("error")
    if expected.get("success") and not actual.get("success"):
        return [_mismatch(entry, "failed", f" failed: {got_error}", None, got_error)]
    if not expected.get("success") and actual.get("success"):
        return [_mismatch(entry, "succeeded", f": expected failure '{want_error}', got success", want_error)]
    found: list[Mismatch] = []
    if want_error != got_error:
        text = f": error differs: expected '{want_error}', got '{got_error}'"
        found.append(_mismatch(entry, "error", text, want_error, got_error))
    found.extend(_compare_events(entry, expected.get("events") or [], actual.get("events") or []))
    for key in ("constraints", "result"):
        if expected.get(key) != actual.get(key):
            text = f": {key} differs{_field_diff(expected.get(key), actual.get(key))}"
            found.append(_mismatch(entry, key, text, expected.get(key), actual.get(key)))
    return found


def _compare_events(entry: JournalEntry, expected: list[Any], actual: list[Any]) -> list[Mismatch]:
    found = []
    for i, want in enumerate(expected):
        got = actual[i] if i < len(actual) else None
        name = want.get("name")
        if got is None:
            found.append(
                _mismatch(entry, "event", f": expected event {name} at index {i}, got nothing", name)
            )
            continue
        if got.get("name") != name:
            found.append(
                _mismatch(
                    entry, "event", f": expected event {name}, got {got.get('name')}", name, got.get("name")
                )
            )
            continue
        want_index, got_index = want.get("emitIndex"), got.get("emitIndex")
        if want_index != got_index:
            text = f": emitIndex mismatch for {name}: expected {want_index}, got {got_index}"
            found.append(_mismatch(entry, "emitIndex", text, want_index, got_index))
        for key in sorted(set(want) | set(got)):
            if key not in ("name", "emitIndex") and want.get(key) != got.get(key):
                text = f": {key} of {name} differs{_field_diff(want.get(key), got.get(key))}"
                kind = "payload" if key == "payload" else "event"
                found.append(_mismatch(entry, kind, text, want.get(key), got.get(key)))
    for extra in actual[len(expected) :]:
        found.append(
            _mismatch(entry, "event", f": unexpected event {extra.get('name')}", None, extra.get("name"))
        )
    return found


def _field_diff(want: Any, got: Any) -> str:
    """``: 'quantityCompleted' expected 50, got 5`` for the first differing key of two dicts."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got), key=str):
            if want.get(key) != got.get(key):
                return f": '{key}' expected {want.get(key)!r}, got {got.get(key)!r}"
        return ""
    return f": expected {want!r}, got {got!r}"
