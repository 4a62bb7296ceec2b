"""The database side of the hand-written peers: tables, connections and the reserve transaction.

Both peers (``starlette_peer.py``, ``fastapi_peer.py``) run exactly this SQL, so the comparison with
``manifest serve`` measures the framework and the per-request work around the same statements. It
is what a competent developer writes by hand for the kitchen model's ``InventoryItem.reserve``
(``tests/http/models/kitchen.manifest``): a real table with one column per property, and per
request ONE transaction of six statements between BEGIN and COMMIT:

1. claim the Idempotency-Key (insert; a replay finds the stored response and returns it),
2. load the tenant's row (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already locks),
3. the guard ``quantity > 0``, the warn constraint ``belowPar``, the block constraint
   ``enoughStock`` (in Python, on the loaded row),
4. update the row (``quantity_reserved``, ``version``),
5. an outbox row (the ``InventoryReserved`` event) and an audit row,
6. store the response under the key, commit.

SQLite connections get the pragmas ``SQLiteStore`` uses (WAL, ``synchronous = NORMAL``, a 30 s
busy timeout); PostgreSQL uses a psycopg 3 pool of the size ``PostgresStore`` uses (1 to 4).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
PG_POOL_SIZE = 4  # PostgresStore's default pool_size
THREAD_LIMIT = 32  # worker threads for the database, as manifest serve's DEFAULT_MAX_CONCURRENCY
KITCHEN_ROLES = frozenset({"chef", "manager"})  # the model's kitchenStaff execute policy

#: environment of a peer's worker processes (uvicorn starts them fresh for --workers N)
DB_ENV = "PEER_DB"
KEYS_ENV = "PEER_KEYS_FILE"

_DDL = {
    "sqlite": [
        "CREATE TABLE IF NOT EXISTS inventory_item (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, "
        "name TEXT NOT NULL, quantity_on_hand INTEGER NOT NULL DEFAULT 0, "
        "quantity_reserved INTEGER NOT NULL DEFAULT 0, par_level INTEGER NOT NULL DEFAULT 0, "
        "status TEXT NOT NULL DEFAULT 'active', version INTEGER NOT NULL DEFAULT 1)",
        "CREATE TABLE IF NOT EXISTS idempotency_key (tenant_id TEXT NOT NULL, key TEXT NOT NULL, "
        "fingerprint TEXT NOT NULL, status_code INTEGER, response TEXT, expires_at REAL NOT NULL, "
        "PRIMARY KEY (tenant_id, key))",
        "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
        "aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, event_type TEXT NOT NULL, "
        "tenant_id TEXT NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL, published_at REAL)",
        "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE published_at IS NULL",
        "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, occurred_at REAL NOT NULL, "
        "tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, command TEXT NOT NULL, entity TEXT NOT NULL, "
        "instance_id TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL)",
    ],
    "postgres": [
        "CREATE TABLE IF NOT EXISTS inventory_item (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, "
        "name TEXT NOT NULL, quantity_on_hand BIGINT NOT NULL DEFAULT 0, "
        "quantity_reserved BIGINT NOT NULL DEFAULT 0, par_level BIGINT NOT NULL DEFAULT 0, "
        "status TEXT NOT NULL DEFAULT 'active', version BIGINT NOT NULL DEFAULT 1)",
        "CREATE TABLE IF NOT EXISTS idempotency_key (tenant_id TEXT NOT NULL, key TEXT NOT NULL, "
        "fingerprint TEXT NOT NULL, status_code INTEGER, response TEXT, "
        "expires_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (tenant_id, key))",
        "CREATE TABLE IF NOT EXISTS outbox (seq BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
        "aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, event_type TEXT NOT NULL, "
        "tenant_id TEXT NOT NULL, payload JSONB NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
        "published_at DOUBLE PRECISION)",
        "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE published_at IS NULL",
        "CREATE TABLE IF NOT EXISTS audit (seq BIGSERIAL PRIMARY KEY, "
        "occurred_at DOUBLE PRECISION NOT NULL, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, "
        "command TEXT NOT NULL, entity TEXT NOT NULL, instance_id TEXT NOT NULL, outcome TEXT NOT NULL, "
        "detail JSONB NOT NULL)",
    ],
}

_ITEM_COLUMNS = "id, tenant_id, name, quantity_on_hand, quantity_reserved, par_level, status, version"
_SQL = {
    # A key taken by an expired record is taken over; otherwise the insert does nothing and the
    # caller reads the stored response.
    "claim": "INSERT INTO idempotency_key AS k (tenant_id, key, fingerprint, expires_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, "
    "status_code = NULL, response = NULL, expires_at = excluded.expires_at WHERE k.expires_at <= ?",
    "stored": "SELECT fingerprint, status_code, response FROM idempotency_key "
    "WHERE tenant_id = ? AND key = ?",
    "complete": "UPDATE idempotency_key SET status_code = ?, response = ? WHERE tenant_id = ? AND key = ?",
    "load": f"SELECT {_ITEM_COLUMNS} FROM inventory_item WHERE id = ? AND tenant_id = ?",
    "update": "UPDATE inventory_item SET quantity_reserved = ?, version = version + 1 "
    "WHERE id = ? AND tenant_id = ?",
    "outbox": "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, tenant_id, payload, "
    "created_at) VALUES (?, 'InventoryItem', ?, 'InventoryReserved', ?, ?, ?)",
    "audit": "INSERT INTO audit (occurred_at, tenant_id, user_id, command, entity, instance_id, outcome, "
    "detail) VALUES (?, ?, ?, 'reserve', 'InventoryItem', ?, ?, ?)",
    "seed": f"INSERT INTO inventory_item ({_ITEM_COLUMNS}) VALUES (?, ?, ?, ?, 0, ?, 'active', 1)",
}


def _dialect_sql(dialect: str) -> dict[str, str]:
    if dialect == "sqlite":
        return dict(_SQL)
    sql = {name: stmt.replace("?", "%s") for name, stmt in _SQL.items()}
    sql["load"] += " FOR UPDATE"
    sql["outbox"] = sql["outbox"].replace("%s, %s)", "%s::jsonb, %s)")
    sql["audit"] = sql["audit"].replace("%s, %s)", "%s, %s::jsonb)")
    return sql


@dataclass(frozen=True)
class Caller:
    user_id: str
    role: str
    tenant_id: str


def load_keys(path: str) -> dict[str, Caller]:
    """API keys in the format of ``manifest serve --api-keys`` (``{"keys": {key: context}}``)."""
    with open(path, encoding="utf-8") as handle:
        keys = json.load(handle)["keys"]
    return {
        key: Caller(str(ctx["user"]["id"]), str(ctx["user"].get("role", "")), str(ctx["tenantId"]))
        for key, ctx in keys.items()
    }


@dataclass
class Outcome:
    """What a request answers: a status and the JSON body, already serialised."""

    status: int
    body: bytes
    replayed: bool = False
    data: dict[str, Any] | None = None  # the body before serialisation (a fresh success only)


class Refused(Exception):
    """A refusal that leaves nothing behind (the transaction rolls back, the key is not kept)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def problem(status: int, code: str, detail: str, **extra: Any) -> bytes:
    return json.dumps({"status": status, "code": code, "detail": detail, **extra}).encode()


