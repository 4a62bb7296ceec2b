"""The syntax tree: frozen dataclasses, every node carrying the position of its first token.

Nodes are built only through ``parser_base.node_maker`` (or ``Parser.node``), so that every node
records where it came from.
The tree mirrors the source; everything derived (dependencies, inherited members, plans, ...)
is computed by the compiler, not stored here.
"""

from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

_N = TypeVar("_N")


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field,))
def node(cls: type[_N]) -> type[_N]:
    """``@dataclass(frozen=True, slots=True, kw_only=True)``, at a quarter of its import cost.

    The dataclass-generated ``__init__``, ``__eq__``, ``__hash__``, ``__repr__`` and frozen
    ``__setattr__``/``__delattr__`` are each compiled from source at import (six ``exec`` per
    class, ~25% of the compiler's import time for the ~50 node classes). Here the dataclass only
    records the fields and makes the slots; ``_NodeMethods`` has one generic copy of each method,
    with the same behaviour (type checkers see a frozen keyword-only dataclass).
    """
    made = dataclass(slots=True, kw_only=True, init=False, repr=False, eq=False)(cls)
    own = fields(made)  # type: ignore[arg-type]
    names = tuple(f.name for f in own)
    _LAYOUTS[made] = _Layout(
        tuple((f.name, f.default, f.default_factory) for f in own),
        attrgetter(*names),
        attrgetter(*(f.name for f in own if (f.compare if f.hash is None else f.hash))),
        tuple(f.name for f in own if f.repr),
    )
    return made


class _Layout:
    __slots__ = ("init", "values", "hashed", "shown")

    def __init__(
        self, init: tuple[tuple[str, Any, Any], ...], values: Any, hashed: Any, shown: tuple[str, ...]
    ) -> None:
        self.init, self.values, self.hashed, self.shown = init, values, hashed, shown


_LAYOUTS: dict[type, _Layout] = {}


class _NodeMethods:
    """The methods ``dataclass(frozen=True, slots=True, kw_only=True)`` would generate per class."""

    __slots__ = ()

    def __init__(self, **values: Any) -> None:
        cls = type(self)
        for name, default, factory in _LAYOUTS[cls].init:
            if name in values:
                value = values.pop(name)
            elif default is not MISSING:
                value = default
            elif factory is not MISSING:
                value = factory()
            else:
                message = f"missing 1 required keyword-only argument: '{name}'"
                raise TypeError(f"{cls.__qualname__}.__init__() {message}")
            object.__setattr__(self, name, value)
        if values:
            message = f"got an unexpected keyword argument '{next(iter(values))}'"
            raise TypeError(f"{cls.__qualname__}.__init__() {message}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        values = _LAYOUTS[self.__class__].values
        return bool(values(self) == values(other))

    def __hash__(self) -> int:
        return hash(_LAYOUTS[self.__class__].hashed(self))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _LAYOUTS[self.__class__].shown)
        return f"{self.__class__.__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __getstate__(self) -> Any:
        return _LAYOUTS[self.__class__].values(self)

    def __setstate__(self, state: Any) -> None:
        for (name, _default, _factory), value in zip(_LAYOUTS[self.__class__].init, state, strict=True):
            object.__setattr__(self, name, value)


@node
class Node(_NodeMethods):
    line: int = 0
    column: int = 0


# ---------------------------------------------------------------- expressions


@node
class Literal(Node):
    #: Python value: str, int/float, bool or None
    value: Any


@node
class Identifier(Node):
    name: str


@node
class Member(Node):
    object: Expr
    property: str


@node
class Binary(Node):
    operator: str
    left: Expr
    right: Expr


@node
class Unary(Node):
    operator: str
    operand: Expr


@node
class Call(Node):
    callee: Expr
    args: tuple[Expr, ...]


@node
class Conditional(Node):
    condition: Expr
    consequent: Expr
    alternate: Expr


@node
class ArrayLit(Node):
    elements: tuple[Expr, ...]


@node
class ObjectLit(Node):
    properties: tuple[tuple[str, Expr], ...]


@node
class Lambda(Node):
    params: tuple[str, ...]
    body: Expr


@node
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


@node
class TypeRef(Node):
    name: str
    generic: TypeRef | None = None
    nullable: bool = False
    params: tuple[int | float, int | float] | None = None


