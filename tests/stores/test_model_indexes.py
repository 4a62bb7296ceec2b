"""Indexes from the model: ``indexed``/``unique`` properties get indexes that filtered scans use.

The plans are checked on the real databases: ``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on
PostgreSQL, the latter also for the plan a prepared statement falls back to after five runs
(the generic plan, made without the values).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from manifest_lang import compile_source
from manifest_lang.stores.base import RowWrite, UnitOfWork
from manifest_lang.stores.indexes import NAME_TAG, IndexSpec, model_indexes, owned
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.stores.sqlite import SQLiteStore

from .conftest import open_backend, unique_schema

SOURCE = """
entity Item {
  property required id: string
  property tenantId: string
  property indexed name: string
  property unique sku: string?
  property indexed qty: number = 0
  property indexed active: boolean = false
  property note: string
  store Item in memory
}
"""


def ir_of(source: str) -> dict[str, Any]:
    compiled = compile_source(source)
    assert compiled.ir is not None, compiled.diagnostics
    return compiled.ir


IR = ir_of(SOURCE)
#: the same entity with ``name`` no longer indexed and ``note`` indexed instead
IR_CHANGED = ir_of(SOURCE.replace("indexed name", "name").replace("property note", "property indexed note"))


def rows(n: int) -> list[dict[str, Any]]:
    """Rows with every kind of value a filter distinguishes: "3" and 3, true and 1, null and missing."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {
            "id": f"i{i}",
            "tenantId": f"t{i % 3}",
            "name": f"n{i % 7}" if i % 5 else i % 7,
            "qty": (i % 4) + (0.5 if i % 9 == 0 else 0),
            "active": [True, False, 1, 0][i % 4],
            "note": "x",
        }
        if i % 6:
            row["sku"] = None if i % 2 else f"s{i % 4}"
        out.append(row)
    return out


def seed(store: Any, n: int = 300) -> None:
    store.commit(UnitOfWork(writes=[RowWrite("Item", r["id"], r, 0) for r in rows(n)]))
    store.commit(UnitOfWork(writes=[RowWrite("Other", "o1", {"id": "o1", "name": "n1"}, 0)]))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def indexed_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with open_backend(request.param, request, tmp_path) as store:
        store.sync_indexes(IR)
        yield store


def test_the_model_names_its_indexed_and_unique_properties() -> None:
    specs = model_indexes(IR)
    assert [(s.entity, s.field) for s in specs] == [
        ("Item", "name"),
        ("Item", "sku"),
        ("Item", "qty"),
        ("Item", "active"),
    ]
    secret = ir_of("entity S {\n  property required id: string\n  property indexed encrypted pin: string\n}")
    assert model_indexes(secret) == []  # ciphertext: no filter could use it


def test_names_are_deterministic_short_and_distinct() -> None:
    prefix = "p" * 41  # the longest prefix a store accepts
    a, b = IndexSpec("Item", "name"), IndexSpec("ITEM", "name")
    assert a.name("manifest_") == IndexSpec("Item", "name").name("manifest_")
    assert a.name("manifest_").startswith("manifest_" + NAME_TAG + "item_name_")
    # SQLite compares index names without case: the hash keeps these two apart
    assert a.name("manifest_").lower() != b.name("manifest_").lower()
    long = IndexSpec("E" * 60, "f" * 60)
    assert len(long.name(prefix)) <= 63 and long.name(prefix) != IndexSpec("E" * 60, "g" * 60).name(prefix)
    assert owned(long.name(prefix), prefix)
    assert not owned("manifest_ix_field_name", "manifest_")  # SQLiteStore.create_index's
    assert not owned("manifest_instances_tenant", "manifest_")
    assert not owned(a.name("other_"), "manifest_")


