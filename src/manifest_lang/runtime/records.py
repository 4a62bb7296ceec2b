"""The records of a compiled model: what the builder (``model.py``) makes of each IR part.

Typed, slotted records (compiled to native classes in the native build) so that the pipeline reads
fields, never dict keys, and never the IR itself on the command path. The workflow parts of a model
(approvals, reactions, schedules, sagas) are records like the entities and commands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..expr.compile import Evaluator

#: a parameter without a default (``UNDEFINED`` is a value a default may not have)
NO_DEFAULT: Any = object()

#: IR type name -> default of a property without ``= value`` (anything else: null)
_TYPE_DEFAULTS: dict[str, Any] = {"string": "", "number": 0, "boolean": False}
_CONTAINER_DEFAULTS: dict[str, type] = {"list": list, "array": list, "map": dict}


def type_default(type_name: str, nullable: bool) -> Any:
    if nullable:
        return None
    if type_name in _CONTAINER_DEFAULTS:
        return _CONTAINER_DEFAULTS[type_name]()
    return _TYPE_DEFAULTS.get(type_name)


@dataclass(slots=True)
class Checked:
    """A compiled expression with what a failure report needs (text and leaves to re-evaluate)."""

    ir: dict[str, Any]
    fn: Evaluator
    formatted: str
    #: leaves of the ``resolved`` report: ``(text, evaluator, None)``, charged together, or
    #: ``(text, None, value)`` for an atomic literal (its value is known at compile time)
    leaves: list[tuple[str, Evaluator | None, Any]]
    leaf_steps: int
    leaf_depth: int
    #: the whole report in one generated call (``codegen.generate_report``), or None: the leaves
    report: Evaluator | None = None


@dataclass(slots=True)
class ConstraintModel:
    name: str
    code: str
    severity: str
    fail_when: bool
    message: str | None
    message_template: str | None
    details: list[tuple[str, Evaluator]]
    overrideable: bool
    override_policy: str | None
    check: Checked


@dataclass(slots=True)
class PolicyModel:
    name: str
    entity: str | None
    action: str
    message: str | None
    check: Checked
    context_keys: list[str]
    rate_limit: dict[str, Any] | None


@dataclass(slots=True)
class ParamModel:
    name: str
    type_name: str | None
    required: bool
    default: Any  # UNDEFINED-free: NO_DEFAULT when absent
    trusted_path: list[str] | None


@dataclass(slots=True)
class ActionModel:
    kind: str
    target: str | None
    fn: Evaluator
    #: a mutate of a field with no per-write rule (readonly, unique, transitions, version,
    #: timestamps): the pipeline just assigns it
    plain: bool = False
    #: a mutate whose only per-write rule is a transition table: the table (from -> allowed)
    transition_only: dict[str, list[str]] | None = None


@dataclass(slots=True)
class CommandModel:
    name: str
    entity: str | None
    params: list[ParamModel]
    guards: list[Checked]
    constraints: list[ConstraintModel]
    policies: list[PolicyModel]
    actions: list[ActionModel]
    emits: list[str]
    emit_payloads: dict[str, list[tuple[str, Evaluator]]]
    rate_limit: dict[str, Any] | None
    retry: dict[str, Any] | None
    is_async: bool
    initialization: dict[str, Any] | None
    ir: dict[str, Any]
    has_adapter_actions: bool = False
    #: the typed-input check of the supplied parameters (runtime/inputs.py), None when untyped
    check_input: Callable[[Mapping[str, Any]], tuple[dict[str, Any], str] | None] | None = None


@dataclass(slots=True)
class PropertyModel:
    name: str
    type_name: str
    nullable: bool
    default: Any
    has_default: bool
    auto_now: bool
    modifiers: frozenset[str]
    mask: dict[str, Any] | None
    unmask_when: Evaluator | None


@dataclass(slots=True)
class ComputedModel:
    name: str
    fn: Evaluator
    dependencies: list[str]


@dataclass(slots=True)
class RelationModel:
    name: str
    kind: str
    target: str
    fk_fields: list[str]
    fk_refs: list[str]
    through: str | None
    on_delete: str | None = None


@dataclass(slots=True)
class EntityModel:
    name: str
    properties: dict[str, PropertyModel]
    computed: dict[str, ComputedModel]
    relations: dict[str, RelationModel]
    constraints: list[ConstraintModel]
    commands: frozenset[str]
    key: list[str] | None
    alternate_keys: list[list[str]]
    version_property: str | None
    version_at_property: str | None
    timestamps: bool
    transitions: dict[str, dict[str, list[str]]]
    read_policies: list[PolicyModel]
    approvals: list[ApprovalModel]
    required: list[str] = field(default_factory=list)
    unique: list[str] = field(default_factory=list)
    readonly: frozenset[str] = frozenset()
    private: frozenset[str] = frozenset()
    encrypted: tuple[str, ...] = ()  # declaration order, so errors name fields deterministically
    temporal: dict[str, str] = field(default_factory=dict)  # date/time/datetime/duration props
    masked: list[PropertyModel] = field(default_factory=list)
    #: ``apply_defaults``' plan (constant defaults, then the fresh ones), built on first use
    defaults_plan: tuple[dict[str, Any], list[tuple[str, int, Any]]] | None = None


@dataclass(slots=True)
class ApprovalStageModel:
    name: str
    required: int
    policy: Evaluator | None
    when: Evaluator | None


@dataclass(slots=True)
class ApprovalModel:
    """An ``approval`` on an entity: the stages that must grant ``command`` before it runs."""

    name: str
    command: str | None
    timeout: Any  # hours (a number) or None
    stages: list[ApprovalStageModel]
    ir: dict[str, Any]


@dataclass(slots=True)
class ReactionModel:
    """``on Event -> Entity.command``: how the target instance(s) and the parameters are found."""

    event: str
    target_entity: str | None
    target_command: str | None
    params: list[tuple[str, Evaluator]]
    match: list[tuple[str, Evaluator]]
    resolve: Evaluator | None
    #: ``fanOut``: one command per row of ``fan_entity`` whose ``fan_field`` equals ``fan_source``
    fan_out: bool
    fan_entity: str | None
    fan_field: Any
    fan_source: Evaluator | None
    else_create: bool
    ir: dict[str, Any]


@dataclass(slots=True)
class ScheduleModel:
    name: str
    command_name: str
    entity_name: str | None
    params: list[tuple[str, Evaluator]]
    ir: dict[str, Any]


@dataclass(slots=True)
class SagaModel:
    name: str
    steps: list[dict[str, Any]]
    on_failure: str
    ir: dict[str, Any]