def item_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "tenantId": row[1],
        "name": row[2],
        "quantityOnHand": row[3],
        "quantityReserved": row[4],
        "parLevel": row[5],
        "status": row[6],
        "version": row[7],
    }


def fingerprint(caller: Caller, item_id: str, body: bytes) -> str:
    """What makes a retry "the same request": the user, the instance and the body."""
    return hashlib.sha256(f"{caller.user_id}\0{item_id}\0".encode() + body).hexdigest()


class Database:
    """Connections to one store, and the two operations of the benchmark."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite:///") else "postgres"
        self.sql = _dialect_sql(self.dialect)
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._pool: Any = None
        if self.dialect == "postgres":
            from psycopg_pool import ConnectionPool

            base, _, schema = url.partition("?schema=")
            # autocommit: a read is one statement; ``conn.transaction()`` opens the reserve's BEGIN
            kwargs: dict[str, Any] = {"autocommit": True}
            if schema:
                kwargs["options"] = f"-c search_path={schema}"
            self._pool = ConnectionPool(base, min_size=1, max_size=PG_POOL_SIZE, kwargs=kwargs, open=True)

    def _sqlite_connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.url.removeprefix("sqlite:///"), timeout=30, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection for one request (a pooled one: SQLite's are kept one per busy thread)."""
        if self._pool is not None:
            with self._pool.connection() as conn:
                yield conn
            return
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._sqlite_connect()
        try:
            yield conn
        finally:
            self._idle.put(conn)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        while not self._idle.empty():
            self._idle.get_nowait().close()

    # -- setup (used by the harness) -------------------------------------------------------------
    def create_schema(self, items: int, tenant: str, on_hand: int, par_level: int) -> list[str]:
        """The tables and ``items`` rows named ``item-00000``...; returns the ids."""
        ids = [f"item-{i:05d}" for i in range(items)]
        rows = [(item, tenant, f"item {i}", on_hand, par_level) for i, item in enumerate(ids)]
        with self.connection() as conn:
            if self.dialect == "sqlite":
                for stmt in _DDL["sqlite"]:
                    conn.execute(stmt)
                conn.execute("BEGIN")
                conn.executemany(self.sql["seed"], rows)
                conn.execute("COMMIT")
            else:
                with conn.transaction(), conn.cursor() as cur:
                    for stmt in _DDL["postgres"]:
                        cur.execute(stmt)
                    cur.executemany(self.sql["seed"], rows)
        return ids

    # -- the two operations ----------------------------------------------------------------------
    def get_item(self, conn: Any, caller: Caller, item_id: str) -> dict[str, Any] | None:
        if self.dialect == "sqlite":
            row = conn.execute(self.sql["load"], (item_id, caller.tenant_id)).fetchone()
        else:
            stmt = self.sql["load"].removesuffix(" FOR UPDATE")
            row = conn.execute(stmt, (item_id, caller.tenant_id)).fetchone()
        return item_dict(row) if row is not None else None

    def reserve(
        self,
        conn: Any,
        caller: Caller,
        item_id: str,
        quantity: int,
        event_id: str,
        key: str | None,
        print_: str,
        correlation_id: str,
    ) -> Outcome:
        """Run the reserve in one transaction; a ``Refused`` leaves nothing behind."""
        if self.dialect == "sqlite":
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                outcome = self._reserve(cur, caller, item_id, quantity, event_id, key, print_, correlation_id)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            return outcome
        with conn.transaction(), conn.cursor() as cur:
            return self._reserve(cur, caller, item_id, quantity, event_id, key, print_, correlation_id)

    def _reserve(
        self,
        cur: Any,
        caller: Caller,
        item_id: str,
        quantity: int,
        event_id: str,
        key: str | None,
        print_: str,
        correlation_id: str,
    ) -> Outcome:
        sql, now = self.sql, time.time()
        if key is not None:
            cur.execute(sql["claim"], (caller.tenant_id, key, print_, now + IDEMPOTENCY_TTL_SECONDS, now))
            if cur.rowcount == 0:
                return self._replay(cur, caller, key, print_)
        row = cur.execute(sql["load"], (item_id, caller.tenant_id)).fetchone()
        if row is None:
            raise Refused(404, "INSTANCE_NOT_FOUND", f"InventoryItem '{item_id}' not found")
        item = item_dict(row)
        available = item["quantityOnHand"] - item["quantityReserved"]
        if not quantity > 0:
            outcome = Outcome(422, problem(422, "GUARD_FAILED", "Guard failed: quantity > 0"))
        elif not available >= quantity:
            outcome = Outcome(422, problem(422, "CONSTRAINT_BLOCKED", "Not enough stock"))
        else:
            outcome = self._apply(cur, caller, item, quantity, event_id, available, correlation_id, now)
        if key is not None:
            cur.execute(sql["complete"], (outcome.status, outcome.body.decode(), caller.tenant_id, key))
        return outcome

    def _apply(
        self,
        cur: Any,
        caller: Caller,
        item: dict[str, Any],
        quantity: int,
        event_id: str,
        available: int,
        correlation_id: str,
        now: float,
    ) -> Outcome:
        sql = self.sql
        warnings = []
        if available - quantity < item["parLevel"]:
            warnings.append({"constraint": "belowPar", "message": "Reservation leaves stock below par"})
        item["quantityReserved"] += quantity
        item["version"] += 1
        cur.execute(sql["update"], (item["quantityReserved"], item["id"], caller.tenant_id))
        event = {
            "id": str(uuid.uuid4()),
            "name": "InventoryReserved",
            "channel": "inventory.reserved",
            "payload": {"quantity": quantity, "eventId": event_id},
            "subject": {"entity": "InventoryItem", "id": item["id"], "command": "reserve"},
            "timestamp": int(now * 1000),
            "correlationId": correlation_id,
        }
        cur.execute(sql["outbox"], (event["id"], item["id"], caller.tenant_id, json.dumps(event), now))
        detail = json.dumps({"input": {"quantity": quantity, "eventId": event_id}, "warnings": warnings})
        cur.execute(sql["audit"], (now, caller.tenant_id, caller.user_id, item["id"], "success", detail))
        body = {"success": True, "instance": item, "emittedEvents": [event], "warnings": warnings}
        return Outcome(200, json.dumps(body).encode(), data=body)

    def _replay(self, cur: Any, caller: Caller, key: str, print_: str) -> Outcome:
        stored = cur.execute(self.sql["stored"], (caller.tenant_id, key)).fetchone()
        if stored is None or stored[1] is None:  # cannot happen inside one transaction; be safe
            raise Refused(409, "IDEMPOTENCY_IN_PROGRESS", "A request with this key is running")
        if stored[0] != print_:
            raise Refused(422, "IDEMPOTENCY_KEY_REUSED", "The Idempotency-Key was used for another request")
        return Outcome(int(stored[1]), str(stored[2]).encode(), replayed=True)


def database_from_env() -> Database:
    return Database(os.environ[DB_ENV])


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def serve(module: str, description: str) -> None:
    """Command line of a peer: ``--db URL --keys FILE --port N --workers N``, run under uvicorn with
    the settings ``manifest serve`` uses (default loop, h11, warning log level, no access log)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", required=True, help="sqlite:///PATH or postgresql://...[?schema=NAME]")
    parser.add_argument("--keys", required=True, help="API keys file (manifest serve --api-keys format)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ[DB_ENV] = args.db
    os.environ[KEYS_ENV] = os.path.abspath(args.keys)
    uvicorn.run(
        f"{module}:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        http="h11",  # manifest serve's protocol is uvicorn's h11 one with a header timeout
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
