"""What the HTTP layer needs to know about a model, indexed once from the IR.

Routes are looked up by name on every request, so entities and commands are resolved through
dicts built here (never by scanning the IR), and each command's input check is compiled once
(``checker.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .checker import InputChecker
from .problems import ProblemError
from .schema import TypeSchemas

#: Name of the property used for tenant scoping when the model declares no ``tenant``.
CONVENTIONAL_TENANT_PROPERTY = "tenantId"


@dataclass(frozen=True, slots=True)
class CommandInfo:
    name: str
    entity: str | None
    ir: Mapping[str, Any]
    input_schema: dict[str, Any]
    checker: InputChecker
    #: whether the command creates its instance (runs without an instance id)
    allocating: bool

    @property
    def parameter_names(self) -> frozenset[str]:
        return frozenset(p["name"] for p in self.ir.get("parameters") or [])

    def validate(self, data: Mapping[str, Any]) -> None:
        """Raise a 400 problem naming every mismatch between ``data`` and the parameters."""
        _raise_if_invalid(self.checker, data)


#: a problem lists this many mismatches at most, each message cut to ``_MESSAGE_CHARS``: the
#: messages quote the offending value, which may be most of a 1 MB body
_MAX_ERRORS = 50
_MESSAGE_CHARS = 200


def _raise_if_invalid(checker: InputChecker, data: Mapping[str, Any]) -> None:
    if checker.valid(data):
        return
    errors = sorted(checker.errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise ProblemError(
            "INVALID_INPUT",
            "; ".join(_describe(e) for e in errors[:10]),
            errors=[
                {"path": "/".join(map(str, e.absolute_path)), "message": _message(e)}
                for e in errors[:_MAX_ERRORS]
            ],
        )


def _message(error: Any) -> str:
    text = str(error.message)
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


def _describe(error: Any) -> str:
    path = "/".join(map(str, error.absolute_path))
    return f"{path}: {_message(error)}" if path else _message(error)


@dataclass(slots=True)
class EntityInfo:
    name: str
    ir: Mapping[str, Any]
    properties: dict[str, Mapping[str, Any]]
    commands: dict[str, CommandInfo] = field(default_factory=dict)
    row_schema: dict[str, Any] = field(default_factory=dict)
    row_checker: InputChecker | None = None

    @property
    def create_command(self) -> CommandInfo | None:
        return self.commands.get("create")

    def validate_row(self, data: Mapping[str, Any]) -> None:
        """Plain creates (no ``create`` command) accept declared properties of the right types."""
        if self.row_checker is None:
            self.row_checker = InputChecker({**self.row_schema, "additionalProperties": False})
        _raise_if_invalid(self.row_checker, data)


class ModelIndex:
    """Entities, commands and tenant scoping of one IR, keyed for O(1) route resolution."""

    def __init__(self, ir: Mapping[str, Any]) -> None:
        self.ir = ir
        self.types = TypeSchemas(ir)
        tenant = ir.get("tenant")
        self.tenant_property: str | None = tenant.get("property") if tenant else None
        self.declares_tenant = tenant is not None
        self.entities: dict[str, EntityInfo] = {}
        self._aliases: dict[str, str] = {}
        for entity in ir.get("entities") or []:
            info = EntityInfo(
                name=entity["name"],
                ir=entity,
                properties={p["name"]: p for p in entity.get("properties") or []},
                row_schema=self.types.entity_row(entity),
            )
            self.entities[info.name] = info
            self._aliases.setdefault(info.name.lower(), info.name)
        self.global_commands: dict[str, CommandInfo] = {}
        for command in ir.get("commands") or []:
            self._add_command(command)

    def _add_command(self, command: Mapping[str, Any]) -> None:
        schema = self.types.command_input(command)
        entity_name = command.get("entity")
        info = CommandInfo(
            name=command["name"],
            entity=entity_name,
            ir=command,
            input_schema=schema,
            checker=InputChecker(schema),
            allocating=bool(entity_name) and (command["name"] == "create" or "initialization" in command),
        )
        owner = self.entities.get(entity_name) if entity_name else None
        if owner is not None:
            owner.commands.setdefault(info.name, info)
        else:
            self.global_commands.setdefault(info.name, info)

    def entity(self, segment: str) -> EntityInfo:
        """The entity a path segment names (exact name, else case-insensitive), or a 404."""
        info = self.entities.get(segment)
        if info is None:
            alias = self._aliases.get(segment.lower())
            info = self.entities.get(alias) if alias else None
        if info is None:
            raise ProblemError("UNKNOWN_ENTITY", f"Unknown entity '{segment}'", entity=segment)
        return info

    def entity_command(self, entity: EntityInfo, name: str) -> CommandInfo:
        info = entity.commands.get(name)
        if info is None:
            raise ProblemError(
                "UNKNOWN_COMMAND", f"Entity '{entity.name}' has no command '{name}'", command=name
            )
        return info

    def global_command(self, name: str) -> CommandInfo:
        info = self.global_commands.get(name)
        if info is None:
            raise ProblemError("UNKNOWN_COMMAND", f"Unknown command '{name}'", command=name)
        return info

    def scoping_property(self, entity: EntityInfo) -> str | None:
        """The row property that carries the tenant, if rows of ``entity`` are tenant-scoped.

        A declared ``tenant`` names it (the runtime stamps it on every create). Without one, a
        ``tenantId`` property is honoured by convention; otherwise the entity is shared.
        """
        if self.tenant_property:
            return self.tenant_property
        if CONVENTIONAL_TENANT_PROPERTY in entity.properties:
            return CONVENTIONAL_TENANT_PROPERTY
        return None
