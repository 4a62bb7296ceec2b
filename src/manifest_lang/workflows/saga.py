"""Run a multi-step workflow under one correlation id, compensating on failure.

The document's Patterns 1 and 3 do this by hand: run commands one after the other with the same
correlation id, remember what succeeded, and when something cannot go on, undo the completed steps.
``Saga`` is that loop, written once:

* every step runs with the saga's ``correlation_id``;
* a step's ``causation_id`` is, in order of preference, the one it names explicitly, the
  reference (``eventlog.event_ref``) of the first event of the step named in ``caused_by``, or the
  saga's own causation id; so the event log shows which step triggered which;
* a *required* step that fails stops the saga and runs the compensations of the completed steps
  in reverse order (each with causation ``"<saga>:<step>:compensate"``); an *optional* step that
  fails is recorded and the saga goes on (Pattern 3's "station at capacity: log, don't fail").

Runtime sagas declared in a model (``saga`` blocks) are a different, engine-side feature; this
class needs nothing from the model and works with any engine, or one engine per step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .eventlog import event_ref

StepStatus = Literal["completed", "failed", "skipped", "compensated", "compensation_failed"]
SagaStatus = Literal["completed", "compensated", "aborted"]

#: input of a step: a fixed mapping, or computed from the results of the steps before it
StepInput = Mapping[str, Any] | Callable[["SagaContext"], Mapping[str, Any]]


@dataclass(frozen=True)
class SagaStep:
    """One command of a saga and, optionally, the command that undoes it."""

    name: str
    command: str
    input: StepInput = field(default_factory=dict)
    entity_name: str | None = None
    instance_id: str | None = None
    #: command run on the same entity/instance to undo this step once it has completed
    compensation: str | None = None
    #: its input; by default the step's own input (what HEAD's runtime sagas do as well)
    compensation_input: StepInput | None = None
    #: an optional step may fail without failing the saga
    optional: bool = False
    causation_id: str | None = None
    #: name of an earlier step whose first event caused this one
    caused_by: str | None = None
    idempotency_key: str | None = None
    override_requests: Sequence[Any] = ()


@dataclass
class SagaStepOutcome:
    step: str
    command: str
    status: StepStatus
    causation_id: str | None = None
    result: Any = None
    compensation: Any = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step, "command": self.command, "status": self.status}
        if self.causation_id is not None:
            out["causationId"] = self.causation_id
        if self.result is not None:
            out["result"] = _result_dict(self.result)
        if self.compensation is not None:
            out["compensation"] = _result_dict(self.compensation)
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class SagaResult:
    saga: str
    correlation_id: str
    success: bool
    status: SagaStatus
    steps: list[SagaStepOutcome] = field(default_factory=list)
    emitted_events: list[Any] = field(default_factory=list)
    failed_step: str | None = None
    error: str | None = None

    def step(self, name: str) -> SagaStepOutcome | None:
        return next((s for s in self.steps if s.step == name), None)

    @property
    def completed_steps(self) -> list[str]:
        return [s.step for s in self.steps if s.status in ("completed", "compensated")]

    def warnings(self) -> list[Any]:
        """Warn outcomes of the steps that ran: they did not stop anything, but someone should know."""
        found = []
        for outcome in self.steps:
            for c in getattr(outcome.result, "constraint_outcomes", None) or ():
                if _get(c, "severity") == "warn" and not _get(c, "passed"):
                    found.append(c)
        return found

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "saga": self.saga,
            "correlationId": self.correlation_id,
            "success": self.success,
            "status": self.status,
            "steps": [s.to_dict() for s in self.steps],
            "emittedEvents": [_result_dict(e) for e in self.emitted_events],
        }
        if self.failed_step is not None:
            out["failedStep"] = self.failed_step
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class SagaContext:
    """What a step's input callable can look at: the results of the steps run so far."""

    correlation_id: str
    results: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    idempotency_prefix: str | None = None

    def key_of(self, step: SagaStep) -> str | None:
        if step.idempotency_key is not None:
            return step.idempotency_key
        return f"{self.idempotency_prefix}:{step.name}" if self.idempotency_prefix is not None else None


#: a single engine, or a function choosing the engine of each step (e.g. one per domain)
EngineSource = Any | Callable[[SagaStep], Any]


