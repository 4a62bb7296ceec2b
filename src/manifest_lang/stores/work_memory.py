"""Durable work in process: the ``WorkStore`` of ``MemoryStore``, same rules as the SQL stores.

Shares the store's lock, so items created by a command commit with its rows (``MemoryStore.commit``
calls ``add_locked``) and a finish appends its outbox entries atomically.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .work import (
    DEAD,
    DONE,
    FAILED,
    FINAL,
    PENDING,
    RUNNING,
    ApprovalWrite,
    WorkItem,
    WorkOutcome,
    approval_conflict,
    merge_counts,
    revision_of,
)


class MemoryWork:
    """Work items, schedule state, approval rows and rate-limit windows of one memory store."""

    def __init__(self, lock: threading.Lock, append_outbox: Callable[[list[dict[str, Any]]], None]) -> None:
        self._lock = lock
        self._append_outbox = append_outbox  # called with the lock held
        self._items: dict[str, WorkItem] = {}
        self._dedupe: set[str] = set()
        self._schedules: dict[str, float] = {}
        self._next_due: dict[str, float | None] = {}
        self.approvals: dict[str, dict[str, Any]] = {}
        self._windows: dict[str, list[float]] = {}
        self._window_expiry: dict[str, float] = {}
        self._wake = threading.Condition(threading.Lock())
        self._generation = 0

    # -- called with the store lock held -----------------------------------------------------------
    def add_locked(self, items: Sequence[WorkItem], now: float) -> int:
        added = 0
        for it in items:
            if it.id in self._items or (it.dedupe_key is not None and it.dedupe_key in self._dedupe):
                continue
            stored = copy.deepcopy(it)
            stored.status, stored.attempts, stored.created_at = PENDING, 0, now
            self._items[it.id] = stored
            if it.dedupe_key is not None:
                self._dedupe.add(it.dedupe_key)
            added += 1
        if added:
            self._notify()
        return added

    def check_approvals_locked(self, writes: Sequence[ApprovalWrite]) -> None:
        """Raise before anything is applied if a conditional write's request moved on."""
        for w in writes:
            if w.expect_revision is not None and (
                w.key not in self.approvals or revision_of(self.approvals[w.key]) != w.expect_revision
            ):
                raise approval_conflict(w.key)

    def write_approvals_locked(self, writes: Sequence[ApprovalWrite]) -> None:
        for w in writes:
            if w.request is None:
                self.approvals.pop(w.key, None)
                continue
            current = self.approvals.get(w.key)
            if (
                w.expect_revision is None
                and current is not None
                and current.get("status") == "pending"
                and w.request.get("status") == "pending"
            ):
                continue  # as the SQL stores: only a decision changes a pending request
            self.approvals[w.key] = copy.deepcopy(w.request)

    def _notify(self) -> None:
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    # -- WorkStore ---------------------------------------------------------------------------------
    def enqueue_work(self, items: Sequence[WorkItem], *, now: float) -> int:
        with self._lock:
            return self.add_locked(items, now)

    def claim_work(
        self, owner: str, *, kinds: Sequence[str] | None, limit: int, lease_seconds: float, now: float
    ) -> list[WorkItem]:
        with self._lock:
            due = [
                it
                for it in self._items.values()
                if it.status == PENDING and it.due_at <= now and (not kinds or it.kind in kinds)
            ]
            due.sort(key=lambda it: (it.due_at, it.created_at))
            claimed = []
            for it in due[:limit]:
                it.status, it.lease_owner, it.lease_expires_at = RUNNING, owner, now + lease_seconds
                it.attempts += 1
                if it.started_at is None:
                    it.started_at = now
                claimed.append(copy.deepcopy(it))
            return claimed

    def _held(self, item: WorkItem, owner: str) -> WorkItem | None:
        it = self._items.get(item.id)
        if it is None or it.status != RUNNING or it.lease_owner != owner or it.attempts != item.attempts:
            return None
        return it

    def holds_locked(self, item: WorkItem, owner: str) -> bool:
        return self._held(item, owner) is not None

    def finish_work(self, item: WorkItem, owner: str, outcome: WorkOutcome, *, now: float) -> bool:
        with self._lock:
            return self.finish_locked(item, owner, outcome, now)

    def finish_locked(self, item: WorkItem, owner: str, outcome: WorkOutcome, now: float) -> bool:
        it = self._held(item, owner)
        if it is None:
            return False
        it.status, it.result, it.last_error = outcome.status, copy.deepcopy(outcome.result), outcome.error
        it.lease_owner = it.lease_expires_at = None
        if outcome.retry_at is not None:
            it.due_at = outcome.retry_at
        it.finished_at = now if outcome.status in FINAL else None
        if outcome.outbox:
            self._append_outbox(outcome.outbox)
        if outcome.work:
            self.add_locked(outcome.work, now)
        elif outcome.status == PENDING:
            self._notify()
        return True

    def extend_work_leases(
        self, items: Sequence[WorkItem], owner: str, lease_seconds: float, *, now: float
    ) -> int:
        with self._lock:
            held = [it for it in (self._held(i, owner) for i in items) if it is not None]
            for it in held:
                it.lease_expires_at = now + lease_seconds
            return len(held)

    def release_work(self, item: WorkItem, owner: str) -> bool:
        with self._lock:
            it = self._held(item, owner)
            if it is None:
                return False
            it.status, it.attempts, it.lease_owner, it.lease_expires_at = PENDING, it.attempts - 1, None, None
            return True

    def reap_work(self, *, now: float) -> int:
        with self._lock:
            reaped = 0
            for it in self._items.values():
                if it.status == RUNNING and (it.lease_expires_at or 0) <= now:
                    it.status = DEAD if it.attempts >= it.max_attempts else PENDING
                    it.finished_at = now if it.status == DEAD else None
                    it.lease_owner = it.lease_expires_at = None
                    it.last_error = "lease expired: the worker holding it stopped or stalled"
                    reaped += 1
            return reaped

    def get_work(self, item_id: str) -> WorkItem | None:
        with self._lock:
            it = self._items.get(item_id)
            return copy.deepcopy(it) if it is not None else None

    def work_counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            tally: dict[tuple[str, str], int] = {}
            for it in self._items.values():
                tally[(it.kind, it.status)] = tally.get((it.kind, it.status), 0) + 1
        return merge_counts([(k, s, n) for (k, s), n in tally.items()])

    def list_work(
        self, *, kind: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[WorkItem]:
        with self._lock:
            found = [
                copy.deepcopy(it)
                for it in self._items.values()
                if (kind is None or it.kind == kind) and (status is None or it.status == status)
            ]
        return found[:limit]

    def requeue_dead_work(self, kind: str | None = None) -> int:
        with self._lock:
            dead = [
                it for it in self._items.values() if it.status == DEAD and (kind is None or it.kind == kind)
            ]
            for it in dead:
                it.status, it.attempts, it.finished_at = PENDING, 0, None
        if dead:
            self._notify()
        return len(dead)

    def purge_work(self, older_than: float) -> int:
        with self._lock:
            old = [
                k
                for k, it in self._items.items()
                if it.status in (DONE, FAILED) and (it.finished_at or 0) < older_than
            ]
            for k in old:
                del self._items[k]
            return len(old)

    def wait_for_work(self, timeout: float) -> bool:
        with self._wake:
            start = self._generation
            return self._wake.wait_for(lambda: self._generation != start, timeout)

    def advance_schedule(
        self, name: str, due: float, item: WorkItem, *, now: float, next_due: float | None = None
    ) -> bool:
        with self._lock:
            last = self._schedules.get(name)
            if last is None:
                self._schedules[name] = due
                self._next_due[name] = next_due
                return False
            if last >= due:
                return False
            self._schedules[name] = due
            self._next_due[name] = next_due
            self.add_locked([item], now)
            return True

    def schedule_state(self) -> dict[str, float]:
        with self._lock:
            return dict(sorted(self._schedules.items()))

    def schedule_rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"schedule": n, "lastDue": d, "nextDue": self._next_due.get(n)}
                for n, d in sorted(self._schedules.items())
            ]

    # -- approvals and rate limits -------------------------------------------------------------------
    def approval_load(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            request = self.approvals.get(key)
            return copy.deepcopy(request) if request is not None else None

    def approval_write(
        self,
        writes: Sequence[ApprovalWrite],
        *,
        now: float,
        work: Sequence[WorkItem] = (),
        outbox: Sequence[dict[str, Any]] = (),
    ) -> None:
        with self._lock:
            self.check_approvals_locked(writes)
            self.write_approvals_locked(writes)
            if outbox:
                self._append_outbox(list(outbox))
            if work:
                self.add_locked(work, now)

    def approval_list(
        self,
        *,
        entity: str | None = None,
        instance_id: str | None = None,
        status: str | None = None,
        tenant: str | None = None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            rows = [copy.deepcopy(self.approvals[k]) for k in sorted(self.approvals)]
        wanted = {"entity": entity, "instanceId": instance_id, "status": status, "tenantId": tenant}
        return [r for r in rows if all(v is None or r.get(k) == v for k, v in wanted.items())]

    def rate_limit_hit(self, key: str, now: float, window_ms: float, capacity: int) -> float | None:
        with self._lock:
            stamps = [t for t in self._windows.get(key, []) if now - t < window_ms]
            self._windows[key] = stamps
            if len(stamps) >= capacity:
                return max(0.0, stamps[0] + window_ms - now) if stamps else float(window_ms)
            stamps.append(now)
            self._window_expiry[key] = now + window_ms
            return None

    def prune_rate_limits(self, now: float) -> int:
        """Delete windows whose every call has left the window; how many."""
        with self._lock:
            idle = [k for k, at in self._window_expiry.items() if at <= now]
            for k in idle:
                self._windows.pop(k, None)
                del self._window_expiry[k]
            return len(idle)
