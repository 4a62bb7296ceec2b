"""Durable stores for the reliability tests: a SQLite file, or a fresh PostgreSQL schema."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the worker's model module

from rel_inventory import unique  # noqa: E402

from manifest_lang.stores.urls import open_store  # noqa: E402


def with_query(url: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return url + ("&" if "?" in url else "?") + query


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL that worker processes can open; dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/reliability.db"
        return
    url = with_query(request.getfixturevalue("postgres_dsn"), schema=unique("rel_"))
    yield url
    store = open_store(url)
    store.drop_schema(drop_namespace=True)  # type: ignore[attr-defined]
    store.close()


@pytest.fixture
def postgres_url(postgres_dsn: str) -> Iterator[str]:
    url = with_query(postgres_dsn, schema=unique("rel_"))
    yield url
    store = open_store(url)
    store.drop_schema(drop_namespace=True)  # type: ignore[attr-defined]
    store.close()
