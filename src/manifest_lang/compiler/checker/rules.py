"""The checks of ``manifest check``: what the reference compiler accepts but a user must be told.

They read the syntax tree (positions) and the IR of a successful compile (entities with their
inherited members, declared events, enums): the IR is the truth about what a name resolves to.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...syntax import ast
from ..diagnostics import Diagnostic
from . import exprs
from .builtins import BUILTIN_FUNCTIONS, BUILTIN_TYPES, CONTEXT_NAMES
from .locate import Locator

#: members every row has, declared or not
_ROW_FIELDS = frozenset(["id", "_entity"])
#: always bound in a command's scope besides the instance and the input
_COMMAND_NAMES = frozenset([*CONTEXT_NAMES, "_entity", "result", "undefined", "null"])


@dataclass
class EntityInfo:
    name: str
    properties: dict[str, str | None]
    computed: dict[str, str | None]
    relationships: dict[str, dict[str, Any]]
    enum_of: dict[str, list[str]] = field(default_factory=dict)

    @property
    def members(self) -> set[str]:
        names = set(self.properties) | set(self.computed) | set(self.relationships) | _ROW_FIELDS
        names |= {f"{n}Id" for n, r in self.relationships.items() if r.get("kind") == "belongsTo"}
        return names

    def types(self) -> dict[str, str | None]:
        return {**self.properties, **self.computed}


class ModelIndex:
    """Names the IR declares, for lookups and did-you-mean suggestions."""

    def __init__(self, ir: dict[str, Any]) -> None:
        enums = {e["name"]: [v["name"] for v in e.get("values", [])] for e in ir.get("enums", [])}
        self.enums = enums
        self.values = {v["name"] for v in ir.get("values", [])}
        self.events = {e["name"] for e in ir.get("events", [])}
        self.entities: dict[str, EntityInfo] = {}
        for entity in ir.get("entities", []):
            properties = {p["name"]: _type_name(p.get("type")) for p in entity.get("properties", [])}
            info = EntityInfo(
                entity["name"],
                {n: exprs.simple_type(t) for n, t in properties.items()},
                {
                    c["name"]: exprs.simple_type(_type_name(c.get("type")))
                    for c in entity.get("computedProperties", [])
                },
                {r["name"]: r for r in entity.get("relationships", [])},
                {n: enums[t] for n, t in properties.items() if t in enums},
            )
            for key in ("versionProperty", "versionAtProperty"):
                if entity.get(key):
                    info.properties.setdefault(entity[key], None)
            self.entities[entity["name"]] = info
        self.computed_deps = {
            (e["name"], c["name"]): list(c.get("dependencies", []))
            for e in ir.get("entities", [])
            for c in e.get("computedProperties", [])
        }

    def type_names(self) -> set[str]:
        return set(BUILTIN_TYPES) | set(self.entities) | set(self.enums) | self.values


def _type_name(type_: Any) -> str | None:
    return type_.get("name") if isinstance(type_, dict) else None


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _anchor_word(expr: ast.Expr) -> str | None:
    """The leftmost word of an expression (where a finding about it points)."""
    while True:
        if isinstance(expr, ast.Identifier):
            return expr.name
        if isinstance(expr, ast.Member):
            expr = expr.object
        elif isinstance(expr, ast.Binary):
            expr = expr.left
        elif isinstance(expr, ast.Call):
            expr = expr.callee
        elif isinstance(expr, ast.Conditional):
            expr = expr.condition
        else:
            return None


def _entities(program: ast.Program) -> Iterator[ast.Entity]:
    yield from program.entities
    for module in program.modules:
        yield from module.entities


class Checker:
    def __init__(self, program: ast.Program, ir: dict[str, Any], locator: Locator) -> None:
        self.program = program
        self.index = ModelIndex(ir)
        self.at = locator
        self.found: list[Diagnostic] = []

    def report(self, code: str, message: str, node: ast.Node, word: str | None = None) -> None:
        self.found.append(self.at.finding(code, message, node, word))

    def run(self) -> list[Diagnostic]:
        self._types()
        self._references()
        for entity in _entities(self.program):
            info = self.index.entities.get(entity.name)
            if info is None or entity.type_params:
                continue  # generic templates are checked through their instantiations' IR only
            self._entity(entity, info)
        self._computed_cycles()
        return self.found

    # ------------------------------------------------------------------ types and names
    def _types(self) -> None:
        known = self.index.type_names()

        def check(type_ref: ast.TypeRef | None, extra: frozenset[str] = frozenset()) -> None:
            while type_ref is not None:
                if type_ref.name not in known and type_ref.name not in extra:
                    message = f"Unknown type '{type_ref.name}'{_suggest(type_ref.name, known | extra)}"
                    self.report("CHECK_UNKNOWN_TYPE", message, type_ref, type_ref.name)
                type_ref = type_ref.generic

        for entity in _entities(self.program):
            params = frozenset(entity.type_params)
            for prop in entity.properties:
                check(prop.type, params)
            for computed in entity.computed:
                check(computed.type, params)
            for command in entity.commands:
                for param in command.parameters:
                    check(param.type, params)
        for value in self.program.values:
            for prop in value.properties:
                check(prop.type)
        for event in [*self.program.events, *(e for m in self.program.modules for e in m.events)]:
            # (an unquoted channel, `event E: orders {`, parses as a payload type: not checked)
            for event_field in event.fields or ():
                check(event_field.type)
        for command in [*self.program.commands, *(c for m in self.program.modules for c in m.commands)]:
            for param in command.parameters:
                check(param.type)

    def _references(self) -> None:
        entities = set(self.index.entities)

        def check(name: str | None, node: ast.Node, what: str) -> None:
            if name and name not in entities:
                message = f"{what} names unknown entity '{name}'{_suggest(name, entities)}"
                self.report("CHECK_UNKNOWN_ENTITY", message, node, name)

        for entity in _entities(self.program):
            if entity.type_params:
                continue  # `T` of a generic template is bound by each instantiation
            for rel in entity.relationships:
                check(rel.target, rel, f"Relationship '{entity.name}.{rel.name}'")
                check(rel.through, rel, f"Relationship '{entity.name}.{rel.name}' (through)")
        scopes: list[Any] = [self.program, *self.program.modules]
        for scope in scopes:
            for store in scope.stores:
                check(store.entity, store, "Store")
            for reaction in scope.reactions:
                check(reaction.target_entity, reaction, f"Reaction on '{reaction.event}'")
            for saga in scope.sagas:
                for step in saga.steps:
                    check(step.command[0], step, f"Saga '{saga.name}' step '{step.name}'")

    # ------------------------------------------------------------------ one entity
    def _entity(self, entity: ast.Entity, info: EntityInfo) -> None:
        members = info.members
        base_names = members | _COMMAND_NAMES | set(self.index.enums) | set(self.index.entities)
        types = info.types()
        for computed in entity.computed:
            self._expression(computed.expression, base_names, info, types)
        for constraint in entity.constraints:
            self._condition(constraint.expression, "Constraint", constraint.name)
            self._expression(constraint.expression, base_names, info, types)
        policy_input = {p.name for c in entity.commands for p in c.parameters}
        for policy in entity.policies:
            if exprs.same_operands(policy.expression):
                self._constant(policy.expression, "Policy", policy.name)
            self._expression(policy.expression, base_names | policy_input, info, types)
        for command in entity.commands:
            self._command(command, info, base_names, types)
        self._transitions(entity, info)

    def _command(
        self, command: ast.Command, info: EntityInfo, base_names: set[str], base_types: dict[str, str | None]
    ) -> None:
        params = {p.name: exprs.simple_type(p.type.name) for p in command.parameters}
        types = {**base_types, **params}
        names = (
            base_names | set(params) | {a.target for a in command.actions if a.kind == "compute" and a.target}
        )
        for guard in command.guards:
            self._condition(guard, "Guard", command.name)
            self._expression(guard, names, info, types)
        for constraint in command.constraints:
            self._condition(constraint.expression, "Constraint", constraint.name)
            self._expression(constraint.expression, names, info, types)
            for _, value in constraint.details or ():
                self._expression(value, names, info, types)
        emits = bool(command.emits)
        for action in command.actions:
            self._expression(action.expression, names, info, types)
            if action.kind == "mutate" and action.target:
                self._mutate(command, action, info, types)
            if action.kind == "emit":
                emits = True
                self._emit(action.target, action)
        for emit in command.emits:
            self._emit(emit.event, emit)
            for _, value in emit.payload or ():
                self._expression(value, names, info, types)
        if not emits:
            self._unused(command)

    def _mutate(
        self, command: ast.Command, action: ast.Action, info: EntityInfo, types: dict[str, str | None]
    ) -> None:
        target = action.target or ""
        if target not in info.properties:
            message = (
                f"Command '{command.name}' assigns '{target}', which {info.name} does not declare"
                f"{_suggest(target, info.properties)}; it would add a field '{target}' to the row"
            )
            self.report("CHECK_UNDECLARED_PROPERTY", message, action, target)
            return
        declared = info.properties[target]
        actual = exprs.type_of(action.expression, types)
        if declared and actual and declared != actual:
            message = f"'{target}' is a {declared}, but '{command.name}' assigns it a {actual}"
            self.report("CHECK_TYPE_MISMATCH", message, action, target)

    def _emit(self, event: str | None, node: ast.Node) -> None:
        if event and event not in self.index.events:
            message = (
                f"Event '{event}' is emitted but not declared{_suggest(event, self.index.events)}; "
                "it gets no channel or payload schema (declare it with `event "
                f'{event}: "channel" {{ ... }}`)'
            )
            self.report("CHECK_UNDECLARED_EVENT", message, node, event)

    def _unused(self, command: ast.Command) -> None:
        read: set[str] = set()
        expressions: list[ast.Expr] = [*command.guards, *(a.expression for a in command.actions)]
        for constraint in command.constraints:
            expressions.append(constraint.expression)
            expressions += [value for _, value in constraint.details or ()]
        for expression in expressions:
            read |= exprs.names_read(expression)
        for param in command.parameters:
            if param.name not in read and param.trusted_source is None:
                message = f"Parameter '{param.name}' of '{command.name}' is never used"
                self.report("CHECK_UNUSED_PARAMETER", message, param, param.name)

    # ------------------------------------------------------------------ expressions
    def _expression(
        self, expr: ast.Expr, names: set[str], info: EntityInfo, types: dict[str, str | None]
    ) -> None:
        members = info.members

        def visit(node: ast.Expr, bound: frozenset[str]) -> None:
            if isinstance(node, ast.Call) and isinstance(node.callee, ast.Identifier):
                name = node.callee.name
                if name not in BUILTIN_FUNCTIONS and name not in bound:
                    message = f"Unknown function '{name}'{_suggest(name, BUILTIN_FUNCTIONS)}"
                    self.report("CHECK_UNKNOWN_FUNCTION", message, node.callee, name)
            elif isinstance(node, ast.Identifier):
                self._identifier(node, names, bound, info)
            elif isinstance(node, ast.Member):
                member = exprs.self_member(node)
                if member is not None and member not in members:
                    message = f"{info.name} has no member '{member}'{_suggest(member, members)}"
                    if member in ("input", "params"):
                        message += "; parameters are read by their own name"
                    self.report("CHECK_UNKNOWN_PROPERTY", message, node, member)
            elif isinstance(node, ast.Binary):
                self._binary(node, types)
            elif isinstance(node, ast.Aggregate) and node.entity not in self.index.entities:
                hint = _suggest(node.entity, self.index.entities)
                message = f"Aggregate over unknown entity '{node.entity}'{hint}"
                self.report("CHECK_UNKNOWN_ENTITY", message, node, node.entity)

        called = _callees(expr)
        exprs.walk(expr, lambda node, bound: None if id(node) in called else visit(node, bound), frozenset())

    def _identifier(
        self, node: ast.Identifier, names: set[str], bound: frozenset[str], info: EntityInfo
    ) -> None:
        name = node.name
        if name in names or name in bound or name in BUILTIN_FUNCTIONS:
            return
        if name in ("input", "params"):
            message = f"There is no '{name}' binding (it is undefined): write the parameter's name itself"
        else:
            message = f"Unknown name '{name}' in {info.name}{_suggest(name, names | bound)}"
        self.report("CHECK_UNKNOWN_IDENTIFIER", message, node, name)

    def _binary(self, node: ast.Binary, types: dict[str, str | None]) -> None:
        op = node.operator
        left, right = exprs.type_of(node.left, types), exprs.type_of(node.right, types)
        word = _anchor_word(node)
        if op in ("==", "!=", "<", ">", "<=", ">=") and left and right and left != right:
            message = f"'{op}' compares a {left} with a {right} (JavaScript coercion decides the result)"
            self.report("CHECK_TYPE_MISMATCH", message, node, word)
        elif op in ("-", "*", "/", "%") and exprs.STRING in (left, right):
            message = f"'{op}' on a string coerces it to a number (\"abc\" gives NaN)"
            self.report("CHECK_TYPE_MISMATCH", message, node, word)
        elif op == "+" and {left, right} == {exprs.STRING, exprs.NUMBER}:
            side = node.left if left == exprs.STRING else node.right
            if not isinstance(side, ast.Literal):
                message = '\'+\' of a string and a number concatenates them ("5" + 1 is "51")'
                self.report("CHECK_STRING_ARITHMETIC", message, node, word)

    def _condition(self, expr: ast.Expr, what: str, name: str) -> None:
        if exprs.is_constant(expr) or exprs.same_operands(expr):
            self._constant(expr, what, name)

    def _constant(self, expr: ast.Expr, what: str, name: str) -> None:
        message = f"{what} '{name}' is constant: it reads nothing that can change"
        self.found.append(self.at.finding("CHECK_CONSTANT_CONDITION", message, expr, _anchor_word(expr)))

    # ------------------------------------------------------------------ state machines
    def _transitions(self, entity: ast.Entity, info: EntityInfo) -> None:
        by_property: dict[str, list[ast.Transition]] = {}
        for transition in entity.transitions:
            by_property.setdefault(transition.property, []).append(transition)
        defaults = {p.name: p.default for p in entity.properties}
        for prop, rules in by_property.items():
            allowed = info.enum_of.get(prop)
            if allowed is not None:
                for rule in rules:
                    for state in (rule.from_state, *rule.to_states):
                        if state != "*" and state not in allowed:
                            message = f"'{state}' is not a value of {prop}'s enum{_suggest(state, allowed)}"
                            self.report("CHECK_UNKNOWN_STATE", message, rule, state)
            default = defaults.get(prop)
            if not (isinstance(default, ast.Literal) and isinstance(default.value, str)):
                continue  # any state may be the initial one
            reachable = {default.value}
            grew = True
            while grew:
                grew = False
                for rule in rules:
                    if rule.from_state in reachable or rule.from_state == "*":
                        new = set(rule.to_states) - reachable
                        reachable |= new
                        grew = grew or bool(new)
            for rule in rules:
                if rule.from_state != "*" and rule.from_state not in reachable:
                    message = (
                        f"Transition from '{rule.from_state}' is unreachable: no transition leads to it "
                        f"from the default '{default.value}' of {prop}"
                    )
                    self.report("CHECK_UNREACHABLE_TRANSITION", message, rule, rule.from_state)

    # ------------------------------------------------------------------ computed cycles
    def _computed_cycles(self) -> None:
        nodes = {(e.name, c.name): c for e in _entities(self.program) for c in e.computed}
        deps = self.index.computed_deps
        reported: set[frozenset[tuple[str, str]]] = set()
        for start in deps:
            path = _cycle_from(start, deps)
            if path is None or frozenset(path) in reported or start not in nodes:
                continue
            reported.add(frozenset(path))
            chain = " -> ".join(name for _, name in [*path, path[0]])
            message = f"Computed '{start[1]}' of {start[0]} depends on itself ({chain}): it is undefined"
            self.report("CHECK_COMPUTED_CYCLE", message, nodes[start], start[1])


def _cycle_from(
    start: tuple[str, str], deps: dict[tuple[str, str], list[str]]
) -> list[tuple[str, str]] | None:
    """The computed properties of a cycle through ``start``, in order, or None."""
    entity = start[0]
    stack: list[tuple[tuple[str, str], list[tuple[str, str]]]] = [(start, [start])]
    seen: set[tuple[str, str]] = set()
    while stack:
        node, path = stack.pop()
        for dep in deps.get(node, []):
            key = (entity, dep)
            if key == start:
                return path
            if key in deps and key not in seen:
                seen.add(key)
                stack.append((key, [*path, key]))
    return None


def _callees(expr: ast.Expr) -> set[int]:
    """Identifiers in callee position (checked as functions, not as names)."""
    found: set[int] = set()

    def visit(node: ast.Expr, bound: frozenset[str]) -> None:
        if isinstance(node, ast.Call) and isinstance(node.callee, ast.Identifier):
            found.add(id(node.callee))

    exprs.walk(expr, visit, frozenset())
    return found