def test_sync_creates_keeps_and_migrates(indexed_store: Any) -> None:
    store = indexed_store
    names = {s.name(store.tables.prefix) for s in model_indexes(IR)}
    again = store.sync_indexes(IR)
    assert again.created == () and again.dropped == () and set(again.kept) == names
    if isinstance(store, SQLiteStore):
        store.create_index("note")  # a hand-made index: never the store's to drop
    changed = store.sync_indexes(IR_CHANGED)
    name_ix, note_ix = (IndexSpec("Item", f).name(store.tables.prefix) for f in ("name", "note"))
    assert changed.dropped == (name_ix,) and changed.created == (note_ix,)
    assert changed.to_dict()["kept"] == sorted(names - {name_ix})
    present = _index_names(store)
    assert note_ix in present and name_ix not in present
    assert store.tables.prefix + "instances_tenant" in present
    if isinstance(store, SQLiteStore):
        assert store.tables.prefix + "ix_field_note" in present
    assert store.indexed_fields == {"Item": frozenset({"sku", "qty", "active", "note"})}


@pytest.mark.parametrize(
    "where",
    [
        {"name": "n3"},
        {"name": 3},  # the number, not the string "3"
        {"qty": 2},
        {"qty": 2.0},  # equal to 2
        {"qty": 0.5},
        {"active": True},  # true, not 1
        {"active": 1},
        {"active": False},
        {"sku": None},  # a present null, not a missing key
        {"sku": "s2"},
        {"name": "n3", "qty": 3, "note": "x"},
        {"name": "nothing"},
    ],
)
def test_indexed_filters_answer_as_the_memory_store(indexed_store: Any, where: dict[str, Any]) -> None:
    memory = MemoryStore()
    seed(indexed_store)
    seed(memory)
    for tenant in (None, "t1"):
        for limit, offset in ((None, 0), (3, 2)):
            got = indexed_store.scan("Item", where, tenant=tenant, limit=limit, offset=offset)
            expected = memory.scan("Item", where, tenant=tenant, limit=limit, offset=offset)
            assert got == expected, (where, tenant, limit, offset)


def _index_names(store: Any) -> set[str]:
    def work(cur: Any) -> set[str]:
        return store._index_dialect().existing(cur)  # type: ignore[no-any-return]

    return store._transact(work)  # type: ignore[no-any-return]


def _captured(store: Any, where: dict[str, Any], **kwargs: Any) -> tuple[str, list[Any]]:
    """The statement and parameters the store's filtered scan runs (it still runs them)."""
    seen: list[tuple[str, list[Any]]] = []
    real = store._fetch_filtered

    def spy(stmt: str, params: Any) -> list[Any]:
        seen.append((stmt, list(params)))
        return real(stmt, params)  # type: ignore[no-any-return]

    store._fetch_filtered = spy
    try:
        store.scan("Item", where, **kwargs)
    finally:
        del store._fetch_filtered
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("where", [{"name": "n3"}, {"qty": 2}, {"active": True}, {"name": "n3", "note": "x"}])
@pytest.mark.parametrize("tenant", [None, "t1"])
def test_sqlite_plans_use_the_model_index(tmp_path: Path, where: dict[str, Any], tenant: str | None) -> None:
    store = SQLiteStore(tmp_path / "plans.db")
    try:
        store.sync_indexes(IR)
        seed(store, 2000)
        field = next(iter(where))
        stmt, params = _captured(store, where, tenant=tenant, limit=51)
        plan = " | ".join(str(r[3]) for r in store._fetch("EXPLAIN QUERY PLAN " + stmt, params))
        assert f"USING INDEX {IndexSpec('Item', field).name('manifest_')}" in plan, plan
        if tenant is not None:
            assert "TEMP B-TREE" not in plan, plan  # the index's order is the list's order
        unindexed = _captured(store, {"note": "x"}, tenant=tenant)
        plan = " | ".join(str(r[3]) for r in store._fetch("EXPLAIN QUERY PLAN " + unindexed[0], unindexed[1]))
        assert NAME_TAG not in plan  # no model index covers ``note``
    finally:
        store.close()


