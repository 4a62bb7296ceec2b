"""SQLite store: one file, stdlib ``sqlite3``, safe across threads and processes.

Every write is ``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock is taken up front, so two writers
never both read-then-upgrade and deadlock, and SQLite's single writer makes per-instance commit
order equal to outbox sequence order for free. WAL lets readers run during a write. Writers of one
file in one process take turns on a process-wide lock (``_Writer``) before they ask SQLite for its
write lock, so threads queue in order instead of sleeping in SQLite's busy handler (whose
back-off sleeps were the server's p99); the busy timeout remains the wait between processes.
A command on an instance runs in one held transaction (``serialize_writers``): its reads, its
idempotency claim and its commit, as on PostgreSQL. ``synchronous=NORMAL`` (the default)
survives an application crash; a power loss can drop the last transactions (use ``FULL`` then).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, StoreError, StoreUnavailableError
from .indexes import SQLiteIndexes
from .saga_sql import saga_ddl
from .sql_common import DEFAULT_IDEMPOTENCY_TTL, Clock, SqlStore, T, split_where, storable_text
from .sql_statements import Tables, idempotency_table, quote_ident
from .work_sql import migrate
from .work_sqlite import LocalWake, claim_statement, work_migrations

_SYNC_MODES = {"OFF", "NORMAL", "FULL", "EXTRA"}
_PLAIN_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o", "readonly")


def translate(exc: sqlite3.Error) -> StoreError:
    """The one place SQLite errors become store errors."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and any(t in text.lower() for t in _TRANSIENT):
        return StoreUnavailableError(f"SQLite unavailable: {text}")
    return StoreError(f"SQLite error: {text}")


#: what sqlite3 raises for a parameter it cannot bind (an int beyond 64 bits, a lone surrogate)
_UNBINDABLE = (OverflowError, UnicodeEncodeError)


def unbindable() -> InvalidInputError:
    return InvalidInputError(
        "a value cannot be stored in SQLite: integers beyond 64 bits and strings with lone "
        "surrogates are not storable"
    )


_OPEN_STORES: weakref.WeakSet[SQLiteStore] = weakref.WeakSet()


class _Held:
    """The transaction a command holds on one file (``serialize_writers``), for its thread."""

    __slots__ = ("read", "write", "failed")

    def __init__(self, read: sqlite3.Cursor, write: sqlite3.Cursor) -> None:
        self.read = read
        self.write = write
        self.failed = False  # a statement inside failed: roll the whole transaction back


class _Writer:
    """The write side of one database file in this process: the lock its writers take in turn,
    and per thread the transaction held on it. Shared by every store object on the file, so a
    store opened twice on one file (two prefixes, or another entity's store) joins the held
    transaction instead of waiting for SQLite's lock behind its own thread."""

    __slots__ = ("lock", "local")

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self.lock = lock or threading.RLock()
        self.local = threading.local()

    def held(self) -> _Held | None:
        held: _Held | None = getattr(self.local, "held", None)
        return held


_WRITERS: dict[str, _Writer] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_for(path: str) -> _Writer:
    key = os.path.realpath(path)
    with _WRITERS_LOCK:
        writer = _WRITERS.get(key)
        if writer is None:
            writer = _WRITERS[key] = _Writer()
        return writer


def _forget_connections_after_fork() -> None:
    """In a forked child, drop every store's cached connections: the child opens its own, and
    ``close`` leaves the parent's ones alone (they belong to another process). The write locks
    are new too: a parent's thread may have held one at the fork."""
    global _WRITERS_LOCK
    _WRITERS_LOCK = threading.Lock()
    _WRITERS.clear()
    for store in list(_OPEN_STORES):
        store._local = threading.local()
        store._guard = threading.RLock()
        store._writer = _Writer(store._guard) if store._memory else _writer_for(store.path)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_connections_after_fork)


def _json_path(field: str) -> tuple[str, list[Any]] | None:
    """A JSON path as SQL: a literal for plain names (so expression indexes match), else bound.
    None for a name SQLite's path syntax cannot quote (it contains ``"``)."""
    if _PLAIN_FIELD.match(field):
        return f"'$.{field}'", []
    if '"' in field:
        return None
    return "?", ['$."' + field + '"']


