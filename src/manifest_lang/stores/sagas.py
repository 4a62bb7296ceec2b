"""Saga progress as a row beside the entity rows: what the stores keep for a durable saga.

A durable saga (``workflows/durable_saga.py``) is one row: its definition snapshot, the outcome
of every step and compensation so far, and its lifecycle events, as one JSON document with a
``version``. Every change is a ``SagaWrite`` inside a ``UnitOfWork``: the row is inserted in the
transaction that starts the saga, and a step's progress is written in the step command's own
transaction, checked against the version it was computed from. If the row moved (another runner
took the saga over and advanced it), the store raises ``SagaFencedError`` and the whole unit of
work, the step's instance writes included, is rolled back: a step is applied exactly when the
saga records it, whoever runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

#: saga statuses; the last four are final
RUNNING = "running"
COMPENSATING = "compensating"
COMPLETED = "completed"
COMPENSATED = "compensated"
FAILED = "failed"
ABORTED = "aborted"
FINAL_STATUSES = frozenset({COMPLETED, COMPENSATED, FAILED, ABORTED})

#: ``expected_version`` of the write that creates a saga row
NEW_SAGA = 0


@dataclass(slots=True, frozen=True)
class SagaWrite:
    """Insert (``expected_version == NEW_SAGA``) or update of one saga row."""

    saga_id: str
    expected_version: int
    name: str
    status: str
    state: Mapping[str, Any]
    tenant: str | None = None
    correlation_id: str | None = None
    #: epoch seconds
    at: float = 0.0


@dataclass(slots=True, frozen=True)
class StoredSaga:
    state: dict[str, Any]
    version: int


@runtime_checkable
class SagaStore(Protocol):
    """Reads of saga rows (writes go through ``commit`` with ``UnitOfWork.saga``)."""

    def load_saga(self, saga_id: str) -> StoredSaga | None: ...

    def list_sagas(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        tenant: str | None = None,
        correlation_id: str | None = None,
        limit: int = 100,
    ) -> list[StoredSaga]:
        """Sagas oldest first, filtered on the given columns."""
        ...


def fenced_message(write: SagaWrite, found: int | None) -> str:
    if write.expected_version == NEW_SAGA:
        return f"saga {write.saga_id!r} already exists"
    where = "is gone" if found is None else f"is at version {found}"
    return f"saga {write.saga_id!r} moved on: expected version {write.expected_version}, it {where}"
