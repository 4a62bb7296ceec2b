"""Durable work items: anything that outlives one request, as rows beside the entity rows.

An async command, a schedule firing, an approval's timeout and a saga's next step are each a
``WorkItem`` (kind, tenant, payload, due time, attempts, lease, status, last error). Items are
written in the same transaction as the command that creates them (``UnitOfWork.work``), claimed
by workers with a lease (PostgreSQL ``FOR UPDATE SKIP LOCKED``, SQLite ``BEGIN IMMEDIATE``), and
finished with one ``WorkOutcome`` that commits the item's new status together with its outbox
events and follow-up items. A finish is fenced by (lease owner, attempt): a worker whose lease
expired and whose item was taken over finishes nothing.

Exactly-once effects come from the handlers, not from the queue: a handler runs its command with
``item_key(item)`` as idempotency key, recorded in the command's own transaction, so an item run
again after a crash answers from the first run's record instead of applying twice.

Every store implements ``WorkStore``: ``SqlStore`` (SQLite and PostgreSQL, ``work_sql.py``) and
``MemoryStore`` (in process, ``work_memory.py``), so tests and scripts use the same code path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import StoreConflictError, StoreError

PENDING = "pending"
RUNNING = "running"
DONE = "done"
FAILED = "failed"  # finished: the work ran and failed for good (e.g. a guard refused the job)
DEAD = "dead"  # finished: every attempt failed (dead letter); ``requeue_dead_work`` revives it
STATUSES = (PENDING, RUNNING, DONE, FAILED, DEAD)
FINAL = frozenset({DONE, FAILED, DEAD})

#: attempts of an item that does not say (a handler crash or an unavailable store counts one)
DEFAULT_MAX_ATTEMPTS = 5


class LeaseLost(StoreError):
    """Raised inside a transaction that finishes an item another worker holds now (its lease
    expired and it was taken over): the whole transaction rolls back."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"work item {item_id} is no longer held by this worker (its lease expired)")


@dataclass(slots=True)
class WorkItem:
    """One unit of durable work. Times are epoch seconds (floats)."""

    id: str
    kind: str
    payload: dict[str, Any]
    due_at: float = 0.0
    tenant: str | None = None
    #: at most one item per dedupe key ever exists (a schedule's due time, an approval's timeout)
    dedupe_key: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    attempts: int = 0
    status: str = PENDING
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    last_error: str | None = None
    result: Any = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "tenant": self.tenant,
            "dedupeKey": self.dedupe_key,
            "payload": self.payload,
            "dueAt": self.due_at,
            "status": self.status,
            "attempts": self.attempts,
            "maxAttempts": self.max_attempts,
            "leaseOwner": self.lease_owner,
            "leaseExpiresAt": self.lease_expires_at,
            "lastError": self.last_error,
            "result": self.result,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }


@dataclass(slots=True)
class WorkOutcome:
    """How a claimed item ends this attempt, committed in one transaction.

    ``status`` is final (``done`` / ``failed`` / ``dead``) or ``pending`` to run again at
    ``retry_at``. ``outbox`` entries (the store's outbox shape: ``entryId``, ``event``,
    ``enqueuedAt``) and ``work`` items commit with it, or not at all if the lease was lost.
    """

    status: str
    result: Any = None
    error: str | None = None
    retry_at: float | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    work: list[WorkItem] = field(default_factory=list)
    #: already applied inside the command's own transaction (``UnitOfWork.finish``)
    committed: bool = False


@dataclass(slots=True)
class WorkFinish:
    """A claimed item's finish, committed inside the unit of work of the command it ran."""

    item: WorkItem
    owner: str
    outcome: WorkOutcome


@dataclass(slots=True)
class ApprovalWrite:
    """An approval request row written inside a command's unit of work (None deletes it)."""

    key: str
    request: dict[str, Any] | None
    #: write only if the stored request's ``revision`` is this one (else ``StoreConflictError``
    #: and the whole transaction rolls back): two decisions at once cannot both apply
    expect_revision: int | None = None