class SQLiteStore(SqlStore):
    """The store protocol over one SQLite file (``":memory:"`` gives a private in-memory db)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        prefix: str = "manifest_",
        synchronous: str = "NORMAL",
        busy_timeout_ms: int = 30_000,
        tenant_field: str | None = "tenantId",
        idempotency_ttl_seconds: float | None = DEFAULT_IDEMPOTENCY_TTL,
        record_outbox: bool = True,
        record_audit: bool = True,
        audit_refusals: bool = False,
        clock: Clock = time.time,
    ) -> None:
        if synchronous.upper() not in _SYNC_MODES:
            raise StoreError(f"synchronous must be one of {sorted(_SYNC_MODES)}, not {synchronous!r}")
        self.path = str(path)
        self.synchronous = synchronous.upper()
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._memory = self.path == ":memory:"
        self._local = threading.local()
        self._conns: list[tuple[int, sqlite3.Connection]] = []  # (opening pid, connection)
        self._guard = threading.RLock()  # only for ":memory:", where all threads share one connection
        # A private in-memory database has its own writer, whose lock is the connection's guard.
        self._writer = _Writer(self._guard) if self._memory else _writer_for(self.path)
        self._wake = LocalWake()
        _OPEN_STORES.add(self)
        super().__init__(
            Tables(prefix),
            tenant_field=tenant_field,
            idempotency_ttl_seconds=idempotency_ttl_seconds,
            record_outbox=record_outbox,
            record_audit=record_audit,
            audit_refusals=audit_refusals,
            clock=clock,
        )
        if not self._memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._create_schema()

    # -- connections -----------------------------------------------------------------------------
    # One connection per (process, thread): sqlite3 objects must not cross a fork, and a forked
    # child starts with no cached connection (see ``_forget_connections_after_fork``). Each thread
    # keeps two cursors on its connection: one for reads, one for transactions, so a read never
    # disturbs a transaction's pending results. Per-call work is one thread-local attribute read.
    def _cursors(self) -> tuple[sqlite3.Cursor, sqlite3.Cursor]:
        try:
            cursors: tuple[sqlite3.Cursor, sqlite3.Cursor] = self._local.cursors
            return cursors
        except AttributeError:
            return self._open_cursors()

    def _open_cursors(self) -> tuple[sqlite3.Cursor, sqlite3.Cursor]:
        if self._memory and self._conns:
            conn = self._conns[0][1]  # all threads share the one in-memory database (under _guard)
        else:
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=self.busy_timeout_ms / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
                if not self._memory:
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            except sqlite3.Error as exc:
                raise translate(exc) from None
            with self._guard:
                self._conns.append((os.getpid(), conn))
        cursors = (conn.cursor(), conn.cursor())
        self._local.cursors = cursors
        return cursors

    def _transact(self, work: Callable[..., T], *args: Any) -> T:
        writer = self._writer
        held = writer.held()
        if held is not None:
            return _in_held(held, work, args)
        with writer.lock:
            return self._transaction(work, args)

    # Plain try/except rather than context managers: this is the per-command path.
    def _transaction(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        cur = self._cursors()[1]
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise translate(exc) from None
        try:
            result = work(cur, *args)
            cur.execute("COMMIT")
        except BaseException as exc:
            _rollback(cur)
            translated = _translated(exc)
            if translated is exc:
                raise
            raise translated from None
        return result

    @contextmanager
    def serialize_writers(self, entity: str | None, instance_id: str | None) -> Iterator[None]:
        """Run a command in ONE write transaction held by this thread: its reads, its idempotency
        claim and its commit (``_transact`` and ``_fetch`` join the held transaction). Taken under
        the file's process-wide lock, then SQLite's write lock, so what the command reads is what
        it writes over: writers of one row run one after the other instead of losing revision
        races. Rolled back if the body raises or a statement inside failed."""
        writer = self._writer
        if writer.held() is not None:
            yield  # a nested command (a reaction, a saga step) already runs in the held transaction
            return
        with writer.lock:
            read, write = self._cursors()
            try:
                write.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate(exc) from None
            held = writer.local.held = _Held(read, write)
            try:
                yield
            except BaseException:
                writer.local.held = None
                _rollback(write)
                raise
            writer.local.held = None
            if held.failed:
                _rollback(write)
                return
            try:
                write.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(write)
                raise translate(exc) from None

    def _fetch(self, stmt: str, params: Sequence[Any] = ()) -> list[Any]:
        # fetchall, never fetchone: a statement left unfinished would keep its read snapshot open,
        # and the next BEGIN IMMEDIATE on this connection could then fail with SQLITE_BUSY_SNAPSHOT.
        try:
            held = self._writer.held()
            if held is not None:
                return held.read.execute(stmt, params).fetchall()
            if self._memory:
                with self._guard:
                    return self._cursors()[0].execute(stmt, params).fetchall()
            return self._cursors()[0].execute(stmt, params).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc) from None
        except _UNBINDABLE:
            raise unbindable() from None

    def close(self) -> None:
        with self._guard:
            conns, self._conns = self._conns, []
        me = os.getpid()
        for pid, conn in conns:
            if pid != me:
                continue  # a parent's connection inherited through fork: only its owner may close it
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    # -- dialect ---------------------------------------------------------------------------------
    def _where(self, where: Mapping[str, Any], entity: str) -> tuple[list[str], list[Any], dict[str, Any]]:
        conds: list[str] = []
        params: list[Any] = []
        residual: dict[str, Any] = {}
        for field, value, scalar in split_where(where):
            if (type(value) is str and not storable_text(value)) or not storable_text(field):
                return ["1 = 0"], [], {}  # no stored row holds such a string
            quoted = _json_path(field)
            if not scalar or quoted is None:
                residual[field] = value  # containers compare in Python (key order must not matter)
                continue
            path, path_params = quoted
            jtype = f"json_type(data, {path})"
            if value is None:
                conds.append(f"{jtype} = ?")
                params += [*path_params, "null"]
            elif isinstance(value, bool):
                # json_extract gives 1/0 for true/false: that term lets a model index answer
                conds.append(f"json_extract(data, {path}) = ? AND {jtype} = ?")
                params += [*path_params, int(value), *path_params, "true" if value else "false"]
            else:
                kinds = "= 'text'" if isinstance(value, str) else "IN ('integer', 'real')"
                conds.append(f"json_extract(data, {path}) = ? AND {jtype} {kinds}")
                params += [*path_params, value, *path_params]
        return conds, params, residual

    def create_index(self, field: str) -> None:
        """An expression index on ``field`` so ``scan(where={field: ...})`` avoids a full scan."""
        if not _PLAIN_FIELD.match(field):
            raise StoreError(f"only plain field names can be indexed, not {field!r}")
        name = self.tables.index("ix_field_" + field.lower())
        self._execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {self.tables.instances} "
            f"(entity, json_extract(data, '$.{field}'))"
        )

    def _index_dialect(self) -> SQLiteIndexes:
        return SQLiteIndexes(self.tables)

    def _create_schema(self) -> None:
        t = self.tables
        statements = [
            f"CREATE TABLE IF NOT EXISTS {t.instances} (seq INTEGER PRIMARY KEY, entity TEXT NOT NULL, "
            "id TEXT NOT NULL, tenant TEXT, data TEXT NOT NULL, revision INTEGER NOT NULL, "
            "UNIQUE (entity, id))",
            f"CREATE INDEX IF NOT EXISTS {t.index('instances_tenant')} ON {t.instances} (entity, tenant)",
            # AUTOINCREMENT: a sequence number is never reused, even after old rows are purged.
            f"CREATE TABLE IF NOT EXISTS {t.outbox} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "entry_id TEXT NOT NULL UNIQUE, entity TEXT NOT NULL, instance_id TEXT NOT NULL, "
            "channel TEXT NOT NULL, name TEXT NOT NULL, tenant TEXT, event TEXT NOT NULL, enqueued_at, "
            "status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'dead')), "
            "attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, available_at REAL NOT NULL DEFAULT 0, "
            "published_at REAL)",
            f"CREATE INDEX IF NOT EXISTS {t.index('outbox_pending')} ON {t.outbox} "
            "(entity, instance_id, seq) WHERE status = 'pending'",
            f"CREATE INDEX IF NOT EXISTS {t.index('outbox_status')} ON {t.outbox} (status, seq)",
            *idempotency_table(t, "TEXT", "REAL"),
            f"CREATE TABLE IF NOT EXISTS {t.audit} (seq INTEGER PRIMARY KEY AUTOINCREMENT, record_id TEXT, "
            "occurred_at, command TEXT NOT NULL, outcome TEXT NOT NULL, tenant TEXT, record TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {t.lease} (name TEXT PRIMARY KEY, holder TEXT NOT NULL, "
            "expires_at REAL NOT NULL)",
            *saga_ddl(t, json_type="TEXT", real_type="REAL", int_type="INTEGER"),
        ]
        steps = work_migrations(t)

        def work(cur: sqlite3.Cursor) -> None:
            self._upgrade_idempotency(cur)
            _run_all(cur, statements)
            migrate(cur, t, steps, self._q)

        self._transact(work)

    def _columns(self, cur: Any, table: str) -> set[str]:
        cur.execute("SELECT name FROM pragma_table_info(?)", (table,))
        return {str(r[0]) for r in cur.fetchall()}

    # -- durable work dialect (work_sql.py) --------------------------------------------------------
    def _claim_statement(self, kinds: Sequence[str] | None) -> str:
        return claim_statement(self.tables, kinds)

    def _claim_params(
        self, owner: str, expires: float, now: float, kinds: Sequence[str] | None, limit: int
    ) -> list[Any]:
        return [owner, expires, now, now, *(kinds or ()), limit]

    def _notify_work(self, cur: Any) -> None:
        self._wake.notify()

    def wait_for_work(self, timeout: float) -> bool:
        return self._wake.wait(timeout)

    def drop_schema(self) -> None:
        """Drop this prefix's tables (tests and benchmarks)."""
        t = self.tables
        tables = t.owned()
        self._transact(_run_all, [f"DROP TABLE IF EXISTS {table}" for table in tables])

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, prefix={self.tables.prefix!r})"


def _run_all(cur: sqlite3.Cursor, statements: list[str]) -> None:
    for stmt in statements:
        cur.execute(stmt)


def _in_held(held: _Held, work: Callable[..., T], args: tuple[Any, ...]) -> T:
    """``work`` inside the held transaction: no BEGIN/COMMIT of its own; a failure rolls back
    everything the holder did."""
    try:
        return work(held.write, *args)
    except BaseException as exc:
        held.failed = True
        translated = _translated(exc)
        if translated is exc:
            raise
        raise translated from None


def _translated(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        return translate(exc)
    if isinstance(exc, _UNBINDABLE):
        return unbindable()
    return exc


def _rollback(cur: sqlite3.Cursor) -> None:
    try:
        cur.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # the transaction is already gone (SQLite rolled it back itself)


__all__ = ["SQLiteStore", "quote_ident", "translate"]
