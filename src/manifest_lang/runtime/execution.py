"""One top-level call's working state: budget, buffered writes and the data access around them.

An ``Execution`` is the evaluation runtime compiled expressions call back into (relationships,
aggregates, built-ins). It reads through the store, overlays the writes buffered so far (so a
command and the reactions it triggers see their own writes) and hands the engine ONE
``UnitOfWork`` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..expr.budget import Budget
from ..expr.compile import NOT_A_RELATION
from ..expr.values import UNDEFINED, strict_equals, to_number
from ..stores.base import NEW_ROW, RowWrite, Store, UnitOfWork
from .host import EngineHost
from .relations import resolve_relation
from .results import EmittedEvent, OverrideRequest


@dataclass(slots=True, init=False)
class CallOptions:
    """The options of one command call (the keyword arguments of ``run_command``)."""

    entity_name: str | None = None
    instance_id: str | None = None
    override_requests: list[OverrideRequest] | None = None
    correlation_id: str | None = None
    causation_id: str | None = None

    def __init__(
        self,
        entity_name: str | None = None,
        instance_id: str | None = None,
        override_requests: list[OverrideRequest] | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> None:  # written out: a dataclass-generated __init__ stays interpreted in the native build
        self.entity_name = entity_name
        self.instance_id = instance_id
        self.override_requests = override_requests
        self.correlation_id = correlation_id
        self.causation_id = causation_id


@dataclass(slots=True, init=False)
class Pending:
    row: dict[str, Any] | None
    expected_revision: int

    def __init__(self, row: dict[str, Any] | None, expected_revision: int) -> None:
        # written out: a dataclass-generated __init__ stays interpreted in the native build
        self.row = row
        self.expected_revision = expected_revision


class Execution:
    """Evaluation runtime + unit-of-work buffer of one top-level call (shared by nested commands)."""

    __slots__ = (
        "engine",
        "model",
        "store",
        "budget",
        "host",
        "pending",
        "pending_entities",
        "memo",
        "log_only",
        "reaction_depth",
        "just_created",
        "tenant_value",
        "crypto",
        "target_scope",
    )

    def __init__(self, engine: EngineHost, budget: Budget | None) -> None:
        self.engine = engine
        self.model = engine.model
        self.store = engine.store_for
        self.budget = budget
        self.host = engine
        self.pending: dict[tuple[str, str], Pending] = {}
        self.pending_entities: set[str] = set()
        self.memo: dict[tuple[str, str, str], Any] = {}
        self.log_only: list[EmittedEvent] = []  # events logged even when the call fails
        self.reaction_depth = 0
        self.just_created: set[tuple[str, str]] = set()
        self.tenant_value = engine.tenant_value() if self.model.tenant is not None else None
        self.crypto = engine.crypto
        self.target_scope = engine.target_scope

    # --- reads --------------------------------------------------------------------------------

    def load(self, entity: str, id: str, tenant: str | None = None) -> tuple[dict[str, Any] | None, int]:
        """The newest row (buffered or stored) and the store revision a write must be based on.

        ``tenant`` (see ``store_tenant``) lets the store hide another tenant's row itself."""
        p = self.pending.get((entity, id)) if self.pending else None
        if p is not None:
            return p.row, p.expected_revision
        stored = (
            self.store(entity).load(entity, id, tenant=tenant)
            if tenant
            else self.store(entity).load(entity, id)
        )
        if stored is None:
            return None, NEW_ROW
        if self.crypto is not None:
            return self.crypto.decrypt_row(entity, stored.row), stored.revision
        return stored.row, stored.revision

    def load_visible(self, entity: str, id: str) -> tuple[dict[str, Any] | None, int]:
        """``load`` with the tenant filter applied."""
        if not self.pending and self.tenant_value is None and self.crypto is None:
            stored = self.store(entity).load(entity, id)
            return (None, NEW_ROW) if stored is None else (stored.row, stored.revision)
        if self.tenant_value is None:
            return self.load(entity, id)
        row, revision = self.load(entity, id, self.store_tenant(entity))
        if row is not None and not self.tenant_allows(row):  # defence: the exact check is ours
            return None, revision
        return row, revision

    def store_tenant(self, entity: str) -> str | None:
        """The tenant to push down to ``entity``'s store, or None when the store cannot filter
        on exactly the model's tenant property (another tenant field, encrypted rows)."""
        value = self.tenant_value
        if value is None or self.crypto is not None:
            return None
        prop = self.model.tenant["property"]  # type: ignore[index]
        return value if getattr(self.store(entity), "tenant_field", None) == prop else None

    def tenant_allows(self, row: dict[str, Any]) -> bool:
        tenant = self.model.tenant
        if tenant is None or self.tenant_value is None:
            return True
        return row.get(tenant["property"]) == self.tenant_value

    def scan(self, entity: str) -> list[dict[str, Any]]:
        """Every visible row of ``entity`` (buffered writes included), in insertion order."""
        scope = self.store_tenant(entity)
        store = self.store(entity)
        # Scoped in the store (an indexed column in SQL); the Python filter below stays as defence.
        rows = store.scan(entity, tenant=scope) if scope is not None else store.scan(entity)
        if self.crypto is not None:
            rows = [self.crypto.decrypt_row(entity, r) for r in rows]
        if entity in self.pending_entities:
            rows = self._overlay(entity, rows)
        tenant = self.model.tenant
        if tenant is not None and self.tenant_value is not None:
            prop, value = tenant["property"], self.tenant_value
            rows = [r for r in rows if r.get(prop) == value]
        return rows

    def _overlay(self, entity: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[Any] = set()
        for r in rows:
            rid = r.get("id")
            p = self.pending.get((entity, rid))  # type: ignore[arg-type]
            seen.add(rid)
            if p is None:
                out.append(r)
            elif p.row is not None:
                out.append(p.row)
        for (e, rid), p in self.pending.items():
            if e == entity and rid not in seen and p.row is not None:
                out.append(p.row)
        return out

    # --- buffered writes ----------------------------------------------------------------------

    def write(self, entity: str, id: str, row: dict[str, Any] | None, expected_revision: int) -> None:
        key = (entity, id)
        p = self.pending.get(key)
        if p is None:
            self.pending[key] = Pending(row, expected_revision)
            self.pending_entities.add(entity)
        else:
            p.row = row
        self.memo.clear()

    def row_writes(self) -> list[RowWrite]:
        crypto = self.crypto
        if crypto is not None:
            return [
                RowWrite(e, i, crypto.encrypt_row(e, p.row), p.expected_revision)
                for (e, i), p in self.pending.items()
            ]
        return [RowWrite(e, i, p.row, p.expected_revision) for (e, i), p in self.pending.items()]

    # --- EvalRuntime --------------------------------------------------------------------------

    def relation(self, obj: dict[str, Any], prop: str) -> Any:
        entity = obj.get("_entity")
        em = self.model.entities.get(entity) if type(entity) is str else None
        rel = em.relations.get(prop) if em is not None else None
        if rel is None:
            return NOT_A_RELATION
        key = (em.name, obj["id"], prop)  # type: ignore[union-attr]
        if key in self.memo:
            return self.memo[key]
        value = resolve_relation(self, em, rel, obj)  # type: ignore[arg-type]
        self.memo[key] = value
        return value

    def aggregate(self, op: str, entity: str, predicates: list[tuple[str, Any]], field: str | None) -> Any:
        rows = [
            r for r in self.scan(entity) if all(strict_equals(r.get(f, UNDEFINED), v) for f, v in predicates)
        ]
        if op == "count":
            return len(rows)
        total: int | float = 0
        for r in rows:
            n = to_number(r.get(field, UNDEFINED)) if field else 0
            if n == n and n not in (float("inf"), float("-inf")):
                total += n
        return total


def new_execution(host: EngineHost, *, budget: bool = True) -> Execution:
    """A fresh execution of ``host`` (with an evaluation budget of the host's limits, or none)."""
    return Execution(host, Budget(host.limits) if budget else None)


def commit(host: EngineHost, store: Store, uow: UnitOfWork) -> None:
    """Commit ``uow`` to ``store``; with per-entity stores, the rows of the other stores first,
    each store committing its own rows (the outbox, idempotency and audit parts stay with ``store``).

    The one multi-store commit: the engine's direct writes and the top level's commands use it."""
    if uow.is_empty():
        return
    if host.multi_store:
        others: dict[int, tuple[Store, UnitOfWork]] = {}
        kept = []
        for w in uow.writes:
            target = host.store_for(w.entity)
            if target is store:
                kept.append(w)
            else:
                others.setdefault(id(target), (target, UnitOfWork()))[1].writes.append(w)
        if others:
            uow.writes = kept
            for target, part in others.values():
                target.commit(part)
            if uow.is_empty():
                return
    store.commit(uow)
