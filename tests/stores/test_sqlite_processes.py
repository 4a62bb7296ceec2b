"""One SQLiteStore object shared across fork and threads: each gets its own connection."""

from __future__ import annotations

import multiprocessing as mp
import threading
from pathlib import Path
from typing import Any

from manifest_lang.stores.base import NEW_ROW, RowWrite, UnitOfWork
from manifest_lang.stores.sqlite import SQLiteStore


def _child_writes(store: SQLiteStore, ident: str) -> None:
    store.commit(UnitOfWork(writes=[RowWrite("T", ident, {"id": ident}, NEW_ROW)]))
    store.close()  # closes the child's connection, never the parent's


def test_a_forked_child_reopens_and_the_parent_keeps_working(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "f.db")
    store.commit(UnitOfWork(writes=[RowWrite("T", "parent", {"id": "parent"}, NEW_ROW)]))
    ctx = mp.get_context("fork")
    children = [ctx.Process(target=_child_writes, args=(store, f"child-{i}")) for i in range(3)]
    for c in children:
        c.start()
    for c in children:
        c.join(30)
        assert c.exitcode == 0
    threads = [
        threading.Thread(
            target=store.commit, args=(UnitOfWork(writes=[RowWrite("T", f"t{i}", {"id": f"t{i}"}, NEW_ROW)]),)
        )
        for i in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ids = sorted(r["id"] for r in store.scan("T"))
    assert ids == ["child-0", "child-1", "child-2", "parent", "t0", "t1", "t2"]
    store.close()


def _child_reports_its_connection(store: SQLiteStore, parent_conn_id: int, out: Any) -> None:
    conn = store._cursors()[0].connection
    out.put((id(conn) != parent_conn_id, store.load("T", "parent") is not None))


def test_a_forked_child_never_uses_the_parents_connection(tmp_path: Path) -> None:
    # The parent's connection is alive in the child's copied memory, so a fresh id means the child
    # opened its own instead of reusing the inherited one.
    store = SQLiteStore(tmp_path / "f.db")
    store.commit(UnitOfWork(writes=[RowWrite("T", "parent", {"id": "parent"}, NEW_ROW)]))
    parent_conn = store._cursors()[0].connection
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child_reports_its_connection, args=(store, id(parent_conn), out))
    child.start()
    assert out.get(timeout=30) == (True, True)
    child.join(30)
    assert child.exitcode == 0
    assert store._cursors()[0].connection is parent_conn  # the parent keeps its own
    store.close()


def test_memory_database_is_shared_by_threads() -> None:
    store = SQLiteStore(":memory:")
    worker = threading.Thread(
        target=store.commit, args=(UnitOfWork(writes=[RowWrite("T", "x", {"id": "x"}, NEW_ROW)]),)
    )
    worker.start()
    worker.join(10)
    assert store.load("T", "x") is not None
    store.close()
