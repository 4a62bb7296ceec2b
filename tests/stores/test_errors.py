"""Driver errors reach callers as the store errors of ``manifest_lang.errors``, nothing applied."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from manifest_lang.errors import StoreError, StoreUnavailableError
from manifest_lang.stores.base import NEW_ROW, RowWrite, UnitOfWork
from manifest_lang.stores.sqlite import SQLiteStore


def test_sqlite_lock_held_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", busy_timeout_ms=100)
    blocker = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailableError):
            store.commit(UnitOfWork(writes=[RowWrite("T", "1", {"id": "1"}, NEW_ROW)]))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.load("T", "1") is None
    store.commit(UnitOfWork(writes=[RowWrite("T", "1", {"id": "1"}, NEW_ROW)]))  # usable again
    assert store.load("T", "1") is not None
    store.close()


def test_sqlite_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreUnavailableError):
        SQLiteStore(tmp_path / "dir.db")


def test_values_that_are_not_json_are_a_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    with pytest.raises(StoreError, match="not JSON-serialisable"):
        store.commit(UnitOfWork(writes=[RowWrite("T", "1", {"id": "1", "bad": object()}, NEW_ROW)]))
    assert store.load("T", "1") is None
    store.close()


def test_invalid_settings_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="synchronous"):
        SQLiteStore(tmp_path / "s.db", synchronous="SOMETIMES")
    with pytest.raises(StoreError, match="prefix"):
        SQLiteStore(tmp_path / "s.db", prefix='x"; DROP')


def test_postgres_server_not_listening_is_unavailable(postgres_dsn: str) -> None:
    from manifest_lang.stores.postgres import PostgresStore

    with pytest.raises(StoreUnavailableError):
        PostgresStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2)
