"""SQLite against the memory store (the semantics oracle): random commits and scans agree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manifest_lang import compile_source
from manifest_lang.errors import StoreConflictError
from manifest_lang.stores.base import NEW_ROW, RowWrite, UnitOfWork
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.stores.sqlite import SQLiteStore

IDS = st.sampled_from(["a", "b", "c", "d"])
VALUES = st.one_of(
    st.none(),
    st.sampled_from([True, False, 0, 1, 1.0, 2.5]),
    st.sampled_from(["x", "y", "3", ""]),
    st.just([1, 2]),
)
ROWS = st.fixed_dictionaries({"k": VALUES, "tenantId": st.sampled_from(["t1", "t2", None])})
# (id, row or None for a delete, revision offset: 0 = the current revision, else a stale one)
WRITES = st.lists(
    st.tuples(IDS, st.one_of(st.none(), ROWS), st.sampled_from([0, 0, 0, 1])), min_size=1, max_size=3
)
QUERIES = st.tuples(
    st.dictionaries(st.sampled_from(["k", "tenantId", "id"]), VALUES, max_size=2),
    st.one_of(st.none(), st.integers(0, 3)),
    st.integers(0, 2),
    st.sampled_from([None, "t1", "t2"]),
)


def _unit(store: Any, writes: list[tuple[str, dict[str, Any] | None, int]]) -> UnitOfWork:
    uow = UnitOfWork()
    for id, row, stale in writes:
        current = store.load("T", id)
        revision = (current.revision if current is not None else NEW_ROW) + stale
        uow.writes.append(RowWrite("T", id, None if row is None else {"id": id, **row}, revision))
    return uow


def _apply(store: Any, writes: list[tuple[str, dict[str, Any] | None, int]]) -> str:
    try:
        store.commit(_unit(store, writes))
        return "ok"
    except StoreConflictError:
        return "conflict"


def _check_against_oracle(store: Any, batches: list[Any], queries: list[Any]) -> None:
    oracle = MemoryStore()
    for writes in batches:
        # Duplicate ids inside one unit of work are not something the engine produces.
        if len({w[0] for w in writes}) != len(writes):
            continue
        assert _apply(oracle, writes) == _apply(store, writes)
    for id in "abcd":
        assert oracle.load("T", id) == store.load("T", id)
    for where, limit, offset, tenant in queries:
        expected = oracle.scan("T", where, limit=limit, offset=offset, tenant=tenant)
        assert store.scan("T", where, limit=limit, offset=offset, tenant=tenant) == expected


#: ``T`` with ``k`` indexed: the filters on ``k`` then go through the model index
INDEXED_IR = compile_source(
    "entity T {\n  property required id: string\n  property indexed k: string\n  store T in memory\n}"
).ir


@settings(max_examples=400, deadline=None)
@given(st.lists(WRITES, max_size=8), st.lists(QUERIES, max_size=4), st.booleans())
def test_sqlite_matches_the_memory_store(batches: list[Any], queries: list[Any], indexed: bool) -> None:
    sqlite = SQLiteStore(":memory:")
    if indexed:
        sqlite.sync_indexes(INDEXED_IR)
    _check_against_oracle(sqlite, batches, queries)
    sqlite.close()


@pytest.fixture
def pg_store(postgres_dsn: str) -> Iterator[Any]:
    """One schema for every example of the test (hypothesis reuses function-scoped fixtures)."""
    from manifest_lang.stores.postgres import PostgresStore

    from .conftest import unique_schema

    store = PostgresStore(postgres_dsn, schema=unique_schema(), pool_size=2)
    store.sync_indexes(INDEXED_IR)
    yield store
    store.drop_schema(drop_namespace=True)
    store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(WRITES, max_size=6), queries=st.lists(QUERIES, max_size=4), indexed=st.booleans())
def test_postgres_matches_the_memory_store(
    pg_store: Any, batches: list[Any], queries: list[Any], indexed: bool
) -> None:
    pg_store.clear("T")
    # the index exists; without its fields the filter on ``k`` is the containment test (GIN)
    pg_store.indexed_fields = {"T": frozenset({"k"})} if indexed else {}
    _check_against_oracle(pg_store, batches, queries)
