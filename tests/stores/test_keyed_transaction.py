"""Issue 18: a keyed command is ONE transaction on the SQL stores (the idempotency claim, the
rows, the outbox, the audit record and the stored result commit together), the claim is never a
committed row of its own, a killed request leaves nothing behind, and SQLite writers of one file
take turns on a process-wide lock instead of sleeping in SQLite's busy handler."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from manifest_lang import compile_source
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.stores.base import NEW_ROW, IdempotencyKey, RowWrite, UnitOfWork
from manifest_lang.stores.sql_idempotency import SqlIdempotencyStore
from manifest_lang.stores.sqlite import SQLiteStore

SOURCE = """
entity Item {
  property required id: string
  property tenantId: string
  property qty: number = 0

  command bump(by: number) {
    guard by > 0
    mutate qty = self.qty + by
    emit Bumped
  }
}

event Bumped: "item.bumped" { by: number }
"""

IR = compile_source(SOURCE).ir
assert IR is not None
CONTEXT = {"user": {"id": "u1"}, "tenantId": "t-a"}


def engine_for(store: Any, *, keyed: bool = True, tenant: str = "t-a") -> RuntimeEngine:
    idem = SqlIdempotencyStore(store) if keyed else None
    context = {**CONTEXT, "tenantId": tenant}
    return RuntimeEngine(IR, context, store_provider=store, idempotency_store=idem)


def bump(engine: RuntimeEngine, key: str | None, by: int = 1, item: str = "i1") -> Any:
    return engine.run_command("bump", {"by": by}, entity_name="Item", instance_id=item, idempotency_key=key)


def claims(store: Any, key: str) -> int:
    """Committed idempotency rows of ``key``, read by a statement of its own."""
    stmt = store._q(f"SELECT count(*) FROM {store.tables.idempotency} WHERE key = ?")
    return int(store._fetch(stmt, (key,))[0][0])


@pytest.fixture
def seeded(sql_store: Any) -> Any:
    engine_for(sql_store, keyed=False).create_instance("Item", {"id": "i1", "tenantId": "t-a"})
    return sql_store


def test_a_keyed_command_is_one_transaction_of_eight_statements(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "one.db")
    try:
        engine = engine_for(store)
        engine.create_instance("Item", {"id": "i1", "tenantId": "t-a"})
        assert bump(engine, "warm").success  # the first claim also purges expired keys
        statements: list[str] = []
        store._cursors()[0].connection.set_trace_callback(statements.append)
        assert bump(engine_for(store), "k1").success
        store._cursors()[0].connection.set_trace_callback(None)
        kinds = [" ".join(s.split()[:3]) for s in statements]
        assert kinds == [
            "BEGIN IMMEDIATE",
            'INSERT INTO "manifest_idempotency"',  # the claim, inside the command's transaction
            "SELECT data, revision",  # the one load of the row
            'UPDATE "manifest_instances" SET',
            'INSERT INTO "manifest_outbox"',
            'INSERT INTO "manifest_idempotency"',  # the result, over the claim
            'INSERT INTO "manifest_audit"',
            "COMMIT",
        ], statements
        # a replay is answered from the record, in no write transaction of its own
        statements.clear()
        store._cursors()[0].connection.set_trace_callback(statements.append)
        again = bump(engine_for(store), "k1")
        store._cursors()[0].connection.set_trace_callback(None)
        assert again.success and store.load("Item", "i1").row["qty"] == 2
        assert not any(s.startswith(("UPDATE", 'INSERT INTO "manifest_outbox"')) for s in statements)
    finally:
        store.close()


def test_the_claim_is_not_a_committed_row_before_the_commit(seeded: Any) -> None:
    store = seeded
    inside, go_on = threading.Event(), threading.Event()
    seen: list[int] = []
    real_load = store.load

    def load(*args: Any, **kwargs: Any) -> Any:
        inside.set()  # the claim is made: the command now reads its row
        assert go_on.wait(20)
        return real_load(*args, **kwargs)

    store.load = load
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(bump(engine_for(store), "K")))
    worker.start()
    try:
        assert inside.wait(20)
        # Another connection (this thread's own) sees no claim while the command runs.
        seen.append(claims(store, "K") if not isinstance(store, SQLiteStore) else _other_reader(store, "K"))
    finally:
        go_on.set()
        worker.join(30)
        store.load = real_load
    assert seen == [0]
    assert results and results[0].success
    assert claims(store, "K") == 1  # the completed record, committed with the row
    assert store.load("Item", "i1").row["qty"] == 1


def _other_reader(store: SQLiteStore, key: str) -> int:
    """As another process reads: its own connection (a store would first take the write lock)."""
    conn = sqlite3.connect(store.path)
    try:
        stmt = f"SELECT count(*) FROM {store.tables.idempotency} WHERE key = ?"
        return int(conn.execute(stmt, (key,)).fetchone()[0])
    finally:
        conn.close()


def test_a_refused_keyed_command_leaves_no_record(seeded: Any) -> None:
    refused = bump(engine_for(seeded), "K", by=-1)
    assert not refused.success and refused.guard_failure is not None
    assert claims(seeded, "K") == 0
    assert bump(engine_for(seeded), "K", by=-1).guard_failure is not None  # runs again, not IN_PROGRESS


def test_one_key_from_eight_threads_runs_once_and_another_request_is_refused(seeded: Any) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[Any] = []

    def send() -> None:
        engine = engine_for(seeded)
        barrier.wait()
        outcomes.append(bump(engine, "hot", by=3))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == 8 and all(r.success for r in outcomes)  # waited for the one, then replayed
    assert seeded.load("Item", "i1").row["qty"] == 3
    reused = bump(engine_for(seeded), "hot", by=4)
    assert not reused.success and "IDEMPOTENCY_KEY_REUSED" in (reused.error or "")
    # keys are the tenant's: another tenant's "hot" is a key of its own
    engine_for(seeded, keyed=False, tenant="t-b").create_instance("Item", {"id": "i2", "tenantId": "t-b"})
    other = bump(engine_for(seeded, tenant="t-b"), "hot", by=4, item="i2")
    assert other.success and seeded.load("Item", "i2").row["qty"] == 4


CHILD = textwrap.dedent(
    """
    import sys, time, orjson
    from manifest_lang.runtime.engine import RuntimeEngine
    from manifest_lang.stores.sql_idempotency import SqlIdempotencyStore
    from manifest_lang.stores.urls import open_store

    url, ir_path = sys.argv[1], sys.argv[2]
    store = open_store(url)
    real_load = store.load

    def load(*args, **kwargs):
        row = real_load(*args, **kwargs)
        print("inside", flush=True)
        time.sleep(600)  # killed here: claimed, row read, nothing committed

    store.load = load
    ir = orjson.loads(open(ir_path, "rb").read())
    context = {"user": {"id": "u1"}, "tenantId": "t-a"}
    engine = RuntimeEngine(ir, context, store_provider=store, idempotency_store=SqlIdempotencyStore(store))
    engine.run_command("bump", {"by": 1}, entity_name="Item", instance_id="i1", idempotency_key="K")
    """
)


@pytest.fixture
def store_url(sql_store: Any) -> Iterator[str]:
    if isinstance(sql_store, SQLiteStore):
        yield f"sqlite:///{sql_store.path}"
    else:
        yield f"{sql_store.dsn}{'&' if '?' in sql_store.dsn else '?'}schema={sql_store.schema}"


def test_a_request_killed_mid_command_leaves_nothing(seeded: Any, store_url: str, tmp_path: Path) -> None:
    ir_path = tmp_path / "ir.json"
    ir_path.write_bytes(orjson.dumps(IR))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, store_url, str(ir_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "inside", child.stderr.read() if child.stderr else ""
        assert claims(seeded, "K") == 0  # the claim is in the child's open transaction only
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert claims(seeded, "K") == 0
    assert seeded.load("Item", "i1").row["qty"] == 0
    retry = bump(engine_for(seeded), "K")  # the key is free at once: no claim to wait out
    assert retry.success and seeded.load("Item", "i1").row["qty"] == 1


def test_sqlite_writers_take_turns_instead_of_failing_busy(tmp_path: Path) -> None:
    # No busy timeout at all: two connections writing at once would fail with "database is
    # locked"; the process-wide lock makes every writer of the file wait its turn instead.
    store = SQLiteStore(tmp_path / "busy.db", busy_timeout_ms=0)
    try:
        engine_for(store, keyed=False).create_instance("Item", {"id": "i1", "tenantId": "t-a"})
        failures: list[Any] = []

        def send(n: int) -> None:
            for i in range(25):
                key = f"w{n}-{i}" if i % 2 else None
                result = bump(engine_for(store, keyed=key is not None), key)
                if not result.success:
                    failures.append(result.error)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert failures == []
        row = store.load("Item", "i1")
        assert row is not None and row.row["qty"] == 200 and row.revision == 201  # no lost update, no re-run
    finally:
        store.close()


def test_two_sqlite_stores_on_one_file_share_the_held_transaction(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    a, b = SQLiteStore(path, busy_timeout_ms=0), SQLiteStore(path, prefix="other_", busy_timeout_ms=0)
    try:
        with a.serialize_writers("Item", "x"):
            # b's commit joins a's transaction instead of waiting for SQLite's lock behind it
            b.commit(UnitOfWork(writes=[RowWrite("Item", "x", {"id": "x"}, NEW_ROW)]))
            a.idempotency_claim(IdempotencyKey("t", "k"), 60)
        assert b.load("Item", "x") is not None
        assert claims(a, "k") == 1
        with pytest.raises(RuntimeError):
            with a.serialize_writers("Item", "y"):
                b.commit(UnitOfWork(writes=[RowWrite("Item", "y", {"id": "y"}, NEW_ROW)]))
                raise RuntimeError("the command failed")
        assert b.load("Item", "y") is None  # rolled back with the holder
    finally:
        a.close()
        b.close()
