"""In-process store: the semantics oracle for the store contract, and the engine's default."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from mypy_extensions import mypyc_attr

from ..errors import StoreConflictError
from ..outbox.types import DEAD, PENDING, PUBLISHED, OutboxCounts, OutboxRow, subject_of
from .base import (
    NEW_ROW,
    IdempotencyEntry,
    IdempotencyKey,
    StoredRow,
    UnitOfWork,
    already_exists,
    rows_matching,
)


@mypyc_attr(allow_interpreted_subclasses=True)
class MemoryStore:
    """Rows in dicts (insertion order), revisions checked on commit under a lock."""

    def __init__(
        self,
        *,
        record_outbox: bool = False,
        record_audit: bool = False,
        audit_refusals: bool = False,
        tenant_field: str | None = "tenantId",
    ) -> None:
        # An in-process engine usually wants neither (they would grow without bound); the
        # durable stores turn both on so events and audit commit with the instance rows.
        self.records_outbox = record_outbox
        self.records_audit = record_audit
        #: also audit refused commands (in a transaction of their own that holds nothing else)
        self.audit_refusals = audit_refusals
        self._tables: dict[str, dict[str, StoredRow]] = {}
        self._lock = threading.Lock()
        self.outbox: list[dict[str, Any]] = []
        self.idempotency: dict[IdempotencyKey, IdempotencyEntry] = {}
        self.audit: list[dict[str, Any]] = []
        self.tenant_field = tenant_field
        # relay state of ``outbox[i]``: [status, attempts, last_error, available_at]
        self._outbox_state: list[list[Any]] = []
        self._lease: tuple[str, float] | None = None

    def load(self, entity: str, id: str, *, tenant: str | None = None) -> StoredRow | None:
        table = self._tables.get(entity)
        found = table.get(id) if table is not None else None
        if found is not None and tenant is not None and not self._in_tenant(found.row, tenant):
            return None
        return found

    def _in_tenant(self, row: Mapping[str, Any], tenant: str) -> bool:
        value = row.get(self.tenant_field) if self.tenant_field is not None else None
        return value is not None and str(value) == tenant

    def scan(
        self,
        entity: str,
        where: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        tenant: str | None = None,
    ) -> list[dict[str, Any]]:
        table = self._tables.get(entity)
        if not table:
            return []
        source = (s.row for s in table.values())
        if tenant is not None:
            source = (r for r in source if self._in_tenant(r, tenant))
        rows = rows_matching(source, where)
        end = None if limit is None else offset + limit
        return rows[offset:end] if (offset or end is not None) else rows

    def commit(self, uow: UnitOfWork) -> None:
        tables = self._tables
        with self._lock:
            # Check every revision first so a conflict applies nothing.
            for w in uow.writes:
                table = tables.get(w.entity)
                current = table.get(w.id) if table is not None else None
                actual = current.revision if current is not None else NEW_ROW
                if actual != w.expected_revision:
                    if w.expected_revision == NEW_ROW and w.row is not None:
                        raise already_exists(w.entity, w.id)
                    raise StoreConflictError(
                        f"{w.entity}#{w.id} changed concurrently "
                        f"(expected revision {w.expected_revision}, found {actual})",
                        entity=w.entity,
                        id=w.id,
                    )
            # Like the SQL stores: a key already completed rolls the whole unit of work back.
            if uow.idempotency is not None and uow.idempotency.key in self.idempotency:
                key = uow.idempotency.key
                raise StoreConflictError(
                    f"idempotency key {key.key!r} was completed by another request", idempotency_key=key.key
                )
            for w in uow.writes:
                table = tables.get(w.entity)
                if table is None:
                    table = tables[w.entity] = {}
                if w.row is None:
                    table.pop(w.id, None)
                else:
                    table[w.id] = StoredRow(w.row, w.expected_revision + 1)
            if uow.outbox:
                self.outbox.extend(uow.outbox)
                self._outbox_state.extend([PENDING, 0, None, 0.0] for _ in uow.outbox)
            if uow.idempotency is not None:
                self.idempotency.setdefault(uow.idempotency.key, uow.idempotency)
            if uow.audit is not None:
                self.audit.append(uow.audit)

    def clear(self, entity: str) -> None:
        with self._lock:
            self._tables.pop(entity, None)

    def close(self) -> None:
        pass

    # -- OutboxSource (same claim rules as the SQL stores) ---------------------------------------
    def claim_outbox(self, limit: int, *, now: float) -> list[OutboxRow]:
        with self._lock:
            blocked: set[tuple[str, str]] = set()
            claimed: list[OutboxRow] = []
            for seq, (entry, state) in enumerate(zip(self.outbox, self._outbox_state, strict=True), 1):
                if state[0] != PENDING:
                    continue
                entity, instance_id, channel, name = subject_of(entry)
                if (entity, instance_id) in blocked or state[3] > now:
                    blocked.add((entity, instance_id))
                    continue
                claimed.append(
                    OutboxRow(
                        seq,
                        str(entry["entryId"]),
                        entity,
                        instance_id,
                        channel,
                        name,
                        dict(entry.get("event") or {}),
                        entry.get("enqueuedAt"),
                        state[1],
                    )
                )
                if len(claimed) == limit:
                    break
            return claimed

    def mark_published(self, seqs: Sequence[int], *, now: float) -> None:
        with self._lock:
            for seq in seqs:
                state = self._outbox_state[seq - 1]
                state[0], state[1] = PUBLISHED, state[1] + 1

    def mark_failed(self, seq: int, error: str, *, retry_at: float, dead: bool) -> None:
        with self._lock:
            state = self._outbox_state[seq - 1]
            state[:] = [DEAD if dead else PENDING, state[1] + 1, error, retry_at]

    def outbox_counts(self) -> OutboxCounts:
        with self._lock:
            states = list(self._outbox_state)
        return OutboxCounts(
            pending=sum(1 for s in states if s[0] == PENDING),
            published=sum(1 for s in states if s[0] == PUBLISHED),
            failed=sum(1 for s in states if s[0] == PENDING and s[1] > 0),
            dead=sum(1 for s in states if s[0] == DEAD),
        )

    def pending_count(self) -> int:
        with self._lock:
            return sum(1 for s in self._outbox_state if s[0] == PENDING)

    def acquire_relay_lease(self, holder: str, ttl_seconds: float, *, now: float) -> bool:
        with self._lock:
            if self._lease is not None and self._lease[0] != holder and self._lease[1] > now:
                return False
            self._lease = (holder, now + ttl_seconds)
            return True

    def release_relay_lease(self, holder: str) -> None:
        with self._lock:
            if self._lease is not None and self._lease[0] == holder:
                self._lease = None
