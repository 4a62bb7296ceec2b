"""Instance rules shared by direct API writes and commands: defaults, required fields, unique and
alternate keys, entity constraints, and the read path (tenant, read policies, masking)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..expr.values import UNDEFINED, strict_equals, to_js_string, truthy
from .checks import evaluate_constraint, is_blocking
from .jsonvalues import LIMIT_EXCEEDED, as_id, id_problem
from .records import EntityModel, type_default
from .refusal import WriteRejected
from .relations import composite_id
from .results import ConstraintOutcome

if TYPE_CHECKING:
    from .execution import Execution


def entity_scope(ex: Execution, em: EntityModel, data: dict[str, Any]) -> dict[str, Any]:
    """``{...data, _entity, self, this, user, context}`` as entity constraints see it."""
    self_obj = dict(data)
    self_obj["_entity"] = em.name
    scope = dict(self_obj)
    context = ex.engine.context
    scope["self"] = self_obj
    scope["this"] = self_obj
    scope["user"] = context.get("user", None)
    scope["context"] = context
    return scope


def check_entity_constraints(ex: Execution, em: EntityModel, data: dict[str, Any]) -> list[ConstraintOutcome]:
    if not em.constraints:
        return []
    scope = entity_scope(ex, em, data)
    return [evaluate_constraint(c, scope, ex) for c in em.constraints]


def all_constraints_pass(ex: Execution, em: EntityModel, tagged: dict[str, Any]) -> bool:
    """Fast path of a write: no blocking constraint fails (the full report is built only if one does).

    ``tagged`` is the row with ``_entity`` set (a command's working copy); it is not modified.
    """
    context = ex.engine.context
    scope = dict(tagged)
    scope["self"] = scope["this"] = tagged
    scope["user"] = context.get("user", None)
    scope["context"] = context
    for c in em.constraints:  # a plain loop: no generator frame per write
        if c.severity == "block" and truthy(c.check.fn(scope, ex)) == c.fail_when:
            return False
    return True


def _auto_managed(em: EntityModel, tenant_prop: str | None) -> set[str]:
    names = {"id", "createdAt", "updatedAt"}
    for extra in (em.version_property, em.version_at_property, tenant_prop):
        if extra:
            names.add(extra)
    names.update(em.key or [])
    for rel in em.relations.values():
        names.update(rel.fk_fields or [f"{rel.name}Id"] if rel.kind in ("belongsTo", "ref") else [])
    return names


_NOW, _COPY, _NEW = 0, 1, 2


def _defaults_plan(em: EntityModel) -> tuple[dict[str, Any], list[tuple[str, int, Any]]]:
    """The property defaults split into one dict of constants (copied per create, in property
    order) and the values that must be made per create (``now()``, fresh containers)."""
    template: dict[str, Any] = {}
    fresh: list[tuple[str, int, Any]] = []
    for p in em.properties.values():
        template[p.name] = None  # keeps the property order; fresh values overwrite in place
        if p.has_default:
            if isinstance(p.default, (list, dict)):
                fresh.append((p.name, _COPY, p.default))
            else:
                template[p.name] = p.default
        elif p.auto_now:
            fresh.append((p.name, _NOW, None))
        else:
            value = type_default(p.type_name, p.nullable)
            if isinstance(value, (list, dict)):
                fresh.append((p.name, _NEW, type(value)))
            else:
                template[p.name] = value
    em.defaults_plan = (template, fresh)
    return template, fresh


def apply_defaults(ex: Execution, em: EntityModel, data: dict[str, Any]) -> dict[str, Any]:
    """Every declared property gets a value, then the caller's data, then the managed fields."""
    now = ex.engine.now
    template, fresh = em.defaults_plan or _defaults_plan(em)
    doc = dict(template)
    for name, how, arg in fresh:  # in property order, so now() is called in the same order
        doc[name] = now() if how == _NOW else copy.deepcopy(arg) if how == _COPY else arg()
    for k, v in data.items():
        if v is not UNDEFINED:
            doc[k] = v
    tenant = ex.model.tenant
    if tenant is not None and ex.tenant_value is not None:
        doc[tenant["property"]] = ex.tenant_value
    if em.version_property:
        doc[em.version_property] = 1
    if em.version_at_property:
        doc[em.version_at_property] = now()
    if em.timestamps:
        doc["createdAt"] = doc["updatedAt"] = now()
    if em.key and not doc.get("id"):
        doc["id"] = composite_id([doc.get(k) for k in em.key])
    return doc


def check_required(ex: Execution, em: EntityModel, data: dict[str, Any]) -> None:
    if not em.required:
        return
    managed: set[str] | None = None  # built only when a required value is missing
    missing: list[str] | None = None  # allocated only when a value is missing
    for name in em.required:
        value = data.get(name, UNDEFINED)
        if value is not None and value is not UNDEFINED:
            continue
        p = em.properties[name]
        if p.has_default or p.auto_now:
            continue
        if managed is None:
            tenant = ex.model.tenant
            managed = _auto_managed(em, tenant["property"] if tenant else None)
        if name not in managed:
            if missing is None:
                missing = []
            missing.append(name)
    if missing is not None:
        # The reference names the first; every one is kept for callers that explain the refusal.
        first = missing[0]
        rejected = WriteRejected("E_REQUIRED", f"Property '{first}' is required but was not provided", first)
        rejected.missing = missing
        raise rejected


def check_unique(ex: Execution, em: EntityModel, doc: dict[str, Any], props: Any) -> None:
    """Unique properties (only those in ``props``) and alternate keys of the merged row."""
    if not em.unique and not em.alternate_keys:
        return
    row_id = doc.get("id")
    rows: list[dict[str, Any]] | None = None
    for p in em.unique:
        value = doc.get(p)
        if p not in props or value is None or value is UNDEFINED:
            continue  # an absent value (null or undefined) is never a duplicate
        rows = rows if rows is not None else ex.scan(em.name)
        if any(r.get("id") != row_id and strict_equals(r.get(p, UNDEFINED), doc[p]) for r in rows):
            raise WriteRejected("E_UNIQUE", f"Property '{p}' must be unique; value already exists", p)
    for key in em.alternate_keys:
        rows = rows if rows is not None else ex.scan(em.name)
        values = [doc.get(k, UNDEFINED) for k in key]
        for r in rows:
            if r.get("id") != row_id and all(
                strict_equals(r.get(k, UNDEFINED), v) for k, v in zip(key, values, strict=True)
            ):
                raise WriteRejected(
                    "E_ALTERNATE_KEY",
                    f"Alternate key [{', '.join(key)}] must be unique; matching values already exist",
                    "+".join(key),
                )


def prepare_create(
    ex: Execution, em: EntityModel, data: dict[str, Any]
) -> tuple[dict[str, Any], list[ConstraintOutcome]]:
    """The row a create would store; raises ``WriteRejected`` if an instance rule blocks it.

    The outcomes are only reported when one blocks (as for updates, passing constraints are
    checked without building their ``resolved`` reports); otherwise the list is empty."""
    check_required(ex, em, data)
    if em.temporal:
        from .temporal import check_temporal

        check_temporal(em.temporal, data)
    doc = apply_defaults(ex, em, data)
    check_unique(ex, em, doc, doc)
    if not em.constraints:
        outcomes: list[ConstraintOutcome] = []
    else:
        tagged = dict(doc)
        tagged["_entity"] = em.name
        outcomes = [] if all_constraints_pass(ex, em, tagged) else check_entity_constraints(ex, em, doc)
    blocking = next((o for o in outcomes if is_blocking(o)), None)
    if blocking is not None:
        message = blocking.message or f"Initialization blocked by constraint '{blocking.constraint_name}'"
        raise WriteRejected(blocking.code or "E_REQUIRED", message, outcomes=outcomes)
    if not doc.get("id"):
        doc["id"] = ex.engine.generate_id()
    else:
        doc["id"] = as_id(doc["id"])
        problem = id_problem(doc["id"])
        if problem is not None:
            code, _, message = (
                problem.partition(": ") if problem.startswith(LIMIT_EXCEEDED) else ("", "", problem)
            )
            raise WriteRejected(code or "INVALID_INPUT", message, "id")
    return doc, outcomes


def draft_outcomes(ex: Execution, em: EntityModel, draft: dict[str, Any]) -> list[ConstraintOutcome]:
    """What a create command admits its draft (defaults + input) by, as the reference does: one
    outcome per duplicate ``unique`` value (declaration order), then every entity constraint's."""
    outcomes: list[ConstraintOutcome] = []
    for name in em.unique:
        try:
            check_unique(ex, em, draft, (name,))
        except WriteRejected as rejected:
            duplicate = rejected.outcome()
            if rejected.code != "E_UNIQUE":  # an alternate key (checked with every name)
                outcomes.append(duplicate)
                break
            duplicate.details = {"property": name, "modifier": "unique", "value": draft.get(name)}
            outcomes.append(duplicate)
    outcomes.extend(check_entity_constraints(ex, em, draft))
    return outcomes


def check_cleared(ex: Execution, em: EntityModel, doc: dict[str, Any]) -> None:
    """Entity constraints of a created row from which the actions cleared properties (the first
    check saw their defaults); raises ``WriteRejected`` if one blocks."""
    if not em.constraints:
        return
    outcomes = check_entity_constraints(ex, em, doc)
    blocking = next((o for o in outcomes if is_blocking(o)), None)
    if blocking is not None:
        message = blocking.message or f"Command blocked by constraint '{blocking.constraint_name}'"
        raise WriteRejected(blocking.code, message, outcomes=outcomes)


# --- read path --------------------------------------------------------------------------------


def read_scope(ex: Execution, em: EntityModel, row: dict[str, Any]) -> dict[str, Any]:
    self_obj = dict(row)
    self_obj["_entity"] = em.name
    scope = dict(self_obj)
    context = ex.engine.context
    scope.update(self=self_obj, this=self_obj, user=context.get("user", None), context=context)
    return scope


def present(ex: Execution, em: EntityModel, row: dict[str, Any]) -> dict[str, Any] | None:
    """What a reader may see of ``row``: None if a read policy denies it, else masked."""
    scope: dict[str, Any] | None = None
    if em.read_policies:
        scope = read_scope(ex, em, row)
        for policy in em.read_policies:
            if not truthy(policy.check.fn(scope, ex)):
                return None
    if not em.masked and not em.private:
        return dict(row)
    out = {k: v for k, v in row.items() if k not in em.private}
    for p in em.masked:
        if p.name not in out or out[p.name] is None or p.name in em.private:
            continue
        if p.unmask_when is not None:
            scope = scope or read_scope(ex, em, row)
            if truthy(p.unmask_when(scope, ex)):
                continue
        out[p.name] = mask_value(out[p.name], p.mask or {})
    return out


def mask_value(value: Any, strategy: dict[str, Any]) -> str:
    s = to_js_string(value)
    kind = strategy.get("type")
    params = strategy.get("params") or []
    if kind == "partial":
        start = int(params[0]) if len(params) > 0 else 0
        end = int(params[1]) if len(params) > 1 else 4
        if start + end >= len(s):
            return "*" * len(s)
        return s[:start] + "*" * (len(s) - start - end) + (s[len(s) - end :] if end else "")
    if kind == "email":
        local, at, domain = s.partition("@")
        return f"{local[:1]}***@{domain}" if at else "***"
    if kind == "phone":
        digits = [c for c in s if c.isdigit()]
        return "***-***-" + "".join(digits[-4:])
    if kind == "last4":
        return "****" + s[-4:]
    return "***"
