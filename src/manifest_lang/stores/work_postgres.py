"""The PostgreSQL dialect of the durable-work tables (``work_sql.py``): DDL, claim, wake-up.

A claim is one statement: a CTE picks the next due items ``FOR UPDATE SKIP LOCKED`` (so any
number of workers each take different rows without waiting on one another) and the ``UPDATE``
stamps the lease. Every transaction that adds work runs ``pg_notify(<channel>)``, delivered at
commit; ``WorkListener`` holds one ``LISTEN`` connection per store and wakes its waiting workers,
so an item starts within milliseconds instead of a poll interval.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import psycopg

from .sql_statements import Tables, quote_ident
from .work import PENDING, RUNNING


def work_migrations(t: Tables) -> list[list[str]]:
    ix = t.index
    v1 = [
        f"CREATE TABLE IF NOT EXISTS {t.work} (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, tenant TEXT, dedupe_key TEXT UNIQUE, payload "
        "JSONB NOT NULL, "
        "due_at DOUBLE PRECISION NOT NULL, max_attempts INT NOT NULL, attempts INT NOT NULL DEFAULT 0, "
        "status TEXT NOT NULL, lease_owner TEXT, lease_expires_at DOUBLE PRECISION, last_error TEXT, "
        "result JSONB, created_at DOUBLE PRECISION, started_at DOUBLE PRECISION, finished_at DOUBLE "
        "PRECISION)",
        f"CREATE INDEX IF NOT EXISTS {ix('work_due')} ON {t.work} (due_at, seq) WHERE status = '{PENDING}'",
        f"CREATE INDEX IF NOT EXISTS {ix('work_lease')} ON {t.work} (lease_expires_at) WHERE status = "
        f"'{RUNNING}'",
        f"CREATE INDEX IF NOT EXISTS {ix('work_kind')} ON {t.work} (kind, status)",
        f"CREATE TABLE IF NOT EXISTS {t.schedules} (name TEXT PRIMARY KEY, last_due DOUBLE PRECISION "
        "NOT NULL, next_due DOUBLE PRECISION, updated_at DOUBLE PRECISION)",
        f"CREATE TABLE IF NOT EXISTS {t.approvals} (key TEXT PRIMARY KEY, tenant TEXT, entity TEXT NOT NULL, "
        "instance_id TEXT, approval TEXT NOT NULL, status TEXT NOT NULL, expires_at DOUBLE PRECISION, "
        "request JSONB NOT NULL, updated_at DOUBLE PRECISION, revision INT NOT NULL DEFAULT 0)",
        f"CREATE INDEX IF NOT EXISTS {ix('approvals_instance')} ON {t.approvals} (entity, "
        "instance_id, status)",
        f"CREATE TABLE IF NOT EXISTS {t.rate_limits} (key TEXT PRIMARY KEY, stamps JSONB NOT NULL, "
        "expires_at DOUBLE PRECISION NOT NULL)",
    ]
    return [v1]


def claim_statement(t: Tables, kinds: Sequence[str] | None) -> str:
    kind = f" AND kind IN ({', '.join('%s' for _ in kinds)})" if kinds else ""
    return (
        f"WITH next AS (SELECT seq FROM {t.work} WHERE status = '{PENDING}' AND due_at <= %s{kind} "
        "ORDER BY due_at, seq LIMIT %s FOR UPDATE SKIP LOCKED) "
        f"UPDATE {t.work} w SET status = '{RUNNING}', lease_owner = %s, lease_expires_at = %s, "
        "attempts = w.attempts + 1, started_at = COALESCE(w.started_at, %s) FROM next WHERE w.seq = next.seq "
        "RETURNING w.id, w.kind, w.tenant, w.dedupe_key, w.payload, w.due_at, w.max_attempts, w.attempts, "
        "w.status, w.lease_owner, w.lease_expires_at, w.last_error, w.result, w.created_at, w.started_at, "
        "w.finished_at"
    )


def channel_name(schema: str, prefix: str) -> str:
    """The NOTIFY channel of one store's work table (an identifier: at most 63 bytes)."""
    return f"{schema}.{prefix}work"[:63]


class WorkListener:
    """One ``LISTEN`` connection per store; ``wait`` returns when a notification arrived.

    Started on first use by a waiting worker. If the connection drops, waiters fall back to
    their timeout (a poll) while the listener reconnects.
    """

    def __init__(self, dsn: str, channel: str, connect_timeout: int) -> None:
        self._dsn, self._channel, self._connect_timeout = dsn, channel, connect_timeout
        self._cond = threading.Condition()
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conn: Any = None

    def wait(self, timeout: float) -> bool:
        self._start()
        with self._cond:
            start = self._generation
            return self._cond.wait_for(lambda: self._generation != start, timeout)

    def notify_local(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def _start(self) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._listen, name="manifest-work-listen", daemon=True)
                self._thread.start()

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self._dsn, autocommit=True, connect_timeout=self._connect_timeout
                ) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {quote_ident(self._channel)}")
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.notify_local()
            except psycopg.Error:
                self._stopping.wait(0.5)  # server restart: reconnect shortly; waiters poll meanwhile
            finally:
                self._conn = None

    def close(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=2.0)
