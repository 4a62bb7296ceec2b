"""Idempotency records in the SQL store's own table, written in the command's transaction.

The engine sees ``transactional_store is <its store>`` and puts ``(key, result)`` into the
command's ``UnitOfWork``: the record commits with the instance rows and the outbox, or not at all.
Two requests with one key: ``claim`` lets only one run; and should two run anyway (a claim that
expired), the second commit finds a completed record and its whole transaction rolls back.
"""

from __future__ import annotations

from typing import Any

from .sql_common import SqlStore


class SqlIdempotencyStore:
    """``has/get/set/claim/release`` over ``<prefix>idempotency`` of a SQLite/PostgreSQL store.

    Completed results expire after the store's ``idempotency_ttl_seconds`` (None: never);
    an in-progress claim after ``in_progress_ttl_seconds``, so a crashed request's key can be
    claimed again. Keep that longer than the slowest command.
    """

    def __init__(self, store: SqlStore, *, in_progress_ttl_seconds: float = 60.0) -> None:
        self.transactional_store = store
        self.in_progress_ttl_seconds = in_progress_ttl_seconds

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def get(self, key: str) -> dict[str, Any] | None:
        return self.transactional_store.idempotency_get(key)

    def set(self, key: str, result: dict[str, Any]) -> None:
        self.transactional_store.idempotency_set(key, result)

    def claim(self, key: str) -> bool:
        """True if this caller may execute ``key`` now (no live claim, no completed result)."""
        return self.transactional_store.idempotency_claim(key, self.in_progress_ttl_seconds)

    def release(self, key: str) -> None:
        """Give up a claim (execution raised) so a retry can run."""
        self.transactional_store.idempotency_release(key)
