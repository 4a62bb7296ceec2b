"""Whole-model checks run on the finished IR: domain completeness, reactions, create commands."""

from __future__ import annotations

from typing import Any

from .diagnostics import DiagnosticSink

AUTO_PROVIDED = frozenset(
    "tenantId orgId organizationId userId createdById updatedById actorId "
    "requestId correlationId causationId".split()
)
NOT_PARENT_FIELDS = frozenset(
    "tenantId orgId organizationId userId ownerId createdById updatedById "
    "requestId correlationId causationId".split()
)
SHARED_ID_EXCLUDED = frozenset(
    "id tenantId status createdAt updatedAt deletedAt name title notes description tags type version".split()
)
_PRIMITIVE_TYPES = frozenset(["string", "number", "boolean", "list", "array", "map"])


def _qualified(entity: dict[str, Any]) -> str:
    return f"{entity['module']}.{entity['name']}" if "module" in entity else entity["name"]


class _Index:
    def __init__(self, ir: dict[str, Any]) -> None:
        self.ir = ir
        self.entities = {e["name"]: e for e in ir["entities"]}
        self.lower_names = {n[:1].lower() + n[1:]: n for n in self.entities}
        self.stored = {s["entity"] for s in ir["stores"]}
        self.targets = {r["target"] for e in ir["entities"] for r in e["relationships"]}
        self.commands_by_entity: dict[str, list[dict[str, Any]]] = {}
        for command in ir["commands"]:
            if "entity" in command:
                self.commands_by_entity.setdefault(command["entity"], []).append(command)

    def parent_for(self, field: str, entity: str) -> str | None:
        if not field.endswith("Id") or field == "id" or field in NOT_PARENT_FIELDS:
            return None
        parent = self.lower_names.get(field[:-2])
        return parent if parent is not None and parent != entity else None

    def create_command(self, entity: dict[str, Any]) -> dict[str, Any] | None:
        for command in self.commands_by_entity.get(entity["name"], []):
            if command["name"] == "create" and command.get("module") == entity.get("module"):
                return command
        return None


def check_domain_completeness(ir: dict[str, Any], sink: DiagnosticSink) -> None:
    index = _Index(ir)
    for entity in ir["entities"]:
        if entity.get("external"):
            continue
        _reachability(entity, index, sink)
        create = index.create_command(entity)
        if create is not None:
            _create_params(entity, create, index, sink)
        _fk_wiring(entity, create, index, sink)


def _reachability(entity: dict[str, Any], index: _Index, sink: DiagnosticSink) -> None:
    name = entity["name"]
    unused = (
        name not in index.commands_by_entity
        and name not in index.targets
        and not entity["computedProperties"]
    )
    if not unused:
        return
    q = _qualified(entity)
    if name in index.stored:
        message = (
            f"Entity '{q}' is persisted (has store) but has no commands and is not referenced by any "
            "relationship — it is unreachable in the product. Add commands or relationships, or remove "
            "the entity."
        )
        if not entity["constraints"] and _has_wiring_signals(entity, index):
            sink.error(message)
        else:
            sink.warning(message)
    else:
        sink.warning(
            f"Entity '{q}' is declared but unused: no store, no entity-scoped commands, and not "
            "referenced by any relationship. Remove it or wire it into the domain."
        )


def _has_wiring_signals(entity: dict[str, Any], index: _Index) -> bool:
    if any(r["kind"] in ("belongsTo", "ref") for r in entity["relationships"]):
        return True
    return any(index.parent_for(p["name"], entity["name"]) for p in entity["properties"])


def _fk_fields(rel: dict[str, Any]) -> list[str]:
    fk = rel.get("foreignKey")
    return list(fk["fields"]) if fk else [f"{rel['name']}Id"]


def _create_params(
    entity: dict[str, Any], create: dict[str, Any], index: _Index, sink: DiagnosticSink
) -> None:
    q = _qualified(entity)
    tenant = (index.ir.get("tenant") or {}).get("property")
    auto = set(AUTO_PROVIDED) | ({tenant} if tenant else set())
    if entity.get("timestamps"):
        auto |= {"createdAt", "updatedAt"}
    auto |= {entity[k] for k in ("versionProperty", "versionAtProperty") if k in entity}
    fk_fields = {
        f for r in entity["relationships"] if r["kind"] in ("belongsTo", "ref") for f in _fk_fields(r)
    }
    props = {p["name"]: p for p in entity["properties"]}
    for param in create["parameters"]:
        if not param["required"] or "trustedSource" in param:
            continue
        name = param["name"]
        if name in auto:
            sink.error(
                f"Command '{q}.create' requires '{name}' but the runtime or compiler auto-provides that "
                "field — remove it from create parameters so callers are not forced to supply a value they "
                "cannot access."
            )
            continue
        if not name.endswith("Id") or name in SHARED_ID_EXCLUDED or name in fk_fields:
            continue
        for rel in entity["relationships"]:
            parent = index.entities.get(rel["target"])
            if rel["kind"] not in ("belongsTo", "ref") or parent is None:
                continue
            parent_prop = next((p for p in parent["properties"] if p["name"] == name), None)
            own = props.get(name)
            if (
                parent_prop
                and own
                and parent_prop["type"]["name"] == own["type"]["name"] == param["type"]["name"]
            ):
                sink.warning(
                    f"Command '{q}.create' takes '{name}', which is also owned by parent "
                    f"'{parent['name']}' — consider populating it via parent-context propagation (create "
                    "from the parent) instead of re-entering it."
                )
                break


