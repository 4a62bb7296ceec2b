"""Entities and their members, enums, value objects, tenant, stores, events, transitions."""

from __future__ import annotations

from typing import Any

from . import ast
from .integrations import IntegrationParser
from .parser_base import node_maker
from .tokens import KIND_IDENTIFIER, KIND_KEYWORD, KIND_NUMBER, KIND_STRING, Token

# Node constructors of the hot paths (see ``node_maker``).
_new_event = node_maker(ast.Event)
_new_event_field = node_maker(ast.EventField)
_new_transition = node_maker(ast.Transition)

_ENTITY_TUPLE_FIELDS = (
    "properties",
    "computed",
    "relationships",
    "commands",
    "constraints",
    "policies",
    "stores",
    "transitions",
    "approvals",
    "reactions",
    "behaviors",
)


class DeclarationParser(IntegrationParser):
    # ------------------------------------------------------------------ entity
    def entity_decl(self) -> ast.Entity:
        external = False
        start = self.tok
        if self.at("external"):
            external = True
            self.advance()
        self.expect("entity")
        name = self.identifier()
        header: dict[str, Any] = {"external": external}
        if self.at("<"):
            header["type_params"] = self._type_name_list()
            self.skip_newlines()
        if self.accept("="):
            template = self.identifier()
            header["instantiation"] = (template, self._type_name_list())
            self.skip_newlines()
        if self.accept("extends"):
            header["parent"] = self.identifier()
        if self.at("mixin"):
            self.advance()
            mixins = [self.identifier()]
            while self.accept(","):
                mixins.append(self.identifier())
            header["mixins"] = tuple(mixins)
        self.expect("{")
        self.skip_newlines()
        members: dict[str, Any] = {key: [] for key in _ENTITY_TUPLE_FIELDS}
        while self.in_block():
            if self.at_eof():
                raise self.fail(f"Expected }}, got {self.tok.display}")
            self.entity_member(name, members)
            self.skip_newlines()
        self.expect("}")
        fields = {key: tuple(value) if isinstance(value, list) else value for key, value in members.items()}
        return self.node(ast.Entity, start, name=name, **header, **fields)

    def _type_name_list(self) -> tuple[str, ...]:
        self.expect("<")
        names = [self.identifier()]
        while self.accept(","):
            names.append(self.identifier())
        self.expect(">")
        return tuple(names)

    def entity_member(self, entity: str, members: dict[str, Any]) -> None:
        token = self.tok
        value = token.value
        if token.kind is KIND_STRING:
            self.skip_token("entity")
            return
        handler = _MEMBER_HANDLERS.get(value)
        if handler is not None and handler(self, entity, members):
            return
        self.skip_token("entity")

    # handlers return False when the token turns out not to start that member (it is then skipped)
    def _m_property(self, entity: str, members: dict[str, Any]) -> bool:
        members["properties"].append(self.property_decl())
        return True

    def _m_computed(self, entity: str, members: dict[str, Any]) -> bool:
        members["computed"].append(self.computed_decl())
        return True

    def _m_relationship(self, entity: str, members: dict[str, Any]) -> bool:
        members["relationships"].append(self.relationship_decl())
        return True

    def _m_command(self, entity: str, members: dict[str, Any]) -> bool:
        is_async = False
        if self.at("async"):
            self.advance()
            if not self.at("command"):
                raise self.fail("Expected 'command' after 'async'")
            is_async = True
        members["commands"].append(self.command_decl(is_async))
        return True

    def _m_constraint(self, entity: str, members: dict[str, Any]) -> bool:
        members["constraints"].append(self.constraint_decl())
        return True

    def _m_policy(self, entity: str, members: dict[str, Any]) -> bool:
        members["policies"].append(self.policy_decl())
        return True

    def _m_default(self, entity: str, members: dict[str, Any]) -> bool:
        self.advance()
        if not self.at("policy"):
            raise self.fail("Expected 'policy' after 'default'")
        members["policies"].append(self.policy_decl(is_default=True))
        return True

    def _m_policies(self, entity: str, members: dict[str, Any]) -> bool:
        if self.peek().value != "{":
            return False
        self.advance()
        self.advance()
        while self.in_block():
            self.skip_newlines()
            if self.at("}"):
                break
            self.identifier()
            self.accept(",")
        self.expect("}")
        return True

    def _m_store(self, entity: str, members: dict[str, Any]) -> bool:
        start = self.advance()
        if self.accept("in"):
            target = self.any_value()
        elif self.peek().value == "in" and self.peek().kind is KIND_KEYWORD:
            self.identifier()
            self.advance()
            target = self.any_value()
            if self.at("{"):
                self._store_config()
        else:
            target = self.any_value()
        if target == "filesystem":
            target = "localStorage"
        members["stores"].append(self.node(ast.Store, start, entity=entity, target=target))
        return True

    def _m_version(self, entity: str, members: dict[str, Any]) -> bool:
        key = "version_property" if self.advance().value == "versionProperty" else "version_at_property"
        members[key] = self.identifier()
        if self.accept(":"):
            self.advance()
        return True

    def _m_key(self, entity: str, members: dict[str, Any]) -> bool:
        is_key = self.tok.value == "key"
        if not is_key and self.peek().value != "[":
            return False
        self.advance()
        names = self.ident_list()
        if is_key:
            members["key"] = names
        else:
            members.setdefault("alternate_keys", []).append(names)
        return True

    def _m_flag(self, entity: str, members: dict[str, Any]) -> bool:
        members[self.advance().value] = True
        return True

    def _m_transition(self, entity: str, members: dict[str, Any]) -> bool:
        start = self.advance()
        prop = self.identifier()
        self.expect("from")
        from_state = self.any_value()
        self.expect("to")
        if self.accept("["):
            states: list[str] = []
            while not self.at("]"):
                if self.at_eof():
                    raise self.fail(f"Expected ], got {self.tok.display}")
                states.append(self.any_value())
                self.accept(",")
            self.advance()
        else:
            states = [self.any_value()]
        members["transitions"].append(
            _new_transition(start, property=prop, from_state=from_state, to_states=tuple(states))
        )
        return True

    def _m_approval(self, entity: str, members: dict[str, Any]) -> bool:
        members["approvals"].append(self.approval_decl())
        return True

    def _m_behavior(self, entity: str, members: dict[str, Any]) -> bool:
        if self.at("on"):
            nxt = self.peek(2)
            if nxt.value in ("run", "fanOut"):
                members["reactions"].append(self.reaction_decl())
                return True
        members["behaviors"].append(self.behavior_decl())
        return True

    def _m_event(self, entity: str, members: dict[str, Any]) -> bool:
        token = self.advance()
        self.warning(
            "Events cannot be declared inside entity blocks. Declare events at module or root level instead.",
            token,
        )
        if self.at_kind(KIND_IDENTIFIER):
            self.advance()
        return True

    def _m_schedule(self, entity: str, members: dict[str, Any]) -> bool:
        if self.peek().kind is not KIND_IDENTIFIER:
            return False
        token = self.tok
        schedule = self.schedule_decl()
        self.warning(
            f"Schedule '{schedule.name}' is declared inside entity '{entity}' and is not lowered to IR; "
            "it has no effect at runtime. Declare schedules at the top level.",
            token,
        )
        return True

    # ------------------------------------------------------------------ other declarations
    def _store_config(self) -> tuple[tuple[str, ast.Expr], ...]:
        self.expect("{")
        self.skip_newlines()
        entries: list[tuple[str, ast.Expr]] = []
        while self.in_block():
            key = self.name()
            self.expect(":")
            entries.append((key, self.expression()))
            self.skip_newlines()
        self.expect("}")
        return tuple(entries)

    def store_decl(self) -> ast.Store:
        start = self.advance()
        entity = self.identifier()
        self.expect("in")
        target = self.any_value()
        config = self._store_config() if self.at("{") else ()
        return self.node(ast.Store, start, entity=entity, target=target, config=config)

    def event_decl(self) -> ast.Event:
        start = self.advance()
        name = self.identifier()
        self.expect(":")
        channel = self.advance().value if self.at_kind(KIND_STRING) else name
        if self.at("{"):
            self.advance()
            self.skip_newlines()
            fields: list[ast.EventField] = []
            while self.in_block():
                field_token = self.tok
                field = self.identifier()
                self.expect(":")
                fields.append(_new_event_field(field_token, name=field, type=self.type_ref()))
                self.skip_newlines()
            self.expect("}")
            return _new_event(start, name=name, channel=channel, fields=tuple(fields))
        if self.tok.kind not in (KIND_IDENTIFIER, KIND_KEYWORD):
            return _new_event(start, name=name, channel=channel)
        return _new_event(start, name=name, channel=channel, payload_type=self.type_ref())

    def enum_decl(self) -> ast.Enum:
        start = self.advance()
        name = self.identifier()
        self.expect("{")
        self.skip_newlines()
        values: list[ast.EnumValue] = []
        while self.in_block():
            token = self.tok
            value_name = self.identifier()
            label = ordinal = None
            if self.accept("="):
                label = self.expect_kind(KIND_STRING).value
            if self.accept("("):
                ordinal = self.expect_kind(KIND_NUMBER).number
                self.expect(")")
            self.accept(",")
            self.skip_newlines()
            values.append(self.node(ast.EnumValue, token, name=value_name, label=label, ordinal=ordinal))
        self.expect("}")
        return self.node(ast.Enum, start, name=name, values=tuple(values))

    def value_object_decl(self) -> ast.ValueObject:
        start = self.advance()
        name = self.identifier()
        self.expect("{")
        self.skip_newlines()
        properties: list[ast.Property] = []
        while self.in_block():
            if self.at_eof():
                raise self.fail(f"Expected }}, got {self.tok.display}")
            if self.at("property"):
                properties.append(self.property_decl())
            else:
                bad = self.advance()
                self.error(
                    f"Unexpected token '{bad.value}' in value object '{name}'. "
                    "Value objects may only contain property declarations.",
                    bad,
                )
            self.skip_newlines()
        self.expect("}")
        return self.node(ast.ValueObject, start, name=name, properties=tuple(properties))

    def tenant_decl(self) -> ast.Tenant:
        start = self.advance()
        prop = self.name()
        self.expect(":")
        type_ref = self.type_ref()
        self.expect("from")
        parts = [self.any_value()]
        while self.accept("."):
            parts.append(self.name())
        return self.node(ast.Tenant, start, property=prop, type=type_ref, context_path=".".join(parts))


def _handlers() -> dict[str, Any]:
    p = DeclarationParser
    table: dict[str, Any] = {
        "property": p._m_property,
        "computed": p._m_computed,
        "derived": p._m_computed,
        "async": p._m_command,
        "command": p._m_command,
        "constraint": p._m_constraint,
        "policy": p._m_policy,
        "default": p._m_default,
        "policies": p._m_policies,
        "store": p._m_store,
        "versionProperty": p._m_version,
        "versionAtProperty": p._m_version,
        "key": p._m_key,
        "unique": p._m_key,
        "timestamps": p._m_flag,
        "realtime": p._m_flag,
        "transition": p._m_transition,
        "approval": p._m_approval,
        "behavior": p._m_behavior,
        "on": p._m_behavior,
        "event": p._m_event,
        "schedule": p._m_schedule,
    }
    for kind in ("hasMany", "hasOne", "belongsTo", "ref"):
        table[kind] = p._m_relationship
    return table


_MEMBER_HANDLERS = _handlers()


def token_is(token: Token, value: str) -> bool:
    return token.value == value and token.kind is not KIND_STRING