class Saga:
    """A named list of steps; ``run`` executes them against an engine (see the module docstring)."""

    def __init__(self, name: str, steps: Sequence[SagaStep], *, causation_id: str | None = None) -> None:
        names = [s.name for s in steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"saga '{name}' has duplicate step names: {', '.join(duplicates)}")
        for i, step in enumerate(steps):
            if step.caused_by is not None and step.caused_by not in names[:i]:
                raise ValueError(
                    f"step '{step.name}' is caused_by '{step.caused_by}', which is not an earlier step"
                )
        self.name = name
        self.steps = tuple(steps)
        self.causation_id = causation_id or f"saga:{name}"

    def run(
        self, engine: EngineSource, *, correlation_id: str, idempotency_prefix: str | None = None
    ) -> SagaResult:
        """Run the steps; with ``idempotency_prefix`` every step and compensation gets the key
        ``<prefix>:<step>[:compensate]``, so running the same saga again (a retry after a crash)
        returns the recorded results instead of applying anything twice."""
        pick = engine if _is_engine_chooser(engine) else (lambda _step: engine)
        ctx = SagaContext(correlation_id, idempotency_prefix=idempotency_prefix)
        result = SagaResult(self.name, correlation_id, success=True, status="completed")
        for index, step in enumerate(self.steps):
            outcome = self._run_step(pick(step), step, ctx)
            result.steps.append(outcome)
            if outcome.result is not None:
                result.emitted_events.extend(getattr(outcome.result, "emitted_events", None) or ())
            if outcome.status == "failed" and not step.optional:
                result.success, result.failed_step, result.error = False, step.name, outcome.error
                result.steps.extend(
                    SagaStepOutcome(s.name, s.command, "skipped") for s in self.steps[index + 1 :]
                )
                self._compensate(pick, ctx, result)
                break
        return result

    def _run_step(self, engine: Any, step: SagaStep, ctx: SagaContext) -> SagaStepOutcome:
        step_input = dict(_resolve_input(step.input, ctx))
        causation = self._causation_of(step, ctx)
        res = engine.run_command(
            step.command,
            step_input,
            entity_name=step.entity_name,
            instance_id=step.instance_id,
            correlation_id=ctx.correlation_id,
            causation_id=causation,
            idempotency_key=ctx.key_of(step),
            override_requests=list(step.override_requests) or None,
        )
        ctx.results[step.name] = res
        ctx.inputs[step.name] = step_input
        ok = bool(getattr(res, "success", False))
        return SagaStepOutcome(
            step.name,
            step.command,
            "completed" if ok else "failed",
            causation_id=causation,
            result=res,
            error=None if ok else getattr(res, "error", None) or "step failed",
        )

    def _causation_of(self, step: SagaStep, ctx: SagaContext) -> str:
        if step.causation_id is not None:
            return step.causation_id
        if step.caused_by is not None:
            trigger = ctx.results.get(step.caused_by)
            events = getattr(trigger, "emitted_events", None) or ()
            named = [e for e in events if getattr(e, "emit_index", None) is not None] or list(events)
            if named:
                return event_ref(named[0])
        return self.causation_id

    def _compensate(self, pick: Callable[[SagaStep], Any], ctx: SagaContext, result: SagaResult) -> None:
        by_name = {s.name: s for s in self.steps}
        all_undone = True
        for outcome in reversed(result.steps):
            step = by_name[outcome.step]
            if outcome.status != "completed" or step.compensation is None:
                continue
            base = step.compensation_input if step.compensation_input is not None else ctx.inputs[step.name]
            comp = pick(step).run_command(
                step.compensation,
                dict(_resolve_input(base, ctx)),
                entity_name=step.entity_name,
                instance_id=step.instance_id,
                correlation_id=ctx.correlation_id,
                causation_id=f"{self.name}:{step.name}:compensate",
                idempotency_key=_suffixed(ctx.key_of(step), ":compensate"),
            )
            outcome.compensation = comp
            result.emitted_events.extend(getattr(comp, "emitted_events", None) or ())
            if getattr(comp, "success", False):
                outcome.status = "compensated"
            else:
                outcome.status = "compensation_failed"
                all_undone = False
        result.status = "compensated" if all_undone else "aborted"


def _suffixed(key: str | None, suffix: str) -> str | None:
    return None if key is None else key + suffix


def _resolve_input(source: StepInput, ctx: SagaContext) -> Mapping[str, Any]:
    return source(ctx) if callable(source) else source


def _is_engine_chooser(engine: Any) -> bool:
    # An engine has run_command; anything else callable picks the engine of a step.
    return callable(engine) and not hasattr(engine, "run_command")


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _result_dict(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value
