"""Stores for the durable-work tests: memory, a SQLite file, a fresh PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.stores.memory import MemoryStore
from manifest_lang.stores.sqlite import SQLiteStore


def pg_store(dsn: str) -> Any:
    from manifest_lang.stores.postgres import PostgresStore

    return PostgresStore(dsn, schema="dw_" + uuid.uuid4().hex[:10], pool_size=4)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore(record_outbox=True)
        return
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "work.db")
        yield s
        s.close()
        return
    pg = pg_store(request.getfixturevalue("postgres_dsn"))
    yield pg
    pg.drop_schema(drop_namespace=True)
    pg.close()
