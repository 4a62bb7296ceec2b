"""PostgreSQL store: psycopg 3 with a connection pool, JSONB rows, one transaction per commit.

Rows are JSONB (the model's properties change with the model; typed columns would need a
migration per model change) with a GIN ``jsonb_path_ops`` index, so ``scan(where=...)`` becomes
``data @> '{...}'`` and uses the index. The revision check is ``UPDATE … WHERE revision = %s``
under READ COMMITTED: a concurrent writer of the same row waits for the row lock, re-checks the
revision and finds it moved, so exactly one of two racing commands commits.

A connection that died while idle in the pool (server restart, ``pg_terminate_backend``) is
detected on first use; the transaction had not been committed, so it is run again on a fresh
connection. A connection lost *during* COMMIT leaves the outcome unknown: that is reported as
``StoreUnavailableError`` and never retried here, because re-running a committed command would
apply it twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.types.json import set_json_loads
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra(exc.name or "psycopg", "postgres") from exc

from ..errors import StoreConflictError, StoreError, StoreUnavailableError
from ..expr.values import loads_json
from .indexes import PostgresIndexes, postgres_condition
from .saga_sql import saga_ddl
from .sql_common import (
    DEFAULT_IDEMPOTENCY_TTL,
    Clock,
    Cursor,
    SqlStore,
    T,
    dumps,
    split_where,
    storable_text,
)
from .sql_statements import Tables, idempotency_table, quote_ident
from .work_postgres import WorkListener, channel_name, claim_statement, work_migrations
from .work_sql import migrate

_CONFLICTS = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.LockNotAvailable)


def translate(exc: BaseException) -> StoreError:
    """The one place psycopg errors become store errors."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, _CONFLICTS):
        # The server's text (process ids, lock names) stays out of the message: it reaches clients.
        kind = type(exc).__name__
        return StoreConflictError(f"PostgreSQL transaction conflict ({kind}); the command may be retried")
    if isinstance(exc, PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailableError(f"PostgreSQL unavailable: {str(exc).strip()}")
    return StoreError(f"PostgreSQL error: {str(exc).strip()}")


def _connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not isinstance(
        exc, _CONFLICTS
    )


def _configure(conn: psycopg.Connection[Any]) -> None:
    # jsonb keeps a number's decimal text (9223372036854776000 for the double 2**63): read it back
    # as JavaScript would, a double, never a Python big int (nor orjson's error past 2**64).
    set_json_loads(loads_json, conn)


class _Pin:
    """The held transaction of one command (``serialize_writers``)."""

    __slots__ = ("conn", "started", "failed", "committing")

    def __init__(self) -> None:
        self.conn: Any = None
        self.started = False  # the lock is held and the command runs: never run it again here
        self.failed = False
        self.committing = False


class PostgresStore(SqlStore):
    """The store protocol over PostgreSQL tables ``<schema>.<prefix>instances`` etc."""

    json_param = "?::jsonb"
    no_limit = None
    locks_outbox_subjects = True
    _for_update = " FOR UPDATE"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        prefix: str = "manifest_",
        pool_size: int = 4,
        pool_timeout: float = 10.0,
        connect_timeout: int = 5,
        prepare_threshold: int | None = 5,
        tenant_field: str | None = "tenantId",
        idempotency_ttl_seconds: float | None = DEFAULT_IDEMPOTENCY_TTL,
        record_outbox: bool = True,
        record_audit: bool = True,
        audit_refusals: bool = False,
        clock: Clock = time.time,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        super().__init__(
            Tables(prefix, schema),
            tenant_field=tenant_field,
            idempotency_ttl_seconds=idempotency_ttl_seconds,
            record_outbox=record_outbox,
            record_audit=record_audit,
            audit_refusals=audit_refusals,
            clock=clock,
        )
        self._lock_namespace = f"{schema}.{prefix}"
        #: per thread: the connection of a command that holds its instance (see ``serialize_writers``)
        self._pinned = threading.local()
        #: ``application_name`` of this store's connections (operators can find them in pg_stat_activity)
        self.application_name = f"manifest:{schema}.{prefix}"[:63]
        # Server-side prepared statements after 5 runs (psycopg's default); None turns them off,
        # for PgBouncer in transaction mode before 1.21.
        self._prepare_threshold = prepare_threshold
        self._pool = self._open_pool(pool_size, pool_timeout, connect_timeout)
        self._attempts = max(1, pool_size) + 1
        self._channel = channel_name(schema, prefix)
        self._listener = WorkListener(dsn, self._channel, connect_timeout)
        self._create_schema()

    def _open_pool(self, size: int, timeout: float, connect_timeout: int) -> ConnectionPool[Any]:
        pool: ConnectionPool[Any] = ConnectionPool(
            self.dsn,
            min_size=1,
            max_size=max(1, size),
            timeout=timeout,
            kwargs={
                "autocommit": True,
                "connect_timeout": connect_timeout,
                "prepare_threshold": self._prepare_threshold,
                "application_name": self.application_name,
            },
            configure=_configure,
            open=False,
            name=self.application_name,
        )
        try:
            # One direct connection first: a wrong DSN or a stopped server fails in
            # ``connect_timeout`` with the driver's message, not after the pool's retries.
            psycopg.connect(self.dsn, connect_timeout=connect_timeout).close()
            pool.open(wait=True, timeout=timeout)
        except Exception as exc:  # PoolTimeout, or a bad DSN
            pool.close()
            raise translate(exc) from None
        return pool

    # -- dialect ---------------------------------------------------------------------------------
    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _decode(self, value: Any) -> Any:
        return loads_json(value) if isinstance(value, str | bytes) else value

    # -- writers of one instance, one after the other ----------------------------------------------
    @contextmanager
    def serialize_writers(self, entity: str | None, instance_id: str | None) -> Iterator[None]:
        """Run a command on ``entity``/``instance_id`` holding that instance: one transaction on one
        connection takes a transaction-scoped advisory lock on it (the key of the outbox subject
        lock), then the command's reads and its commit run in that transaction. Two commands on one
        hot row thus run one after the other, the second reading what the first committed, instead
        of both computing from the same revision and one losing the race (a 409 after the re-runs).
        Optimistic revision checks stay: they still catch writes to the other rows a command touches.
        Without an instance (a create, a top-level command with an idempotency key) the transaction
        is held without the lock: the command's idempotency claim then commits with its rows.
        """
        if getattr(self._pinned, "pin", None) is not None:
            yield  # a nested command (a reaction, a saga step) already runs in the held transaction
            return
        pin = _Pin()
        lock_key = None if instance_id is None else f"{self._lock_namespace}\x1f{entity}\x1f{instance_id}"
        for attempt in range(self._attempts):
            try:
                with self._pool.connection() as conn:
                    with conn.transaction() as tx:
                        if lock_key is not None:
                            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,))
                        pin.conn, pin.started = conn, True
                        self._pinned.pin = pin
                        try:
                            yield
                        finally:
                            self._pinned.pin = None
                        if pin.failed:
                            raise psycopg.Rollback(tx)  # a commit inside lost a race: write none of it
                        pin.committing = True
                return
            except psycopg.Error as exc:
                if not pin.started and _connection_lost(exc) and attempt + 1 < self._attempts:
                    self._pool.check()  # an idle connection had died: nothing ran yet, take another
                    continue
                if pin.committing and _connection_lost(exc):
                    raise StoreUnavailableError(
                        "PostgreSQL connection lost during COMMIT; outcome unknown"
                    ) from None
                raise translate(exc) from None

    def _transact(self, work: Callable[..., T], *args: Any) -> T:
        pin = getattr(self._pinned, "pin", None)
        if pin is not None:
            try:
                with pin.conn.cursor() as cur:
                    return work(cur, *args)
            except BaseException as exc:
                pin.failed = True
                if isinstance(exc, StoreError) or not isinstance(exc, Exception):
                    raise
                raise translate(exc) from None
        for attempt in range(self._attempts):
            committing = False
            try:
                with self._pool.connection() as conn:
                    with conn.transaction():
                        with conn.cursor() as cur:
                            result = work(cur, *args)
                        committing = True
                return result
            except StoreError:
                raise
            except Exception as exc:
                if committing and _connection_lost(exc):
                    raise StoreUnavailableError(
                        f"PostgreSQL connection lost during COMMIT; outcome unknown: {str(exc).strip()}"
                    ) from None
                if not _connection_lost(exc) or attempt + 1 == self._attempts:
                    raise translate(exc) from None
                self._pool.check()  # drop the other dead idle connections before retrying
        raise AssertionError("unreachable")

    def _fetch(self, stmt: str, params: Sequence[Any] = (), prepare: bool | None = None) -> list[Any]:
        pin = getattr(self._pinned, "pin", None)
        if pin is not None:
            try:
                found: list[Any] = pin.conn.execute(stmt, params, prepare=prepare).fetchall()
                return found
            except Exception as exc:
                pin.failed = True
                raise translate(exc) from None
        for attempt in range(self._attempts):
            try:
                with self._pool.connection() as conn:
                    rows: list[Any] = conn.execute(stmt, params, prepare=prepare).fetchall()
                    return rows
            except Exception as exc:
                if not _connection_lost(exc) or attempt + 1 == self._attempts:
                    raise translate(exc) from None
                self._pool.check()
        raise AssertionError("unreachable")

    def _fetch_filtered(self, stmt: str, params: Sequence[Any]) -> list[Any]:
        # A containment test is never a prepared statement: after five runs its generic plan,
        # made without the values, may walk the list order instead of the GIN index. A filter on
        # model indexes only may be prepared: its generic plan uses them too (the partial index's
        # entity is a literal, the key a parameter).
        return self._fetch(stmt, params, prepare=False if "@>" in stmt else None)

    def _where(self, where: Mapping[str, Any], entity: str) -> tuple[list[str], list[Any], dict[str, Any]]:
        contained: dict[str, Any] = {}
        conds: list[str] = []
        params: list[Any] = []
        residual: dict[str, Any] = {}
        indexed = self.indexed_fields.get(entity, ())
        for field, value, scalar in split_where(where):
            if (type(value) is str and not storable_text(value)) or not storable_text(field):
                return ["1 = 0"], [], {}  # no stored row holds such a string
            if type(value) is int and not scalar:
                residual[field] = value  # beyond 64 bits: compared in Python
            elif scalar and field in indexed:
                conds.append(postgres_condition(field))  # the model index's expression
                params += [dumps(value)] * 2
            elif scalar:
                contained[field] = value  # one containment test, answered by the GIN index
            else:
                conds.append("data -> ? = ?::jsonb")
                params += [field, dumps(value)]
        if contained:
            conds.insert(0, "data @> ?::jsonb")
            params.insert(0, dumps(contained))
        return conds, params, residual

    def _lock_subjects(self, cur: Cursor, subjects: list[tuple[str, str]]) -> None:
        # A transaction-scoped advisory lock per instance: two commands that emit events for one
        # instance without writing its row still append to the outbox one after the other.
        for entity, instance_id in subjects:
            key = f"{self._lock_namespace}\x1f{entity}\x1f{instance_id}"
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))

    # -- schema ----------------------------------------------------------------------------------
    def _create_schema(self) -> None:
        t = self.tables
        ix = t.index
        statements = [
            f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}",
            f"CREATE TABLE IF NOT EXISTS {t.instances} (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "entity TEXT NOT NULL, id TEXT NOT NULL, tenant TEXT, data JSONB NOT NULL, "
            "revision BIGINT NOT NULL, UNIQUE (entity, id))",
            f"CREATE INDEX IF NOT EXISTS {ix('instances_scan')} ON {t.instances} (entity, seq)",
            f"CREATE INDEX IF NOT EXISTS {ix('instances_tenant')} ON {t.instances} (entity, tenant, seq)",
            f"CREATE INDEX IF NOT EXISTS {ix('instances_data')} ON {t.instances} "
            "USING GIN (data jsonb_path_ops)",
            f"CREATE TABLE IF NOT EXISTS {t.outbox} (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "entry_id TEXT NOT NULL UNIQUE, entity TEXT NOT NULL, instance_id TEXT NOT NULL, "
            "channel TEXT NOT NULL, name TEXT NOT NULL, tenant TEXT, event JSONB NOT NULL, "
            "enqueued_at JSONB, "
            "status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'dead')), "
            "attempts INT NOT NULL DEFAULT 0, last_error TEXT, "
            "available_at DOUBLE PRECISION NOT NULL DEFAULT 0, "
            "published_at DOUBLE PRECISION)",
            f"CREATE INDEX IF NOT EXISTS {ix('outbox_pending')} ON {t.outbox} "
            "(entity, instance_id, seq) WHERE status = 'pending'",
            f"CREATE INDEX IF NOT EXISTS {ix('outbox_pending_seq')} ON {t.outbox} (seq) "
            "WHERE status = 'pending'",
            *idempotency_table(t, "JSONB", "DOUBLE PRECISION"),
            f"CREATE TABLE IF NOT EXISTS {t.audit} (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "record_id TEXT, occurred_at JSONB, command TEXT NOT NULL, outcome TEXT NOT NULL, tenant TEXT, "
            "record JSONB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {t.lease} (name TEXT PRIMARY KEY, holder TEXT NOT NULL, "
            "expires_at DOUBLE PRECISION NOT NULL)",
            *saga_ddl(t, json_type="JSONB", real_type="DOUBLE PRECISION", int_type="BIGINT"),
        ]

        def work(cur: Cursor) -> None:
            self._lock_schema(cur)
            self._upgrade_idempotency(cur)
            for stmt in statements:
                cur.execute(stmt)
            migrate(cur, t, steps, self._q)

        steps = work_migrations(t)
        self._transact(work)

    def _lock_schema(self, cur: Cursor) -> None:
        # Several workers may start at once; CREATE … IF NOT EXISTS is not race-free by itself.
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended('manifest-lang schema', 0))")

    def _index_dialect(self) -> PostgresIndexes:
        return PostgresIndexes(self.tables, self.schema)

    def _columns(self, cur: Cursor, table: str) -> set[str]:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (self.schema, table),
        )
        return {str(r[0]) for r in cur.fetchall()}

    # -- durable work dialect (work_sql.py) --------------------------------------------------------
    def _claim_statement(self, kinds: Sequence[str] | None) -> str:
        return claim_statement(self.tables, kinds)

    def _claim_params(
        self, owner: str, expires: float, now: float, kinds: Sequence[str] | None, limit: int
    ) -> list[Any]:
        return [now, *(kinds or ()), limit, owner, expires, now]

    def _notify_work(self, cur: Cursor) -> None:
        cur.execute("SELECT pg_notify(%s, '')", (self._channel,))

    def wait_for_work(self, timeout: float) -> bool:
        return self._listener.wait(timeout)

    def drop_schema(self, *, drop_namespace: bool = False) -> None:
        """Drop this prefix's tables, or the whole schema (tests and benchmarks)."""
        t = self.tables

        def work(cur: Cursor) -> None:
            if drop_namespace:
                cur.execute(f"DROP SCHEMA IF EXISTS {quote_ident(self.schema)} CASCADE")
                return
            tables = t.owned()
            for table in tables:
                cur.execute(f"DROP TABLE IF EXISTS {table}")

        self._transact(work)

    def close(self) -> None:
        self._listener.close()
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r}, prefix={self.tables.prefix!r})"


__all__ = ["PostgresStore", "translate"]
