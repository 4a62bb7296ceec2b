"""The ``store`` fixture: every contract test runs on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.stores.memory import MemoryStore
from manifest_lang.stores.sqlite import SQLiteStore


def unique_schema() -> str:
    return "mt_" + uuid.uuid4().hex[:10]


@contextmanager
def open_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh, empty store of ``kind``, removed afterwards."""
    if kind == "memory":
        yield MemoryStore(record_outbox=True, record_audit=True)
    elif kind == "sqlite":
        s = SQLiteStore(tmp_path / "store.db")
        try:
            yield s
        finally:
            s.close()
    else:
        from manifest_lang.stores.postgres import PostgresStore

        pg = PostgresStore(request.getfixturevalue("postgres_dsn"), schema=unique_schema(), pool_size=4)
        try:
            yield pg
        finally:
            pg.drop_schema(drop_namespace=True)
            pg.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with open_backend(request.param, request, tmp_path) as s:
        yield s


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Only the durable stores (idempotency claims live in their tables)."""
    with open_backend(request.param, request, tmp_path) as s:
        yield s
