"""``CompiledModel``: an IR document validated, indexed and compiled once, shared by engines.

Everything the command path needs is looked up in dicts built here (entity, command by name and
by (entity, name), event channel, policies of a command, reactions of an event), and every IR
expression is compiled to a closure exactly once, so running a command never scans a list by
name and its cost does not grow with the size of the model.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Mapping
from typing import Any

from ..errors import IRError
from ..expr.builtins import roles_from_ir
from ..expr.codegen import generate_expression, generate_raw, generate_report
from ..expr.compile import CompileContext, Evaluator
from ..expr.folding import ir_value
from ..expr.format import context_keys, format_expression, resolved_nodes
from ..ir.schema import validate_ir
from .builtins_bridge import builtins_with
from .inputs import InputTypes, input_checker
from .jsonvalues import bounded_int
from .records import (
    NO_DEFAULT,
    ActionModel,
    ApprovalModel,
    ApprovalStageModel,
    Checked,
    CommandModel,
    ComputedModel,
    ConstraintModel,
    EntityModel,
    ParamModel,
    PolicyModel,
    PropertyModel,
    ReactionModel,
    RelationModel,
    SagaModel,
    ScheduleModel,
)
from .temporal import TEMPORAL_TYPES


def _leaf(text: str, node: Any, fn: Evaluator) -> tuple[str, Evaluator | None, Any]:
    if isinstance(node, dict) and node.get("kind") == "literal" and isinstance(node.get("value"), dict):
        value = ir_value(node["value"])
        if not isinstance(value, (list, dict)):  # containers are fresh per evaluation, as in JS
            return (text, None, value)
    return (text, fn, None)


class CompiledModel:
    """An IR v1 document, validated, indexed and compiled. Immutable after construction."""

    def __init__(
        self,
        ir: Any,  # validated below: a non-dict is an IRError
        *,
        validate: bool = True,
        custom_builtins: Mapping[str, Any] | None = None,
    ) -> None:
        """Validate, index and compile ``ir``.

        ``custom_builtins``: application functions ``fn(host, args)``; core built-ins win on a clash.
        A long-running process that keeps big models may then call ``manifest_lang.freeze_heap()``
        (``manifest serve`` does): the constructor leaves the process's GC state as it found it.
        """
        # Building allocates many small objects that all live as long as the model; pausing the
        # cyclic GC avoids repeated full collections over them (seconds on a 1000-entity model).
        # The previous state is restored before returning.
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(ir, validate, custom_builtins)
        finally:
            if enabled:
                gc.enable()

    def _build(self, ir: Any, validate: bool, custom_builtins: Mapping[str, Any] | None) -> None:
        if validate:
            validate_ir(ir)
        self.ir: dict[str, Any] = ir
        self.provenance = _event_provenance(ir.get("provenance"))
        self.ir_hash = (ir.get("provenance") or {}).get("irHash")
        relation_names = frozenset(
            r["name"] for e in ir.get("entities", []) for r in e.get("relationships", [])
        )
        self._cc = CompileContext(relation_names=relation_names, builtins=builtins_with(custom_builtins))
        #: the model's named types, for the typed-input checker of every command (built once)
        self._input_types = InputTypes(ir)
        self.events: dict[str, str] = {}
        for ev in ir.get("events", []):
            self.events.setdefault(ev["name"], ev.get("channel") or ev["name"])
        self.policies: dict[str, PolicyModel] = {}
        self.policy_list: list[PolicyModel] = []
        for p in ir.get("policies", []):
            pm = self._policy(p)
            self.policy_list.append(pm)
            self.policies.setdefault(pm.name, pm)
        self.entities: dict[str, EntityModel] = {}
        for e in ir.get("entities", []):
            self.entities.setdefault(e["name"], self._entity(e))
        #: parent entity -> (child entity, belongsTo/ref relation) pairs with an onDelete action
        self.referencing: dict[str, list[tuple[str, RelationModel]]] = {}
        for child in self.entities.values():
            for rel in child.relations.values():
                if rel.kind in ("belongsTo", "ref") and rel.on_delete not in (None, "noAction"):
                    self.referencing.setdefault(rel.target, []).append((child.name, rel))
        self.commands_by_name: dict[str, CommandModel] = {}
        self.commands_by_entity: dict[tuple[str, str], CommandModel] = {}
        for c in ir.get("commands", []):
            cm = self._command(c)
            self.commands_by_name.setdefault(cm.name, cm)
            if cm.entity is not None:
                self.commands_by_entity.setdefault((cm.entity, cm.name), cm)
        #: entity -> command name -> the command ``command(name, entity)`` answers (one lookup
        #: per call, without a key tuple to build)
        self._entity_commands: dict[str, dict[str, CommandModel]] = {}
        for em in self.entities.values():
            found = {n: self._entity_command(em.name, n) for n in em.commands}
            self._entity_commands[em.name] = {n: cm for n, cm in found.items() if cm is not None}
        self.reactions: dict[str, list[ReactionModel]] = {}
        for r in ir.get("reactions", []) or []:
            self.reactions.setdefault(r["event"], []).append(self._reaction(r))
        self.tenant: dict[str, Any] | None = ir.get("tenant")
        self.roles = roles_from_ir(ir.get("roles"))
        self.sagas: dict[str, SagaModel] = {}
        for s in ir.get("sagas", []) or []:
            self.sagas[s["name"]] = _saga(s)
        self.schedules: dict[str, ScheduleModel] = {}
        for s in ir.get("schedules", []) or []:
            self.schedules[s["name"]] = self._schedule(s)

    # --- lookups ------------------------------------------------------------------------------

    def tenant_of(self, context: Mapping[str, Any]) -> Any:
        """The caller's tenant in ``context``: through the IR's ``tenant ... from <path>``, else
        (no declaration, or no path) ``context.tenantId``. The value as found, or None; the engine
        takes strings only (``RuntimeEngine.tenant_value``). The runtime and HTTP both use this."""
        tenant = self.tenant
        path = str((tenant.get("contextPath") if tenant else None) or "context.tenantId").split(".")
        head, rest = path[0], path[1:]
        value: Any
        if head == "context":
            value = context
        elif head == "user":
            value = context.get("user")
        else:
            value = context.get(head)
        for part in rest:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    def command(self, name: str, entity: str | None = None) -> CommandModel | None:
        if entity is None:
            return self.commands_by_name.get(name)
        commands = self._entity_commands.get(entity)
        return commands.get(name) if commands is not None else None

    def _entity_command(self, entity: str, name: str) -> CommandModel | None:
        return self.commands_by_entity.get((entity, name)) or self.commands_by_name.get(name)

    def compile(self, expr: Any) -> Evaluator:
        return generate_expression(expr, self._cc)

    # --- builders -----------------------------------------------------------------------------

    def _emit_payloads(self, mappings: list[dict[str, Any]]) -> dict[str, list[tuple[str, Evaluator]]]:
        """Payload fields per event name; an event emitted twice keeps its FIRST mapping for every
        emission (the reference looks the mapping up by event name)."""
        out: dict[str, list[tuple[str, Evaluator]]] = {}
        for ep in mappings:
            if ep["eventName"] not in out:
                fields = ep.get("fields", [])
                out[ep["eventName"]] = [(f["name"], self.compile(f["expression"])) for f in fields]
        return out

    def checked(self, expr: dict[str, Any]) -> Checked:
        nodes = resolved_nodes(expr)
        leaves = [generate_raw(node, self._cc) for _, node in nodes]
        return Checked(
            ir=expr,
            fn=self.compile(expr),
            formatted=format_expression(expr),
            leaves=[_leaf(text, node, fn) for (text, node), (fn, _, _) in zip(nodes, leaves, strict=True)],
            leaf_steps=sum(steps for _, steps, _ in leaves),  # literals count too
            leaf_depth=max((depth for _, _, depth in leaves), default=0),
            report=generate_report(nodes, self._cc),
        )

    def _policy(self, p: dict[str, Any]) -> PolicyModel:
        return PolicyModel(
            name=p["name"],
            entity=p.get("entity"),
            action=p.get("action", "execute"),
            message=p.get("message") or None,
            check=self.checked(p["expression"]),
            context_keys=context_keys(p["expression"]),
            rate_limit=p.get("rateLimit"),
        )

    def _constraint(self, c: dict[str, Any]) -> ConstraintModel:
        details = c.get("detailsMapping") or {}
        return ConstraintModel(
            name=c["name"],
            code=c.get("code") or c["name"],
            severity=c.get("severity") or "block",
            fail_when=bool(c.get("failWhen", False)),
            message=c.get("message"),
            message_template=c.get("messageTemplate"),
            details=[(k, self.compile(v)) for k, v in details.items()],
            overrideable=bool(c.get("overrideable", False)),
            override_policy=c.get("overridePolicyRef"),
            check=self.checked(c["expression"]),
        )

    def _property(self, p: dict[str, Any]) -> PropertyModel:
        t = p.get("type") or {}
        mask = p.get("maskStrategy")
        unmask = mask.get("unmaskWhen") if mask else None
        has_default = "defaultValue" in p
        return PropertyModel(
            name=p["name"],
            type_name=t.get("name", "string"),
            nullable=bool(t.get("nullable", False)),
            default=ir_value(p["defaultValue"]) if has_default else None,
            has_default=has_default,
            auto_now=bool(p.get("autoNow", False)),
            modifiers=frozenset(p.get("modifiers", [])),
            mask=mask,
            unmask_when=self.compile(unmask) if unmask else None,
        )

    def _entity(self, e: dict[str, Any]) -> EntityModel:
        props = {p["name"]: self._property(p) for p in e.get("properties", [])}
        transitions: dict[str, dict[str, list[str]]] = {}
        for t in e.get("transitions", []) or []:
            transitions.setdefault(t["property"], {})[t["from"]] = list(t.get("to", []))
        name = e["name"]
        em = EntityModel(
            name=name,
            properties=props,
            computed={
                c["name"]: ComputedModel(
                    c["name"], self.compile(c["expression"]), list(c.get("dependencies", []))
                )
                for c in e.get("computedProperties", [])
            },
            relations={r["name"]: _relation(r) for r in e.get("relationships", [])},
            constraints=[self._constraint(c) for c in e.get("constraints", [])],
            commands=frozenset(e.get("commands", [])),
            key=list(e["key"]) if e.get("key") else None,
            alternate_keys=[list(k) for k in e.get("alternateKeys", []) or []],
            version_property=e.get("versionProperty"),
            version_at_property=e.get("versionAtProperty"),
            timestamps=bool(e.get("timestamps", False)),
            transitions=transitions,
            read_policies=[
                p
                for p in self.policy_list
                if p.action in ("read", "all") and (p.entity is None or p.entity == name)
            ],
            approvals=[self._approval(a) for a in e.get("approvals", []) or []],
        )
        em.required = [p.name for p in props.values() if "required" in p.modifiers]
        em.unique = [p.name for p in props.values() if "unique" in p.modifiers]
        em.readonly = frozenset(p.name for p in props.values() if "readonly" in p.modifiers)
        em.private = frozenset(p.name for p in props.values() if "private" in p.modifiers)
        em.encrypted = tuple(p.name for p in props.values() if "encrypted" in p.modifiers)
        em.temporal = {
            p.name: TEMPORAL_TYPES[p.type_name] for p in props.values() if p.type_name in TEMPORAL_TYPES
        }
        em.masked = [p for p in props.values() if p.mask is not None]
        return em

    def _approval(self, a: dict[str, Any]) -> ApprovalModel:
        stages = [
            ApprovalStageModel(
                name=st["name"],
                required=bounded_int(st.get("required", 1) or 1, 1, 1, 1_000_000),
                policy=self.compile(st["policy"]) if st.get("policy") else None,
                when=self.compile(st["when"]) if st.get("when") else None,
            )
            for st in a.get("stages", [])
        ]
        return ApprovalModel(a["name"], a.get("command"), a.get("timeout"), stages, a)

    def _command(self, c: dict[str, Any]) -> CommandModel:
        entity = c.get("entity")
        entity_model = self.entities.get(entity) if entity else None
        names = c.get("policies") or []
        if names:
            wanted = set(names)
            policies = [p for p in self.policy_list if p.name in wanted]
        else:
            # Legacy filter: every execute/all policy that applies to the command's entity.
            policies = [
                p
                for p in self.policy_list
                if p.action in ("all", "execute") and (not p.entity or not entity or p.entity == entity)
            ]
        return CommandModel(
            name=c["name"],
            entity=entity,
            # Trusted (`from context.*`) parameters are resolved, and refused, before the others,
            # as the reference does: a missing context wins over a missing input.
            params=sorted((_param(p) for p in c.get("parameters", [])), key=lambda p: p.trusted_path is None),
            guards=[self.checked(g) for g in c.get("guards", [])],
            constraints=[self._constraint(x) for x in c.get("constraints", []) or []],
            policies=policies,
            actions=[
                ActionModel(
                    a["kind"],
                    a.get("target"),
                    self.compile(a["expression"]),
                    _plain_mutate(a, entity_model),
                    _transition_only(a, entity_model),
                )
                for a in c["actions"]
            ],
            emits=list(c.get("emits", [])),
            emit_payloads=self._emit_payloads(c.get("emitPayloads") or []),
            rate_limit=c.get("rateLimit"),
            retry=c.get("retry"),
            is_async=bool(c.get("async", False)),
            initialization=c.get("initialization"),
            ir=c,
            has_adapter_actions=any(a["kind"] in ("persist", "publish", "effect") for a in c["actions"]),
            check_input=input_checker(c, self._input_types),
        )

    def _reaction(self, r: dict[str, Any]) -> ReactionModel:
        fan = r.get("fanOut")
        entity = r.get("targetEntity")
        return ReactionModel(
            event=r["event"],
            target_entity=entity,
            target_command=r.get("targetCommand"),
            params=[(p["name"], self.compile(p["expression"])) for p in r.get("params", []) or []],
            match=[(field, self.compile(source)) for field, source in _match_list(r.get("match"))],
            resolve=self.compile(r["resolve"]) if r.get("resolve") is not None else None,
            fan_out=bool(fan),
            fan_entity=str(fan.get("matchEntity") or entity) if fan else None,
            fan_field=fan.get("matchField") if fan else None,
            fan_source=(
                self.compile(fan["matchSource"]) if fan and isinstance(fan.get("matchSource"), dict) else None
            ),
            else_create=bool(r.get("elseCreate")),
            ir=r,
        )

    def _schedule(self, s: dict[str, Any]) -> ScheduleModel:
        params = [(p["name"], self.compile(p["expression"])) for p in s.get("params") or []]
        return ScheduleModel(s["name"], s["commandName"], s.get("entityName"), params, s)


def _plain_mutate(action: dict[str, Any], em: EntityModel | None, *, transitions: bool = True) -> bool:
    """A mutate with no per-write rule (``transitions=False``: ignoring the transition table)."""
    target = action.get("target")
    if action.get("kind") != "mutate" or em is None or not target:
        return False
    return not (
        target in em.readonly
        or target in em.unique
        or (transitions and target in em.transitions)
        or em.version_property
        or em.version_at_property
        or em.timestamps
        or target in em.temporal
    )


def _transition_only(action: dict[str, Any], em: EntityModel | None) -> dict[str, list[str]] | None:
    if em is None or not _plain_mutate(action, em, transitions=False):
        return None
    return em.transitions.get(action["target"])


def _match_list(match: Any) -> list[tuple[str, dict[str, Any]]]:
    """``match field = expr, ...`` predicates of a reaction (the expression is ``source``)."""
    if not isinstance(match, list):
        return []
    out = []
    for m in match:
        source = m.get("source", m.get("value")) if isinstance(m, dict) else None
        if isinstance(source, dict) and isinstance(m.get("field"), str):
            out.append((m["field"], source))
    return out


def _saga(s: dict[str, Any]) -> SagaModel:
    return SagaModel(s["name"], list(s.get("steps") or []), str(s.get("onFailure") or "compensate"), s)


def _relation(r: dict[str, Any]) -> RelationModel:
    fk = r.get("foreignKey") or {}
    return RelationModel(
        name=r["name"],
        kind=r["kind"],
        target=r["target"],
        fk_fields=list(fk.get("fields", [])),
        fk_refs=list(fk.get("references", [])),
        through=r.get("through"),
        on_delete=r.get("onDelete"),
    )


def _param(p: dict[str, Any]) -> ParamModel:
    trusted = p.get("trustedSource")
    return ParamModel(
        name=p["name"],
        type_name=(p.get("type") or {}).get("name"),
        required=bool(p.get("required", True)),
        default=ir_value(p["defaultValue"]) if "defaultValue" in p else NO_DEFAULT,
        trusted_path=str(trusted).split(".") if trusted else None,
    )


def _event_provenance(prov: Any) -> dict[str, Any] | None:
    if not isinstance(prov, dict):
        return None
    return {
        "contentHash": prov.get("contentHash"),
        "compilerVersion": prov.get("compilerVersion"),
        "schemaVersion": prov.get("schemaVersion"),
    }


_CACHE: dict[int, CompiledModel] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_LIMIT = 64


def compiled_model(ir: Any) -> CompiledModel:
    """The shared ``CompiledModel`` of an IR dict (cached by object identity).

    Identity, not ``irHash``: an IR edited in place keeps its hash, and a stale model would run
    old rules. Treat an IR as immutable once an engine uses it; share a ``CompiledModel``
    explicitly to reuse one across different dicts.
    """
    if isinstance(ir, CompiledModel):
        return ir
    if not isinstance(ir, dict):
        raise IRError(f"IR must be a dict or CompiledModel, got {type(ir).__name__}")
    key = id(ir)
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is not None and model.ir is ir:
            return model
    model = CompiledModel(ir)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = model
    return model
