"""Idempotency records in the SQL store's own table, written in the command's transaction.

The engine sees ``transactional_store is <its store>`` and puts ``(key, result)`` into the
command's ``UnitOfWork``: the record commits with the instance rows and the outbox, or not at all.
``claims_in_transaction``: the engine makes the claim inside the command's held transaction
(``serialize_writers``), so the claim, the rows, the outbox, the audit record and the result are
ONE transaction. The claim is never visible as a committed row: a concurrent request with the
same key waits for it (PostgreSQL's unique index; SQLite's write lock) and then finds the result,
or, if the first rolled back, claims the key itself; a killed request leaves nothing. Claims made
outside a held transaction (``claim``) still commit on their own and expire.
"""

from __future__ import annotations

from typing import Any

from .base import IdempotencyKey, IdempotencyRecord
from .sql_common import SqlStore


class SqlIdempotencyStore:
    """``has/get/set/claim/release`` over ``<prefix>idempotency`` of a SQLite/PostgreSQL store.

    Keys are ``(tenant, key)`` columns. Completed results expire after the store's
    ``idempotency_ttl_seconds`` (24 h by default; None: never);
    an in-progress claim after ``in_progress_ttl_seconds``, so a crashed request's key can be
    claimed again. Keep that longer than the slowest command.
    """

    #: a claim made inside the store's held transaction commits or rolls back with it
    claims_in_transaction = True

    def __init__(self, store: SqlStore, *, in_progress_ttl_seconds: float = 60.0) -> None:
        self.transactional_store = store
        self.in_progress_ttl_seconds = in_progress_ttl_seconds

    def lookup(self, key: IdempotencyKey) -> IdempotencyRecord | None:
        """The completed result of ``key`` and its request's fingerprint, or None."""
        return self.transactional_store.idempotency_lookup(key)

    def has(self, key: IdempotencyKey) -> bool:
        return self.lookup(key) is not None

    def get(self, key: IdempotencyKey) -> dict[str, Any] | None:
        record = self.lookup(key)
        return None if record is None else record.result  # type: ignore[no-any-return]

    def set(self, key: IdempotencyKey, result: dict[str, Any], fingerprint: str | None = None) -> None:
        self.transactional_store.idempotency_set(key, result, fingerprint)

    def claim(self, key: IdempotencyKey) -> bool:
        """True if this caller may execute ``key`` now (no live claim, no completed result)."""
        return self.transactional_store.idempotency_claim(key, self.in_progress_ttl_seconds)

    def release(self, key: IdempotencyKey) -> None:
        """Give up a claim (execution raised) so a retry can run."""
        self.transactional_store.idempotency_release(key)
