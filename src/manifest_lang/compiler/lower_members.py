"""Lowering of data members: types, properties, computed properties, relationships, constraints.

Each function returns the IR dict and reports its own diagnostics, in the reference's order.
"""

from __future__ import annotations

import re
from typing import Any

from ..syntax import ast
from .diagnostics import DiagnosticSink
from .exprs import dependencies, expr_to_value, lower_expr, number, walk
from .inference import infer_type

MASK_ARITY = {"redact": 0, "partial": 2, "email": 0, "phone": 0, "last4": 0}
_NUMERIC = frozenset(["number", "money", "decimal", "int", "integer", "bigint", "float", "duration"])
_AUTO_NOW_CALLS = frozenset(["now", "today"])


def lower_type(t: ast.TypeRef) -> dict[str, Any]:
    result: dict[str, Any] = {"name": t.name}
    if t.generic is not None:
        result["generic"] = lower_type(t.generic)
    result["nullable"] = t.nullable
    if t.params is not None:
        result["params"] = {"precision": t.params[0], "scale": t.params[1]}
    return result


def default_compatible(type_ref: dict[str, Any], value: dict[str, Any]) -> bool:
    kind: str = value["kind"]
    if kind == "null":
        return bool(type_ref["nullable"])
    name: str = type_ref["name"]
    if name in ("array", "list"):
        return kind == "array"
    if name in ("map", "json", "any", "object"):
        return kind in ("object", "array")
    if name in ("date", "datetime", "timestamp"):
        return kind in ("number", "string")
    if name in _NUMERIC:
        return kind == "number"
    if name in ("boolean", "bool"):
        return kind == "boolean"
    return kind == "string"


def lower_property(prop: ast.Property, sink: DiagnosticSink) -> dict[str, Any]:
    type_ir = lower_type(prop.type)
    result: dict[str, Any] = {"name": prop.name, "type": type_ir}
    auto_now = False
    if prop.default is not None:
        default = prop.default
        if (
            isinstance(default, ast.Call)
            and not default.args
            and isinstance(default.callee, ast.Identifier)
            and default.callee.name in _AUTO_NOW_CALLS
        ):
            auto_now = True
        else:
            value = expr_to_value(default)
            if value is None:
                sink.warning(
                    f"Property '{prop.name}': default expression is not a supported default and has no "
                    f"effect "
                    "at runtime. Supported call defaults: now(), today(). Use a literal default or set the "
                    "value in the command."
                )
            else:
                if not default_compatible(type_ir, value):
                    sink.error(
                        f"Property default for '{prop.name}' is incompatible with declared type "
                        f"'{type_ir['name']}'."
                    )
                result["defaultValue"] = value
    result["modifiers"] = list(prop.modifiers)
    if auto_now:
        result["autoNow"] = True
    if prop.mask is not None:
        result["maskStrategy"] = _lower_mask(prop, sink)
    return result


def _lower_mask(prop: ast.Property, sink: DiagnosticSink) -> dict[str, Any]:
    mask = prop.mask
    assert mask is not None
    strategy: dict[str, Any] = {"type": mask.strategy}
    if mask.params:
        strategy["params"] = [number(p) for p in mask.params]
    if mask.unmask_when is not None:
        strategy["unmaskWhen"] = lower_expr(mask.unmask_when)
    arity = MASK_ARITY.get(mask.strategy)
    prefix = f"Property '{prop.name}': "
    count = len(mask.params)
    if arity is None:
        sink.error(
            f"{prefix}Unknown masking strategy '{mask.strategy}'. Known strategies: "
            "redact, partial, email, phone, last4."
        )
    elif arity == 0 and count:
        sink.error(f"{prefix}masking strategy '{mask.strategy}' takes no parameters (got {count}).")
    elif arity and count != arity:
        sink.error(
            f"{prefix}masking strategy '{mask.strategy}' requires exactly {arity} parameters (got {count})."
        )
    elif any(p < 0 or int(p) != p for p in mask.params):
        shown = ", ".join(str(number(p)) for p in mask.params)
        sink.error(
            f"{prefix}masking strategy '{mask.strategy}' parameters must be non-negative integers "
            f"(got {shown})."
        )
    return strategy


def lower_computed(comp: ast.Computed, types: dict[str, dict[str, Any]]) -> dict[str, Any]:
    type_ir = lower_type(comp.type) if comp.type is not None else infer_type(comp.expression, types)
    result: dict[str, Any] = {
        "name": comp.name,
        "type": type_ir,
        "expression": lower_expr(comp.expression),
        "dependencies": dependencies(comp.expression),
    }
    if comp.cache is not None:
        cache: dict[str, Any] = {"strategy": comp.cache[0]}
        if comp.cache[1] is not None:
            cache["ttlSeconds"] = number(comp.cache[1])
        result["cache"] = cache
    return result


