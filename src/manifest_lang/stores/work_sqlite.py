"""The SQLite dialect of the durable-work tables (``work_sql.py``): DDL, claim, wake-up.

SQLite has one writer at a time: a claim is one ``UPDATE … RETURNING`` inside ``BEGIN
IMMEDIATE``, so two workers can never take the same item. There is no cross-process
notification; a worker polls (``wait_for_work`` sleeps, and is woken at once by work enqueued
through the same store object, e.g. ``manifest serve --with-worker``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from .sql_statements import Tables
from .work import PENDING, RUNNING


def work_migrations(t: Tables) -> list[list[str]]:
    ix = t.index
    v1 = [
        f"CREATE TABLE IF NOT EXISTS {t.work} (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT "
        "NULL UNIQUE, "
        "kind TEXT NOT NULL, tenant TEXT, dedupe_key TEXT UNIQUE, payload TEXT NOT NULL, due_at REAL "
        "NOT NULL, "
        "max_attempts INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL, "
        "lease_owner TEXT, lease_expires_at REAL, last_error TEXT, result TEXT, created_at REAL, "
        "started_at REAL, finished_at REAL)",
        f"CREATE INDEX IF NOT EXISTS {ix('work_due')} ON {t.work} (due_at, seq) WHERE status = '{PENDING}'",
        f"CREATE INDEX IF NOT EXISTS {ix('work_lease')} ON {t.work} (lease_expires_at) WHERE status = "
        f"'{RUNNING}'",
        f"CREATE INDEX IF NOT EXISTS {ix('work_kind')} ON {t.work} (kind, status)",
        f"CREATE TABLE IF NOT EXISTS {t.schedules} (name TEXT PRIMARY KEY, last_due REAL NOT NULL, "
        "next_due REAL, updated_at REAL)",
        f"CREATE TABLE IF NOT EXISTS {t.approvals} (key TEXT PRIMARY KEY, tenant TEXT, entity TEXT NOT NULL, "
        "instance_id TEXT, approval TEXT NOT NULL, status TEXT NOT NULL, expires_at REAL, request "
        "TEXT NOT NULL, "
        "updated_at REAL, revision INTEGER NOT NULL DEFAULT 0)",
        f"CREATE INDEX IF NOT EXISTS {ix('approvals_instance')} ON {t.approvals} (entity, "
        "instance_id, status)",
        f"CREATE TABLE IF NOT EXISTS {t.rate_limits} (key TEXT PRIMARY KEY, stamps TEXT NOT NULL, "
        "expires_at REAL NOT NULL)",
    ]
    return [v1]


def claim_statement(t: Tables, kinds: Sequence[str] | None) -> str:
    kind = f" AND kind IN ({', '.join('?' for _ in kinds)})" if kinds else ""
    return (
        f"UPDATE {t.work} SET status = '{RUNNING}', lease_owner = ?, lease_expires_at = ?, "
        "attempts = attempts + 1, started_at = COALESCE(started_at, ?) WHERE seq IN (SELECT seq FROM "
        f"{t.work} WHERE status = '{PENDING}' AND due_at <= ?{kind} ORDER BY due_at, seq LIMIT ?) "
        "RETURNING id, kind, tenant, dedupe_key, payload, due_at, max_attempts, attempts, status, "
        "lease_owner, "
        "lease_expires_at, last_error, result, created_at, started_at, finished_at"
    )


class LocalWake:
    """Wakes the waiting workers of this process when this process enqueues work."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0

    def notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        with self._cond:
            start = self._generation
            return self._cond.wait_for(lambda: self._generation != start, timeout)
