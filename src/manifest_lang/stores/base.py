"""The store protocol: what the runtime needs from a persistence backend, and nothing more.

The command pipeline reads rows while it runs and buffers every write; at the end it hands the
store ONE ``UnitOfWork`` (instance writes, outbox events, idempotency record, audit record) that
the store applies atomically or not at all. Every backend (memory, SQLite, PostgreSQL) implements
this same small protocol, so the runtime has one code path and the store suite one contract.

Rows carry a store-managed ``revision`` (an int that grows on every write). A write names the
revision it was computed from; if the row moved on in the meantime the commit fails with
``StoreConflictError`` and nothing is applied. That is what makes concurrent workers safe
without the model having to declare a version property.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..errors import InstanceExistsError

#: ``expected_revision`` of a write that creates a row (the row must not exist yet).
NEW_ROW = 0


def already_exists(entity: str, id: str) -> InstanceExistsError:
    """The error of a create whose id is taken: every store raises it, so no create replaces."""
    return InstanceExistsError(f"{entity} '{id}' already exists", entity=entity, id=id)


@dataclass(slots=True)
class RowWrite:
    """One instance write: ``row`` is the full new row, ``None`` deletes it."""

    entity: str
    id: str
    row: dict[str, Any] | None
    expected_revision: int  # NEW_ROW for a create; otherwise the revision the write was based on


class IdempotencyKey(NamedTuple):
    """An idempotency key and the tenant it belongs to: two fields, never one joined string, so
    no choice of key can reach another tenant's records ("" is the scope of tenantless callers)."""

    tenant: str
    key: str


class IdempotencyRecord(NamedTuple):
    """A completed result under a key, and the fingerprint of the request that produced it."""

    result: Any  # a ``CommandResult`` (memory) or its JSON dict
    fingerprint: str | None  # None: a record written without one (it matches any request)


class IdempotencyEntry(NamedTuple):
    """What a unit of work records under an idempotency key."""

    key: IdempotencyKey
    fingerprint: str | None
    result: dict[str, Any]


@dataclass(slots=True)
class UnitOfWork:
    """Everything one command (or one direct API write) commits together."""

    writes: list[RowWrite] = field(default_factory=list)
    #: outbox entries, each a JSON-ready dict with at least ``entryId`` and ``event``.
    outbox: list[dict[str, Any]] = field(default_factory=list)
    #: the JSON-ready CommandResult dict to record under an idempotency key, with the request's fingerprint
    idempotency: IdempotencyEntry | None = None
    #: JSON-ready audit record of the command, if auditing is on.
    audit: dict[str, Any] | None = None
    #: durable work items (``stores.work.WorkItem``) created by the command, in its transaction
    work: list[Any] = field(default_factory=list)
    #: approval request rows (``stores.work.ApprovalWrite``) written with the command
    approvals: list[Any] = field(default_factory=list)
    #: ``stores.work.WorkFinish``: the work item this command ran for ends in the same transaction
    #: (fenced by its lease: a lost lease rolls the whole unit back)
    finish: Any = None

    def is_empty(self) -> bool:
        return not (
            self.writes
            or self.outbox
            or self.idempotency
            or self.audit
            or self.work
            or self.approvals
            or self.finish is not None
        )


class StoredRow(NamedTuple):
    """A stored row and its revision (a tuple: made on every load and commit, so it must be cheap)."""

    row: dict[str, Any]
    revision: int


@runtime_checkable
class Store(Protocol):
    """A persistence backend for entity instances (plus outbox, idempotency and audit rows)."""

    #: whether the engine should put outbox entries / an audit record into each unit of work
    records_outbox: bool
    records_audit: bool

    def load(self, entity: str, id: str, *, tenant: str | None = None) -> StoredRow | None:
        """The row and its revision, or None. Callers must not mutate ``row``.

        With ``tenant``, a row whose tenant field (``tenantId`` by default) holds another value
        is not visible: the durable stores filter on an indexed tenant column."""
        ...

    def scan(
        self,
        entity: str,
        where: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        tenant: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of ``entity`` whose fields equal every value in ``where`` (insertion order),
        limited to ``tenant``'s rows when it is given."""
        ...

    def commit(self, uow: UnitOfWork) -> None:
        """Apply the unit of work atomically; raise StoreConflictError if a revision moved."""
        ...

    def clear(self, entity: str) -> None:
        """Delete every row of ``entity`` (used by ``restore``)."""
        ...

    def close(self) -> None: ...


def rows_matching(rows: Iterable[dict[str, Any]], where: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """In-memory filter shared by stores that cannot push ``where`` down."""
    if not where:
        return list(rows)
    items = tuple(where.items())
    return [r for r in rows if all(k in r and json_equal(r[k], v) for k, v in items)]


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values, as the SQL stores compare them: ``true`` is not ``1`` (Python's
    ``True == 1`` is), numbers compare by value (``1 == 1.0``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)