@node
class MaskSpec(Node):
    strategy: str
    params: tuple[float | int, ...] = ()
    unmask_when: Expr | None = None


@node
class Property(Node):
    name: str
    type: TypeRef
    modifiers: tuple[str, ...] = ()
    default: Expr | None = None
    mask: MaskSpec | None = None


@node
class Computed(Node):
    name: str
    type: TypeRef | None
    expression: Expr
    cache: tuple[str, float | int | None] | None = None


@node
class Relationship(Node):
    name: str
    kind: str
    target: str
    through: str | None = None
    fields: tuple[str, ...] | None = None
    references: tuple[str, ...] | None = None
    on_delete: str | None = None
    on_update: str | None = None


@node
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


@node
class Parameter(Node):
    name: str
    type: TypeRef
    required: bool = True
    default: Expr | None = None
    trusted_source: str | None = None


@node
class Action(Node):
    kind: str
    expression: Expr
    target: str | None = None


@node
class EmitStatement(Node):
    event: str
    payload: tuple[tuple[str, Expr], ...] | None = None


@node
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


@node
class Policy(Node):
    name: str
    action: str
    expression: Expr
    message: str | None = None
    rate_limit: dict[str, Any] | None = field(default=None, hash=False)
    is_default: bool = False


@node
class Store(Node):
    entity: str
    target: str
    config: tuple[tuple[str, Expr], ...] = ()


@node
class EventField(Node):
    name: str
    type: TypeRef


@node
class Event(Node):
    name: str
    channel: str
    fields: tuple[EventField, ...] | None = None
    payload_type: TypeRef | None = None


@node
class Transition(Node):
    property: str
    from_state: str
    to_states: tuple[str, ...]


@node
class ApprovalStage(Node):
    name: str
    policy: Expr
    required: float | int = 1
    when: Expr | None = None


@node
class Escalate(Node):
    to: Expr | None = None
    status: str | None = None
    timeout: float | int | str | None = None
    reset_timeout: bool = False
    has_block: bool = False


@node
class Approval(Node):
    name: str
    command: str
    stages: tuple[ApprovalStage, ...] = ()
    emits: tuple[str, ...] = ()
    timeout: float | int | None = None
    on_timeout: str | Escalate | None = None


@node
class Reaction(Node):
    event: str
    target_entity: str
    target_command: str
    resolve: Expr | None = None
    match: tuple[tuple[str, Expr], ...] | None = None
    else_create: bool = False
    fan_out: tuple[str, Expr, str | None] | None = None
    params: tuple[tuple[str, Expr], ...] = ()


@node
class Behavior(Node):
    trigger: str


@node
class Schedule(Node):
    name: str
    kind: str
    value: str | None
    entity: str | None
    command: str
    params: tuple[tuple[str, Expr], ...] = ()


@node
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


@node
class EnumValue(Node):
    name: str
    label: str | None = None
    ordinal: float | int | None = None


@node
class Enum(Node):
    name: str
    values: tuple[EnumValue, ...]


@node
class ValueObject(Node):
    name: str
    properties: tuple[Property, ...]


@node
class Tenant(Node):
    property: str
    type: TypeRef
    context_path: str


@node
class SagaStep(Node):
    name: str
    command: tuple[str, str]
    compensate: tuple[str, str] | None = None


@node
class Saga(Node):
    name: str
    steps: tuple[SagaStep, ...]
    on_failure: str = "compensate"
    emits: tuple[str, ...] = ()


@node
class Permission(Node):
    action: str
    target: str | None = None


@node
class Role(Node):
    name: str
    parent: str | None = None
    allow: tuple[Permission, ...] = ()
    deny: tuple[Permission, ...] = ()


@node
class Webhook(Node):
    name: str
    path: str
    entity: str | None
    command: str
    method: str | None = None
    signature: dict[str, Any] | None = field(default=None, hash=False)
    idempotency_header: str | None = None
    transform: tuple[tuple[str, Expr], ...] | None = None


@node
class Unlowered(Node):
    """flow / effect / expose / compose: parsed, warned about, never lowered."""

    kind: str
    name: str


@node
class Use(Node):
    """``use "./other.manifest"``: kept so that a multi-file compile can load the file."""

    path: str
    #: 1-based column where the ``use`` keyword starts (``column`` is the reference's, after it)
    start_column: int = 0


@node
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


@node
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
