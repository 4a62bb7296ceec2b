"""In-process store: the semantics oracle for the store contract, and the engine's default."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ..errors import StoreConflictError
from .base import NEW_ROW, StoredRow, UnitOfWork, rows_matching


class MemoryStore:
    """Rows in dicts (insertion order), revisions checked on commit under a lock."""

    def __init__(self, *, record_outbox: bool = False, record_audit: bool = False) -> None:
        # An in-process engine usually wants neither (they would grow without bound); the
        # durable stores turn both on so events and audit commit with the instance rows.
        self.records_outbox = record_outbox
        self.records_audit = record_audit
        self._tables: dict[str, dict[str, StoredRow]] = {}
        self._lock = threading.Lock()
        self.outbox: list[dict[str, Any]] = []
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.audit: list[dict[str, Any]] = []

    def load(self, entity: str, id: str) -> StoredRow | None:
        table = self._tables.get(entity)
        return table.get(id) if table is not None else None

    def scan(
        self,
        entity: str,
        where: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        table = self._tables.get(entity)
        if not table:
            return []
        rows = rows_matching((s.row for s in table.values()), where)
        end = None if limit is None else offset + limit
        return rows[offset:end] if (offset or end is not None) else rows

    def commit(self, uow: UnitOfWork) -> None:
        with self._lock:
            # Check every revision first so a conflict applies nothing.
            for w in uow.writes:
                current = self.load(w.entity, w.id)
                actual = current.revision if current is not None else NEW_ROW
                if actual != w.expected_revision:
                    raise StoreConflictError(
                        f"{w.entity}#{w.id} changed concurrently "
                        f"(expected revision {w.expected_revision}, found {actual})",
                        entity=w.entity,
                        id=w.id,
                    )
            for w in uow.writes:
                table = self._tables.setdefault(w.entity, {})
                if w.row is None:
                    table.pop(w.id, None)
                else:
                    table[w.id] = StoredRow(w.row, w.expected_revision + 1)
            self.outbox.extend(uow.outbox)
            if uow.idempotency is not None:
                key, result = uow.idempotency
                self.idempotency.setdefault(key, result)
            if uow.audit is not None:
                self.audit.append(uow.audit)

    def clear(self, entity: str) -> None:
        with self._lock:
            self._tables.pop(entity, None)

    def close(self) -> None:
        pass
