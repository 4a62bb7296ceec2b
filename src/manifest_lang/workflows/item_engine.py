"""The engine a work item's command runs on: exactly once, and finished in the same transaction.

``item_engine(run, context, on_success)`` gives a ``RuntimeEngine`` whose commands use the
idempotency key of the item and, on SQLite and PostgreSQL, a store that adds the item's finish
(``on_success(result dict, now)``, e.g. ``done`` plus a completion event) to the unit of work of
the command when it succeeds. So the command's rows and events and the item's new status commit
together, fenced by the item's lease: a worker that lost its lease cannot commit the command at
all, and a run repeated after a crash answers from the idempotency record. In memory (no
transactional record) the handler's outcome is finished by the worker afterwards, as usual.

Handlers of new kinds (saga steps, deliveries) use it the same way as jobs and schedules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..stores.base import IdempotencyKey, IdempotencyRecord
from ..stores.sql_idempotency import SqlIdempotencyStore
from ..stores.work import WorkFinish, WorkOutcome, item_key
from .kinds import ItemRun

OnSuccess = Callable[[dict[str, Any], float], WorkOutcome]


class FinishWithCommand:
    """The store the item's engine sees; ``finished`` is the outcome it committed, if any."""

    def __init__(self, store: Any, run: ItemRun, on_success: OnSuccess) -> None:
        self._store = store
        self._run = run
        self._on_success = on_success
        #: the engine's clock (set once the engine exists): event times as the engine's own
        self.now: Callable[[], float] = time.time
        self.finished: WorkOutcome | None = None
        self.records_outbox = store.records_outbox
        self.records_audit = store.records_audit
        self.audit_refusals = getattr(store, "audit_refusals", False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def commit(self, uow: Any) -> None:
        record = uow.idempotency
        if record is not None and record.key.key == item_key(self._run.item) and record.result.get("success"):
            outcome = self._on_success(record.result, self.now())
            uow.finish = WorkFinish(self._run.item, self._run.owner, outcome)
            self._store.commit(uow)
            outcome.committed = True
            self.finished = outcome
            return
        self._store.commit(uow)


class ItemIdempotency:
    """The item's idempotency record, in the command's transaction. No in-progress claim: the
    item's lease already keeps a second worker away, and the record's unique key settles a race."""

    def __init__(self, store: Any) -> None:
        self.transactional_store = store

    def lookup(self, key: IdempotencyKey) -> IdempotencyRecord | None:
        found: IdempotencyRecord | None = self.transactional_store.idempotency_lookup(key)
        return found

    def has(self, key: IdempotencyKey) -> bool:
        return self.lookup(key) is not None

    def get(self, key: IdempotencyKey) -> dict[str, Any] | None:
        record = self.lookup(key)
        return None if record is None else dict(record.result)

    def set(self, key: IdempotencyKey, result: dict[str, Any], fingerprint: str | None = None) -> None:
        self.transactional_store.idempotency_set(key, result, fingerprint)


def item_engine(
    run: ItemRun, context: dict[str, Any], on_success: OnSuccess
) -> tuple[Any, FinishWithCommand | None]:
    """(engine, finisher): run the item's command with ``idempotency_key=item_key(run.item)``;
    when ``finisher.finished`` is set after a success, return it as the handler's outcome."""
    finisher: FinishWithCommand | None = None
    options: dict[str, Any] = {}
    if isinstance(run.worker.services.idempotency, SqlIdempotencyStore) and run.owner:
        finisher = FinishWithCommand(run.worker.store, run, on_success)
        options = {"store_provider": finisher, "idempotency_store": ItemIdempotency(finisher)}
    engine = run.engine(context, **options)
    if finisher is not None:
        finisher.now = engine.now
    return engine, finisher
