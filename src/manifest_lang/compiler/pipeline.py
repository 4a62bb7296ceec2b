"""The compile pipeline: syntax tree → IR v1 dict plus diagnostics, in the reference's order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..syntax import ast
from .completeness import check_domain_completeness, check_required_on_create
from .composition import EntityView, expand_composition, expand_generics
from .computed_refs import check_computed_references
from .diagnostics import DiagnosticSink
from .exprs import expr_to_value
from .initialization import attach_initialization_plans
from .lower_commands import CommandLowering, check_command_intents, lower_policy
from .lower_members import (
    check_duplicate_codes,
    lower_computed,
    lower_constraint,
    lower_property,
    lower_relationship,
    lower_type,
)
from .lower_workflows import (
    lower_approval,
    lower_reaction,
    lower_roles,
    lower_saga,
    lower_schedule,
    lower_webhook,
)
from .reactions import check_reaction_completeness

_TIMESTAMP_TYPE = {"name": "datetime", "nullable": False}
_UNLOWERED_LABEL = {
    "flow": "Flow '{}'",
    "effect": "Effect '{}'",
    "expose": "Expose of entity '{}'",
    "compose": "Composition '{}'",
}


@dataclass
class Lowered:
    view: EntityView
    ir: dict[str, Any]
    default_policies: list[str]


class Pipeline:
    def __init__(self, program: ast.Program, sink: DiagnosticSink) -> None:
        self.program = program
        self.sink = sink

    # ------------------------------------------------------------------ entry
    def run(self) -> dict[str, Any] | None:
        program, sink = self.program, self.sink
        views = [EntityView.of(e, None) for e in program.entities]
        for module in program.modules:
            views += [EntityView.of(e, module.name) for e in module.entities]
        views = expand_generics(views, sink)
        expand_composition(views, sink)
        for item in program.unlowered:
            label = _UNLOWERED_LABEL[item.kind].format(item.name)
            sink.warning(f"{label} is parsed but not yet lowered to IR; it has no effect at runtime.")
        inlined = check_computed_references(views, sink)
        return self._transform(views, inlined)

    def _transform(self, views: list[EntityView], inlined: dict[int, ast.Expr]) -> dict[str, Any]:
        program, sink = self.program, self.sink
        modules = [self._module(m, views) for m in program.modules]
        values = [
            {"name": v.name, "properties": [lower_property(p, sink) for p in v.properties]}
            for v in program.values
        ]
        lowered = [self._entity(view, inlined) for view in views]
        self._check_through(lowered)
        enums = [_enum(e, None) for e in program.enums]
        enums += [_enum(e, m.name) for m in program.modules for e in m.enums]
        events = [_event(e) for e in program.events] + [_event(e) for m in program.modules for e in m.events]
        commands = self._commands(lowered, events, inlined)
        events += self._async_events(commands, events)
        check_command_intents(commands, sink)
        ir: dict[str, Any] = {"version": "1.0", "provenance": {}}
        if program.tenant is not None:
            t = program.tenant
            ir["tenant"] = {"property": t.property, "type": lower_type(t.type), "contextPath": t.context_path}
        ir.update(
            modules=modules,
            values=values,
            entities=[item.ir for item in lowered],
            enums=enums,
            stores=self._stores(lowered),
            events=events,
            commands=commands,
            policies=self._policies(lowered),
            reactions=self._reactions(lowered),
        )
        self._workflows(ir)
        self._whole_model_checks(ir)
        return ir

    def _stores(self, lowered: list[Lowered]) -> list[dict[str, Any]]:
        program = self.program
        stores = [_store(s) for s in program.stores]
        stores += [_store(s) for m in program.modules for s in m.stores]
        # an entity has one store slot: the last entity-scoped `store` wins
        stores += [
            {"entity": item.view.name, "target": item.view.stores[-1].target, "config": {}}
            for item in lowered
            if item.view.stores
        ]
        return stores

    def _reactions(self, lowered: list[Lowered]) -> list[dict[str, Any]]:
        program = self.program
        reactions = [lower_reaction(r, None, None) for r in program.reactions]
        reactions += [lower_reaction(r, m.name, None) for m in program.modules for r in m.reactions]
        reactions += [
            lower_reaction(r, item.view.module, item.view.name)
            for item in lowered
            for r in item.view.node.reactions
        ]
        return reactions

    def _whole_model_checks(self, ir: dict[str, Any]) -> None:
        """Derived data and checks that need the finished IR, in the reference's order."""
        attach_initialization_plans(ir)
        check_required_on_create(ir, self.sink)
        _check_duplicate_events(self.program, self.sink)
        check_domain_completeness(ir, self.sink)
        check_reaction_completeness(ir, self.sink)

    # ------------------------------------------------------------------ entities
    def _entity(self, view: EntityView, inlined: dict[int, ast.Expr]) -> Lowered:
        sink, node = self.sink, view.node
        for behavior in node.behaviors:
            sink.error(
                f"Entity '{view.name}' declares behavior '{behavior.trigger}', which is not supported in "
                f"this "
                "version. Use a top-level reaction ('on Event run Entity.command') or command actions "
                "instead.",
                code="ENTITY_BEHAVIOR_UNSUPPORTED",
            )
        constraints = [lower_constraint(c, sink, inlined.get(id(c))) for c in view.constraints]
        check_duplicate_codes(constraints, f"entity '{view.name}'", sink)
        properties = [lower_property(p, sink) for p in view.properties]
        for prop in properties:
            if "searchable" in prop["modifiers"] and prop["type"]["name"] != "string":
                sink.error(
                    f"Property '{prop['name']}' on entity '{view.name}': 'searchable' modifier is only "
                    f"valid on "
                    f"string properties (got '{prop['type']['name']}')."
                )
        if view.extra.get("timestamps"):
            names = {p["name"] for p in properties}
            for stamp in ("createdAt", "updatedAt"):
                if stamp not in names:
                    properties.append(
                        {"name": stamp, "type": dict(_TIMESTAMP_TYPE), "modifiers": ["readonly"]}
                    )
        types = {p["name"]: p["type"] for p in properties}
        computed = [lower_computed(c, types) for c in view.computed]
        relationships = [lower_relationship(r, view.name, sink) for r in view.relationships]
        own_commands = [c.name for c in view.commands]
        approvals = [lower_approval(a, view.name, own_commands, sink) for a in node.approvals]
        defaults = [p.name for p in view.policies if p.is_default]
        ir: dict[str, Any] = {"name": view.name}
        if view.module is not None:
            ir["module"] = view.module
        ir.update(
            properties=properties,
            computedProperties=computed,
            relationships=relationships,
            commands=view.inherited_commands + own_commands,
            constraints=constraints,
            policies=[p.name for p in view.policies if not p.is_default],
        )
        self._entity_options(view, ir, defaults)
        if approvals:
            ir["approvals"] = approvals
        return Lowered(view, ir, defaults)

    @staticmethod
    def _entity_options(view: EntityView, ir: dict[str, Any], defaults: list[str]) -> None:
        node = view.node
        if view.parent is not None:
            ir["parent"] = view.parent
        if view.mixins:
            ir["mixins"] = list(view.mixins)
        if defaults:
            ir["defaultPolicies"] = defaults
        if view.extra.get("key"):
            ir["key"] = list(view.extra["key"])
        if node.alternate_keys:
            ir["alternateKeys"] = [list(k) for k in node.alternate_keys]
        if node.version_property is not None:
            ir["versionProperty"] = node.version_property
        if node.version_at_property is not None:
            ir["versionAtProperty"] = node.version_at_property
        for flag in ("timestamps", "realtime"):
            if view.extra.get(flag):
                ir[flag] = True
        if node.external:
            ir["external"] = True
        if node.transitions:
            ir["transitions"] = [
                {"property": t.property, "from": t.from_state, "to": list(t.to_states)}
                for t in node.transitions
            ]

    def _check_through(self, lowered: list[Lowered]) -> None:
        entities = {item.view.name: item.ir for item in lowered}
        for item in lowered:
            for rel in item.ir["relationships"]:
                join_name = rel.get("through")
                if join_name is None or "foreignKey" in rel or rel["kind"] != "hasMany":
                    continue
                join = entities.get(join_name)
                owner, target = item.view.name, rel["target"]
                prefix = f"Relationship '{rel['name']}' on entity '{owner}'"
                if join is None:
                    self.sink.error(
                        f"{prefix} uses through '{join_name}', but no entity '{join_name}' is declared.",
                        code="RELATION_THROUGH_JOIN_INVALID",
                    )
                    continue
                parents = {r["target"] for r in join["relationships"] if r["kind"] in ("belongsTo", "ref")}
                if owner not in parents or target not in parents:
                    self.sink.error(
                        f"{prefix} through '{join_name}' requires '{join_name}' to declare "
                        f"belongsTo/ref to '{owner}' and to '{target}'.",
                        code="RELATION_THROUGH_JOIN_INVALID",
                    )

    # ------------------------------------------------------------------ commands and policies
    def _commands(
        self, lowered: list[Lowered], events: list[dict[str, Any]], inlined: dict[int, ast.Expr]
    ) -> list[dict[str, Any]]:
        program = self.program
        declared = {e["name"] for e in events}
        declared.update(
            f"{c.name}{suffix}" for c in _all_async(program, lowered) for suffix in ("Completed", "Failed")
        )
        lowering = CommandLowering(self.sink, declared)
        result = []

        def add(cmd: ast.Command, module: str | None, item: Lowered | None) -> None:
            entity = item.view.name if item else None
            qualified = f"{item.view.module}.{entity}" if item and item.view.module else entity
            props = {p["name"] for p in item.ir["properties"]} if item else set()
            exprs = {i: inlined[id(c)] for i, c in enumerate(cmd.constraints) if id(c) in inlined}
            result.append(
                lowering.lower(
                    cmd,
                    module=module,
                    entity=entity,
                    qualified=qualified,
                    properties=props,
                    default_policies=item.default_policies if item else [],
                    constraint_exprs=exprs,
                )
            )

        for cmd in program.commands:
            add(cmd, None, None)
        for module in program.modules:
            for cmd in module.commands:
                add(cmd, module.name, None)
        for item in sorted(lowered, key=lambda i: i.view.module is not None):
            for cmd in item.view.commands:
                add(cmd, item.view.module, item)
        return result

    def _async_events(
        self, commands: list[dict[str, Any]], events: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        declared = {e["name"] for e in events}
        synthesized: list[dict[str, Any]] = []
        for command in commands:
            if not command.get("async"):
                continue
            name = command["name"]
            for event_name in (f"{name}Completed", f"{name}Failed"):
                if event_name in declared:
                    self.sink.error(
                        f"Async command '{name}' auto-generates event '{event_name}' which collides "
                        "with a user-declared event of the same name."
                    )
            synthesized.append(_async_event(name, completed=True))
            synthesized.append(_async_event(name, completed=False))
        from .provenance import locale_sorted

        return locale_sorted(synthesized, key=lambda e: e["name"])

    def _policies(self, lowered: list[Lowered]) -> list[dict[str, Any]]:
        program, sink = self.program, self.sink
        result = [lower_policy(p, None, None, sink) for p in program.policies]
        result += [lower_policy(p, m.name, None, sink) for m in program.modules for p in m.policies]
        for item in sorted(lowered, key=lambda i: i.view.module is not None):
            result += [lower_policy(p, item.view.module, item.view.name, sink) for p in item.view.policies]
        return result

    def _module(self, module: ast.Module, views: list[EntityView]) -> dict[str, Any]:
        own = [v for v in views if v.module == module.name]
        result: dict[str, Any] = {
            "name": module.name,
            "entities": [v.name for v in own],
            "enums": [e.name for e in module.enums],
            "commands": [c.name for c in module.commands] + [c.name for v in own for c in v.commands],
            "stores": [s.entity for s in module.stores],
            "events": [e.name for e in module.events],
            "policies": [p.name for p in module.policies] + [p.name for v in own for p in v.policies],
        }
        extras = {
            "reactions": [f"{r.event}\u2192{r.target_entity}.{r.target_command}" for r in module.reactions],
            "sagas": [s.name for s in module.sagas],
            "roles": [r.name for r in module.roles],
            "schedules": [s.name for s in module.schedules],
            "webhooks": [w.name for w in module.webhooks],
        }
        result.update({key: value for key, value in extras.items() if value})
        return result

    def _workflows(self, ir: dict[str, Any]) -> None:
        program, sink = self.program, self.sink
        sagas = [lower_saga(s, None) for s in program.sagas]
        sagas += [lower_saga(s, m.name) for m in program.modules for s in m.sagas]
        roles = lower_roles(
            [(r, None) for r in program.roles] + [(r, m.name) for m in program.modules for r in m.roles], sink
        )
        webhooks = [lower_webhook(w, None) for w in program.webhooks]
        webhooks += [lower_webhook(w, m.name) for m in program.modules for w in m.webhooks]
        schedules = [lower_schedule(s, sink) for s in program.schedules]
        schedules += [lower_schedule(s, sink) for m in program.modules for s in m.schedules]
        for key, value in (
            ("sagas", sagas),
            ("roles", roles),
            ("schedules", schedules),
            ("webhooks", webhooks),
        ):
            if value:
                ir[key] = value


def _all_async(program: ast.Program, lowered: list[Lowered]) -> list[ast.Command]:
    commands = list(program.commands) + [c for m in program.modules for c in m.commands]
    commands += [c for item in lowered for c in item.view.commands]
    return [c for c in commands if c.is_async]


def _async_event(command: str, *, completed: bool) -> dict[str, Any]:
    def field(name: str, type_name: str, required: bool = True, nullable: bool = False) -> dict[str, Any]:
        return {"name": name, "type": {"name": type_name, "nullable": nullable}, "required": required}

    if completed:
        payload = [
            field("jobId", "string"),
            field("result", "any", False, True),
            field("completedAt", "number"),
        ]
        return {"name": f"{command}Completed", "channel": f"jobs.{command}", "payload": payload}
    payload = [field("jobId", "string"), field("error", "string"), field("failedAt", "number")]
    return {"name": f"{command}Failed", "channel": f"jobs.{command}", "payload": payload}


def _enum(e: ast.Enum, module: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {"name": e.name}
    if module is not None:
        result["module"] = module
    values = []
    for v in e.values:
        value: dict[str, Any] = {"name": v.name}
        if v.label:
            value["label"] = v.label
        if v.ordinal is not None:
            value["ordinal"] = v.ordinal
        values.append(value)
    result["values"] = values
    return result


def _store(s: ast.Store) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, expr in s.config:
        value = expr_to_value(expr)
        if value is not None:
            config[key] = value
    return {"entity": s.entity, "target": s.target, "config": config}


def _event(e: ast.Event) -> dict[str, Any]:
    payload: Any
    if e.fields is not None:
        payload = [{"name": f.name, "type": lower_type(f.type), "required": True} for f in e.fields]
    elif e.payload_type is not None:
        payload = lower_type(e.payload_type)
    else:
        payload = {"name": "unknown", "nullable": False}
    return {"name": e.name, "channel": e.channel, "payload": payload}


def _check_duplicate_events(program: ast.Program, sink: DiagnosticSink) -> None:
    seen: set[str] = set()
    reported: set[str] = set()
    for event in list(program.events) + [e for m in program.modules for e in m.events]:
        if event.name in seen and event.name not in reported:
            reported.add(event.name)
            sink.warning(
                f"Duplicate event name '{event.name}': declared more than once, so one declaration "
                "shadows the other in the event registry. Rename one."
            )
        seen.add(event.name)