def test_sqlite_plans_stay_on_the_index_after_analyze(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "analyzed.db")
    try:
        seed(store, 3000)
        store._execute("ANALYZE")
        created = store.sync_indexes(IR).created  # with statistics kept, the new ones get theirs
        assert created
        stmt, params = _captured(store, {"name": "n3"}, tenant="t1", limit=51)
        plan = " | ".join(str(r[3]) for r in store._fetch("EXPLAIN QUERY PLAN " + stmt, params))
        assert IndexSpec("Item", "name").name("manifest_") in plan, plan
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_plans_use_the_model_index_also_as_a_generic_plan(postgres_dsn: str) -> None:
    import psycopg

    from manifest_lang.stores.postgres import PostgresStore

    store = PostgresStore(postgres_dsn, schema=unique_schema(), pool_size=1)  # one connection
    try:
        store.sync_indexes(IR)
        for _ in range(10):
            seed_more(store, 2000)
        store._execute(f"ANALYZE {store.tables.instances}")
        index = IndexSpec("Item", "name").name("manifest_")
        for _ in range(7):  # past psycopg's prepare threshold (5): the statement is now prepared
            stmt, params = _captured(store, {"name": "n3"}, tenant="t1", limit=51)
            store.scan("Item", {"note": "x3"}, tenant="t1", limit=51)
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            custom = "\n".join(r[0] for r in conn.execute("EXPLAIN " + stmt, params, prepare=False))
            assert index in custom, custom
        args = ", ".join(_sql_literal(p) for p in params)
        with store._pool.connection() as conn:
            prepared = dict(conn.execute("SELECT statement, name FROM pg_prepared_statements").fetchall())
            # A containment test (GIN) is planned with its values every time: never prepared.
            assert not [s for s in prepared if "@>" in s], prepared
            # The filter on the model index is prepared, and the generic plan PostgreSQL may
            # switch to after five runs (made without the values) uses the index too.
            name = next(n for s, n in prepared.items() if "jsonb_hash_extended" in s)
            conn.execute("SET plan_cache_mode = force_generic_plan")
            try:
                generic = "\n".join(r[0] for r in conn.execute(f'EXPLAIN EXECUTE "{name}"({args})'))
            finally:
                conn.execute("RESET plan_cache_mode")
            assert index in generic and "$" in generic, generic  # a generic plan, on the index
    finally:
        store.drop_schema(drop_namespace=True)
        store.close()


def seed_more(store: Any, n: int) -> None:
    batch = uuid.uuid4().hex[:6]
    named = [{**r, "name": f"n{i}"} for i, r in enumerate(rows(n))]
    writes = [RowWrite("Item", f"{batch}-{r['id']}", r, 0) for r in named]
    store.commit(UnitOfWork(writes=writes))


def _sql_literal(value: Any) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def test_sqlite_stores_opening_at_once_sync_without_failing(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    SQLiteStore(path).close()
    _race([lambda: SQLiteStore(path) for _ in range(4)])
    conn = sqlite3.connect(path)
    found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert {s.name("manifest_") for s in model_indexes(IR)} <= found


@pytest.mark.postgres
def test_postgres_stores_opening_at_once_sync_without_failing(postgres_dsn: str) -> None:
    from manifest_lang.stores.postgres import PostgresStore

    schema = unique_schema()
    stores = _race([lambda: PostgresStore(postgres_dsn, schema=schema, pool_size=1) for _ in range(4)])
    try:
        assert {s.name("manifest_") for s in model_indexes(IR)} <= _index_names(stores[0])
    finally:
        stores[0].drop_schema(drop_namespace=True)
        stores[0].close()


def _race(openers: list[Any]) -> list[Any]:
    """Open stores on several threads at once, each syncing the model; every one must succeed."""
    barrier = threading.Barrier(len(openers))
    opened: list[Any] = []
    errors: list[BaseException] = []

    def run(open_store: Any) -> None:
        try:
            barrier.wait()
            store = open_store()
            store.sync_indexes(IR)
            opened.append(store)
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(o,)) for o in openers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in opened[1:]:
        store.close()
    assert not errors, errors
    return opened[:1]


def test_a_long_value_in_an_indexed_property_is_stored_and_found(indexed_store: Any) -> None:
    # PostgreSQL's B-tree entries are limited to ~2.7 kB: the index holds a hash of the value.
    long = "".join(
        hashlib.sha256(str(i).encode()).hexdigest() for i in range(600)
    )  # 38 kB, hardly compressible
    row = {"id": "long", "tenantId": "t1", "name": long, "qty": 1}
    indexed_store.commit(UnitOfWork(writes=[RowWrite("Item", "long", row, 0)]))
    assert indexed_store.scan("Item", {"name": long}, tenant="t1") == [row]
    assert indexed_store.scan("Item", {"name": long[:-1]}, tenant="t1") == []
