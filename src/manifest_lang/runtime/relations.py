"""Relationship traversal (``self.order.customer``) and composite-key identities.

belongsTo/ref follow the foreign key on the source row; hasOne/hasMany find the rows of the
target whose inverse belongsTo/ref points back; ``through`` goes in two hops. Results are copies
tagged with ``_entity`` so chains keep resolving. Reads go through the execution (tenant filter,
buffered writes), never through the masked read path.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..expr.values import UNDEFINED, strict_equals
from .model import CompiledModel
from .records import EntityModel, RelationModel


class Rows(Protocol):
    """The reads a traversal needs (the ``Execution`` of the call: tenant filter, buffered writes)."""

    model: CompiledModel

    def load_visible(self, entity: str, id: str) -> tuple[dict[str, Any] | None, int]: ...

    def scan(self, entity: str) -> list[dict[str, Any]]: ...


def composite_id(values: list[Any]) -> str:
    """``us-west|w1``: key values joined by ``|`` with ``%`` and ``|`` percent-encoded."""
    from ..expr.values import to_js_string

    return "|".join(to_js_string(v).replace("%", "%25").replace("|", "%7C") for v in values)


def _tag(row: dict[str, Any], entity: str) -> dict[str, Any]:
    out = dict(row)
    out["_entity"] = entity
    return out


def _missing(v: Any) -> bool:
    return v is None or v is UNDEFINED


def resolve_relation(ex: Rows, em: EntityModel, rel: RelationModel, obj: dict[str, Any]) -> Any:
    if rel.kind in ("belongsTo", "ref"):
        return _belongs_to(ex, rel, obj)
    if rel.through:
        return _through(ex, em, rel, obj)
    rows = _inverse_rows(ex, em.name, rel.target, obj)
    if rel.kind == "hasOne":
        return rows[0] if rows else None
    return rows


def _belongs_to(ex: Rows, rel: RelationModel, obj: dict[str, Any]) -> Any:
    fields = rel.fk_fields or [f"{rel.name}Id"]
    refs = rel.fk_refs or ["id"] * len(fields)
    values = [obj.get(f, UNDEFINED) for f in fields]
    if any(_missing(v) for v in values):
        return None
    if refs == ["id"] and type(values[0]) is str:
        row, _ = ex.load_visible(rel.target, values[0])
        return _tag(row, rel.target) if row is not None else None
    for row in ex.scan(rel.target):
        if all(strict_equals(row.get(r, UNDEFINED), v) for r, v in zip(refs, values, strict=False)):
            return _tag(row, rel.target)
    return None


def _inverse_rows(ex: Rows, source: str, target: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    target_model = ex.model.entities.get(target)
    inverse = None
    if target_model is not None:
        for r in target_model.relations.values():
            if r.kind in ("belongsTo", "ref") and r.target == source:
                inverse = r
                break
    if inverse is not None:
        fields = inverse.fk_fields or [f"{inverse.name}Id"]
        refs = inverse.fk_refs or ["id"] * len(fields)
    else:
        fields, refs = [f"{source.lower()}Id"], ["id"]
    wanted = [(f, obj.get(r, UNDEFINED)) for f, r in zip(fields, refs, strict=False)]
    if any(_missing(v) for _, v in wanted):
        return []
    return [
        _tag(row, target)
        for row in ex.scan(target)
        if all(strict_equals(row.get(f, UNDEFINED), v) for f, v in wanted)
    ]


def _through(ex: Rows, em: EntityModel, rel: RelationModel, obj: dict[str, Any]) -> Any:
    join = rel.through or ""
    join_rows = _inverse_rows(ex, em.name, join, obj)
    join_model = ex.model.entities.get(join)
    to_target = None
    if join_model is not None:
        for r in join_model.relations.values():
            if r.kind in ("belongsTo", "ref") and r.target == rel.target:
                to_target = r
                break
    if to_target is None:
        return [] if rel.kind == "hasMany" else None
    out: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for jr in join_rows:
        target = _belongs_to(ex, to_target, jr)
        if target is not None and target.get("id") not in seen:
            seen.add(target.get("id"))
            out.append(target)
    if rel.kind == "hasOne":
        return out[0] if out else None
    return out