def lower_relationship(rel: ast.Relationship, entity: str, sink: DiagnosticSink) -> dict[str, Any]:
    result: dict[str, Any] = {"name": rel.name, "kind": rel.kind, "target": rel.target}
    if rel.fields is not None:
        fk: dict[str, Any] = {"fields": list(rel.fields)}
        if rel.references is not None:
            fk["references"] = list(rel.references)
        result["foreignKey"] = fk
    if rel.through is not None:
        result["through"] = rel.through
        if rel.fields is not None or rel.references is not None:
            sink.error(
                f"Relationship '{rel.name}' on entity '{entity}' cannot set both 'foreignKey' and 'through' "
                "— they are mutually exclusive.",
                code="RELATION_FK_THROUGH_EXCLUSIVE",
            )
        elif rel.kind != "hasMany":
            sink.error(
                f"Relationship '{rel.name}' on entity '{entity}' uses 'through', which is only supported on "
                "hasMany in this version.",
                code="RELATION_THROUGH_KIND_UNSUPPORTED",
            )
    for clause, action in (("onDelete", rel.on_delete), ("onUpdate", rel.on_update)):
        if action is None:
            continue
        if action in REFERENTIAL_ACTIONS:
            result[clause] = action
        else:
            # the reference copies any token here and emits IR its own schema rejects
            shown = "end of line" if action == "\n" else f"'{action}'"
            sink.error(
                f"Relationship '{rel.name}' on entity '{entity}': {clause} expects one of "
                f"{', '.join(REFERENTIAL_ACTIONS)}, got {shown}"
            )
    return result


#: the values ir-v1.schema.json allows for ``onDelete`` / ``onUpdate``
REFERENTIAL_ACTIONS = ("cascade", "restrict", "setNull", "setDefault", "noAction")


def lower_constraint(
    c: ast.Constraint, sink: DiagnosticSink, expression: ast.Expr | None = None
) -> dict[str, Any]:
    """``expression`` overrides the written one (seed constraints with inlined computed refs)."""
    expr = expression if expression is not None else c.expression
    result: dict[str, Any] = {
        "name": c.name,
        "code": c.code if c.code is not None else c.name,
        "expression": lower_expr(expr),
        "severity": c.severity or "block",
    }
    fail_when = c.fail_when
    if fail_when is None and c.name.startswith("severity"):
        fail_when = True
        sink.warning(
            f"CONSTRAINT_POLARITY_NAME_HEURISTIC: Constraint '{c.name}' uses the legacy name-prefix "
            f"heuristic "
            "for negative polarity. Declare 'failWhen: true' explicitly and rename the constraint to "
            "suppress "
            "this warning."
        )
    check_regex(expr, sink)
    if fail_when is not None:
        result["failWhen"] = fail_when
    if c.message is not None:
        result["message"] = c.message
    if c.message_template is not None:
        result["messageTemplate"] = c.message_template
    if c.details is not None:
        result["detailsMapping"] = {key: lower_expr(value) for key, value in c.details}
    result["overrideable"] = c.overrideable
    if c.override_policy is not None:
        result["overridePolicyRef"] = c.override_policy
    return result


def check_regex(expr: ast.Expr, sink: DiagnosticSink) -> None:
    for node in walk(expr):
        if (
            type(node) is ast.Call  # node classes are final; this runs over every constraint
            and isinstance(node.callee, ast.Identifier)
            and node.callee.name == "matches"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Literal)
            and isinstance(node.args[1].value, str)
        ):
            pattern = node.args[1].value
            if not js_regex_valid(pattern):
                sink.error(f'Invalid regex pattern in matches(): "{pattern}"')


_JS_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
_JS_BACKREF = re.compile(r"\\k<([A-Za-z_][A-Za-z0-9_]*)>")


def js_regex_valid(pattern: str) -> bool:
    """Whether ``new RegExp(pattern)`` would accept ``pattern`` (checked with Python's engine
    after mapping the JavaScript-only spellings; Python-only syntax is rejected)."""
    if "(?P" in pattern:
        return False
    translated = _JS_BACKREF.sub(r"(?P=\1)", _JS_NAMED_GROUP.sub("(?P<", pattern))
    try:
        re.compile(translated)
    except re.error:
        return False
    except (OverflowError, ValueError, RecursionError):
        # a repetition count past Python's limit (2**32 - 2, or 4300 digits), or groups nested
        # past its recursion limit: JavaScript accepts both
        return True
    return True


def check_duplicate_codes(constraints: list[dict[str, Any]], scope: str, sink: DiagnosticSink) -> None:
    first: dict[str, str] = {}
    for constraint in constraints:
        code = constraint["code"]
        if code in first:
            sink.error(
                f"Duplicate constraint code '{code}' in {scope}. First defined at constraint '{first[code]}'."
            )
        else:
            first[code] = constraint["name"]
