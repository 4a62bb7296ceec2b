"""The durable-work tables of the SQL stores: work items, schedule state, approvals, rate limits.

Written once for both dialects (``?`` placeholders, rewritten to ``%s`` on PostgreSQL); the
dialect supplies the DDL, the claim statement and the wake-up (``work_sqlite.py``,
``work_postgres.py``). See ``stores/work.py`` for the model.

Claiming takes only ``pending`` items whose due time has come, in due order, through a partial
index. A worker that died leaves its items ``running`` with a lease that expires: ``reap_work``
(every worker runs it now and then) turns them back to ``pending`` (or ``dead`` when the item has
used its attempts), so a killed worker's items are taken over without the claim having to look
at running items.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from .sql_statements import Tables
from .work import (
    DEAD,
    DONE,
    FAILED,
    FINAL,
    PENDING,
    RUNNING,
    ApprovalWrite,
    LeaseLost,
    WorkItem,
    WorkOutcome,
    approval_columns,
    approval_conflict,
    merge_counts,
)

Cursor = Any
T = TypeVar("T")

ITEM_COLUMNS = (
    "id, kind, tenant, dedupe_key, payload, due_at, max_attempts, attempts, status, lease_owner, "
    "lease_expires_at, last_error, result, created_at, started_at, finished_at"
)


def work_statements(t: Tables, j: str) -> dict[str, str]:
    w = t.work
    return {
        "work_insert": f"INSERT INTO {w} (id, kind, tenant, dedupe_key, payload, due_at, max_attempts, "
        f"attempts, status, created_at) VALUES (?, ?, ?, ?, {j}, ?, ?, 0, '{PENDING}', ?) ON CONFLICT "
        "DO NOTHING",
        "work_finish": f"UPDATE {w} SET status = ?, result = {j}, last_error = ?, due_at = ?, "
        "lease_owner = NULL, lease_expires_at = NULL, finished_at = ? "
        f"WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = '{RUNNING}'",
        "work_release": f"UPDATE {w} SET status = '{PENDING}', attempts = attempts - 1, lease_owner = NULL, "
        f"lease_expires_at = NULL WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = '{RUNNING}'",
        "work_extend": f"UPDATE {w} SET lease_expires_at = ? "
        f"WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = '{RUNNING}'",
        "work_reap": f"UPDATE {w} SET status = CASE WHEN attempts >= max_attempts THEN '{DEAD}' "
        f"ELSE '{PENDING}' END, lease_owner = NULL, lease_expires_at = NULL, "
        "last_error = 'lease expired: the worker holding it stopped or stalled', "
        f"finished_at = CASE WHEN attempts >= max_attempts THEN ? ELSE NULL END "
        f"WHERE status = '{RUNNING}' AND lease_expires_at <= ?",
        "work_get": f"SELECT {ITEM_COLUMNS} FROM {w} WHERE id = ?",
        "work_counts": f"SELECT kind, status, count(*) FROM {w} GROUP BY kind, status",
        "work_purge": f"DELETE FROM {w} WHERE status IN ('{DONE}', '{FAILED}') AND finished_at < ?",
        "sched_init": f"INSERT INTO {t.schedules} (name, last_due, next_due, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name) DO NOTHING",
        "sched_advance": f"UPDATE {t.schedules} SET last_due = ?, next_due = ?, updated_at = ? "
        "WHERE name = ? AND last_due < ?",
        "sched_state": f"SELECT name, last_due, next_due FROM {t.schedules} ORDER BY name",
        "appr_upsert": f"INSERT INTO {t.approvals} AS a (key, tenant, entity, instance_id, approval, status, "
        f"expires_at, revision, request, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, {j}, ?) "
        "ON CONFLICT (key) DO UPDATE SET tenant = excluded.tenant, status = excluded.status, "
        "expires_at = excluded.expires_at, revision = excluded.revision, request = excluded.request, "
        "updated_at = excluded.updated_at "
        # A pending request is only ever changed by a decision (a conditional write): the gate
        # saving the pending request it loaded again must not undo a decision made meanwhile.
        "WHERE NOT (a.status = 'pending' AND excluded.status = 'pending')",
        "appr_update_if": f"UPDATE {t.approvals} SET tenant = ?, entity = ?, instance_id = ?, approval = ?, "
        f"status = ?, expires_at = ?, revision = ?, request = {j}, updated_at = ? "
        "WHERE key = ? AND revision = ?",
        "appr_delete": f"DELETE FROM {t.approvals} WHERE key = ?",
        "appr_get": f"SELECT request FROM {t.approvals} WHERE key = ?",
        "rl_touch": f"INSERT INTO {t.rate_limits} (key, stamps, expires_at) VALUES (?, '[]', 0) "
        "ON CONFLICT (key) DO NOTHING",
        "rl_update": f"UPDATE {t.rate_limits} SET stamps = ?, expires_at = ? WHERE key = ?",
        "rl_prune": f"DELETE FROM {t.rate_limits} WHERE expires_at <= ?",
    }


class SqlWork:
    """``WorkStore`` + durable approvals + shared rate limits; mixed into ``SqlStore``."""

    tables: Tables
    _work_sql: dict[str, str]
    #: `` FOR UPDATE`` where the dialect locks rows it reads (PostgreSQL)
    _for_update = ""

    # provided by SqlStore
    def _transact(self, work: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    def _fetch(self, stmt: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _decode(self, value: Any) -> Any:
        raise NotImplementedError

    def _q(self, sql: str) -> str:
        raise NotImplementedError

    def _append_outbox(self, cur: Cursor, entries: list[dict[str, Any]], writes: list[Any]) -> None:
        raise NotImplementedError

    # dialect hooks
    def _claim_statement(self, kinds: Sequence[str] | None) -> str:
        raise NotImplementedError

    def _claim_params(
        self, owner: str, expires: float, now: float, kinds: Sequence[str] | None, limit: int
    ) -> list[Any]:
        raise NotImplementedError

    def _notify_work(self, cur: Cursor) -> None:
        """Wake waiting workers once this transaction commits."""

    def wait_for_work(self, timeout: float) -> bool:
        raise NotImplementedError

    # -- rows --------------------------------------------------------------------------------------
    def _item(self, r: Sequence[Any]) -> WorkItem:
        return WorkItem(
            id=r[0],
            kind=r[1],
            tenant=r[2],
            dedupe_key=r[3],
            payload=self._decode(r[4]),
            due_at=float(r[5]),
            max_attempts=int(r[6]),
            attempts=int(r[7]),
            status=r[8],
            lease_owner=r[9],
            lease_expires_at=None if r[10] is None else float(r[10]),
            last_error=r[11],
            result=None if r[12] is None else self._decode(r[12]),
            created_at=float(r[13] or 0),
            started_at=None if r[14] is None else float(r[14]),
            finished_at=None if r[15] is None else float(r[15]),
        )

    def _insert_work(self, cur: Cursor, items: Sequence[WorkItem], now: float) -> int:
        stmt, inserted = self._work_sql["work_insert"], 0
        for it in items:
            cur.execute(
                stmt,
                (
                    it.id,
                    it.kind,
                    it.tenant,
                    it.dedupe_key,
                    orjson.dumps(it.payload).decode(),
                    it.due_at,
                    it.max_attempts,
                    now,
                ),
            )
            inserted += max(0, int(cur.rowcount))
        if inserted:
            self._notify_work(cur)
        return inserted

    def _write_approvals(self, cur: Cursor, writes: Sequence[ApprovalWrite], now: float) -> None:
        for w in writes:
            if w.request is None:
                cur.execute(self._work_sql["appr_delete"], (w.key,))
                continue
            body = orjson.dumps(w.request).decode()
            if w.expect_revision is None:
                cur.execute(self._work_sql["appr_upsert"], (w.key, *approval_columns(w.request), body, now))
                continue
            params = (*approval_columns(w.request), body, now, w.key, w.expect_revision)
            cur.execute(self._work_sql["appr_update_if"], params)
            if cur.rowcount != 1:
                raise approval_conflict(w.key)

    # -- WorkStore ---------------------------------------------------------------------------------
    def enqueue_work(self, items: Sequence[WorkItem], *, now: float) -> int:
        return self._transact(self._insert_work, list(items), now) if items else 0

    def claim_work(
        self, owner: str, *, kinds: Sequence[str] | None, limit: int, lease_seconds: float, now: float
    ) -> list[WorkItem]:
        stmt = self._claim_statement(kinds)
        params = self._claim_params(owner, now + lease_seconds, now, kinds, limit)
        rows = self._transact(_fetch_all, stmt, params)
        return sorted((self._item(r) for r in rows), key=lambda it: (it.due_at, it.created_at))

    def finish_work(self, item: WorkItem, owner: str, outcome: WorkOutcome, *, now: float) -> bool:
        try:
            self._transact(self._finish, item, owner, outcome, now)
        except LeaseLost:
            return False
        return True

    def _finish(self, cur: Cursor, item: WorkItem, owner: str, outcome: WorkOutcome, now: float) -> None:
        final = outcome.status in FINAL
        due = outcome.retry_at if outcome.retry_at is not None else item.due_at
        result = orjson.dumps(outcome.result).decode()
        error = None if outcome.error is None else outcome.error[:2000]
        params = (outcome.status, result, error, due, now if final else None, item.id, owner, item.attempts)
        cur.execute(self._work_sql["work_finish"], params)
        if cur.rowcount != 1:
            raise LeaseLost(item.id)
        if outcome.outbox:
            self._append_outbox(cur, outcome.outbox, [])
        if outcome.work:
            self._insert_work(cur, outcome.work, now)
        elif outcome.status == PENDING:
            self._notify_work(cur)

    def extend_work_leases(
        self, items: Sequence[WorkItem], owner: str, lease_seconds: float, *, now: float
    ) -> int:
        rows = [(now + lease_seconds, it.id, owner, it.attempts) for it in items]
        return self._transact(_sum_rowcounts, self._work_sql["work_extend"], rows) if rows else 0

    def release_work(self, item: WorkItem, owner: str) -> bool:
        rows = [(item.id, owner, item.attempts)]
        released = self._transact(_sum_rowcounts, self._work_sql["work_release"], rows) == 1
        return released

    def reap_work(self, *, now: float) -> int:
        """Expired leases back to pending (dead past their attempts); how many."""
        return self._transact(_sum_rowcounts, self._work_sql["work_reap"], [(now, now)])

    def get_work(self, item_id: str) -> WorkItem | None:
        found = self._fetch(self._work_sql["work_get"], (item_id,))
        return self._item(found[0]) if found else None

    def work_counts(self) -> dict[str, dict[str, int]]:
        return merge_counts([(r[0], r[1], int(r[2])) for r in self._fetch(self._work_sql["work_counts"])])

    def list_work(
        self, *, kind: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[WorkItem]:
        conds, params = ["1 = 1"], []
        if kind is not None:
            conds.append("kind = ?")
            params.append(kind)
        if status is not None:
            conds.append("status = ?")
            params.append(status)
        stmt = (
            f"SELECT {ITEM_COLUMNS} FROM {self.tables.work} WHERE {' AND '.join(conds)} ORDER BY seq LIMIT ?"
        )
        return [self._item(r) for r in self._fetch(self._q(stmt), [*params, int(limit)])]

    def requeue_dead_work(self, kind: str | None = None) -> int:
        stmt = (
            f"UPDATE {self.tables.work} SET status = '{PENDING}', attempts = 0, finished_at = NULL "
            f"WHERE status = '{DEAD}'" + (" AND kind = ?" if kind is not None else "")
        )
        return self._transact(_rowcount_notify, self, self._q(stmt), [] if kind is None else [kind])

    def purge_work(self, older_than: float) -> int:
        return self._transact(_sum_rowcounts, self._work_sql["work_purge"], [(older_than,)])

    def advance_schedule(
        self, name: str, due: float, item: WorkItem, *, now: float, next_due: float | None = None
    ) -> bool:
        return self._transact(self._advance, name, due, item, now, next_due)

    def _advance(
        self, cur: Cursor, name: str, due: float, item: WorkItem, now: float, next_due: float | None
    ) -> bool:
        cur.execute(self._work_sql["sched_init"], (name, due, next_due, now))
        if cur.rowcount == 1:
            return False  # first sight of the schedule: its first due time is the next one
        cur.execute(self._work_sql["sched_advance"], (due, next_due, now, name, due))
        if cur.rowcount != 1:
            return False
        self._insert_work(cur, [item], now)
        return True

    def schedule_state(self) -> dict[str, float]:
        return {r[0]: float(r[1]) for r in self._fetch(self._work_sql["sched_state"])}

    def schedule_rows(self) -> list[dict[str, Any]]:
        rows = self._fetch(self._work_sql["sched_state"])
        return [
            {"schedule": r[0], "lastDue": float(r[1]), "nextDue": None if r[2] is None else float(r[2])}
            for r in rows
        ]

    # -- durable approvals (``SqlApprovalStore``) ----------------------------------------------------
    def approval_load(self, key: str) -> dict[str, Any] | None:
        found = self._fetch(self._work_sql["appr_get"], (key,))
        if not found:
            return None
        request: dict[str, Any] = self._decode(found[0][0])
        return request

    def approval_write(
        self,
        writes: Sequence[ApprovalWrite],
        *,
        now: float,
        work: Sequence[WorkItem] = (),
        outbox: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Approval rows, with their work items and outbox events, in one transaction."""
        self._transact(self._approval_work, list(writes), list(work), list(outbox), now)

    def _approval_work(
        self, cur: Cursor, writes: list[ApprovalWrite], work: list[WorkItem], outbox: list[Any], now: float
    ) -> None:
        self._write_approvals(cur, writes, now)
        if outbox:
            self._append_outbox(cur, outbox, [])
        if work:
            self._insert_work(cur, work, now)

    def approval_list(
        self,
        *,
        entity: str | None = None,
        instance_id: str | None = None,
        status: str | None = None,
        tenant: str | None = None,
    ) -> list[dict[str, Any]]:
        conds, params = ["1 = 1"], []
        for column, value in (("entity", entity), ("instance_id", instance_id), ("status", status)):
            if value is not None:
                conds.append(f"{column} = ?")
                params.append(value)
        if tenant is not None:
            conds.append("tenant = ?")
            params.append(tenant)
        stmt = f"SELECT request FROM {self.tables.approvals} WHERE {' AND '.join(conds)} ORDER BY key"
        return [self._decode(r[0]) for r in self._fetch(self._q(stmt), params)]

    # -- shared rate limits (``SqlRateLimitStore``) --------------------------------------------------
    def rate_limit_hit(self, key: str, now: float, window_ms: float, capacity: int) -> float | None:
        """Count a call in ``key``'s sliding window if there is room; else the ms until there is."""
        return self._transact(self._hit, key, now, window_ms, capacity)

    def _hit(self, cur: Cursor, key: str, now: float, window_ms: float, capacity: int) -> float | None:
        cur.execute(self._work_sql["rl_touch"], (key,))
        table = self.tables.rate_limits
        cur.execute(self._q(f"SELECT stamps FROM {table} WHERE key = ?{self._for_update}"), (key,))
        stamps = [float(t) for t in self._decode(cur.fetchone()[0]) if now - float(t) < window_ms]
        if len(stamps) >= capacity:
            retry = max(0.0, stamps[0] + window_ms - now) if stamps else float(window_ms)
            cur.execute(
                self._work_sql["rl_update"], (orjson.dumps(stamps).decode(), _expiry(stamps, window_ms), key)
            )
            return retry
        stamps.append(now)
        cur.execute(
            self._work_sql["rl_update"], (orjson.dumps(stamps).decode(), _expiry(stamps, window_ms), key)
        )
        return None

    def prune_rate_limits(self, now: float) -> int:
        """Delete windows whose every call has left the window; how many."""
        return self._transact(_sum_rowcounts, self._work_sql["rl_prune"], [(now,)])


