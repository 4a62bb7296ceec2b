"""Initialization plans attached to allocating commands (reference §3.6), computed on the IR."""

from __future__ import annotations

from typing import Any

from .provenance import locale_sorted

_OWNING_KINDS = frozenset(["mutate", "compute", "persist"])


def _is_now_call(expr: dict[str, Any]) -> bool:
    return (
        expr.get("kind") == "call"
        and not expr.get("args")
        and expr.get("callee", {}).get("kind") == "identifier"
        and expr["callee"].get("name") == "now"
    )


def _self_member(expr: dict[str, Any]) -> str | None:
    if expr.get("kind") == "member" and expr["object"].get("kind") == "identifier":
        if expr["object"].get("name") in ("self", "this"):
            return str(expr["property"])
    return None


def _null_asserted(guard: dict[str, Any]) -> str | None:
    """Property ``t`` when the guard is ``self.t == null`` / ``self.t is null`` (either order)."""
    if guard.get("kind") != "binary" or guard.get("operator") not in ("==", "is"):
        return None
    left, right = guard["left"], guard["right"]
    for member, other in ((left, right), (right, left)):
        name = _self_member(member)
        if name is not None and other.get("kind") == "literal" and other["value"].get("kind") == "null":
            return name
    return None


def _has_signal(command: dict[str, Any], props: dict[str, dict[str, Any]], owned: list[str]) -> bool:
    if command["name"] == "create":
        return True
    params = {p["name"] for p in command["parameters"]}
    first_mutate: dict[str, dict[str, Any]] = {}
    for action in command["actions"]:
        if action["kind"] == "mutate" and "target" in action:
            first_mutate.setdefault(action["target"], action["expression"])
    for target in owned:
        prop = props[target]
        if (
            "required" not in prop["modifiers"]
            or "defaultValue" in prop
            or prop.get("autoNow")
            or target == "id"
            or target not in first_mutate
        ):
            continue
        expr = first_mutate[target]
        if (
            expr["kind"] == "literal"
            or _is_now_call(expr)
            or (expr["kind"] == "identifier" and expr["name"] in params)
        ):
            return True
    null_guarded = {_null_asserted(g) for g in command["guards"]}
    return any(
        target.endswith("At") and target != "updatedAt" and _is_now_call(expr) and target in null_guarded
        for target, expr in first_mutate.items()
    )


def build_plan(command: dict[str, Any], entity: dict[str, Any], tenant: dict[str, Any] | None) -> Any:
    props = {p["name"]: p for p in entity["properties"]}
    owned = locale_sorted(
        dict.fromkeys(
            a["target"] for a in command["actions"] if a["kind"] in _OWNING_KINDS and a.get("target") in props
        )
    )
    if not _has_signal(command, props, owned) or (not owned and command["name"] != "create"):
        return None
    params = command["parameters"]
    inputs = locale_sorted(p["name"] for p in params if "trustedSource" not in p)
    ownership = [tenant["property"]] if tenant and tenant["property"] in props else []
    ownership += [p["name"] for p in params if "trustedSource" in p and p["name"] in props]
    optional_params = {p["name"] for p in params if not p["required"]}
    defaults = _declared_defaults(entity, owned, optional_params)
    transitioned = {t["property"] for t in entity.get("transitions", [])}
    lifecycle = [
        {"property": p["name"], "value": p["defaultValue"]}
        for p in entity["properties"]
        if "defaultValue" in p and (p["name"] == "status" or p["name"] in transitioned)
    ]
    draft = {"id", *ownership, *(d["property"] for d in defaults), *(item["property"] for item in lifecycle)}
    draft.update(name for name in inputs if name in props)
    required = [
        p["name"]
        for p in entity["properties"]
        if "required" in p["modifiers"] and not p["type"]["nullable"] and p["name"] != "id"
    ]
    owned_set = set(owned)
    dynamic: list[int] = []
    redundant: list[int] = []
    for index, guard in enumerate(command["guards"]):
        (redundant if _null_asserted(guard) in owned_set else dynamic).append(index)
    return {
        "initializationInputs": inputs,
        "authenticatedOwnershipFields": locale_sorted(ownership),
        "declaredDefaults": defaults,
        "initialLifecycleState": lifecycle,
        "commandOwnedFields": owned,
        "draftFields": locale_sorted(draft),
        "finalDocumentRequirements": locale_sorted(required),
        "dynamicGuardIndexes": dynamic,
        "redundantGuardIndexes": redundant,
    }


def _declared_defaults(
    entity: dict[str, Any], owned: list[str], optional_params: set[str]
) -> list[dict[str, str]]:
    owned_set = set(owned)
    defaults: list[dict[str, str]] = []
    for prop in entity["properties"]:
        name = prop["name"]
        if name in owned_set and name not in optional_params:
            continue
        if "defaultValue" in prop:
            defaults.append({"property": name, "source": "defaultValue"})
        elif prop.get("autoNow"):
            defaults.append({"property": name, "source": "autoNow"})
    if entity.get("timestamps"):
        defaults += [
            {"property": "createdAt", "source": "timestamps"},
            {"property": "updatedAt", "source": "timestamps"},
        ]
    for key in ("versionProperty", "versionAtProperty"):
        if key in entity:
            defaults.append({"property": entity[key], "source": "version"})
    return defaults


def attach_initialization_plans(ir: dict[str, Any]) -> None:
    entities = {e["name"]: e for e in ir["entities"]}
    tenant = ir.get("tenant")
    with_create_plan: set[str] = set()
    for command in ir["commands"]:
        entity = entities.get(command.get("entity", ""))
        if entity is None:
            continue
        plan = build_plan(command, entity, tenant)
        if plan is not None:
            command["initialization"] = plan
            if command["name"] == "create":
                with_create_plan.add(entity["name"])
    for command in ir["commands"]:
        if command.get("entity") in with_create_plan and command["name"] != "create":
            command.pop("initialization", None)