def _fk_wiring(
    entity: dict[str, Any], create: dict[str, Any] | None, index: _Index, sink: DiagnosticSink
) -> None:
    q = _qualified(entity)
    candidates = [p["name"] for p in entity["properties"] if p["name"].endswith("Id") and p["name"] != "id"]
    required_params = [p["name"] for p in (create or {}).get("parameters", []) if p["required"]]
    candidates += [n for n in required_params if n.endswith("Id") and n not in candidates]
    for field in candidates:
        parent_name = index.parent_for(field, entity["name"])
        if parent_name is None:
            continue
        parent = index.entities[parent_name]
        pq = _qualified(parent)
        covering = [
            r
            for r in entity["relationships"]
            if r["kind"] in ("belongsTo", "ref") and r["target"] == parent_name and field in _fk_fields(r)
        ]
        if not covering:
            sink.error(
                f"Entity '{q}' references parent '{parent_name}' via '{field}' but declares no belongsTo/ref "
                f"relationship to '{parent_name}'. Add 'belongsTo {field[:-2]}: {parent_name}' (or rename "
                f"the "
                f"FK), or add a nested command on '{pq}' that sets the FK from self.id."
            )
            continue
        if not any(
            r["kind"] in ("hasMany", "hasOne") and r["target"] == entity["name"]
            for r in parent["relationships"]
        ):
            lowered = entity["name"][:1].lower() + entity["name"][1:]
            sink.warning(
                f"Entity '{q}' belongsTo '{parent_name}' but '{pq}' has no hasMany/hasOne back to "
                f"'{entity['name']}'. Add 'hasMany {lowered}s: {entity['name']}' on the parent, or a "
                "nested create command on the parent so the child FK is implicit."
            )
        if field in required_params and not _fk_supplied(entity, parent, field, index):
            sink.warning(
                f"Command '{q}.create' takes a manual '{field}' with no nested create on '{pq}' (e.g. "
                "addMilestone) and no event reaction that supplies it. Consider a parent command that sets "
                f"the FK from self.id, or an on Event reaction with params {{ {field}: ... }}."
            )


def _fk_supplied(entity: dict[str, Any], parent: dict[str, Any], field: str, index: _Index) -> bool:
    child = entity["name"].lower()
    for command in index.commands_by_entity.get(parent["name"], []):
        if command["name"] == "create":
            continue
        for action in command["actions"]:
            if action["kind"] in ("mutate", "persist") and child in str(action.get("target", "")).lower():
                return True
    for reaction in index.ir["reactions"]:
        if reaction["targetEntity"] == entity["name"] and reaction["targetCommand"] == "create":
            if any(p["name"] == field for p in reaction.get("params", [])):
                return True
    return False


def check_required_on_create(ir: dict[str, Any], sink: DiagnosticSink) -> None:
    entities = {e["name"]: e for e in ir["entities"]}
    tenant = (ir.get("tenant") or {}).get("property")
    for command in ir["commands"]:
        plan = command.get("initialization")
        entity = entities.get(command.get("entity", ""))
        if plan is None or entity is None:
            continue
        skip = {"id", tenant, entity.get("versionProperty"), entity.get("versionAtProperty")}
        if entity.get("timestamps"):
            skip |= {"createdAt", "updatedAt"}
        skip |= set(entity.get("key", []))
        skip |= {
            f for r in entity["relationships"] if r["kind"] in ("belongsTo", "ref") for f in _fk_fields(r)
        }
        covered = (
            set(plan["draftFields"]) | set(plan["commandOwnedFields"]) | set(plan["initializationInputs"])
        )
        for prop in entity["properties"]:
            name, type_name = prop["name"], prop["type"]["name"]
            if prop["type"]["nullable"] or "defaultValue" in prop or prop.get("autoNow"):
                continue
            if name in skip or name in covered or type_name in _PRIMITIVE_TYPES:
                continue
            q = _qualified(entity)
            sink.warning(
                f"Initialization command '{q}.{command['name']}' cannot construct a complete "
                f"'{entity['name']}': non-null field '{name}' (type '{type_name}') has no default, "
                "ownership source, initialization input, or command mutation. Add "
                f"'mutate {name} = ...', give '{name}' a default, accept it as a command parameter, or "
                f"make it optional ('{name}: {type_name}?')."
            )