def item_key(item: WorkItem) -> str:
    """The idempotency key an item's command runs under: the same on every attempt."""
    return f"work:{item.id}"


@runtime_checkable
class WorkStore(Protocol):
    """What workers need from a store. Implemented by ``SqlStore`` and ``MemoryStore``."""

    def enqueue_work(self, items: Sequence[WorkItem], *, now: float) -> int:
        """Insert items in one transaction (an existing dedupe key is skipped); how many."""
        ...

    def claim_work(
        self, owner: str, *, kinds: Sequence[str] | None, limit: int, lease_seconds: float, now: float
    ) -> list[WorkItem]:
        """Take up to ``limit`` due items (pending, or running with an expired lease) for ``owner``."""
        ...

    def finish_work(self, item: WorkItem, owner: str, outcome: WorkOutcome, *, now: float) -> bool:
        """Apply ``outcome`` if ``owner`` still holds ``item`` at its attempt; False if not."""
        ...

    def extend_work_leases(
        self, items: Sequence[WorkItem], owner: str, lease_seconds: float, *, now: float
    ) -> int: ...

    def release_work(self, item: WorkItem, owner: str) -> bool:
        """Give an item back unrun (shutdown): pending again, the attempt not counted."""
        ...

    def get_work(self, item_id: str) -> WorkItem | None: ...

    def work_counts(self) -> dict[str, dict[str, int]]:
        """``{kind: {status: n}}`` (every status present, zeros included)."""
        ...

    def list_work(
        self, *, kind: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[WorkItem]: ...

    def requeue_dead_work(self, kind: str | None = None) -> int: ...

    def purge_work(self, older_than: float) -> int:
        """Delete finished items finished before ``older_than``; how many."""
        ...

    def wait_for_work(self, timeout: float) -> bool:
        """Block until new work may be due or ``timeout`` passed (True if woken)."""
        ...

    def advance_schedule(
        self, name: str, due: float, item: WorkItem, *, now: float, next_due: float | None = None
    ) -> bool:
        """Record ``due`` as the schedule's last due time and enqueue ``item``, in one
        transaction, if ``due`` is later than the one recorded; False if another worker did (or
        the schedule is new: its first due time is the next one). ``next_due`` is kept for
        ``manifest worker schedules``."""
        ...

    def schedule_state(self) -> dict[str, float]:
        """``{schedule: last due time}``."""
        ...

    def schedule_rows(self) -> list[dict[str, Any]]:
        """``[{schedule, lastDue, nextDue}]`` by name."""
        ...

    def reap_work(self, *, now: float) -> int:
        """Running items whose lease expired go back to pending (dead past their attempts)."""
        ...


def blank_counts(kinds: Sequence[str] = ()) -> dict[str, dict[str, int]]:
    return {k: dict.fromkeys(STATUSES, 0) for k in kinds}


def merge_counts(rows: Sequence[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for kind, status, n in rows:
        counts.setdefault(kind, dict.fromkeys(STATUSES, 0))[status] = int(n)
    return counts


def approval_conflict(key: str) -> StoreConflictError:
    return StoreConflictError(f"approval request {key!r} was decided concurrently", approval=key)


def revision_of(request: Mapping[str, Any] | None) -> int:
    """The decision count of a request (0 for a new one): the ``expect_revision`` of the next."""
    value = request.get("revision", 0) if request is not None else 0
    return int(value) if isinstance(value, int) else 0


def approval_columns(request: Mapping[str, Any]) -> tuple[Any, ...]:
    """(tenant, entity, instance id, approval, status, expires at, revision) of a request row."""
    tenant = request.get("tenantId")
    expires = request.get("expiresAt")
    return (
        None if tenant is None else str(tenant),
        str(request.get("entity") or ""),
        None if request.get("instanceId") is None else str(request.get("instanceId")),
        str(request.get("approval") or ""),
        str(request.get("status") or ""),
        float(expires) / 1000 if isinstance(expires, int | float) else None,
        revision_of(request),
    )