def _expiry(stamps: list[float], window_ms: float) -> float:
    return (stamps[-1] + window_ms) if stamps else 0.0


def _fetch_all(cur: Cursor, stmt: str, params: Sequence[Any]) -> list[Any]:
    cur.execute(stmt, params)
    return list(cur.fetchall())


def _sum_rowcounts(cur: Cursor, stmt: str, rows: list[Sequence[Any]]) -> int:
    total = 0
    for row in rows:
        cur.execute(stmt, row)
        total += max(0, int(cur.rowcount))
    return total


def _rowcount_notify(cur: Cursor, store: SqlWork, stmt: str, params: Sequence[Any]) -> int:
    cur.execute(stmt, params)
    n = max(0, int(cur.rowcount))
    if n:
        store._notify_work(cur)
    return n


# -- schema versions -------------------------------------------------------------------------------
#: component name of the durable-work tables in ``<prefix>schema_version``
WORK_COMPONENT = "work"


def migrate(cur: Cursor, t: Tables, steps: Sequence[Sequence[str]], q: Callable[[str], str]) -> int:
    """Bring the durable-work tables to ``len(steps)``; returns the version found.

    ``steps[i]`` upgrades from version ``i`` to ``i + 1``. Runs in the caller's transaction (under
    its lock), so two processes opening one database at once apply each step once. A database
    written by a newer version (a version above ``len(steps)``) is left alone.
    """
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {t.schema_version} (component TEXT PRIMARY KEY, version INTEGER "
        "NOT NULL)"
    )
    cur.execute(q(f"SELECT version FROM {t.schema_version} WHERE component = ?"), (WORK_COMPONENT,))
    row = cur.fetchone()
    found = int(row[0]) if row else 0
    for version in range(found, len(steps)):
        for stmt in steps[version]:
            cur.execute(stmt)
    if found < len(steps):
        cur.execute(
            q(
                f"INSERT INTO {t.schema_version} AS v (component, version) VALUES (?, ?) "
                "ON CONFLICT (component) DO UPDATE SET version = excluded.version"
            ),
            (WORK_COMPONENT, len(steps)),
        )
    return found
