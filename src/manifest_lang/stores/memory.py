"""In-process store: the semantics oracle for the store contract, and the engine's default."""

from __future__ import annotations

import threading
import time
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
from .work import LeaseLost, WorkItem, WorkOutcome
from .work_memory import MemoryWork

_WORK_INIT = threading.Lock()


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
        # durable work in process (``stores/work_memory.py``), made on first use: most memory
        # stores are an engine's private default and never hold any
        self._work: MemoryWork | None = None

    @property
    def work(self) -> MemoryWork:
        """The work items, schedule state, approval rows and rate-limit windows of this store."""
        work = self._work
        if work is None:
            with _WORK_INIT:  # not self._lock: commit() asks for it while holding that one
                work = self._work
                if work is None:
                    work = self._work = MemoryWork(self._lock, self._append_outbox_locked)
        return work

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
            if uow.approvals:
                self.work.check_approvals_locked(uow.approvals)
            if uow.finish is not None and not self.work.holds_locked(uow.finish.item, uow.finish.owner):
                raise LeaseLost(uow.finish.item.id)
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
            if uow.approvals:
                self.work.write_approvals_locked(uow.approvals)
            if uow.work:
                self.work.add_locked(uow.work, time.time())
            if uow.finish is not None:
                self.work.finish_locked(uow.finish.item, uow.finish.owner, uow.finish.outcome, time.time())

    def _append_outbox_locked(self, entries: list[dict[str, Any]]) -> None:
        # Work and approval events carry derived entry ids: written once, as the SQL stores'
        # ON CONFLICT (entry_id) DO NOTHING does.
        known = {e.get("entryId") for e in self.outbox}
        entries = [e for e in entries if e.get("entryId") not in known]
        self.outbox.extend(entries)
        self._outbox_state.extend([PENDING, 0, None, 0.0] for _ in entries)

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

    # -- WorkStore (stores/work.py), delegated to ``self.work`` ----------------------------------
    def enqueue_work(self, items: Sequence[WorkItem], *, now: float) -> int:
        return self.work.enqueue_work(items, now=now)

    def claim_work(
        self, owner: str, *, kinds: Sequence[str] | None, limit: int, lease_seconds: float, now: float
    ) -> list[WorkItem]:
        return self.work.claim_work(owner, kinds=kinds, limit=limit, lease_seconds=lease_seconds, now=now)

    def finish_work(self, item: WorkItem, owner: str, outcome: WorkOutcome, *, now: float) -> bool:
        return self.work.finish_work(item, owner, outcome, now=now)

    def extend_work_leases(
        self, items: Sequence[WorkItem], owner: str, lease_seconds: float, *, now: float
    ) -> int:
        return self.work.extend_work_leases(items, owner, lease_seconds, now=now)

    def release_work(self, item: WorkItem, owner: str) -> bool:
        return self.work.release_work(item, owner)

    def reap_work(self, *, now: float) -> int:
        return self.work.reap_work(now=now)

    def get_work(self, item_id: str) -> WorkItem | None:
        return self.work.get_work(item_id)

    def work_counts(self) -> dict[str, dict[str, int]]:
        return self.work.work_counts()

    def list_work(
        self, *, kind: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[WorkItem]:
        return self.work.list_work(kind=kind, status=status, limit=limit)

    def requeue_dead_work(self, kind: str | None = None) -> int:
        return self.work.requeue_dead_work(kind)

    def purge_work(self, older_than: float) -> int:
        return self.work.purge_work(older_than)

    def wait_for_work(self, timeout: float) -> bool:
        return self.work.wait_for_work(timeout)

    def advance_schedule(
        self, name: str, due: float, item: WorkItem, *, now: float, next_due: float | None = None
    ) -> bool:
        return self.work.advance_schedule(name, due, item, now=now, next_due=next_due)

    def schedule_state(self) -> dict[str, float]:
        return self.work.schedule_state()

    def schedule_rows(self) -> list[dict[str, Any]]:
        return self.work.schedule_rows()

    # -- durable approvals and shared rate limits (as the SQL stores' ``SqlWork``) ------------------
    def approval_load(self, key: str) -> dict[str, Any] | None:
        return self.work.approval_load(key)

    def approval_write(
        self,
        writes: Sequence[Any],
        *,
        now: float,
        work: Sequence[WorkItem] = (),
        outbox: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.work.approval_write(writes, now=now, work=work, outbox=outbox)

    def approval_list(
        self,
        *,
        entity: str | None = None,
        instance_id: str | None = None,
        status: str | None = None,
        tenant: str | None = None,
    ) -> list[dict[str, Any]]:
        return self.work.approval_list(entity=entity, instance_id=instance_id, status=status, tenant=tenant)

    def rate_limit_hit(self, key: str, now: float, window_ms: float, capacity: int) -> float | None:
        return self.work.rate_limit_hit(key, now, window_ms, capacity)

    def prune_rate_limits(self, now: float) -> int:
        return self.work.prune_rate_limits(now)
