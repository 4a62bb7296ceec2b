"""The algorithm both SQL stores share; ``sqlite`` and ``postgres`` only supply the dialect.

One ``commit`` is one database transaction: the instance writes (each checked against the
revision it was computed from), the outbox rows, the idempotency record and the audit record.
Statements are written once with ``?`` placeholders; the PostgreSQL subclass rewrites them to
``%s``. Every identifier comes from ``quote_ident`` and every value is a bound parameter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from ..errors import StoreConflictError, StoreError
from ..expr.values import loads_json
from ..outbox.tracecontext import EVENT_KEY as TRACE_KEY
from ..outbox.tracecontext import current_traceparent
from ..outbox.types import DEAD, PENDING, PUBLISHED, OutboxCounts, OutboxRow, subject_of
from .base import (
    NEW_ROW,
    IdempotencyEntry,
    IdempotencyKey,
    IdempotencyRecord,
    RowWrite,
    StoredRow,
    UnitOfWork,
    already_exists,
    rows_matching,
)
from .indexes import SqlIndexes, literal
from .saga_sql import SqlSagas, saga_statements
from .sql_statements import (
    Tables,
    bookkeeping_statements,
    idempotency_upgrade,
    instance_statements,
    outbox_statements,
)
from .work_sql import SqlWork, work_statements

Cursor = Any  # a DB-API cursor (sqlite3.Cursor or psycopg.Cursor)
Clock = Callable[[], float]
T = TypeVar("T")

_RELAY_LEASE = "relay"
#: default lifetime of a completed idempotency record (a retry after that executes again)
DEFAULT_IDEMPOTENCY_TTL = 24 * 3600.0
#: how often claims also delete expired idempotency records
PURGE_INTERVAL_SECONDS = 300.0


def dumps(value: Any) -> str:
    """JSON text of a row or event. Non-finite numbers become null, as JSON.stringify does."""
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:
        raise unserialisable(exc) from None


def unserialisable(exc: TypeError) -> StoreError:
    return StoreError(f"value is not JSON-serialisable: {exc}")


def conflict(entity: str, id: str, expected: int, detail: str) -> StoreConflictError:
    return StoreConflictError(
        f"{entity}#{id} changed concurrently (expected revision {expected}, {detail})",
        entity=entity,
        id=id,
    )


class SqlStore(SqlWork, SqlSagas, SqlIndexes):
    """Store protocol + outbox source + idempotency table + durable work + saga rows + the
    model's indexes over a DB-API connection."""

    #: bound-parameter form of a JSON document in an INSERT / UPDATE
    json_param = "?"
    #: the LIMIT value meaning "no limit"
    no_limit: Any = -1

    def __init__(
        self,
        tables: Tables,
        *,
        tenant_field: str | None = "tenantId",
        idempotency_ttl_seconds: float | None = DEFAULT_IDEMPOTENCY_TTL,
        record_outbox: bool = True,
        record_audit: bool = True,
        audit_refusals: bool = False,
        clock: Clock = time.time,
    ) -> None:
        self.records_outbox = record_outbox
        self.records_audit = record_audit
        #: also audit refused commands, each in a transaction that holds only that record
        self.audit_refusals = audit_refusals
        self.tenant_field = tenant_field
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.tables = tables
        self._clock = clock
        self._next_purge = 0.0
        self._sql = self._statements(tables)
        self._work_sql = {
            name: self._q(text) for name, text in work_statements(tables, self.json_param).items()
        }
        sagas = saga_statements(tables, self.json_param)
        self._saga_sql = {name: self._q(text) for name, text in sagas.items()}

    # -- dialect hooks -------------------------------------------------------------------------
    def _transact(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(cursor, *args)`` in one write transaction: committed if it returns, rolled
        back if it raises. A backend may run it again on a fresh connection if the first was dead."""
        raise NotImplementedError

    def _fetch(self, stmt: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one read-only statement."""
        raise NotImplementedError

    def _execute(self, stmt: str, params: Sequence[Any] = ()) -> int:
        """One write statement in its own transaction; its rowcount."""
        return self._transact(_rowcount, stmt, params)

    def _where(self, where: Mapping[str, Any], entity: str) -> tuple[list[str], list[Any], dict[str, Any]]:
        """(SQL conditions, their parameters, the residual filter applied in Python) of a filter
        on ``entity``'s rows."""
        raise NotImplementedError

    def _fetch_filtered(self, stmt: str, params: Sequence[Any]) -> list[Any]:
        """Rows of a filtered scan (PostgreSQL plans it for its values: see ``PostgresStore``)."""
        return self._fetch(stmt, params)

    def _decode(self, value: Any) -> Any:
        return loads_json(value)  # numbers as the doubles they are (jsonb may hold 2**64 exactly)

    def _q(self, sql: str) -> str:
        return sql

    #: whether ``_lock_subjects`` must run (False where writers are serialised anyway)
    locks_outbox_subjects = False

    def _lock_subjects(self, cur: Cursor, subjects: list[tuple[str, str]]) -> None:
        """Serialise outbox appends per instance."""

    def _columns(self, cur: Cursor, table: str) -> set[str]:
        """The column names of ``table`` (unqualified, unquoted name); empty if it does not exist."""
        raise NotImplementedError

    def _upgrade_idempotency(self, cur: Cursor) -> None:
        """Run in the schema transaction, before the tables are created: move an idempotency
        table of the first schema (keys joined with their tenant) out of the way."""
        columns = self._columns(cur, self.tables.idempotency_name)
        if columns and "tenant" not in columns:
            for stmt in idempotency_upgrade(self.tables):
                cur.execute(stmt)

    # -- statements ----------------------------------------------------------------------------
    def _statements(self, t: Tables) -> dict[str, str]:
        j = self.json_param
        sql = {**instance_statements(t, j), **outbox_statements(t, j), **bookkeeping_statements(t, j)}
        return {name: self._q(text) for name, text in sql.items()}

    # -- Store protocol ------------------------------------------------------------------------
    def load(self, entity: str, id: str, *, tenant: str | None = None) -> StoredRow | None:
        """The row, or None; with ``tenant`` a row of another tenant is not visible."""
        if tenant is None:
            found = self._fetch(self._sql["load"], (entity, id))
        else:
            found = self._fetch(self._sql["load_t"], (entity, id, tenant))
        if not found:
            return None
        data, revision = found[0]  # both drivers return an int for the integer revision column
        return StoredRow(self._decode(data), revision)

    def scan(
        self,
        entity: str,
        where: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        tenant: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of ``entity`` in insertion order whose fields equal ``where`` (pushed into SQL)."""
        conds: list[str] = ["entity = ?"]
        params: list[Any] = [entity]
        if where and entity in self.indexed_fields:
            # The model indexes' own predicate, as a literal: any plan, even one made without the
            # values, can then use them (their names are plain identifiers: ``indexes.py``).
            conds, params = [f"entity = {literal(entity)}"], []
        if tenant is not None:
            conds.append("tenant = ?")
            params.append(tenant)
        residual: dict[str, Any] = {}
        if where:
            extra, extra_params, residual = self._where(where, entity)
            conds += extra
            params += extra_params
        stmt = f"SELECT data FROM {self.tables.instances} WHERE {' AND '.join(conds)} ORDER BY seq"
        if not residual and (limit is not None or offset):
            stmt += " LIMIT ? OFFSET ?"
            params += [self.no_limit if limit is None else limit, offset]
        found = self._fetch_filtered(self._q(stmt), params) if where else self._fetch(self._q(stmt), params)
        rows = [self._decode(r[0]) for r in found]
        if residual:
            rows = rows_matching(rows, residual)
            end = None if limit is None else offset + limit
            rows = rows[offset:end]
        return rows

    def commit(self, uow: UnitOfWork) -> None:
        writes = uow.writes
        if len(writes) > 1:
            writes = _lock_order(writes)
        elif not writes and uow.is_empty():
            return
        self._transact(self._commit_work, uow, writes)

    def _commit_work(self, cur: Cursor, uow: UnitOfWork, writes: list[RowWrite]) -> None:
        try:
            for w in writes:
                self._apply_write(cur, w)
            if uow.outbox:
                self._append_outbox(cur, uow.outbox, writes)
            if uow.idempotency is not None:
                self._complete_idempotency(cur, uow.idempotency, self._clock())
            if uow.audit is not None:
                self._append_audit(cur, uow.audit)
            if uow.finish is not None:
                done = uow.finish
                self._finish(cur, done.item, done.owner, done.outcome, self._clock())
            if uow.work or uow.approvals:
                now = self._clock()
                if uow.approvals:
                    self._write_approvals(cur, uow.approvals, now)
                if uow.work:
                    self._insert_work(cur, uow.work, now)
            if uow.saga is not None:
                self._write_saga(cur, uow.saga)
        except orjson.JSONEncodeError as exc:
            raise unserialisable(exc) from None

    def clear(self, entity: str) -> None:
        self._execute(self._sql["clear"], (entity,))

    # -- commit parts --------------------------------------------------------------------------
    def _tenant_of(self, row: Mapping[str, Any]) -> str | None:
        if self.tenant_field is None:
            return None
        value = row.get(self.tenant_field)
        return None if value is None else str(value)

    # The commit parts call orjson directly (the per-command path); ``_commit_work`` turns its
    # error into a StoreError.
    def _apply_write(self, cur: Cursor, w: RowWrite) -> None:
        row, expected = w.row, w.expected_revision
        if row is None:
            if expected == NEW_ROW:
                cur.execute(self._sql["exists"], (w.entity, w.id))
                found = cur.fetchone()
                if found is not None:
                    raise conflict(w.entity, w.id, NEW_ROW, f"found {found[0]}")
                return
            cur.execute(self._sql["delete"], (w.entity, w.id, expected))
            if cur.rowcount != 1:
                raise conflict(w.entity, w.id, expected, "row moved or was deleted")
            return
        data = orjson.dumps(row).decode()
        tenant = None if self.tenant_field is None else row.get(self.tenant_field)
        if tenant is not None:
            tenant = str(tenant)
        if expected == NEW_ROW:
            cur.execute(self._sql["insert"], (w.entity, w.id, tenant, data))
            if cur.rowcount != 1:
                raise already_exists(w.entity, w.id)
            return
        cur.execute(self._sql["update"], (data, tenant, w.entity, w.id, expected))
        if cur.rowcount != 1:
            raise conflict(w.entity, w.id, expected, "row moved or was deleted")

    def _append_outbox(self, cur: Cursor, entries: list[dict[str, Any]], writes: list[RowWrite]) -> None:
        rows = []
        traceparent = current_traceparent()
        for entry in entries:
            entity, instance_id, channel, name = subject_of(entry)
            event = entry.get("event") or {}
            if traceparent is not None and isinstance(event, dict):
                event = {**event, TRACE_KEY: traceparent}
            rows.append(
                (
                    str(entry["entryId"]),
                    entity,
                    instance_id,
                    channel,
                    name,
                    self._tenant_of(event.get("payload") or {}) if isinstance(event, dict) else None,
                    orjson.dumps(event).decode(),
                    orjson.dumps(entry.get("enqueuedAt")).decode(),
                )
            )
        if self.locks_outbox_subjects:
            # Rows this transaction wrote are already locked; other subjects need a lock so that
            # per-instance commit order equals per-instance sequence order.
            others = sorted({(r[1], r[2]) for r in rows} - {(w.entity, w.id) for w in writes})
            if others:
                self._lock_subjects(cur, others)
        stmt = self._sql["outbox_insert"]
        for row in rows:  # usually one or two rows: execute() is cheaper than executemany() here
            cur.execute(stmt, row)

    def _complete_idempotency(self, cur: Cursor, entry: IdempotencyEntry, now: float) -> None:
        key = entry.key
        ttl = self.idempotency_ttl_seconds
        expires = None if ttl is None else now + ttl
        params = (key.tenant, key.key, entry.fingerprint, dumps(entry.result), expires, now)
        cur.execute(self._sql["idem_complete"], params)
        if cur.rowcount != 1:
            raise StoreConflictError(
                f"idempotency key {key.key!r} was completed by another request", idempotency_key=key.key
            )

    def _append_audit(self, cur: Cursor, audit: dict[str, Any]) -> None:
        record_id, tenant = audit.get("recordId"), audit.get("tenantId")
        cur.execute(
            self._sql["audit_insert"],
            (
                None if record_id is None else str(record_id),
                orjson.dumps(audit.get("occurredAt")).decode(),
                str(audit.get("command") or ""),
                str(audit.get("outcome") or ""),
                None if tenant is None else str(tenant),
                orjson.dumps(audit).decode(),
            ),
        )

    def audit_records(self) -> list[dict[str, Any]]:
        """Every audit record in commit order (for tests and tooling)."""
        return [self._decode(r[0]) for r in self._fetch(self._sql["audit_read"])]

    # -- outbox maintenance (``manifest outbox``) -------------------------------------------------
    def outbox_rows(self, status: str, limit: int = 100) -> list[dict[str, Any]]:
        """The oldest rows in ``status`` (e.g. ``dead``), with their last error."""
        keys = ("seq", "entryId", "entity", "instanceId", "name", "attempts", "lastError")
        return [
            dict(zip(keys, r, strict=True)) for r in self._fetch(self._sql["rows_by_status"], (status, limit))
        ]

    def requeue_dead(self) -> int:
        """Put dead-lettered rows back to pending with fresh attempts; how many."""
        return self._execute(self._sql["requeue_dead"])

    def purge_published(self, older_than_seconds: float) -> int:
        """Delete rows published more than ``older_than_seconds`` ago; how many."""
        return self._execute(self._sql["purge"], (self._clock() - older_than_seconds,))

    def purge_expired_keys(self) -> int:
        """Delete idempotency records (claims and results) past their expiry; how many."""
        return self._execute(self._sql["idem_purge"], (self._clock(),))

    # -- idempotency table (used by SqlIdempotencyStore) ---------------------------------------
    def idempotency_lookup(self, key: IdempotencyKey) -> IdempotencyRecord | None:
        found = self._fetch(self._sql["idem_get"], (key.tenant, key.key, self._clock()))
        if not found or found[0][0] != "completed":
            return None
        return IdempotencyRecord(self._decode(found[0][1]), found[0][2])

    def idempotency_claim(self, key: IdempotencyKey, ttl_seconds: float) -> bool:
        now = self._clock()
        claimed = self._execute(self._sql["idem_claim"], (key.tenant, key.key, now + ttl_seconds, now)) == 1
        if now >= self._next_purge:
            # Expired records (results and abandoned claims) go now and then, not on every call.
            self._next_purge = now + PURGE_INTERVAL_SECONDS
            self.purge_expired_keys()
        return claimed

    def idempotency_set(
        self, key: IdempotencyKey, result: dict[str, Any], fingerprint: str | None = None
    ) -> None:
        """Record a result outside a command's transaction (first completed write wins)."""
        try:
            now = self._clock()
            self._transact(self._complete_idempotency, IdempotencyEntry(key, fingerprint, result), now)
        except StoreConflictError:
            pass

    def idempotency_release(self, key: IdempotencyKey) -> None:
        self._execute(self._sql["idem_release"], (key.tenant, key.key))

    # -- OutboxSource ----------------------------------------------------------------------------
    def claim_outbox(self, limit: int, *, now: float) -> list[OutboxRow]:
        found = self._fetch(self._sql["claim"], (now, limit))
        return [
            OutboxRow(
                seq=int(r[0]),
                entry_id=r[1],
                entity=r[2],
                instance_id=r[3],
                channel=r[4],
                name=r[5],
                event=self._decode(r[6]),
                enqueued_at=self._decode(r[7]),
                attempts=int(r[8]),
            )
            for r in found
        ]

    def mark_published(self, seqs: Sequence[int], *, now: float) -> None:
        if seqs:
            stmt, rows = self._sql["published"], [(now, s) for s in seqs]
            self._transact(_executemany, stmt, rows)

    def mark_failed(self, seq: int, error: str, *, retry_at: float, dead: bool) -> None:
        self._execute(self._sql["failed"], (DEAD if dead else PENDING, error[:2000], retry_at, seq))

    def outbox_counts(self) -> OutboxCounts:
        found = self._fetch(self._sql["counts"])
        by: dict[str, int] = {PENDING: 0, PUBLISHED: 0, DEAD: 0, "failed": 0}
        for status, tried, n in found:
            by[status] = by.get(status, 0) + int(n)
            if status == PENDING and tried:
                by["failed"] += int(n)
        return OutboxCounts(by[PENDING], by[PUBLISHED], by["failed"], by[DEAD])

    def outbox_events(self, correlation_id: str) -> list[dict[str, Any]]:
        """The committed events of one workflow, in commit order (``manifest trace``, /trace).

        Added by the HTTP layer. A text LIKE narrows the rows in the database (portable across
        SQLite TEXT and PostgreSQL JSONB); the exact match on ``correlationId`` is done here.
        """
        encoded = dumps(correlation_id)[1:-1]  # as the id appears inside the stored JSON text
        pattern = "%" + encoded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        table = self.tables.outbox
        stmt = f"SELECT event FROM {table} WHERE CAST(event AS TEXT) LIKE ? ESCAPE '\\' ORDER BY seq"
        events = (self._decode(r[0]) for r in self._fetch(self._q(stmt), (pattern,)))
        return [e for e in events if isinstance(e, dict) and e.get("correlationId") == correlation_id]

    def pending_count(self) -> int:
        return int(self._fetch(self._sql["pending"])[0][0])

    def oldest_pending_enqueued_at(self) -> Any:
        """``enqueuedAt`` of the oldest pending row (the relay's lag), or None when none is pending."""
        stmt = f"SELECT enqueued_at FROM {self.tables.outbox} WHERE status = '{PENDING}' ORDER BY seq LIMIT 1"
        found = self._fetch(self._q(stmt))
        return self._decode(found[0][0]) if found else None

    def acquire_relay_lease(self, holder: str, ttl_seconds: float, *, now: float) -> bool:
        return self._execute(self._sql["lease"], (_RELAY_LEASE, holder, now + ttl_seconds, now)) == 1

    def release_relay_lease(self, holder: str) -> None:
        self._execute(self._sql["lease_release"], (_RELAY_LEASE, holder))


_INT64 = (-(2**63), 2**63 - 1)


def split_where(where: Mapping[str, Any]) -> Iterator[tuple[str, Any, bool]]:
    """(field, value, is_scalar) for each condition of a ``where`` mapping. An integer beyond
    64 bits is not a scalar here: no driver binds it, so it is compared in Python."""
    for key, value in where.items():
        if type(value) is int and not _INT64[0] <= value <= _INT64[1]:
            yield str(key), value, False
            continue
        yield str(key), value, value is None or isinstance(value, str | bool | int | float)


def storable_text(value: str) -> bool:
    """Whether a string can be a bound parameter (valid UTF-8, no NUL): one that cannot is in
    no stored row either, so a condition on it matches nothing."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _rowcount(cur: Cursor, stmt: str, params: Sequence[Any]) -> int:
    cur.execute(stmt, params)
    return int(cur.rowcount)


def _executemany(cur: Cursor, stmt: str, rows: list[Any]) -> None:
    cur.executemany(stmt, rows)


def _lock_order(writes: list[RowWrite]) -> list[RowWrite]:
    """Existing rows in a fixed lock order, so two commands touching the same rows cannot
    deadlock; then the creates in the caller's order, which is the rows' insertion order."""
    existing = sorted((w for w in writes if w.expected_revision != NEW_ROW), key=_write_key)
    return existing + [w for w in writes if w.expected_revision == NEW_ROW]


def _write_key(w: RowWrite) -> tuple[str, str]:
    return (w.entity, w.id)
