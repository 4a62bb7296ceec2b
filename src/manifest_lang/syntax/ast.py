"""The syntax tree: frozen dataclasses, every node carrying the position of its first token.

Nodes are built only through ``parser_base.node_maker`` (or ``Parser.node``), so that every node
records where it came from.
The tree mirrors the source; everything derived (dependencies, inherited members, plans, ...)
is computed by the compiler, not stored here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    line: int = 0
    column: int = 0


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal(Node):
    #: Python value: str, int/float, bool or None
    value: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Identifier(Node):
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Member(Node):
    object: Expr
    property: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Binary(Node):
    operator: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True, kw_only=True)
class Unary(Node):
    operator: str
    operand: Expr


@dataclass(frozen=True, slots=True, kw_only=True)
class Call(Node):
    callee: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Conditional(Node):
    condition: Expr
    consequent: Expr
    alternate: Expr


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayLit(Node):
    elements: tuple[Expr, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectLit(Node):
    properties: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Lambda(Node):
    params: tuple[str, ...]
    body: Expr


@dataclass(frozen=True, slots=True, kw_only=True)
class Aggregate(Node):
    op: str
    entity: str
    predicates: tuple[tuple[str, Expr], ...]
    field: str | None = None


Expr = (
    Literal
    | Identifier
    | Member
    | Binary
    | Unary
    | Call
    | Conditional
    | ArrayLit
    | ObjectLit
    | Lambda
    | Aggregate
)


# ---------------------------------------------------------------- types and members


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeRef(Node):
    name: str
    generic: TypeRef | None = None
    nullable: bool = False
    params: tuple[int | float, int | float] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MaskSpec(Node):
    strategy: str
    params: tuple[float | int, ...] = ()
    unmask_when: Expr | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Property(Node):
    name: str
    type: TypeRef
    modifiers: tuple[str, ...] = ()
    default: Expr | None = None
    mask: MaskSpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Computed(Node):
    name: str
    type: TypeRef | None
    expression: Expr
    cache: tuple[str, float | int | None] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Relationship(Node):
    name: str
    kind: str
    target: str
    through: str | None = None
    fields: tuple[str, ...] | None = None
    references: tuple[str, ...] | None = None
    on_delete: str | None = None
    on_update: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraint(Node):
    name: str
    expression: Expr
    severity: str | None = None
    code: str | None = None
    fail_when: bool | None = None
    message: str | None = None
    message_template: str | None = None
    details: tuple[tuple[str, Expr], ...] | None = None
    overrideable: bool = False
    override_policy: str | None = None
    #: written in the seed's multi-line form (computed references are inlined, not rejected)
    seed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameter(Node):
    name: str
    type: TypeRef
    required: bool = True
    default: Expr | None = None
    trusted_source: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Action(Node):
    kind: str
    expression: Expr
    target: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EmitStatement(Node):
    event: str
    payload: tuple[tuple[str, Expr], ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Command(Node):
    name: str
    parameters: tuple[Parameter, ...] = ()
    guards: tuple[Expr, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    actions: tuple[Action, ...] = ()
    emits: tuple[EmitStatement, ...] = ()
    returns: TypeRef | None = None
    is_async: bool = False
    retry: dict[str, Any] | None = field(default=None, hash=False)
    rate_limit: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy(Node):
    name: str
    action: str
    expression: Expr
    message: str | None = None
    rate_limit: dict[str, Any] | None = field(default=None, hash=False)
    is_default: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Store(Node):
    entity: str
    target: str
    config: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class EventField(Node):
    name: str
    type: TypeRef


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(Node):
    name: str
    channel: str
    fields: tuple[EventField, ...] | None = None
    payload_type: TypeRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition(Node):
    property: str
    from_state: str
    to_states: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalStage(Node):
    name: str
    policy: Expr
    required: float | int = 1
    when: Expr | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Escalate(Node):
    to: Expr | None = None
    status: str | None = None
    timeout: float | int | str | None = None
    reset_timeout: bool = False
    has_block: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval(Node):
    name: str
    command: str
    stages: tuple[ApprovalStage, ...] = ()
    emits: tuple[str, ...] = ()
    timeout: float | int | None = None
    on_timeout: str | Escalate | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reaction(Node):
    event: str
    target_entity: str
    target_command: str
    resolve: Expr | None = None
    match: tuple[tuple[str, Expr], ...] | None = None
    else_create: bool = False
    fan_out: tuple[str, Expr, str | None] | None = None
    params: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Behavior(Node):
    trigger: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule(Node):
    name: str
    kind: str
    value: str | None
    entity: str | None
    command: str
    params: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Entity(Node):
    name: str
    properties: tuple[Property, ...] = ()
    computed: tuple[Computed, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    commands: tuple[Command, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    policies: tuple[Policy, ...] = ()
    stores: tuple[Store, ...] = ()
    transitions: tuple[Transition, ...] = ()
    approvals: tuple[Approval, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    behaviors: tuple[Behavior, ...] = ()
    type_params: tuple[str, ...] = ()
    instantiation: tuple[str, tuple[str, ...]] | None = None
    parent: str | None = None
    mixins: tuple[str, ...] = ()
    key: tuple[str, ...] | None = None
    alternate_keys: tuple[tuple[str, ...], ...] = ()
    version_property: str | None = None
    version_at_property: str | None = None
    timestamps: bool = False
    realtime: bool = False
    external: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class EnumValue(Node):
    name: str
    label: str | None = None
    ordinal: float | int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Enum(Node):
    name: str
    values: tuple[EnumValue, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueObject(Node):
    name: str
    properties: tuple[Property, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Tenant(Node):
    property: str
    type: TypeRef
    context_path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaStep(Node):
    name: str
    command: tuple[str, str]
    compensate: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Saga(Node):
    name: str
    steps: tuple[SagaStep, ...]
    on_failure: str = "compensate"
    emits: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Permission(Node):
    action: str
    target: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Role(Node):
    name: str
    parent: str | None = None
    allow: tuple[Permission, ...] = ()
    deny: tuple[Permission, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook(Node):
    name: str
    path: str
    entity: str | None
    command: str
    method: str | None = None
    signature: dict[str, Any] | None = field(default=None, hash=False)
    idempotency_header: str | None = None
    transform: tuple[tuple[str, Expr], ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unlowered(Node):
    """flow / effect / expose / compose: parsed, warned about, never lowered."""

    kind: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Use(Node):
    """``use "./other.manifest"``: kept so that a multi-file compile can load the file."""

    path: str
    #: 1-based column where the ``use`` keyword starts (``column`` is the reference's, after it)
    start_column: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Module(Node):
    name: str
    entities: tuple[Entity, ...] = ()
    enums: tuple[Enum, ...] = ()
    commands: tuple[Command, ...] = ()
    policies: tuple[Policy, ...] = ()
    stores: tuple[Store, ...] = ()
    events: tuple[Event, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    sagas: tuple[Saga, ...] = ()
    roles: tuple[Role, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    schedules: tuple[Schedule, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Program(Node):
    modules: tuple[Module, ...] = ()
    entities: tuple[Entity, ...] = ()
    enums: tuple[Enum, ...] = ()
    values: tuple[ValueObject, ...] = ()
    commands: tuple[Command, ...] = ()
    policies: tuple[Policy, ...] = ()
    stores: tuple[Store, ...] = ()
    events: tuple[Event, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    sagas: tuple[Saga, ...] = ()
    roles: tuple[Role, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    unlowered: tuple[Unlowered, ...] = ()
    tenant: Tenant | None = None
    uses: tuple[Use, ...] = ()
