"""Entity generics (``entity A = T<X>``) and composition (``extends`` / ``mixin``).

Works on a mutable view of each entity (``EntityView``) so that the frozen syntax tree is
never modified; the lowering reads the views.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..syntax import ast
from .diagnostics import DiagnosticSink

_MEMBER_KINDS = ("properties", "computed", "relationships", "constraints", "policies")


@dataclass
class EntityView:
    node: ast.Entity
    module: str | None
    name: str
    properties: list[ast.Property]
    computed: list[ast.Computed]
    relationships: list[ast.Relationship]
    constraints: list[ast.Constraint]
    policies: list[ast.Policy]
    commands: list[ast.Command]
    parent: str | None
    mixins: tuple[str, ...]
    stores: list[ast.Store] = field(default_factory=list)
    inherited_commands: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, node: ast.Entity, module: str | None) -> EntityView:
        return cls(
            node=node,
            module=module,
            name=node.name,
            properties=list(node.properties),
            computed=list(node.computed),
            relationships=list(node.relationships),
            constraints=list(node.constraints),
            policies=list(node.policies),
            commands=list(node.commands),
            parent=node.parent,
            mixins=node.mixins,
            stores=list(node.stores),
            extra={
                "key": node.key,
                "timestamps": node.timestamps,
                "realtime": node.realtime,
            },
        )


def expand_generics(views: list[EntityView], sink: DiagnosticSink) -> list[EntityView]:
    by_name = {view.name: view for view in views}
    for view in views:
        node = view.node
        if node.instantiation is None:
            continue
        if node.type_params:
            sink.error(
                f"Entity '{view.name}' cannot declare both type parameters and a generic instantiation"
            )
            continue
        template_name, args = node.instantiation
        template = by_name.get(template_name)
        if template is None:
            sink.error(f"Entity '{view.name}' instantiates unknown entity '{template_name}'")
            continue
        params = template.node.type_params
        if not params:
            sink.error(f"Entity '{view.name}' instantiates '{template_name}' which is not a generic entity")
            continue
        if len(params) != len(args):
            sink.error(
                f"Entity '{view.name}' instantiation of '{template_name}' expects {len(params)} type "
                f"argument(s), got {len(args)}"
            )
            continue
        _instantiate(view, template, dict(zip(params, args, strict=True)))
    return [view for view in views if not view.node.type_params]


def _instantiate(view: EntityView, template: EntityView, mapping: dict[str, str]) -> None:
    def sub(t: ast.TypeRef) -> ast.TypeRef:
        generic = sub(t.generic) if t.generic is not None else None
        return replace(t, name=mapping.get(t.name, t.name), generic=generic)

    def sub_optional(t: ast.TypeRef | None) -> ast.TypeRef | None:
        return sub(t) if t is not None else None

    copies: dict[str, list[Any]] = {
        "properties": [replace(p, type=sub(p.type)) for p in template.properties],
        "computed": [replace(c, type=sub_optional(c.type)) for c in template.computed],
        "relationships": [replace(r, target=mapping.get(r.target, r.target)) for r in template.relationships],
        "constraints": list(template.constraints),
        "policies": list(template.policies),
    }
    for kind, inherited in copies.items():
        setattr(view, kind, _merge(inherited, getattr(view, kind)))
    commands = [
        replace(
            c,
            parameters=tuple(replace(p, type=sub(p.type)) for p in c.parameters),
            returns=sub_optional(c.returns),
        )
        for c in template.commands
    ]
    view.commands = _merge(commands, view.commands)
    if view.parent is None:
        view.parent = template.parent
    if not view.mixins:
        view.mixins = template.mixins
    if not view.stores:
        view.stores = list(template.stores)
    for key in ("key", "timestamps", "realtime"):
        if not view.extra.get(key):
            view.extra[key] = template.extra.get(key)


def _merge(inherited: list[Any], own: list[Any]) -> list[Any]:
    own_names = {member.name for member in own}
    return [member for member in inherited if member.name not in own_names] + own


def expand_composition(views: list[EntityView], sink: DiagnosticSink) -> None:
    by_name: dict[str, EntityView] = {}
    for view in views:
        if view.name in by_name:
            sink.error(f"Duplicate entity declaration '{view.name}'")
        by_name.setdefault(view.name, view)
    valid = _validate_graph(views, by_name, sink)
    if not valid:
        return
    done: dict[str, dict[str, list[Any]]] = {}
    for view in views:
        _expand(view, by_name, done)


def _validate_graph(views: list[EntityView], by_name: dict[str, EntityView], sink: DiagnosticSink) -> bool:
    ok = True
    for view in views:
        if view.parent and view.parent not in by_name:
            sink.error(f"Entity '{view.name}' extends unknown entity '{view.parent}'")
            ok = False
        for mixin in view.mixins:
            if mixin not in by_name:
                sink.error(f"Entity '{view.name}' mixes unknown entity '{mixin}'")
                ok = False
    if not ok:
        return False
    state: dict[str, int] = {}
    reported: set[str] = set()
    for view in views:
        if _has_cycle(view.name, by_name, state):
            culprit = next((n for n, s in state.items() if s == 1), view.name)
            if culprit not in reported:
                sink.error(f"Cycle detected in entity inheritance involving '{culprit}'")
                reported.add(culprit)
            return False
    return True


def _has_cycle(name: str, by_name: dict[str, EntityView], state: dict[str, int]) -> bool:
    """Iterative-free DFS (graph depth is the inheritance depth); 1 = on stack, 2 = done."""
    status = state.get(name)
    if status == 1:
        return True
    if status == 2:
        return False
    state[name] = 1
    view = by_name[name]
    for parent in ([view.parent] if view.parent else []) + list(view.mixins):
        if parent in by_name and _has_cycle(parent, by_name, state):
            return True
    state[name] = 2
    return False


def _expand(view: EntityView, by_name: dict[str, EntityView], done: dict[str, dict[str, list[Any]]]) -> None:
    if view.name in done:
        return
    done[view.name] = {}
    sources = ([view.parent] if view.parent else []) + list(view.mixins)
    if not sources:
        return
    inherited: dict[str, list[Any]] = {kind: [] for kind in _MEMBER_KINDS}
    inherited_commands: list[str] = []
    for source_name in sources:
        source = by_name[source_name]
        _expand(source, by_name, done)
        for kind in _MEMBER_KINDS:
            names = {m.name for m in inherited[kind]}
            inherited[kind].extend(m for m in getattr(source, kind) if m.name not in names)
        for command in source.inherited_commands + [c.name for c in source.commands]:
            if command not in inherited_commands:
                inherited_commands.append(command)
    for kind in _MEMBER_KINDS:
        setattr(view, kind, _merge(inherited[kind], getattr(view, kind)))
    own = {c.name for c in view.commands}
    view.inherited_commands = [c for c in inherited_commands if c not in own]
