"""What a durable saga runs: a plan of steps, fixed when the saga starts and stored with it.

A plan is plain JSON, so any worker can resume a saga from its row alone, with no registry of
Python code and no dependence on the model having changed since: the plan that started is the
plan that finishes. Two sources:

* a model's ``saga`` block (``CompiledModel.sagas``) with the reference's ``stepInputs``
  (``{step: {"input": {...}, "instanceId": "..."}}``): step commands get causation
  ``"<saga>:<step>"``, compensations ``"<saga>:<step>:compensate"`` and the step's own input, a
  failure compensates when ``on_failure: "compensate"`` (else the saga is ``aborted``), and the
  lifecycle events the block lists in ``emits`` are committed to the outbox;
* a Python ``Saga`` (``workflows/saga.py``) built with ``durable=True``: its steps' inputs must
  be mappings (a function of earlier results cannot be stored); ``caused_by`` and explicit
  causation ids keep their meaning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError, ManifestError
from .eventlog import event_ref

LIFECYCLE_EVENTS = ("SagaStarted", "SagaStepCompleted", "SagaCompleted", "SagaFailed")


class UnknownSagaError(ManifestError):
    """``start_saga`` named a saga the model does not declare."""

    code = "UNKNOWN_SAGA"


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One step: a command on an instance and, optionally, the command that undoes it."""

    name: str
    command: str
    entity: str | None = None
    instance_id: str | None = None
    input: Mapping[str, Any] = field(default_factory=dict)
    compensation: str | None = None
    compensation_entity: str | None = None
    #: None: the compensation gets the step's own input (the reference's rule)
    compensation_input: Mapping[str, Any] | None = None
    optional: bool = False
    causation_id: str | None = None
    caused_by: str | None = None

    @property
    def label(self) -> str:
        return f"{self.entity}.{self.command}" if self.entity else self.command

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "command": self.command, "input": dict(self.input)}
        for key, value in (
            ("entity", self.entity),
            ("instanceId", self.instance_id),
            ("compensation", self.compensation),
            ("compensationEntity", self.compensation_entity),
            ("causationId", self.causation_id),
            ("causedBy", self.caused_by),
        ):
            if value is not None:
                out[key] = value
        if self.compensation_input is not None:
            out["compensationInput"] = dict(self.compensation_input)
        if self.optional:
            out["optional"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanStep:
        comp_input = data.get("compensationInput")
        return cls(
            name=str(data["name"]),
            command=str(data["command"]),
            entity=data.get("entity"),
            instance_id=data.get("instanceId"),
            input=dict(data.get("input") or {}),
            compensation=data.get("compensation"),
            compensation_entity=data.get("compensationEntity"),
            compensation_input=dict(comp_input) if isinstance(comp_input, Mapping) else None,
            optional=bool(data.get("optional", False)),
            causation_id=data.get("causationId"),
            caused_by=data.get("causedBy"),
        )


@dataclass(frozen=True, slots=True)
class SagaPlan:
    name: str
    steps: tuple[PlanStep, ...]
    #: "compensate" (undo the completed steps) or "abort" (stop where it failed)
    on_failure: str = "compensate"
    #: lifecycle events committed to the outbox (all of them are kept in the saga's record)
    emits: tuple[str, ...] = ()
    causation_id: str = ""
    #: "model" (a saga block) or "python" (a ``Saga``)
    kind: str = "model"
    #: channels of the lifecycle events, from the model's event declarations
    channels: Mapping[str, str] = field(default_factory=dict)

    def step_causation(self, index: int, completed: Mapping[str, Any]) -> str:
        """The causation id of step ``index``: explicit, else the first event of its
        ``caused_by`` step (``completed``: step name -> recorded result), else the saga's rule."""
        step = self.steps[index]
        if step.causation_id is not None:
            return step.causation_id
        if step.caused_by is not None:
            events = (completed.get(step.caused_by) or {}).get("emittedEvents") or []
            if events:
                return event_ref(events[0])
        return f"{self.name}:{step.name}" if self.kind == "model" else self.causation_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "onFailure": self.on_failure,
            "emits": list(self.emits),
            "causationId": self.causation_id,
            "channels": dict(self.channels),
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SagaPlan:
        return cls(
            name=str(data["name"]),
            steps=tuple(PlanStep.from_dict(s) for s in data.get("steps") or []),
            on_failure=str(data.get("onFailure") or "compensate"),
            emits=tuple(data.get("emits") or ()),
            causation_id=str(data.get("causationId") or f"saga:{data['name']}"),
            kind=str(data.get("kind") or "model"),
            channels=dict(data.get("channels") or {}),
        )


def plan_from_model(model: Any, name: str, step_inputs: Mapping[str, Any] | None) -> SagaPlan:
    """The plan of the model's saga ``name`` with the reference's ``stepInputs``."""
    record = model.sagas.get(name)
    if record is None:
        raise UnknownSagaError(f"Unknown saga '{name}'", saga=name)
    saga: Mapping[str, Any] = record.ir  # the IR block (runtime/records.py SagaModel)
    inputs = _step_inputs(saga, step_inputs)
    steps = []
    for step in saga.get("steps") or []:
        cfg = inputs.get(step["name"]) or {}
        instance = cfg.get("instanceId")
        steps.append(
            PlanStep(
                name=str(step["name"]),
                command=str(step["command"]),
                entity=step.get("commandEntity"),
                instance_id=None if instance is None else str(instance),
                input=dict(cfg.get("input") or {}),
                # as the reference: a compensation without its entity is skipped
                compensation=step.get("compensate") if step.get("compensateEntity") else None,
                compensation_entity=step.get("compensateEntity"),
            )
        )
    emits = tuple(e for e in saga.get("emits") or () if e in LIFECYCLE_EVENTS)
    return SagaPlan(
        name=name,
        steps=tuple(steps),
        on_failure="compensate" if saga.get("onFailure") == "compensate" else "abort",
        emits=emits,
        causation_id=f"saga:{name}",
        kind="model",
        channels={e: _channel(model, e) for e in emits},
    )


def _step_inputs(saga: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise InvalidInputError("saga input must be an object: {step: {input, instanceId}}")
    names = {s["name"] for s in saga.get("steps") or []}
    unknown = sorted(set(given) - names)
    if unknown:
        raise InvalidInputError(f"saga '{saga['name']}' has no step {', '.join(map(repr, unknown))}")
    out: dict[str, Mapping[str, Any]] = {}
    for step, cfg in given.items():
        if not isinstance(cfg, Mapping) or not set(cfg) <= {"input", "instanceId"}:
            raise InvalidInputError(f"input of step '{step}' must be {{input?: object, instanceId?: string}}")
        if cfg.get("input") is not None and not isinstance(cfg.get("input"), Mapping):
            raise InvalidInputError(f"input of step '{step}': input must be an object")
        if cfg.get("instanceId") is not None and not isinstance(cfg.get("instanceId"), str | int):
            raise InvalidInputError(f"input of step '{step}': instanceId must be a string")
        out[str(step)] = cfg
    return out


def _channel(model: Any, event: str) -> str:
    declared = model.events.get(event)  # name -> channel
    channel = declared if isinstance(declared, str) else getattr(declared, "channel", None)
    return str(channel or event)


def plan_from_saga(saga: Any, *, emits: Sequence[str] = ()) -> SagaPlan:
    """The plan of a Python ``Saga`` (its step inputs must be mappings)."""
    steps = []
    for step in saga.steps:
        for what, value in (("input", step.input), ("compensation_input", step.compensation_input)):
            if callable(value):
                raise InvalidInputError(
                    f"durable saga '{saga.name}': step '{step.name}' has a function as {what}; "
                    "a durable saga stores its steps, so inputs must be mappings"
                )
        steps.append(
            PlanStep(
                name=step.name,
                command=step.command,
                entity=step.entity_name,
                instance_id=step.instance_id,
                input=dict(step.input or {}),
                compensation=step.compensation,
                compensation_entity=step.entity_name,
                compensation_input=None if step.compensation_input is None else dict(step.compensation_input),
                optional=step.optional,
                causation_id=step.causation_id,
                caused_by=step.caused_by,
            )
        )
    unknown = sorted(set(emits) - set(LIFECYCLE_EVENTS))
    if unknown:
        raise InvalidInputError(f"unknown lifecycle events: {', '.join(unknown)}")
    return SagaPlan(
        name=saga.name,
        steps=tuple(steps),
        on_failure="compensate",
        emits=tuple(emits),
        causation_id=saga.causation_id,
        kind="python",
    )
