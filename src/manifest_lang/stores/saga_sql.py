"""Saga rows in the SQL stores: ``<prefix>sagas``, written inside a command's transaction.

The progress write of a step is ONE statement in the step's transaction: an ``UPDATE`` checked
against the version the runner read (``WHERE saga_id = ? AND version = ?``). No row updated means
another runner moved the saga on: ``SagaFencedError``, and the transaction (the step's instance
writes and outbox rows with it) rolls back. Under PostgreSQL's READ COMMITTED a concurrent writer
of the same saga row waits for the row lock, re-checks the version and finds it moved; SQLite has
one writer at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ..errors import SagaFencedError
from .sagas import NEW_SAGA, SagaWrite, StoredSaga, fenced_message
from .sql_statements import Tables

Cursor = Any


def saga_statements(t: Tables, j: str) -> dict[str, str]:
    return {
        "saga_insert": f"INSERT INTO {t.sagas} (saga_id, name, tenant, status, correlation_id, version, "
        f"state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, {j}, ?, ?) "
        "ON CONFLICT (saga_id) DO NOTHING",
        "saga_update": f"UPDATE {t.sagas} SET status = ?, state = {j}, version = version + 1, updated_at = ? "
        "WHERE saga_id = ? AND version = ?",
        "saga_version": f"SELECT version FROM {t.sagas} WHERE saga_id = ?",
        "saga_load": f"SELECT state, version FROM {t.sagas} WHERE saga_id = ?",
    }


def saga_ddl(t: Tables, *, json_type: str, real_type: str, int_type: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {t.sagas} (saga_id TEXT PRIMARY KEY, name TEXT NOT NULL, tenant TEXT, "
        f"status TEXT NOT NULL, correlation_id TEXT, version {int_type} NOT NULL, "
        f"state {json_type} NOT NULL, "
        f"created_at {real_type} NOT NULL, updated_at {real_type} NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {t.index('sagas_status')} ON {t.sagas} (status, created_at)",
        f"CREATE INDEX IF NOT EXISTS {t.index('sagas_correlation')} ON {t.sagas} (correlation_id)",
    ]


class SqlSagas:
    """The saga half of ``SqlStore`` (which supplies ``_fetch``, ``_decode``, ``_q``)."""

    tables: Tables
    _saga_sql: dict[str, str]

    def _fetch(self, stmt: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _decode(self, value: Any) -> Any:
        raise NotImplementedError

    def _q(self, sql: str) -> str:
        raise NotImplementedError

    def _write_saga(self, cur: Cursor, write: SagaWrite) -> None:
        state = orjson.dumps(write.state).decode()
        if write.expected_version == NEW_SAGA:
            params: tuple[Any, ...] = (
                write.saga_id,
                write.name,
                write.tenant,
                write.status,
                write.correlation_id,
                state,
                write.at,
                write.at,
            )
            cur.execute(self._saga_sql["saga_insert"], params)
        else:
            params = (write.status, state, write.at, write.saga_id, write.expected_version)
            cur.execute(self._saga_sql["saga_update"], params)
        if cur.rowcount == 1:
            return
        cur.execute(self._saga_sql["saga_version"], (write.saga_id,))
        found = cur.fetchone()
        raise SagaFencedError(
            fenced_message(write, None if found is None else int(found[0])), saga_id=write.saga_id
        )

    def load_saga(self, saga_id: str) -> StoredSaga | None:
        found = self._fetch(self._saga_sql["saga_load"], (saga_id,))
        if not found:
            return None
        return StoredSaga(self._decode(found[0][0]), int(found[0][1]))

    def list_sagas(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        tenant: str | None = None,
        correlation_id: str | None = None,
        limit: int = 100,
    ) -> list[StoredSaga]:
        conds: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("status", status),
            ("name", name),
            ("tenant", tenant),
            ("correlation_id", correlation_id),
        ):
            if value is not None:
                conds.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        stmt = f"SELECT state, version FROM {self.tables.sagas}{where} ORDER BY created_at, saga_id LIMIT ?"
        rows = self._fetch(self._q(stmt), [*params, int(limit)])
        return [StoredSaga(self._decode(r[0]), int(r[1])) for r in rows]
